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
    shared = _shared_names(runtime)
    for row in rows:
        row["status"] = "loaded"
        row["shares"] = [f"policy {name}" for name, plugins in shared.items() if row["name"] in plugins]
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
    for name, plugins in shared.items():
        console.print(f"policy {escape(name)!r} is declared by several plugins (shared=True): "
                      f"{escape(', '.join(plugins))}")


def _shared_names(runtime) -> dict[str, list[str]]:
    """Policy names several plugins declared (``shared=True``): name -> those plugins. A
    registry that refuses a duplicate is reported, not raised: this command is where one
    looks for the clash."""
    from halo_core.registries import DuplicateNameError

    try:
        policies = runtime.policies
    except DuplicateNameError as exc:
        from halo_core.cli import err

        err.print(f"[bold red]error:[/] {escape(str(exc))}")
        return {}
    return {name: policies.plugins(name) for name in sorted(policies.shared)}


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
        console.print("no backends are installed; install a backend plugin (the README lists the first-party ones)")
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
