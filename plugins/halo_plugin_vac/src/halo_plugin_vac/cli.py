"""``halo cache``: inspect, clear and export the verified action cache."""

from __future__ import annotations

import json
from pathlib import Path

import click

#: the shared cache (``--shared-cache``); a run's private cache is
#: ``data/cache/<mode>/<run id>/vac.sqlite``
DEFAULT_PATH = "data/cache/vac.sqlite"
_path_option = click.option("--path", default=DEFAULT_PATH, show_default=True,
                            help="The cache file (SQLite); a run's own cache is data/cache/<mode>/<run id>/vac.sqlite.")


def _store(path: str, *, must_exist: bool = True):
    from halo_plugin_vac._store import VacStore

    from halo_plugin_vac._store import CorruptCacheError

    if must_exist and not Path(path).exists():
        raise click.ClickException(f"no cache at {path} (run with use_vac to create one, or pass --path)")
    try:
        return VacStore(path)
    except CorruptCacheError as exc:
        raise click.ClickException(str(exc)) from None


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
    """Delete every entry (a damaged cache file is moved aside, not deleted)."""
    from halo_plugin_vac._store import CorruptCacheError, VacStore, quarantine_file

    if not Path(path).exists():
        raise click.ClickException(f"no cache at {path} (nothing to clear)")
    try:
        store = VacStore(path)
    except CorruptCacheError:
        if not yes:
            click.confirm(f"{path} is damaged; move it aside and start an empty cache?", abort=True)
        moved = quarantine_file(Path(path))
        VacStore(path).close()
        click.echo(f"moved the damaged cache to {moved}; {path} is a new, empty cache")
        return
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
