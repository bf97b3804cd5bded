"""Finding a Chromium to drive, and the flags to launch it with.

Playwright's own Chromium is preferred when it is installed; otherwise a system
Chromium (``HALO_CHROMIUM``, then the usual Debian/Ubuntu paths, then ``$PATH``).
"""

from __future__ import annotations

import os
import shutil
import threading

__all__ = ["BrowserNotFound", "find_chromium", "launch_args", "sandbox_status"]

_SYSTEM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")
_PATH_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")

_HINT = (
    "no Chromium found: run `playwright install chromium` or `apt-get install -y chromium` "
    "(or set HALO_CHROMIUM=/path/to/chrome)"
)


class BrowserNotFound(RuntimeError):
    """Neither Playwright's Chromium nor a system Chromium is installed."""


def _executable(path: str | None) -> bool:
    return bool(path) and os.path.isfile(path) and os.access(path, os.X_OK)


def _playwright_chromium(playwright=None) -> str | None:
    """Path of Playwright's bundled Chromium when it is actually installed."""
    path: str | None = None
    if playwright is not None:
        try:
            path = playwright.chromium.executable_path
        except Exception:
            path = None
    else:
        # A sync Playwright cannot start inside a thread that already runs one (or
        # an asyncio loop), so ask from a short-lived thread of our own.
        box: list[str | None] = [None]

        def ask() -> None:
            try:
                from playwright.sync_api import sync_playwright

                with sync_playwright() as p:
                    box[0] = p.chromium.executable_path
            except Exception:
                box[0] = None

        worker = threading.Thread(target=ask, name="halo-find-chromium", daemon=True)
        worker.start()
        worker.join(30)
        path = box[0]
    return path if path and _executable(path) else None


_CACHE: dict[str, str | None] = {}


def find_chromium(playwright=None) -> str | None:
    """Where Chromium is: ``None`` means "Playwright's own browser is installed, use it".

    ``playwright`` (a started sync Playwright) is used to ask where its own browser
    lives; without it a short-lived driver is started in a helper thread.
    A path means the system Chromium to pass as ``executable_path``. Raises
    :class:`BrowserNotFound` (one line naming the fix) when there is none.
    """
    if "bundled" not in _CACHE:
        _CACHE["bundled"] = _playwright_chromium(playwright)
    if _CACHE["bundled"]:
        return None
    override = os.environ.get("HALO_CHROMIUM")
    if override:
        if _executable(override):
            return override
        raise BrowserNotFound(f"HALO_CHROMIUM={override!r} is not an executable file; {_HINT}")
    for candidate in _SYSTEM_CANDIDATES:
        if _executable(candidate):
            return candidate
    for name in _PATH_NAMES:
        found = shutil.which(name)
        if found and _executable(found):
            return found
    raise BrowserNotFound(_HINT)


def sandbox_status() -> tuple[bool, str]:
    """Whether Chromium runs with its sandbox, and why (for ``halo doctor``).

    Chromium refuses to start sandboxed as root, so there the sandbox is off
    (``--no-sandbox``); what pages may reach is then bounded only by the navigation
    policy and the container. Run HALO as an ordinary user to keep the sandbox.
    """
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        return False, "off: running as root, where Chromium cannot sandbox itself (run as a non-root user to enable it)"
    return True, "on: Chromium's own sandbox (not running as root)"


def launch_args() -> list[str]:
    """Chromium flags for an offline, headless, container-friendly browser.

    The sandbox stays on unless running as root, where Chromium cannot start with it
    (see :func:`sandbox_status`).
    """
    args = [
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-quic",
        "--disable-default-apps",
        "--disable-extensions",
        "--metrics-recording-only",
        "--no-default-browser-check",
        "--password-store=basic",
        "--disable-features=Translate,OptimizationHints,MediaRouter,AutofillServerCommunication",
    ]
    if not sandbox_status()[0]:
        args.insert(0, "--no-sandbox")
    return args
