"""The episode API: ``reset`` → ``step``… → ``evaluate`` → ``close``, and the public API for subclasses.

A benchmark's environment subclasses :class:`BrowserEnvironment` and uses only
these public names (documented in ``docs/reference.md``):

* ``open_task(task)`` — override: bring the fresh context to the task's first page
  (default: ``navigate(task.start_url)``). ``reset`` calls it between
  ``begin_episode`` and ``observe``.
* ``allowed_origins(task)`` — override to add origins the task may visit.
* ``navigate(url, page=None)`` — open a URL (policy-checked) and wait for it to load.
* ``observe()`` — a fresh :class:`~halo_core.model.RawObservation`.
* ``run_script(js, arg)`` — run JavaScript in the agent's page, let it settle.
* ``page``, ``context``, ``background_page()``, ``wait_load(page)``,
  ``check_alive()``, ``raise_if_dead(exc)``, ``navigation_policy``, ``task``.

Every one of them raises :class:`~halo_core.env.protocol.EnvironmentDead` when the
browser is gone.
"""

from __future__ import annotations

import base64
import os
import time
from typing import Any, Callable

from halo_core.actions import ActionError, parse_action, validate_action
from halo_core.env.browser import scripts
from halo_core.env.browser.axtree import bids_from_snapshot, flatten_axtree
from halo_core.env.browser.execution import ActionExecution
from halo_core.env.browser.navigation import NavigationPolicy, origin_of
from halo_core.env.browser.session import cdp_batch, one_line, playwright_error_type, playwright_errors
from halo_core.env.browser.settling import PageSettling
from halo_core.env.chromium import find_chromium
from halo_core.env.protocol import EnvironmentDead, EnvSettings
from halo_core.model import Evaluation, RawObservation, TaskSpec

__all__ = ["BrowserEnvironment", "ObservationTimings", "ScriptError"]

#: Most accessibility nodes one observation holds (``HALO_MAX_AX_NODES`` overrides).
MAX_AX_NODES = 5000


_CLEAR_STORAGE = ("(() => { try { localStorage.clear(); } catch (e) {} try { sessionStorage.clear(); } catch (e) {}"
                  " try { window.name = ''; } catch (e) {} })()")
#: every kind of origin storage Chromium keeps (IndexedDB, Cache Storage, service workers, file systems, …)
_ALL_STORAGE = "all"
#: How long a kept context's page may take to clear its storage before a fresh context is opened instead.
_CLEAR_TIMEOUT_MS = 3000


class ObservationTimings(dict):
    """Milliseconds per phase of the last step (action, wait, mark+axtree+snapshot, build, screenshot;
    ``screenshot_retry`` only when the batched capture failed and was tried again alone)."""


class ScriptError(RuntimeError):
    """A script passed to :meth:`BrowserEnvironment.run_script` threw; the message is one line."""


def _max_ax_nodes() -> int:
    raw = os.environ.get("HALO_MAX_AX_NODES", "")
    try:
        return max(1, int(raw)) if raw else MAX_AX_NODES
    except ValueError:
        raise ValueError(f"HALO_MAX_AX_NODES={raw!r} is not a whole number; unset it or use e.g. 5000") from None


class BrowserEnvironment(ActionExecution, PageSettling):
    """One Chromium, one episode at a time. See the package and module docstrings.

    ``evaluate`` is left to subclasses: a bare browser cannot score a task.
    """

    #: Keep the browser context from one episode to the next instead of opening a fresh
    #: one, when the new task has the same navigation policy and the last episode left
    #: one healthy tab; cookies and the origin's local and session storage are cleared.
    #: Only for sites whose pages keep no state outside their document (the next task's
    #: page is loaded anew all the same): it saves the new context and, through the HTTP
    #: cache it keeps, most of the page load. Off: a fresh context per episode.
    reuse_context: bool = False

    def __init__(
        self,
        settings: EnvSettings | None = None,
        *,
        screenshot_format: str = "jpeg",
        screenshot_quality: int = 80,
        executable_path: str | None | Callable[[], str | None] = find_chromium,
        settle_quiet_ms: int = 50,
        settle_cap_ms: int = 500,
        network_idle_cap_ms: int = 500,
        step_watchdog_s: float | None = None,
    ) -> None:
        if screenshot_format not in ("jpeg", "png"):
            raise ValueError("screenshot_format must be 'jpeg' or 'png'")
        super().__init__(settings, executable_path=executable_path, step_watchdog_s=step_watchdog_s)
        self.screenshot_format = screenshot_format
        self.screenshot_quality = int(screenshot_quality)
        self.settle_quiet_ms = settle_quiet_ms
        self.settle_cap_ms = settle_cap_ms
        self.network_idle_cap_ms = network_idle_cap_ms

        self.task: TaskSpec | None = None
        self.final_message: str = ""
        self.infeasible: bool = False
        self.last_action: str = ""
        self.last_action_error: str = ""
        self.last_observation: RawObservation | None = None
        self.timings = ObservationTimings()
        self.navigation_policy = NavigationPolicy()
        self._valid_bids: frozenset[str] = frozenset()
        self._last_allowed: dict[int, str] = {}
        self._refusals: list[str] = []
        self._refused_pages: dict[int, Any] = {}
        # page -> ((document token, bid generation, bid counter), backendNodeId -> bid) of its last DOM snapshot
        self._bid_maps: dict[int, tuple[tuple, dict[int, str]]] = {}
        # (page, "key" or "button", name) held down by keyboard_down/mouse_down and not yet let go
        self._held_input: list[tuple[Any, str, str]] = []

    # ------------------------------------------------------------------ episode API

    def reset(self, task: TaskSpec) -> RawObservation:
        """Start ``task`` in a fresh context: ``begin_episode``, ``open_task``, ``observe``."""
        self.begin_episode(task)
        self.open_task(task)
        return self.observe()

    def begin_episode(self, task: TaskSpec) -> None:
        """Forget the last episode, open a fresh context with ``task``'s navigation policy."""
        try:
            policy = NavigationPolicy.for_urls(*self.allowed_origins(task), extra=tuple(task.allowed_origins))
        except ValueError as exc:
            raise EnvironmentDead(f"task {task.id}: {exc}") from None
        reuse = self._context_reusable(policy)
        self._closed = False
        self.task = task
        self.final_message = ""
        self.infeasible = False
        self.last_action = ""
        self.last_action_error = ""
        self.last_observation = None
        self.navigation_policy = policy
        self._valid_bids = frozenset()
        self._last_allowed = {}
        self._refusals = []
        self._refused_pages = {}
        self._bid_maps = {}
        # a kept tab keeps Playwright's input state: what an episode cut off between a down and
        # its up held would still be held (Shift would capitalise the next episode's typing)
        if not (reuse and self._release_held_input() and self._clear_context()):
            self._new_context()
        self._held_input = []

    _begin_episode = begin_episode

    def _context_reusable(self, policy: NavigationPolicy) -> bool:
        """:attr:`reuse_context` is on and the open context can serve a task with ``policy``."""
        if not self.reuse_context or self._context is None or not self._browser_alive():
            return False
        # the context's request routing was built for its policy; background pages are the last episode's
        if policy != self.navigation_policy or self._internal_pages:
            return False
        pages = [p for p in self._pages if not p.is_closed()]
        if len(pages) != 1 or self._active is not pages[0]:
            return False
        state = self._net.get(id(pages[0]))
        return state is not None and not state["crashed"]

    def _release_held_input(self) -> bool:
        """Let go of every key and mouse button the last episode held down; False if that failed."""
        try:
            for page, kind, name in reversed(self._held_input):
                if page.is_closed():
                    continue
                if kind == "key":
                    page.keyboard.up(name)
                else:
                    page.mouse.up(button=name)
        except playwright_errors() as exc:
            self.raise_if_dead(exc)
            return False
        return True

    def _clear_context(self) -> bool:
        """Forget the last episode's cookies, storage and pending requests; False if that failed."""
        page = self._active
        origins = list(dict.fromkeys(o for o in (origin_of(page.url), *self.navigation_policy.origins)
                                     if o and o.startswith(("http://", "https://"))))
        try:
            self._context.clear_cookies()
            # through CDP, with a time limit: a page whose script never yields is replaced, not waited for.
            # Storage of every kind for every origin the task may visit, window.name, and the tab's history
            cdp_batch(self._cdp_for(page), [("Runtime.evaluate", {"expression": _CLEAR_STORAGE}),
                                            *[("Storage.clearDataForOrigin",
                                               {"origin": o, "storageTypes": _ALL_STORAGE}) for o in origins],
                                            ("Page.resetNavigationHistory", {})],
                      timeout_ms=_CLEAR_TIMEOUT_MS)
        except playwright_errors() as exc:
            self.raise_if_dead(exc)
            return False
        state = self._net[id(page)]
        state["inflight"].clear()
        state["navs"].clear()
        return True

    def allowed_origins(self, task: TaskSpec) -> tuple[str, ...]:
        """URLs whose origins ``task`` may visit (besides ``task.allowed_origins``); override to add."""
        return (task.start_url,) if task.start_url else ()

    def open_task(self, task: TaskSpec) -> None:
        """Bring the agent's page to the task's first page (override for a site protocol)."""
        if task.start_url:
            self.navigate(task.start_url, what="start page")

    def navigate(self, url: str, *, page=None, what: str = "page", timeout_ms: float | None = None):
        """Open ``url`` in ``page`` (default: the agent's) and wait for it to load; the response.

        Raises :class:`EnvironmentDead` when the URL is refused by the navigation
        policy or cannot be opened: the environment itself could not do its job.
        """
        refused = self.navigation_policy.refusal(url)
        if refused:
            raise EnvironmentDead(f"cannot open the {what}: {refused}")
        page = page if page is not None else self._ensure_active()
        timeout_ms = timeout_ms or self.settings.navigation_timeout_ms
        try:
            response = page.goto(url, wait_until="domcontentloaded", timeout=timeout_ms)
        except playwright_errors() as exc:
            self.raise_if_dead(exc)
            raise EnvironmentDead(f"cannot open the {what} {url}: {one_line(exc)}") from None
        self.wait_load(page)
        return response

    def _navigate(self, page, url: str, *, what: str = "page", timeout_ms: int | None = None):
        return self.navigate(url, page=page, what=what, timeout_ms=timeout_ms)

    def step(self, action: str) -> RawObservation:
        if self._context is None:
            raise EnvironmentDead("step() before reset(): no episode is running")
        self.check_alive()
        self.last_action = action
        self.last_action_error = ""
        t0 = time.perf_counter()
        timings = ObservationTimings()
        watchdog = self._start_watchdog()
        try:
            try:
                parsed = parse_action(action)
                validate_action(parsed, self._valid_bids)
            except ActionError as exc:
                self.last_action_error = str(exc)
                parsed = None
            if parsed is not None:
                navs_before = self._nav_marker()
                try:
                    self.last_action_error = self._execute(parsed)
                except playwright_errors() as exc:
                    self.raise_if_dead(exc)
                    self.last_action_error = one_line(exc)
                t1 = time.perf_counter()
                timings["action"] = (t1 - t0) * 1000
                if parsed.name not in ("send_msg_to_user", "report_infeasible", "noop"):
                    try:
                        self._settle(navs_before)
                    except playwright_errors() as exc:
                        self.raise_if_dead(exc)
                timings["wait"] = (time.perf_counter() - t1) * 1000
            obs = self.observe(timings)
        finally:
            if watchdog is not None:
                watchdog.cancel()
        timings["step"] = (time.perf_counter() - t0) * 1000
        self.timings = timings
        return obs

    def evaluate(self, final_message: str, infeasible: bool) -> Evaluation:
        raise NotImplementedError(f"{type(self).__name__} cannot score episodes; use a suite's environment")

    # ------------------------------------------------------------------ for subclasses

    def run_script(self, js: str, arg: Any = None) -> Any:
        """Run ``js`` (a function source, called with ``arg``) in the agent's page and let it settle.

        Returns the script's JSON-able result. A script that throws raises
        :class:`ScriptError`; a dead browser raises :class:`EnvironmentDead`. Call
        :meth:`observe` afterwards for the page as the agent will see it.
        """
        if self._context is None:
            raise EnvironmentDead("run_script() before reset(): no episode is running")
        self.check_alive()
        page = self._ensure_active()
        navs_before = self._nav_marker()
        try:
            result = page.evaluate(js, arg)
        except playwright_errors() as exc:
            self.raise_if_dead(exc)
            raise ScriptError(f"script failed: {one_line(exc)}") from None
        try:
            self._settle(navs_before)
        except playwright_errors() as exc:
            self.raise_if_dead(exc)
        return result

    def renumber_elements(self) -> None:
        """Number the agent's page's elements anew from the next observation on (from 1, in
        document order, as a fresh load of the same document would): for an environment that
        starts an episode on the page the last episode left, without reloading it."""
        page = self._ensure_active()
        try:
            page.evaluate(scripts.RENUMBER_BIDS)
        except playwright_errors() as exc:
            self.raise_if_dead(exc)
            raise ScriptError(f"renumbering the page's elements failed: {one_line(exc)}") from None
        self._bid_maps.pop(id(page), None)

    def observe(self, timings: ObservationTimings | None = None) -> RawObservation:
        """A fresh observation of the agent's active tab.

        Tabs on a refused URL are sent back first (the refusal goes into
        ``last_action_error``). Raises :class:`EnvironmentDead` when the page cannot
        be read three times in a row or the browser died.
        """
        self._enforce_navigation_policy()
        last_exc: BaseException | None = None
        for _attempt in range(3):
            try:
                obs = self._observe(timings if timings is not None else ObservationTimings())
                self.last_observation = obs
                self._valid_bids = frozenset(n.bid for n in obs.axtree if n.bid)
                return obs
            except playwright_errors() as exc:
                self.raise_if_dead(exc)
                last_exc = exc
                # navigation mid-extraction: let the new document load and retry
                try:
                    self.wait_load(self._ensure_active())
                except playwright_errors() as exc2:
                    self.raise_if_dead(exc2)
                self._enforce_navigation_policy()
        raise EnvironmentDead(f"cannot read the page: {one_line(last_exc or 'unknown error')}")

    _observe_or_die = observe

    # ------------------------------------------------------------------ navigation policy

    def _configure_context(self, ctx) -> None:
        ctx.route(self.navigation_policy.route_pattern(), self._route_off_policy)

    def _route_off_policy(self, route, request) -> None:
        """Abort document loads that leave the task's origins; other requests pass."""
        try:
            if request.is_navigation_request():
                refused = self.navigation_policy.refusal(request.url)
                if refused:
                    try:
                        internal = id(request.frame.page) in self._internal_pages
                    except Exception:
                        internal = False
                    if not internal:
                        self._note_refusal(refused)
                        if request.frame.parent_frame is None:
                            # its error page commits later: observe() waits for it and goes back
                            self._refused_pages[id(request.frame.page)] = request.frame.page
                    route.abort("blockedbyclient")
                    return
            route.continue_()
        except Exception:  # the page or context closed meanwhile
            pass

    def _on_main_frame_navigated(self, page, url: str) -> None:
        if url not in ("about:blank", "") and self.navigation_policy.allows(url):
            self._last_allowed[id(page)] = url

    def _note_refusal(self, message: str) -> None:
        if message not in self._refusals:
            self._refusals.append(message)

    def _enforce_navigation_policy(self) -> None:
        """Send agent tabs on refused URLs back; report every refusal in ``last_action_error``."""
        policy = self.navigation_policy
        refused_pages, self._refused_pages = self._refused_pages, {}
        for page in refused_pages.values():
            deadline = time.monotonic() + 1.0
            try:
                while (not page.is_closed() and not page.url.startswith("chrome-error://")
                       and time.monotonic() < deadline):
                    page.wait_for_timeout(10)
            except playwright_errors() as exc:
                self.raise_if_dead(exc)
        for page in list(self._pages):
            try:
                if page.is_closed():
                    continue
                url = page.url
            except playwright_errors():
                continue
            refused = policy.refusal(url)
            if not refused:
                continue
            if url.startswith("chrome-error://"):
                if id(page) not in refused_pages:
                    continue  # Chromium's own page for an allowed load that failed: the agent may see it
                # else: the error page a refused load left behind, already reported
            else:
                self._note_refusal(refused)
            self._revert(page)
        if self._refusals:
            text = "; ".join(self._refusals)
            self.last_action_error = f"{self.last_action_error}; {text}" if self.last_action_error else text
            self._refusals = []

    def _revert(self, page) -> None:
        back = self._last_allowed.get(id(page))
        others = [p for p in self._pages if p is not page and not p.is_closed()]
        try:
            if back:
                page.goto(back, wait_until="domcontentloaded", timeout=self.settings.navigation_timeout_ms)
                self.wait_load(page)
            elif others:
                page.close()
                self._ensure_active()
            else:
                page.goto("about:blank", timeout=self.settings.navigation_timeout_ms)
        except playwright_errors() as exc:
            self.raise_if_dead(exc)
            try:
                page.goto("about:blank", timeout=self.settings.navigation_timeout_ms)
            except playwright_errors() as exc2:
                self.raise_if_dead(exc2)
                raise EnvironmentDead(f"cannot leave a refused page: {one_line(exc2)}") from None

    # ------------------------------------------------------------------ extraction

    def _screenshot_alone(self, cdp, params: dict[str, Any], timeout_ms: float) -> bytes | None:
        """One more capture, on its own clock. In the batch the capture's time limit also runs
        while the bid marking and the AX tree are worked on; on a CPU-starved machine it can
        expire there although the page answered both, so it is not stuck. Still ``None`` if
        the renderer refuses again."""
        shot = cdp_batch(cdp, [("Page.captureScreenshot", params)], timeout_ms=timeout_ms,
                         optional=frozenset({"Page.captureScreenshot"}))[0]
        return base64.b64decode(shot.get("data", "")) or None

    def _observe(self, timings: ObservationTimings) -> RawObservation:
        page = self._ensure_active()
        cdp = self._cdp_for(page)
        t0 = time.perf_counter()
        commands: list[tuple[str, dict]] = [
            ("Runtime.evaluate", {"expression": scripts.MARK_BIDS, "returnByValue": True}),
            ("Accessibility.getFullAXTree", {}),
        ]
        if self.settings.screenshot:
            shot: dict[str, Any] = {"format": self.screenshot_format, "optimizeForSpeed": True}
            if self.screenshot_format == "jpeg":
                shot["quality"] = self.screenshot_quality
            commands.append(("Page.captureScreenshot", shot))
        timeout_ms = max(15000, 2 * self.settings.navigation_timeout_ms)
        # a screenshot a busy renderer refuses leaves the observation without one, not the episode dead
        results = cdp_batch(cdp, commands, timeout_ms=timeout_ms, optional=frozenset({"Page.captureScreenshot"}))
        mark = results[0].get("result", {}).get("value") or {}
        if results[0].get("exceptionDetails"):
            raise playwright_error_type()(f"bid marking failed: {results[0]['exceptionDetails'].get('text', '')}")
        # The DOM snapshot only maps bids to AX nodes; no bid attribute changed since the
        # last one of this document (mark_bids.js counts the changes): its map still holds.
        key = (str(mark.get("token") or ""), mark.get("gen"), mark.get("n"))
        cached = self._bid_maps.get(id(page))
        if key[0] and cached is not None and cached[0] == key:
            bid_of = cached[1]
        else:
            snap = cdp_batch(cdp, [("DOMSnapshot.captureSnapshot", {"computedStyles": [], "includeDOMRects": False})],
                             timeout_ms=timeout_ms)[0]
            bid_of = bids_from_snapshot(snap)
            del snap
            if key[0]:
                self._bid_maps[id(page)] = (key, bid_of)
        t1 = time.perf_counter()
        axtree = flatten_axtree(results[1].get("nodes", []), bid_of, max_nodes=_max_ax_nodes(),
                                boxes=mark.get("boxes"))
        screenshot = None
        if self.settings.screenshot and len(results) > 2:
            screenshot = base64.b64decode(results[2].get("data", "")) or None
            if screenshot is None:
                t_retry = time.perf_counter()
                screenshot = self._screenshot_alone(cdp, commands[2][1], timeout_ms)
                timings["screenshot_retry"] = (time.perf_counter() - t_retry) * 1000
        del results
        timings["extract"] = (t1 - t0) * 1000
        timings["build"] = (time.perf_counter() - t1) * 1000
        timings["observe"] = (time.perf_counter() - t0) * 1000
        timings["nodes"] = len(axtree)
        pages = [p for p in self._pages if not p.is_closed()]
        try:
            active_idx = pages.index(page)
        except ValueError:
            active_idx = 0
        focused = mark.get("focused")
        return RawObservation(
            url=page.url,
            title=str(mark.get("title") or ""),
            axtree=axtree,
            screenshot=screenshot,
            tabs=tuple(p.url for p in pages),
            active_tab=active_idx,
            focused_bid=str(focused) if focused else None,
            last_action=self.last_action,
            last_action_error=self.last_action_error,
            info=_viewport_info(mark.get("viewport")),
        )


def _viewport_info(viewport) -> dict:
    """``{"viewport": {width, height, scroll_x, scroll_y}}`` (CSS pixels) from mark_bids.js, or ``{}``."""
    try:  # measured in the page, whose scripts may have redefined what is measured: numbers only
        width, height, scroll_x, scroll_y = (float(v) for v in viewport)
    except (TypeError, ValueError):
        return {}
    return {"viewport": {"width": width, "height": height, "scroll_x": scroll_x, "scroll_y": scroll_y}}
