"""``halo plugins`` and ``halo backends``: what is installed, and in which order it runs."""

from __future__ import annotations

import json

import click
from rich.markup import escape
from rich.table import Table

from halo_core import hookimpl
from halo_core.cli import HaloError, console, get_runtime

__all__ = ["backends_command", "plugins_command"]


@click.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("--all", "show_all", is_flag=True, help="Also list installed plugins that are disabled or failed to load.")
@click.option("--hook", "hook_name", default=None,
              help="Show one hook's implementations in the order they are called (wrappers first).")
@click.pass_context
def plugins_command(ctx: click.Context, as_json: bool, show_all: bool, hook_name: str | None) -> None:
    """Show the registered plugins: name, distribution, version and hooks."""
    from halo_core.plugins import describe_plugins, failed_plugins, hook_implementations

    runtime = get_runtime(ctx)
    if hook_name:
        try:
            rows = hook_implementations(runtime.pm, hook_name)
        except KeyError as exc:
            raise HaloError(exc.args[0]) from None
        if as_json:
            click.echo(json.dumps(rows, indent=2))
            return
        table = Table(title=f"{hook_name}: implementations in call order")
        for column in ("#", "plugin", "markers", "function"):
            table.add_column(column)
        for row in rows:
            table.add_row(str(row["position"]), row["plugin"], ", ".join(row["markers"]), row["function"])
        console.print(table)
        return
    rows = describe_plugins(runtime.pm)
    for row in rows:
        row["status"] = "loaded"
    if show_all:
        from importlib.metadata import entry_points

        loaded = {r["name"] for r in rows}
        failed = failed_plugins(runtime.pm)
        for ep in entry_points(group="halo"):
            if ep.name in loaded:
                continue
            dist = getattr(ep, "dist", None)
            rows.append({"name": ep.name, "distribution": dist.name if dist else "",
                         "version": dist.version if dist else "", "builtin": False, "hooks": [],
                         "status": "failed" if ep.name in failed else "disabled", "error": failed.get(ep.name, "")})
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    table = Table(title="HALO plugins")
    for column in ("name", "distribution", "version", "status", "hooks"):
        table.add_column(column)
    for row in rows:
        table.add_row(row["name"], row["distribution"], row["version"], row["status"], ", ".join(row["hooks"]))
    console.print(table)


@click.command("backends")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_context
def backends_command(ctx: click.Context, as_json: bool) -> None:
    """Show the model backend prefixes (`prefix:model`): what each is, what it needs, its plugin."""
    rows = get_runtime(ctx).backends.describe()
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        console.print("no backends are installed; install one, e.g. pip install halo-plugin-openai")
        return
    table = Table(title="HALO backends (use as --worker-backend prefix:model)")
    for column in ("prefix", "description", "requires", "plugin"):
        table.add_column(column)
    for row in rows:
        table.add_row(*(escape(row[c]) for c in ("prefix", "description", "requires", "plugin")))
    console.print(table)


@hookimpl(tryfirst=True)  # core groups exist before plugins extend them
def halo_register_commands(cli):
    cli.add_command(plugins_command)
    cli.add_command(backends_command)
