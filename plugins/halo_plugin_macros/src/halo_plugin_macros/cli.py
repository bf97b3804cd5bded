"""``halo macros``: mine macros from trajectories and list them."""

from __future__ import annotations

import json

import click

#: where episodes look for the library when ``macros_path`` is not set (``<data dir>/cache/macros.json``)
DEFAULT_PATH = "data/cache/macros.json"


@click.group()
def macros() -> None:
    """Macro skills mined from successful trajectories (halo-plugin-macros)."""


@macros.command()
@click.option("--trajectories", default="data/trajectories", show_default=True, type=click.Path(exists=True),
              help="A trajectory file or a folder searched recursively for <task>__attempt_<k>.jsonl files.")
@click.option("--min-support", default=2, show_default=True, type=click.IntRange(1),
              help="Distinct tasks a macro must occur in.")
@click.option("--max-len", default=20, show_default=True, type=click.IntRange(2), help="Longest macro (steps).")
@click.option("--out", default=DEFAULT_PATH, show_default=True, help="Macro library (JSON) to write.")
@click.option("--skip-bad-lines", is_flag=True, help="Skip damaged trajectory lines instead of stopping at the first.")
def mine(trajectories: str, min_support: int, max_len: int, out: str, skip_bad_lines: bool) -> None:
    """Mine macros from the successful episodes under TRAJECTORIES."""
    from halo_core.trajectory import TrajectoryError

    from halo_plugin_macros import mine_macros, read_traces, save_macros

    try:
        traces = read_traces(trajectories, skip_bad_lines=skip_bad_lines)
    except TrajectoryError as exc:
        raise click.ClickException(str(exc)) from None
    found = mine_macros(traces, min_support=min_support, max_len=max_len)
    save_macros(found, out)
    click.echo(f"{len(traces)} successful episodes → {len(found)} macros written to {out}")


@macros.command("list")
@click.option("--path", default=DEFAULT_PATH, show_default=True, help="Macro library (JSON).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_(path: str, as_json: bool) -> None:
    """Show each macro: id, site, steps, support, provenance."""
    from halo_plugin_macros import load_macros

    found = load_macros(path)
    if as_json:
        click.echo(json.dumps([m.to_dict() for m in found], indent=2))
        return
    if not found:
        click.echo(f"no macros in {path}")
        return
    for m in found:
        tasks = sorted({p["task_id"] for p in m.provenance})
        click.echo(f"{m.id}  site={m.site}  steps={len(m.steps)}  support={m.support}  from={', '.join(tasks)}")
        click.echo(f"    {m.describe()}")
        for name, slot in m.slots.items():
            how = f"constant {slot.constant!r}" if slot.constant is not None else f"{len(slot.variants)} goal pattern(s)"
            click.echo(f"    {name}: {how}; e.g. {', '.join(repr(e) for e in slot.examples[:3])}")
