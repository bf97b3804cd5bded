"""``halo cache``: inspect, clear and export the verified action cache."""

from __future__ import annotations

import json
from pathlib import Path

import click

from halo_core.config import AgentConfig

DEFAULT_PATH = AgentConfig().cache_path
_path_option = click.option("--path", default=DEFAULT_PATH, show_default=True, help="The cache file (SQLite).")


def _store(path: str, *, must_exist: bool = True):
    from halo_plugin_vac._store import VacStore

    if must_exist and not Path(path).exists():
        raise click.ClickException(f"no cache at {path} (run with use_vac to create one, or pass --path)")
    return VacStore(path)


@click.group()
def cache() -> None:
    """The verified action cache (halo-plugin-vac)."""


@cache.command()
@_path_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def stats(path: str, as_json: bool) -> None:
    """Entries, verified, evicted and hits."""
    data = _store(path).stats()
    if as_json:
        click.echo(json.dumps(data))
        return
    for key, value in data.items():
        click.echo(f"{key:>10}: {value}")


@cache.command()
@_path_option
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def clear(path: str, yes: bool) -> None:
    """Delete every entry."""
    store = _store(path)
    if not yes:
        click.confirm(f"Delete all {store.stats()['entries']} entries from {path}?", abort=True)
    click.echo(f"deleted {store.clear()} entries from {path}")


@cache.command()
@_path_option
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="JSONL file to write.")
def export(path: str, out: str) -> None:
    """Write every entry as one JSON line."""
    n = _store(path).export_jsonl(out)
    click.echo(f"wrote {n} entries to {out}")
