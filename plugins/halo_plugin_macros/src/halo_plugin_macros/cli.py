"""``halo macros``: mine macros from trajectories and list them."""

from __future__ import annotations

import json
from pathlib import Path

import click

#: where episodes look for the library when ``macros_path`` is not set (``<data dir>/cache/macros.json``)
DEFAULT_PATH = "data/cache/macros.json"

_data_dir_option = click.option(
    "--data-dir", default="data", show_default=True, type=click.Path(file_okay=False),
    help="The data folder of the runs: trajectories are read from <data dir>/trajectories and the library is "
         "<data dir>/cache/macros.json, as episodes use it.")


def library_path(data_dir: str) -> Path:
    """The library episodes use by default under ``data_dir`` (the plugin's ``macros_path`` default)."""
    return Path(data_dir) / "cache" / "macros.json"


def _error(message: str) -> click.ClickException:
    from halo_core.api import HaloError

    return HaloError(message)


@click.group()
def macros() -> None:
    """Macro skills mined from successful trajectories (halo-plugin-macros)."""


@macros.command()
@click.option("--trajectories", default=None, type=click.Path(exists=True),
              help="A trajectory file or a folder searched recursively for <task>__attempt_<k>.jsonl files "
                   "[default: <data dir>/trajectories].")
@click.option("--min-support", default=2, show_default=True, type=click.IntRange(1),
              help="Distinct tasks a macro must occur in.")
@click.option("--max-len", default=20, show_default=True, type=click.IntRange(2), help="Longest macro (steps).")
@click.option("--out", default=None, help="Macro library (JSON) to write [default: <data dir>/cache/macros.json].")
@click.option("--skip-bad-lines", is_flag=True, help="Skip damaged trajectory lines instead of stopping at the first.")
@_data_dir_option
def mine(trajectories: str | None, min_support: int, max_len: int, out: str | None, skip_bad_lines: bool,
         data_dir: str) -> None:
    """Mine macros from the successful episodes under TRAJECTORIES."""
    from halo_core.api import TrajectoryError

    from halo_plugin_macros import mine_macros, read_traces, save_macros

    trajectories = trajectories or str(Path(data_dir) / "trajectories")
    if not Path(trajectories).exists():
        raise _error(f"no trajectories at {trajectories}; pass --trajectories PATH or --data-dir of a run")
    out = out or str(library_path(data_dir))
    try:
        traces = read_traces(trajectories, skip_bad_lines=skip_bad_lines)
    except TrajectoryError as exc:
        raise _error(str(exc)) from None
    found = mine_macros(traces, min_support=min_support, max_len=max_len)
    try:
        save_macros(found, out)
    except OSError as exc:
        raise _error(f"cannot write {out}: {exc.strerror or exc}; pass --out PATH in a folder you can write to") \
            from None
    click.echo(f"{len(traces)} successful episodes → {len(found)} macros written to {out}")


@macros.command("list")
@click.option("--path", default=None, help="Macro library (JSON) [default: <data dir>/cache/macros.json].")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@_data_dir_option
def list_(path: str | None, as_json: bool, data_dir: str) -> None:
    """Show each macro: id, site, steps, support, provenance."""
    from halo_plugin_macros import load_macros
    from halo_plugin_macros._library import MacroLibraryError

    path = path or str(library_path(data_dir))
    try:
        found = load_macros(path, strict=True)
    except MacroLibraryError as exc:
        raise _error(str(exc)) from None
    if as_json:
        click.echo(json.dumps([m.to_dict() for m in found], indent=2))
        return
    if not found:
        click.echo(f"no macros in {path}")
        return
    for m in found:
        tasks = sorted({str(p.get("task_id")) for p in m.provenance})
        click.echo(f"{m.id}  site={m.site}  steps={len(m.steps)}  support={m.support}  from={', '.join(tasks)}")
        click.echo(f"    {m.describe()}")
        for name, slot in m.slots.items():
            how = f"constant {slot.constant!r}" if slot.constant is not None else f"{len(slot.variants)} goal pattern(s)"
            click.echo(f"    {name}: {how}; e.g. {', '.join(repr(e) for e in slot.examples[:3])}")
