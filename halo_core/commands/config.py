"""``halo config``: every key a config can set, the plugins' options, and the modes."""

from __future__ import annotations

import json
from typing import Any

import click
from rich.markup import escape
from rich.table import Table

from halo_core import hookimpl
from halo_core.cli import HaloError, console, get_runtime

__all__ = ["config_command", "describe_config"]


def describe_config(runtime, mode: str | None = None) -> dict[str, Any]:
    """Core keys, plugin options and modes as plain data; with ``mode``, its resolved values."""
    from halo_core.config import CORE_OPTIONS, ConfigError, mode_config

    def row(o, plugin: str) -> dict[str, Any]:
        return {"name": o.name, "type": o.type.__name__, "default": o.default, "plugin": plugin, "help": o.help,
                "flag": o.flag, "choices": list(o.choices), "aliases": list(o.aliases), "allowed": o.expected()}

    core_names = {o.name for o in CORE_OPTIONS}
    core = [row(o, "core") for o in CORE_OPTIONS]
    options = [row(o, o.plugin) for o in runtime.options.options.values() if o.name not in core_names]
    modes = []
    for name in runtime.modes.names():
        preset = runtime.modes.presets[name]
        modes.append({"name": name, "description": preset.description, "plugin": preset.plugin,
                      "base": list(preset.base)})
    out: dict[str, Any] = {"core": core, "options": options, "modes": modes}
    if mode is not None:
        try:
            out["mode"] = {"name": mode, "values": mode_config(mode, runtime=runtime).to_dict()}
        except ConfigError as exc:
            raise HaloError(str(exc)) from None
    return out


@click.command("config")
@click.option("--mode", default=None, help="Also show this mode's resolved values.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
@click.pass_context
def config_command(ctx: click.Context, mode: str | None, as_json: bool) -> None:
    """Show the config keys, every plugin option (set with --set NAME=VALUE or its flag) and the modes."""
    data = describe_config(get_runtime(ctx), mode)
    if as_json:
        click.echo(json.dumps(data, indent=2, default=str))
        return
    table = Table(title="config keys (core, then plugin options)")
    for column in ("name", "type", "default", "plugin", "flag", "help"):
        table.add_column(column)
    for row in (*data["core"], *data["options"]):
        help_text = row["help"] + (f" (one of {', '.join(map(str, row['choices']))})" if row.get("choices") else "")
        table.add_row(row["name"], row["type"], escape(repr(row["default"])), row["plugin"], row["flag"] or "",
                      escape(help_text))
    console.print(table)
    modes = Table(title="modes (--mode NAME)")
    for column in ("mode", "plugin", "description"):
        modes.add_column(column)
    for row in data["modes"]:
        modes.add_row(row["name"], row["plugin"], escape(row["description"]))
    console.print(modes)
    if "mode" in data:
        values = Table(title=f"mode {data['mode']['name']}: resolved values")
        values.add_column("key")
        values.add_column("value")
        for key, value in data["mode"]["values"].items():
            values.add_row(key, escape(repr(value)))
        console.print(values)


@hookimpl(tryfirst=True)  # core groups exist before plugins extend them
def halo_register_commands(cli):
    cli.add_command(config_command)
