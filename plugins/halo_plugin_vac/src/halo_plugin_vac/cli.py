"""``halo cache``: inspect, clear and export the verified action cache."""

from __future__ import annotations

import json
from pathlib import Path

import click

#: the shared cache (``--shared-cache``) under the default data dir; a run's private cache is
#: ``<data dir>/cache/<mode>/<run id>/vac.sqlite``
DEFAULT_PATH = "data/cache/vac.sqlite"


def _resolve_path(ctx, param, value):
    if value:
        return value
    data_dir = ctx.params.get("data_dir") or "data"
    mode, run = ctx.params.get("mode"), ctx.params.get("run")
    if bool(mode) != bool(run):
        raise click.BadParameter("--mode and --run go together (a run's private cache)", param_hint="--mode/--run")
    if mode and run:
        return str(Path(data_dir) / "cache" / mode / run / "vac.sqlite")
    return str(Path(data_dir) / "cache" / "vac.sqlite")


def _path_option(f):
    f = click.option("--path", default=None, callback=_resolve_path,
                     help="The cache file (default: <data dir>/cache/vac.sqlite, the shared cache; "
                          "with --mode and --run, that run's private cache).")(f)
    f = click.option("--run", default=None, is_eager=True, help="Run id of a private cache.")(f)
    f = click.option("--mode", default=None, is_eager=True, help="Mode of a private cache.")(f)
    return click.option("--data-dir", default="data", show_default=True, is_eager=True,
                        help="HALO's data folder.")(f)


def _store(path: str, *, must_exist: bool = True):
    from halo_plugin_vac._store import CorruptCacheError, VacStore

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
def stats(data_dir: str, mode: str | None, run: str | None, path: str, as_json: bool) -> None:
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
def clear(data_dir: str, mode: str | None, run: str | None, path: str, yes: bool) -> None:
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
def export(data_dir: str, mode: str | None, run: str | None, path: str, out: str) -> None:
    """Write every entry as one JSON line."""
    n = _store(path).export_jsonl(out)
    click.echo(f"wrote {n} entries to {out}")
