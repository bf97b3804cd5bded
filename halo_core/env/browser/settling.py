"""Waiting for the page to be ready after an action: event-driven, capped.

After an action the environment waits for (1) a tab the action opened, (2) the DOM
to be quiet, (3) a navigation the action started to commit and load, (4) in-flight
fetch/XHR to finish, briefly. Every wait has a cap, so a page that never settles
costs at most the caps, never a hang.
"""

from __future__ import annotations

import time

from halo_core.env.browser import scripts
from halo_core.env.browser.session import BrowserSession, playwright_errors

__all__ = ["PageSettling"]

# Reads and clears the marks popup_marker.js leaves: [opened a tab, started unloading].
_TAKE_MARKS = ("() => { const m = [window.__haloPopup || 0, window.__haloLeaving || 0];"
               " window.__haloPopup = 0; window.__haloLeaving = 0; return m; }")


class PageSettling(BrowserSession):
    """The settling half of :class:`BrowserEnvironment` (see the module docstring)."""

    settle_quiet_ms: int = 50
    settle_cap_ms: int = 500
    network_idle_cap_ms: int = 500

    def _nav_marker(self) -> dict[int, int]:
        return {pid: st["commits"] for pid, st in self._net.items()}

    def _await_popup(self, pages_before: int, navs_before: dict[int, int] | None = None) -> None:
        """An action that opened a tab or started unloading the page: wait for its (asynchronous) events.

        A new tab shows up as a page event; a navigation as a request or a commit. Both
        can arrive after the action returned, later still when requests are intercepted.
        """
        page = self._active
        if page is None or page.is_closed():
            return
        try:
            opened, leaving = page.evaluate(_TAKE_MARKS)
        except playwright_errors():
            return
        deadline = time.monotonic() + self.settings.navigation_timeout_ms / 1000.0
        while opened and len(self._pages) <= pages_before and time.monotonic() < deadline:
            page.wait_for_timeout(10)
        state = self._net.get(id(page))
        if leaving and state is not None and navs_before is not None:
            self._wait_nav_start(page, state, navs_before)

    @staticmethod
    def _navigation_started(page, state: dict, navs_before: dict[int, int]) -> bool:
        """A navigation of ``page`` is pending or has committed since ``navs_before``."""
        return bool(state["navs"]) or state["commits"] != navs_before.get(id(page), -1)

    def _await_unload(self, page, state: dict, navs_before: dict[int, int]) -> None:
        """The page began unloading while it looked quiet: wait for that navigation to show up."""
        if self._navigation_started(page, state, navs_before) or page.is_closed():
            return
        try:
            _opened, leaving = page.evaluate(_TAKE_MARKS)
        except playwright_errors():
            return
        if leaving:
            self._wait_nav_start(page, state, navs_before)

    def _wait_nav_start(self, page, state: dict, navs_before: dict[int, int]) -> None:
        deadline = time.monotonic() + min(2.0, self.settings.navigation_timeout_ms / 1000.0)
        while (not self._navigation_started(page, state, navs_before)
               and not page.is_closed() and time.monotonic() < deadline):
            page.wait_for_timeout(10)

    def _settle(self, navs_before: dict[int, int]) -> None:
        """Wait for the page to be ready after an action: event-driven, capped."""
        self._await_popup(len(navs_before), navs_before)
        page = self._ensure_active()
        state = self._net.get(id(page))
        cap = self.settle_cap_ms
        if state is None:
            self._dom_quiet(page, self.settle_quiet_ms, cap)
            return
        if not self._navigation_started(page, state, navs_before):
            # no navigation under way: the DOM going quiet is what "ready" means. (With one
            # under way the old document's quiet means nothing; the new one is waited for
            # below, and its DOM once it has loaded.)
            self._dom_quiet(page, self.settle_quiet_ms, cap)
        self._await_unload(page, state, navs_before)
        nav_deadline = time.monotonic() + self.settings.navigation_timeout_ms / 1000.0
        waited = False
        # a navigation started by the action: wait for it to commit (or fail)
        while state["navs"] and time.monotonic() < nav_deadline:
            pending = [v for v in state["navs"].values() if v == "pending"]
            finished = [v for v in state["navs"].values() if isinstance(v, tuple)]
            if not pending and finished and all(time.monotonic() - f[1] > 0.3 for f in finished):
                state["navs"].clear()  # a download or 204: nothing will commit
                break
            page.wait_for_timeout(10)
            waited = True
            page = self._ensure_active()
            state = self._net.get(id(page)) or state
        committed = state["commits"] != navs_before.get(id(page), -1)
        if committed or waited:
            self.wait_load(page)
            waited = True
        # in-flight fetch/XHR: wait for them, briefly
        idle_deadline = time.monotonic() + self.network_idle_cap_ms / 1000.0
        while state["inflight"] and time.monotonic() < idle_deadline:
            page.wait_for_timeout(10)
            waited = True
        if waited:
            self._dom_quiet(page, self.settle_quiet_ms, cap)

    def wait_load(self, page=None) -> None:
        """Wait for ``page`` (default: the agent's) to reach DOMContentLoaded, then ``load`` (≤ 3 s).

        Raises :class:`~halo_core.env.protocol.EnvironmentDead` if the browser died;
        a page that does not load in time is left as it is.
        """
        page = page if page is not None else self._ensure_active()
        try:
            page.wait_for_load_state("domcontentloaded", timeout=self.settings.navigation_timeout_ms)
        except playwright_errors() as exc:
            self.raise_if_dead(exc)
            return
        try:
            page.wait_for_load_state("load", timeout=min(3000, self.settings.navigation_timeout_ms))
        except playwright_errors() as exc:
            self.raise_if_dead(exc)

    _wait_load = wait_load

    def _dom_quiet(self, page, quiet_ms: int, cap_ms: int) -> None:
        for _ in range(3):
            try:
                page.evaluate(scripts.SETTLE, [quiet_ms, cap_ms])
                return
            except playwright_errors() as exc:
                self.raise_if_dead(exc)
                text = str(exc)
                if "Execution context was destroyed" in text or "navigat" in text:
                    # the action navigated: the new document decides
                    self.wait_load(page)
                    continue
                return
