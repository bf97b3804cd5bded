"""The Playwright side of the environment: one browser, one context per episode, its pages.

:class:`BrowserSession` launches Chromium lazily, opens a fresh context per episode,
follows the agent's tabs (a popup takes the focus, as it does for a person), keeps
background pages the agent never sees, and knows when the browser is dead: then
every call raises :class:`~halo_core.env.protocol.EnvironmentDead` and the next
episode relaunches.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import threading
import time
from typing import Any, Callable

from halo_core.env.browser import scripts
from halo_core.env.browser.processes import chromium_pids, kill, main_browser_pid
from halo_core.env.chromium import find_chromium, launch_args
from halo_core.env.protocol import EnvironmentDead, EnvSettings

#: numbers each browser launch of this process (:meth:`BrowserSession._launch`)
_LAUNCHES = itertools.count(1)

__all__ = ["BrowserSession", "cdp_batch", "one_line", "playwright_errors", "shared_playwright"]

_LOCAL = threading.local()


def shared_playwright():
    """This thread's sync Playwright, started once and shared by every environment.

    A thread can run only one sync Playwright, so environments (and, in the benches,
    other harnesses' browsers) share it.
    """
    pw = getattr(_LOCAL, "pw", None)
    if pw is not None:
        try:
            if not pw._impl_obj._connection._closed_error:  # type: ignore[attr-defined]
                return pw
        except AttributeError:
            return pw
    from playwright.sync_api import sync_playwright

    manager = sync_playwright()
    pw = manager.start()
    _LOCAL.manager = manager
    _LOCAL.pw = pw
    return pw


def playwright_errors() -> tuple[type[BaseException], ...]:
    """The exception types a Playwright call raises (imported late: ``import halo_core`` stays light)."""
    from playwright.sync_api import Error as PWError

    return (PWError,)


def playwright_error_type() -> type[BaseException]:
    from playwright.sync_api import Error as PWError

    return PWError


def one_line(exc: BaseException | str, limit: int = 300) -> str:
    """A Playwright error as one readable line (call log reduced to its reason)."""
    text = str(exc)
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if not lines:
        return type(exc).__name__ if isinstance(exc, BaseException) else ""
    head = lines[0]
    head = re.sub(r"^(Locator|Page|Frame|ElementHandle|Mouse|Keyboard)\.\w+:\s*", "", head)
    reason = ""
    if "Call log" in text:
        log_lines = [ln.lstrip("- ").strip() for ln in lines[1:] if not ln.startswith("Call log")]
        for ln in reversed(log_lines):
            if any(k in ln for k in ("not visible", "not enabled", "intercepts pointer", "not stable",
                                     "outside of the viewport", "not editable", "detached", "not an <input>",
                                     "did not find some options", "retrying")):
                reason = ln
                break
    out = head if not reason else f"{head} ({reason})"
    return out[:limit]


def cdp_batch(cdp, commands: list[tuple[str, dict]], timeout_ms: float = 30000,
              optional: frozenset[str] = frozenset()) -> list[dict]:
    """Send several CDP commands at once (pipelined, answered in order).

    Goes below the sync wrapper: its result post-processing walks every value of
    a multi-megabyte AX tree in Python and costs more than Chromium itself.
    A command named in ``optional`` (e.g. a screenshot, which a busy renderer may
    refuse) that fails gives ``{}`` instead of failing the batch.
    """
    impl = getattr(cdp, "_impl_obj", None)
    sync = getattr(cdp, "_sync", None)
    if impl is None or sync is None:  # pragma: no cover - other Playwright layouts
        return [_send_one(cdp, m, p, m in optional) for m, p in commands]

    async def run() -> list[dict]:
        return list(await asyncio.gather(*(impl.send(m, p, timeout_ms) for m, p in commands),
                                         return_exceptions=True))

    results = sync(run())
    for (method, _), result in zip(commands, results):
        if isinstance(result, BaseException) and method not in optional:
            raise result
    return [{} if isinstance(r, BaseException) else r for r in results]


def _send_one(cdp, method: str, params: dict, optional: bool) -> dict:  # pragma: no cover - other layouts
    try:
        return cdp.send(method, params)
    except Exception:
        if optional:
            return {}
        raise


class BrowserSession:
    """Browser, context, tabs and liveness; the base of :class:`BrowserEnvironment`."""

    def __init__(
        self,
        settings: EnvSettings | None = None,
        *,
        executable_path: str | None | Callable[[], str | None] = find_chromium,
        step_watchdog_s: float | None = None,
    ) -> None:
        self.settings = settings or EnvSettings()
        self._executable_path = executable_path
        s = self.settings
        self.step_watchdog_s = step_watchdog_s or (
            (s.action_timeout_ms + 2 * s.navigation_timeout_ms) / 1000.0 + 20.0
        )
        self._pw = None
        self._browser = None
        self._browser_pid: int | None = None
        self._context = None
        self._pages: list[Any] = []
        self._active = None
        self._internal_pages: set[int] = set()
        self._opening_internal = False
        self._cdp: dict[int, Any] = {}
        self._net: dict[int, dict[str, Any]] = {}
        self._dead_reason = ""
        self._closed = False

    # ------------------------------------------------------------------ public handles

    @property
    def page(self):
        """The agent's active Playwright page (``None`` before the first ``reset``)."""
        return self._active

    @property
    def context(self):
        """This episode's Playwright browser context."""
        return self._context

    @property
    def browser_pid(self) -> int | None:
        """The Chromium browser process's pid, when it could be found."""
        return self._browser_pid

    # ------------------------------------------------------------------ lifecycle

    def _browser_alive(self) -> bool:
        b = self._browser
        if b is None:
            return False
        try:
            return b.is_connected() and not self._dead_reason
        except Exception:
            return False

    def _launch(self) -> None:
        self._shutdown_browser()
        self._dead_reason = ""
        pw = shared_playwright()
        self._pw = pw
        exe = self._executable_path
        if callable(exe):
            exe = exe(pw) if exe is find_chromium else exe()
        # a switch Chromium ignores, naming this launch: several threads may launch at once,
        # and each must find (and one day kill) its own browser, not a neighbour's
        marker = f"--halo-launch={os.getpid()}-{next(_LAUNCHES)}"
        kwargs: dict[str, Any] = {"headless": self.settings.headless, "args": [*launch_args(), marker],
                                  "timeout": max(30000, self.settings.navigation_timeout_ms)}
        if exe:
            kwargs["executable_path"] = exe
        try:
            self._browser = pw.chromium.launch(**kwargs)
        except playwright_errors() as exc:
            raise EnvironmentDead(f"cannot launch Chromium: {one_line(exc)}") from None
        self._browser.on("disconnected", lambda _b: self._mark_dead("browser disconnected"))
        new = sorted(chromium_pids(marker))  # the marker is new: whatever holds it is this launch's
        self._browser_pid = main_browser_pid(new)

    def _mark_dead(self, reason: str) -> None:
        if not self._dead_reason:
            self._dead_reason = reason

    def restart(self) -> None:
        """Throw away the browser (whatever state it is in) and launch a fresh one."""
        self._launch()

    def _new_context(self) -> None:
        if not self._browser_alive():
            self._launch()
        self._close_context()
        try:
            page = self._open_context()
        except playwright_errors() as exc:
            # A browser that was alive a moment ago may have died: one relaunch.
            self._launch()
            try:
                page = self._open_context()
            except playwright_errors() as exc2:
                raise EnvironmentDead(f"cannot open a browser context: {one_line(exc2)}") from exc
        self._active = page

    def _open_context(self):
        w, h = self.settings.viewport
        ctx = self._browser.new_context(viewport={"width": w, "height": h}, ignore_https_errors=True,
                                        service_workers="block")
        ctx.set_default_timeout(self.settings.action_timeout_ms)
        ctx.set_default_navigation_timeout(self.settings.navigation_timeout_ms)
        ctx.add_init_script(scripts.POPUP_MARKER)
        self._configure_context(ctx)
        ctx.on("page", self._on_new_page)
        self._context = ctx
        self._pages = []
        self._active = None
        return ctx.new_page()

    def _configure_context(self, ctx) -> None:
        """Called on every new context before its first page opens (routing goes here)."""

    def _close_context(self) -> None:
        ctx, self._context = self._context, None
        # unroute_all goes through every page: one whose script never yields would hang it
        respond = ctx is not None and self._pages_respond(ctx)
        self._pages = []
        self._active = None
        self._cdp.clear()
        self._net.clear()
        self._internal_pages.clear()
        if ctx is not None:
            if respond:
                try:  # route handlers still running would otherwise be torn down mid-call
                    ctx.unroute_all(behavior="ignoreErrors")
                except Exception:
                    pass
            try:
                ctx.close()
            except Exception:
                pass

    def _pages_respond(self, ctx, timeout_ms: float = 2000) -> bool:
        """Every open page of ``ctx`` answers a trivial CDP call within ``timeout_ms``."""
        try:
            for page in ctx.pages:
                if page.is_closed():
                    continue
                session = self._cdp.get(id(page)) or ctx.new_cdp_session(page)
                cdp_batch(session, [("Runtime.evaluate", {"expression": "0"})], timeout_ms=timeout_ms)
        except Exception:  # timed out, or the page or browser is gone
            return False
        return True

    def _shutdown_browser(self) -> None:
        self._close_context()
        b, self._browser = self._browser, None
        if b is not None:
            try:
                b.close()
            except Exception:
                pass
        pid, self._browser_pid = self._browser_pid, None
        if pid:
            kill(pid)

    def close(self) -> None:
        """Close everything; idempotent, never raises."""
        try:
            self._shutdown_browser()
        except Exception:
            pass
        self._closed = True

    def __enter__(self):
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ------------------------------------------------------------------ pages and tabs

    def background_page(self):
        """A new page for the environment's own use: never a tab the agent sees or observes."""
        if self._context is None:
            raise EnvironmentDead("background_page() before reset(): no episode is running")
        self._opening_internal = True
        try:
            page = self._context.new_page()
        finally:
            self._opening_internal = False
        self._internal_pages.add(id(page))
        if page in self._pages:
            self._pages.remove(page)
        return page

    _internal_page = background_page

    def _on_new_page(self, page) -> None:
        if self._opening_internal or id(page) in self._internal_pages:
            self._internal_pages.add(id(page))
            return
        if page in self._pages:
            return
        self._pages.append(page)
        self._track(page)
        # a popup or new tab takes the focus, as it does for a person
        self._active = page

    def _track(self, page) -> None:
        pid = id(page)
        state = {"inflight": set(), "navs": {}, "commits": 0, "crashed": False}
        self._net[pid] = state

        def on_request(req) -> None:
            try:
                rtype = req.resource_type
                if rtype in ("document", "xhr", "fetch"):
                    state["inflight"].add(id(req))
                if rtype == "document" and req.is_navigation_request() and req.frame == page.main_frame:
                    state["navs"][id(req)] = "pending"
            except Exception:
                pass

        def on_done(req) -> None:
            state["inflight"].discard(id(req))
            if id(req) in state["navs"] and state["navs"][id(req)] == "pending":
                state["navs"][id(req)] = ("finished", time.monotonic())

        def on_failed(req) -> None:
            state["inflight"].discard(id(req))
            state["navs"].pop(id(req), None)

        def on_nav(frame) -> None:
            if frame == page.main_frame:
                state["commits"] += 1
                state["navs"].clear()
                self._on_main_frame_navigated(page, frame.url)

        def on_close(_p) -> None:
            if page in self._pages:
                idx = self._pages.index(page)
                self._pages.remove(page)
                if self._active is page:
                    self._active = self._pages[min(idx, len(self._pages)) - 1] if self._pages else None
            self._cdp.pop(id(page), None)

        def on_crash(_p) -> None:
            state["crashed"] = True

        page.on("request", on_request)
        page.on("requestfinished", on_done)
        page.on("requestfailed", on_failed)
        page.on("framenavigated", on_nav)
        page.on("close", on_close)
        page.on("crash", on_crash)

    def _on_main_frame_navigated(self, page, url: str) -> None:
        """An agent tab committed a new document (the navigation policy listens here)."""

    def _cdp_for(self, page):
        session = self._cdp.get(id(page))
        if session is None:
            session = self._context.new_cdp_session(page)
            self._cdp[id(page)] = session
        return session

    def _ensure_active(self):
        if self._active is not None and not self._active.is_closed():
            return self._active
        self._pages = [p for p in self._pages if not p.is_closed()]
        if self._pages:
            self._active = self._pages[-1]
        else:
            self._active = self._context.new_page()
        return self._active

    # ------------------------------------------------------------------ liveness

    def check_alive(self) -> None:
        """Raise :class:`EnvironmentDead` when the browser is gone."""
        if not self._browser_alive():
            raise EnvironmentDead(f"the browser is gone ({self._dead_reason or 'not connected'})")

    _check_alive = check_alive

    def raise_if_dead(self, exc: BaseException) -> None:
        """Turn a Playwright error into :class:`EnvironmentDead` when it means the browser died.

        Call it in every ``except`` around a Playwright call; an ordinary failure
        (timeout, missing element) returns and is the caller's to report.
        """
        text = str(exc)
        dead = not self._browser_alive()
        if not dead and any(k in text for k in ("Target crashed", "Browser has been closed",
                                                  "Connection closed", "browser has been closed",
                                                  "Browser closed")):
            dead = True
        if not dead and self._active is not None:
            state = self._net.get(id(self._active))
            if state and state["crashed"]:
                dead = True
                self._mark_dead("page crashed")
        if dead:
            self._mark_dead(one_line(exc, 160))
            raise EnvironmentDead(f"the browser is gone ({self._dead_reason})") from None

    _raise_if_dead = raise_if_dead

    def _start_watchdog(self) -> threading.Timer | None:
        """Kill the browser if one step hangs (a frozen renderer never answers CDP)."""
        pid = self._browser_pid
        if not pid:
            return None

        def fire() -> None:
            self._mark_dead(f"step exceeded {self.step_watchdog_s:.0f}s; browser killed")
            kill(pid)

        timer = threading.Timer(self.step_watchdog_s, fire)
        timer.daemon = True
        timer.start()
        return timer
