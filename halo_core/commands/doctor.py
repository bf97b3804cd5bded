"""``halo doctor``: is this machine ready to run HALO? One line per check, with the fix.

Checks that every run needs (Python, a Chromium, writable data directories) fail the
command; the others (plugins that failed to load, API keys, the vLLM server) warn.
Secret values are never printed — only whether a variable is set.
"""

from __future__ import annotations

import os
import re
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Iterator

import attrs
import click

from halo_core import hookimpl
from halo_core.cli import console, get_runtime

__all__ = ["Check", "doctor_command", "run_checks"]

MIN_PYTHON = (3, 10)
_KEY_VAR = re.compile(r"\b[A-Z][A-Z0-9_]*_API_KEY\b")


@attrs.frozen
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    required: bool = True

    @property
    def status(self) -> str:
        return "ok" if self.ok else ("FAIL" if self.required else "warn")


def _python() -> Check:
    version = ".".join(map(str, sys.version_info[:3]))
    ok = sys.version_info[:2] >= MIN_PYTHON
    return Check("python", ok, f"Python {version}",
                 "" if ok else f"install Python {'.'.join(map(str, MIN_PYTHON))} or newer")


def _chromium() -> Check:
    from halo_core.env.chromium import find_chromium

    try:
        path = find_chromium()
    except Exception as exc:  # BrowserNotFound, or Playwright itself missing
        return Check("chromium", False, str(exc).split(";")[0],
                     "run `playwright install chromium` or set HALO_CHROMIUM=/path/to/chrome")
    return Check("chromium", True, "Playwright's Chromium" if path is None else f"system Chromium at {path}")


def _plugins(runtime) -> Iterator[Check]:
    from halo_core.plugins import failed_plugins

    names = sorted(n for n, _ in runtime.pm.list_name_plugin() if n)
    yield Check("plugins", True, f"{len(names)} loaded")
    for name, message in sorted(failed_plugins(runtime.pm).items()):
        yield Check(f"plugin {name}", False, message, "reinstall it, or HALO_DISABLE_PLUGINS=" + name,
                    required=False)


def _keys(runtime, environ) -> Iterator[Check]:
    """Key variables named by the installed backends (never their values)."""
    wanted: dict[str, list[str]] = {}
    for row in runtime.backends.describe():
        for var in _KEY_VAR.findall(f"{row['requires']} {row['description']}"):
            if row["prefix"] not in wanted.setdefault(var, []):
                wanted[var].append(row["prefix"])
    for var in sorted(wanted):
        present = bool(environ.get(var, "").strip())
        yield Check(f"key {var}", present, f"{'set' if present else 'not set'} (for {', '.join(p + ':' for p in wanted[var])})",
                    "" if present else f"export {var}=... (or put it in .env) to use those backends",
                    required=False)


def _vllm(environ) -> Iterator[Check]:
    url = environ.get("HALO_VLLM_URL", "").strip()
    if not url:
        return
    try:
        with urllib.request.urlopen(f"{url.rstrip('/')}/models", timeout=3) as response:
            response.read(1)
        yield Check("vllm", True, f"HALO_VLLM_URL {url} answers", required=False)
    except urllib.error.HTTPError as exc:  # the server is there; it just refuses /models or the key
        exc.close()
        yield Check("vllm", True, f"HALO_VLLM_URL {url} answers (HTTP {exc.code})", required=False)
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        yield Check("vllm", False, f"HALO_VLLM_URL {url} does not answer: {reason}",
                    "start the server (`vllm serve <model> ...`) or fix HALO_VLLM_URL", required=False)


def _writable(directory: Path) -> Check:
    probe_dir = directory
    while not probe_dir.exists() and probe_dir.parent != probe_dir:
        probe_dir = probe_dir.parent  # it will be created under its nearest existing parent
    ok = probe_dir.is_dir() and os.access(probe_dir, os.W_OK | os.X_OK)
    return Check(f"dir {directory}", ok, "writable" if ok else f"{probe_dir} is not writable",
                 "" if ok else f"run from a directory you can write to, or pass --data-dir/--results-dir")


def run_checks(runtime, *, dirs: tuple[str, ...] = ("data", "results"), environ=None) -> list[Check]:
    environ = os.environ if environ is None else environ
    checks = [_python(), _chromium(), *_plugins(runtime), *_keys(runtime, environ), *_vllm(environ)]
    checks += [_writable(Path(d)) for d in dirs]
    return checks


@click.command("doctor")
@click.option("--dir", "dirs", multiple=True, default=("data", "results"), show_default=True,
              help="Directories that must be writable (repeatable).")
@click.pass_context
def doctor_command(ctx: click.Context, dirs: tuple[str, ...]) -> None:
    """Check Python, Chromium, plugins, API keys, the vLLM server and data directories."""
    from rich.markup import escape

    checks = run_checks(get_runtime(ctx), dirs=dirs)
    colors = {"ok": "green", "warn": "yellow", "FAIL": "red"}
    for check in checks:
        fix = f" — fix: {check.fix}" if check.fix and not check.ok else ""
        console.print(f"[{colors[check.status]}]{check.status:<4}[/] {escape(check.name)}: "
                      f"{escape(check.detail)}{escape(fix)}")
    failed = [c for c in checks if c.status == "FAIL"]
    if failed:
        console.print(f"{len(failed)} required check(s) failed: {', '.join(c.name for c in failed)}")
        sys.exit(1)


@hookimpl(tryfirst=True)  # core groups exist before plugins extend them
def halo_register_commands(cli):
    cli.add_command(doctor_command)
