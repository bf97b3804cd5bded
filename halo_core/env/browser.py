"""A real browser as a HALO :class:`~halo_core.env.protocol.Environment`.

:class:`BrowserEnvironment` drives Chromium through Playwright's sync API. One
browser is launched lazily per environment and reused across episodes (a fresh
context per episode); if it dies, ``step``/``reset`` raise
:class:`~halo_core.env.protocol.EnvironmentDead` and the next ``reset`` relaunches.

Observations come from Chromium's own accessibility tree
(``Accessibility.getFullAXTree``), flattened to :class:`~halo_core.model.AXNode` in
document order. Actionable elements carry a ``bid``: one injected JS pass writes a
``data-halo-bid`` attribute on actionable elements that have none (see
``_bid.js``), and one ``DOMSnapshot.captureSnapshot`` maps AX nodes to those
attributes through their backend DOM node ids. The marking pass, the AX tree,
the snapshot and the screenshot go out as one pipelined batch of CDP commands.

Actions are BrowserGym-style strings (:mod:`halo_core.actions`); an action that
cannot run never raises, it becomes ``last_action_error``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import re
import signal
import threading
import time
from pathlib import Path
from typing import Any, Callable

from halo_core.actions import Action, ActionError, parse_action, validate_action
from halo_core.env.chromium import find_chromium, launch_args
from halo_core.env.protocol import EnvironmentDead, EnvSettings
from halo_core.model import AXNode, Evaluation, RawObservation, TaskSpec

log = logging.getLogger(__name__)

__all__ = ["BrowserEnvironment", "shared_playwright", "ObservationTimings"]

BID_ATTR = "data-halo-bid"
_MARK_JS = (Path(__file__).with_name("_bid.js")).read_text(encoding="utf-8")

# Resolves once the DOM has been quiet for `quiet` ms (or after `cap` ms).
_SETTLE_JS = """([quiet, cap]) => new Promise((resolve) => {
  let quietTimer = null, capTimer = null, obs = null;
  const done = (v) => { if (obs) obs.disconnect(); clearTimeout(quietTimer); clearTimeout(capTimer); resolve(v); };
  const root = document.documentElement;
  if (!root) { resolve(false); return; }
  obs = new MutationObserver((records) => {
    for (const r of records) {
      if (r.type === 'attributes' && r.attributeName === 'data-halo-bid') continue;
      clearTimeout(quietTimer); quietTimer = setTimeout(() => done(true), quiet); return;
    }
  });
  obs.observe(root, {subtree: true, childList: true, attributes: true, characterData: true});
  quietTimer = setTimeout(() => done(true), quiet);
  capTimer = setTimeout(() => done(false), cap);
})"""

_FRAMES_JS = "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(true))))"

# Probe + prepare for a direct (CDP) click/fill: scroll into view, hit-test the centre.
_FAST_JS = """((bid, mode) => {
  const el = document.querySelector('[data-halo-bid="' + bid + '"]');
  if (!el) return {found: false};
  const tag = el.tagName.toLowerCase();
  const type = (el.type || '').toLowerCase();
  const disabled = !!(el.disabled || (el.closest && el.closest('fieldset:disabled') && ['button','input','select','textarea'].includes(tag))
                      || el.getAttribute('aria-disabled') === 'true');
  const out = {found: true, tag, type, disabled, ok: false};
  if (disabled) return out;
  if (mode === 'fill') {
    const textual = ['', 'text', 'search', 'email', 'url', 'tel', 'password', 'number'];
    const editable = (tag === 'input' && textual.includes(type)) || tag === 'textarea' || el.isContentEditable;
    if (!editable || el.readOnly) return out;
  }
  const vis = () => {
    const st = getComputedStyle(el);
    if (st.visibility === 'hidden' || st.display === 'none') return null;
    const rects = el.getClientRects();
    for (const r of rects) if (r.width > 0 && r.height > 0) return r;
    return null;
  };
  let r = vis();
  if (!r) return out;
  const vw = window.innerWidth, vh = window.innerHeight;
  if (r.top < 0 || r.left < 0 || r.bottom > vh || r.right > vw) {
    el.scrollIntoView({block: 'center', inline: 'center', behavior: 'instant'});
    r = vis();
    if (!r) return out;
  }
  const x = Math.min(Math.max(r.left + r.width / 2, 0), vw - 1), y = Math.min(Math.max(r.top + r.height / 2, 0), vh - 1);
  let t = document.elementFromPoint(x, y);
  while (t && t.shadowRoot && t.shadowRoot.elementFromPoint) { const d = t.shadowRoot.elementFromPoint(x, y); if (!d || d === t) break; t = d; }
  const hit = !!t && (t === el || el.contains(t) || (t.control && t.control === el) || (t.closest && t.closest('label') && t.closest('label').control === el));
  if (!hit) return out;
  if (mode === 'fill') {
    el.focus();
    if (el.isContentEditable && tag !== 'input' && tag !== 'textarea') {
      const range = document.createRange(); range.selectNodeContents(el);
      const sel = window.getSelection(); sel.removeAllRanges(); sel.addRange(range);
    } else { el.select(); }
    if (document.activeElement !== el) return out;
  }
  out.ok = true; out.x = x; out.y = y;
  return out;
})"""

_SELECT_JS = """(el, wanted) => {
  if (el.tagName !== 'SELECT') return {error: 'not-select'};
  const norm = (s) => (s || '').replace(/\\s+/g, ' ').trim();
  const opts = Array.from(el.options);
  const w = norm(wanted);
  let i = opts.findIndex(o => norm(o.label) === w || norm(o.textContent) === w);
  if (i < 0) i = opts.findIndex(o => o.value === wanted || norm(o.value) === w);
  if (i < 0) i = opts.findIndex(o => norm(o.label).toLowerCase() === w.toLowerCase());
  return {index: i, options: opts.map(o => norm(o.label || o.textContent))};
}"""

# AX roles that never show up as nodes (their children are lifted).
_DROP_ROLES = frozenset({"none", "presentation", "generic", "InlineTextBox", "ListMarker", "LineBreak",
                         "RootWebArea", "WebArea", "Ignored", "IframePresentational", "LayoutTable",
                         "LayoutTableRow", "LayoutTableCell", "Unknown"})
# Roles whose inner AX subtree is an implementation detail (editor internals, <select> popups).
_LEAF_ROLES = frozenset({"textbox", "searchbox", "combobox", "spinbutton", "slider",
                         "switch", "checkbox", "radio", "img", "image", "progressbar", "meter",
                         "scrollbar", "separator"})
_VALUE_ROLES = frozenset({"textbox", "searchbox", "combobox", "spinbutton", "slider", "progressbar",
                          "meter", "scrollbar"})
_BOOL_PROPS = ("focused", "disabled", "expanded", "selected", "required", "readonly", "multiselectable",
               "modal", "pressed", "busy")
_TEXT_ROLES = frozenset({"StaticText"})

_WS = re.compile(r"\s+")


def _clean(text: Any) -> str:
    return _WS.sub(" ", str(text)).strip() if text else ""


# --------------------------------------------------------------------------- playwright


_LOCAL = threading.local()


def shared_playwright():
    """This thread's sync Playwright, started once and shared by every environment.

    A thread can run only one sync Playwright, so environments (and, in the bench,
    agisdk's BrowserGym) share it.
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


def _pw_errors() -> tuple[type[BaseException], ...]:
    from playwright.sync_api import Error as PWError

    return (PWError,)


def _one_line(exc: BaseException | str, limit: int = 300) -> str:
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


# Marks the page when it opens a window or follows a link into another tab, so the
# step can wait for that tab's (asynchronous) page event instead of missing it.
_POPUP_MARKER_JS = """
(() => {
  const mark = () => { window.__haloPopup = Date.now(); };
  const open = window.open;
  window.open = function (...args) { mark(); return open.apply(this, args); };
  document.addEventListener('click', (e) => {
    const a = e.target && e.target.closest ? e.target.closest('a[target]') : null;
    if (a && a.target && a.target !== '_self' && a.target !== '_parent' && a.target !== '_top') mark();
  }, true);
})();
"""


class ObservationTimings(dict):
    """Milliseconds per phase of the last step (action, wait, mark+axtree+snapshot, build, screenshot)."""


# --------------------------------------------------------------------------- environment


class BrowserEnvironment:
    """One Chromium, one episode at a time. See the module docstring.

    ``evaluate`` is left to subclasses: a bare browser cannot score a task.
    """

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
        self.settings = settings or EnvSettings()
        if screenshot_format not in ("jpeg", "png"):
            raise ValueError("screenshot_format must be 'jpeg' or 'png'")
        self.screenshot_format = screenshot_format
        self.screenshot_quality = int(screenshot_quality)
        self._executable_path = executable_path
        self.settle_quiet_ms = settle_quiet_ms
        self.settle_cap_ms = settle_cap_ms
        self.network_idle_cap_ms = network_idle_cap_ms
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

        self.task: TaskSpec | None = None
        self.final_message: str = ""
        self.infeasible: bool = False
        self.last_action: str = ""
        self.last_action_error: str = ""
        self.last_observation: RawObservation | None = None
        self.timings = ObservationTimings()
        self._valid_bids: frozenset[str] = frozenset()

    # ------------------------------------------------------------------ lifecycle

    @property
    def page(self):
        """The active Playwright page (for subclasses and tests)."""
        return self._active

    @property
    def context(self):
        return self._context

    @property
    def browser_pid(self) -> int | None:
        return self._browser_pid

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
        before = _chromium_pids()
        kwargs: dict[str, Any] = {"headless": self.settings.headless, "args": launch_args(),
                                  "timeout": max(30000, self.settings.navigation_timeout_ms)}
        if exe:
            kwargs["executable_path"] = exe
        try:
            self._browser = pw.chromium.launch(**kwargs)
        except _pw_errors() as exc:
            raise EnvironmentDead(f"cannot launch Chromium: {_one_line(exc)}") from None
        self._browser.on("disconnected", lambda _b: self._mark_dead("browser disconnected"))
        new = sorted(_chromium_pids() - before)
        self._browser_pid = _main_browser_pid(new)

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
        except _pw_errors() as exc:
            # A browser that was alive a moment ago may have died: one relaunch.
            self._launch()
            try:
                page = self._open_context()
            except _pw_errors() as exc2:
                raise EnvironmentDead(f"cannot open a browser context: {_one_line(exc2)}") from exc
        self._active = page

    def _open_context(self):
        w, h = self.settings.viewport
        ctx = self._browser.new_context(viewport={"width": w, "height": h}, ignore_https_errors=True,
                                        service_workers="block")
        ctx.set_default_timeout(self.settings.action_timeout_ms)
        ctx.set_default_navigation_timeout(self.settings.navigation_timeout_ms)
        ctx.add_init_script(_POPUP_MARKER_JS)
        ctx.on("page", self._on_new_page)
        self._context = ctx
        self._pages = []
        self._active = None
        return ctx.new_page()

    def _close_context(self) -> None:
        ctx, self._context = self._context, None
        self._pages = []
        self._active = None
        self._cdp.clear()
        self._net.clear()
        self._internal_pages.clear()
        if ctx is not None:
            try:
                ctx.close()
            except Exception:
                pass

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
            _kill(pid)

    def close(self) -> None:
        """Close everything; idempotent, never raises."""
        try:
            self._shutdown_browser()
        except Exception:
            pass
        self._closed = True

    def __enter__(self) -> "BrowserEnvironment":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ------------------------------------------------------------------ pages and tabs

    def _internal_page(self):
        """A page for the environment's own use (never a tab the agent sees)."""
        self._opening_internal = True
        try:
            page = self._context.new_page()
        finally:
            self._opening_internal = False
        self._internal_pages.add(id(page))
        if page in self._pages:
            self._pages.remove(page)
        return page

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

    # ------------------------------------------------------------------ episode API

    def reset(self, task: TaskSpec) -> RawObservation:
        self._begin_episode(task)
        if task.start_url:
            self._navigate(self._active, task.start_url, what="start page")
        return self._observe_or_die()

    def _begin_episode(self, task: TaskSpec) -> None:
        if self._closed:
            self._closed = False
        self.task = task
        self.final_message = ""
        self.infeasible = False
        self.last_action = ""
        self.last_action_error = ""
        self.last_observation = None
        self._valid_bids = frozenset()
        self._new_context()

    def _navigate(self, page, url: str, *, what: str = "page", timeout_ms: int | None = None):
        timeout_ms = timeout_ms or self.settings.navigation_timeout_ms
        try:
            response = page.goto(url, wait_until="domcontentloaded", timeout=timeout_ms)
        except _pw_errors() as exc:
            self._raise_if_dead(exc)
            raise EnvironmentDead(f"cannot open the {what} {url}: {_one_line(exc)}") from None
        self._wait_load(page)
        return response

    def step(self, action: str) -> RawObservation:
        if self._context is None:
            raise EnvironmentDead("step() before reset(): no episode is running")
        self._check_alive()
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
                except _pw_errors() as exc:
                    self._raise_if_dead(exc)
                    self.last_action_error = _one_line(exc)
                t1 = time.perf_counter()
                timings["action"] = (t1 - t0) * 1000
                if parsed.name not in ("send_msg_to_user", "report_infeasible", "noop"):
                    try:
                        self._settle(navs_before)
                    except _pw_errors() as exc:
                        self._raise_if_dead(exc)
                timings["wait"] = (time.perf_counter() - t1) * 1000
            obs = self._observe_or_die(timings)
        finally:
            if watchdog is not None:
                watchdog.cancel()
        timings["step"] = (time.perf_counter() - t0) * 1000
        self.timings = timings
        return obs

    def evaluate(self, final_message: str, infeasible: bool) -> Evaluation:
        raise NotImplementedError(f"{type(self).__name__} cannot score episodes; use a suite's environment")

    # ------------------------------------------------------------------ liveness

    def _check_alive(self) -> None:
        if not self._browser_alive():
            raise EnvironmentDead(f"the browser is gone ({self._dead_reason or 'not connected'})")

    def _raise_if_dead(self, exc: BaseException) -> None:
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
            self._mark_dead(_one_line(exc, 160))
            raise EnvironmentDead(f"the browser is gone ({self._dead_reason})") from None

    def _start_watchdog(self) -> threading.Timer | None:
        """Kill the browser if one step hangs (a frozen renderer never answers CDP)."""
        pid = self._browser_pid
        if not pid:
            return None

        def fire() -> None:
            self._mark_dead(f"step exceeded {self.step_watchdog_s:.0f}s; browser killed")
            _kill(pid)

        timer = threading.Timer(self.step_watchdog_s, fire)
        timer.daemon = True
        timer.start()
        return timer

    # ------------------------------------------------------------------ actions

    def _locator(self, bid: str):
        return self._active.locator(f'[{BID_ATTR}="{bid}"]').first

    def _execute(self, act: Action) -> str:
        """Run one action; return an error message ('' when it worked)."""
        page = self._ensure_active()
        t = self.settings.action_timeout_ms
        name, args = act.name, act.args
        if name == "send_msg_to_user":
            self.final_message = str(args[0])
            return ""
        if name == "report_infeasible":
            self.final_message = str(args[0])
            self.infeasible = True
            return ""
        if name == "noop":
            ms = float(args[0]) if args else 0
            if ms > 0:
                page.wait_for_timeout(min(ms, 30000))
            return ""
        if name == "scroll":
            page.mouse.wheel(float(args[0]), float(args[1]))
            try:
                page.evaluate(_FRAMES_JS)
            except _pw_errors():
                pass
            return ""
        if name == "goto":
            page.goto(str(args[0]), wait_until="commit", timeout=self.settings.navigation_timeout_ms)
            return ""
        if name in ("go_back", "go_forward"):
            before = page.url
            fn = page.go_back if name == "go_back" else page.go_forward
            resp = fn(wait_until="commit", timeout=self.settings.navigation_timeout_ms)
            if resp is None and page.url == before:
                where = "previous" if name == "go_back" else "next"
                return f"{name}(): there is no {where} page in this tab's history"
            return ""
        if name == "tab_focus":
            i = int(args[0])
            pages = self._pages
            if not 0 <= i < len(pages):
                return f"no tab {i}: there are {len(pages)} tabs (0-{len(pages) - 1})"
            self._active = pages[i]
            self._active.bring_to_front()
            return ""
        if name == "new_tab":
            page = self._context.new_page()
            self._active = page
            return ""
        if name == "close_tab":
            page.close()
            self._ensure_active().bring_to_front()
            return ""

        bid = str(args[0])
        loc = self._locator(bid)
        mode = "fill" if name == "fill" and str(args[1]) else "click"
        cdp = self._cdp_for(page)
        res = _cdp_batch(cdp, [("Runtime.evaluate", {
            "expression": f"{_FAST_JS}({json.dumps(bid)}, {json.dumps(mode)})", "returnByValue": True})],
            timeout_ms=max(2000, t))[0]
        info = (res.get("result") or {}).get("value") or {}
        if not info.get("found"):
            return f"element '{bid}' is not on the current page any more"
        if info.get("disabled") and name not in ("hover", "focus"):
            return f"element '{bid}' is disabled"
        fast = info.get("ok") and name in ("click", "dblclick", "fill")
        if fast and name in ("click", "dblclick"):
            button = str(args[1]) if len(args) > 1 else "left"
            if button not in ("left", "right", "middle"):
                return f"{name}(): button must be 'left', 'right' or 'middle', got {button!r}"
            x, y = info["x"], info["y"]
            events: list[tuple[str, dict]] = [("Input.dispatchMouseEvent", {"type": "mouseMoved", "x": x, "y": y})]
            for count in ((1, 2) if name == "dblclick" else (1,)):
                for kind in ("mousePressed", "mouseReleased"):
                    events.append(("Input.dispatchMouseEvent", {"type": kind, "x": x, "y": y, "button": button,
                                                                "clickCount": count}))
            _cdp_batch(cdp, events, timeout_ms=max(2000, t))
            return ""
        if fast and name == "fill":
            if info.get("type") in ("checkbox", "radio"):
                return f"element '{bid}' is a {info.get('type')}: use check/uncheck or click"
            _cdp_batch(cdp, [("Input.insertText", {"text": str(args[1])})], timeout_ms=max(2000, t))
            return ""
        if name == "click":
            button = str(args[1]) if len(args) > 1 else "left"
            if button not in ("left", "right", "middle"):
                return f"click(): button must be 'left', 'right' or 'middle', got {button!r}"
            loc.click(button=button, timeout=t)
        elif name == "dblclick":
            button = str(args[1]) if len(args) > 1 else "left"
            if button not in ("left", "right", "middle"):
                return f"dblclick(): button must be 'left', 'right' or 'middle', got {button!r}"
            loc.dblclick(button=button, timeout=t)
        elif name == "hover":
            loc.hover(timeout=t)
        elif name == "fill":
            if info.get("tag") == "select":
                return f"element '{bid}' is a select box: use select_option('{bid}', <option>)"
            if info.get("type") in ("checkbox", "radio"):
                return f"element '{bid}' is a {info.get('type')}: use check/uncheck or click"
            loc.fill(str(args[1]), timeout=t)
        elif name == "select_option":
            res = loc.evaluate(_SELECT_JS, str(args[1]), timeout=t)
            if res.get("error") == "not-select":
                return (f"element '{bid}' is not a <select>; click it to open the list, then click the option")
            if res["index"] < 0:
                opts = ", ".join(repr(o) for o in res["options"][:20])
                return f"select '{bid}' has no option {args[1]!r}; options: {opts}"
            loc.select_option(index=res["index"], timeout=t)
        elif name == "check":
            loc.check(timeout=t)
        elif name == "uncheck":
            loc.uncheck(timeout=t)
        elif name == "press":
            loc.press(str(args[1]), timeout=t)
        elif name == "focus":
            loc.focus(timeout=t)
        elif name == "clear":
            loc.clear(timeout=t)
        else:  # pragma: no cover - parse_action already refused it
            return f"unknown action {name!r}"
        return ""

    # ------------------------------------------------------------------ waiting

    def _nav_marker(self) -> dict[int, int]:
        return {pid: st["commits"] for pid, st in self._net.items()}

    def _await_popup(self, pages_before: int) -> None:
        """An action that opened a tab: wait for the tab's event (it arrives asynchronously)."""
        page = self._active
        if page is None or page.is_closed():
            return
        try:
            opened = page.evaluate("() => { const t = window.__haloPopup || 0; window.__haloPopup = 0; return t; }")
        except _pw_errors():
            return
        deadline = time.monotonic() + self.settings.navigation_timeout_ms / 1000.0
        while opened and len(self._pages) <= pages_before and time.monotonic() < deadline:
            page.wait_for_timeout(10)

    def _settle(self, navs_before: dict[int, int]) -> None:
        """Wait for the page to be ready after an action: event-driven, capped."""
        self._await_popup(len(navs_before))
        page = self._ensure_active()
        state = self._net.get(id(page))
        cap = self.settle_cap_ms
        self._dom_quiet(page, self.settle_quiet_ms, cap)
        if state is None:
            return
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
            self._wait_load(page)
            waited = True
        # in-flight fetch/XHR: wait for them, briefly
        idle_deadline = time.monotonic() + self.network_idle_cap_ms / 1000.0
        while state["inflight"] and time.monotonic() < idle_deadline:
            page.wait_for_timeout(10)
            waited = True
        if waited:
            self._dom_quiet(page, self.settle_quiet_ms, cap)

    def _wait_load(self, page) -> None:
        try:
            page.wait_for_load_state("domcontentloaded", timeout=self.settings.navigation_timeout_ms)
        except _pw_errors() as exc:
            self._raise_if_dead(exc)
            return
        try:
            page.wait_for_load_state("load", timeout=min(3000, self.settings.navigation_timeout_ms))
        except _pw_errors() as exc:
            self._raise_if_dead(exc)

    def _dom_quiet(self, page, quiet_ms: int, cap_ms: int) -> None:
        for _ in range(3):
            try:
                page.evaluate(_SETTLE_JS, [quiet_ms, cap_ms])
                return
            except _pw_errors() as exc:
                self._raise_if_dead(exc)
                text = str(exc)
                if "Execution context was destroyed" in text or "navigat" in text:
                    # the action navigated: the new document decides
                    self._wait_load(page)
                    continue
                return

    # ------------------------------------------------------------------ observation

    def _observe_or_die(self, timings: ObservationTimings | None = None) -> RawObservation:
        last_exc: BaseException | None = None
        for attempt in range(3):
            try:
                obs = self._observe(timings if timings is not None else ObservationTimings())
                self.last_observation = obs
                self._valid_bids = frozenset(n.bid for n in obs.axtree if n.bid)
                return obs
            except _pw_errors() as exc:
                self._raise_if_dead(exc)
                last_exc = exc
                # navigation mid-extraction: let the new document load and retry
                try:
                    self._wait_load(self._ensure_active())
                except _pw_errors() as exc2:
                    self._raise_if_dead(exc2)
        raise EnvironmentDead(f"cannot read the page: {_one_line(last_exc or 'unknown error')}")

    def _observe(self, timings: ObservationTimings) -> RawObservation:
        page = self._ensure_active()
        cdp = self._cdp_for(page)
        t0 = time.perf_counter()
        commands: list[tuple[str, dict]] = [
            ("Runtime.evaluate", {"expression": _MARK_JS, "returnByValue": True}),
            ("Accessibility.getFullAXTree", {}),
            ("DOMSnapshot.captureSnapshot", {"computedStyles": [], "includeDOMRects": False}),
        ]
        if self.settings.screenshot:
            shot: dict[str, Any] = {"format": self.screenshot_format, "optimizeForSpeed": True}
            if self.screenshot_format == "jpeg":
                shot["quality"] = self.screenshot_quality
            commands.append(("Page.captureScreenshot", shot))
        results = _cdp_batch(cdp, commands, timeout_ms=max(15000, 2 * self.settings.navigation_timeout_ms))
        t1 = time.perf_counter()
        mark = results[0].get("result", {}).get("value") or {}
        if results[0].get("exceptionDetails"):
            raise _pw_error_type()(f"bid marking failed: {results[0]['exceptionDetails'].get('text', '')}")
        bid_of = _bids_from_snapshot(results[2])
        axtree = flatten_axtree(results[1].get("nodes", []), bid_of)
        screenshot = None
        if self.settings.screenshot and len(results) > 3:
            screenshot = base64.b64decode(results[3].get("data", ""))
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
        )


# --------------------------------------------------------------------------- CDP helpers


def _pw_error_type():
    from playwright.sync_api import Error as PWError

    return PWError


def _cdp_batch(cdp, commands: list[tuple[str, dict]], timeout_ms: float = 30000) -> list[dict]:
    """Send several CDP commands at once (pipelined, answered in order).

    Goes below the sync wrapper: its result post-processing walks every value of
    a multi-megabyte AX tree in Python and costs more than Chromium itself.
    """
    impl = getattr(cdp, "_impl_obj", None)
    sync = getattr(cdp, "_sync", None)
    if impl is None or sync is None:  # pragma: no cover - other Playwright layouts
        return [cdp.send(m, p) for m, p in commands]

    async def run() -> list[dict]:
        return list(await asyncio.gather(*(impl.send(m, p, timeout_ms) for m, p in commands)))

    return sync(run())


def _bids_from_snapshot(snap: dict) -> dict[int, str]:
    """backendNodeId -> bid for every element carrying ``data-halo-bid`` (main frame)."""
    strings = snap.get("strings") or []
    docs = snap.get("documents") or []
    if not docs:
        return {}
    try:
        key = strings.index(BID_ATTR)
    except ValueError:
        return {}
    nodes = docs[0].get("nodes", {})
    backend = nodes.get("backendNodeId", [])
    attributes = nodes.get("attributes", [])
    out: dict[int, str] = {}
    for i, attrs in enumerate(attributes):
        if attrs and key in attrs:
            # attrs is [name, value, name, value, ...]; the name sits at an even index
            for j in range(0, len(attrs), 2):
                if attrs[j] == key:
                    out[backend[i]] = strings[attrs[j + 1]]
                    break
    return out


def _prop_value(prop: dict) -> Any:
    v = prop.get("value", {})
    return v.get("value")


def flatten_axtree(nodes: list[dict], bid_of: dict[int, str]) -> tuple[AXNode, ...]:
    """Chromium's AX nodes -> HALO AXNodes in document order (see module docstring)."""
    if not nodes:
        return ()
    by_id = {n["nodeId"]: n for n in nodes}
    root = nodes[0]
    for n in nodes:  # the root is the node without a (known) parent
        if "parentId" not in n or n["parentId"] not in by_id:
            root = n
            break
    out: list[AXNode] = []
    # stack of (node, depth, ancestor names for redundancy checks)
    stack: list[tuple[dict, int, str]] = [(root, 0, "")]
    while stack:
        node, depth, ancestor_text = stack.pop()
        role = (node.get("role") or {}).get("value", "") or ""
        if role == "InlineTextBox":
            continue
        children = node.get("childIds") or []
        ignored = node.get("ignored", False)
        bid = bid_of.get(node.get("backendDOMNodeId")) if not ignored else None
        name = _clean((node.get("name") or {}).get("value", ""))
        emit = not ignored
        if emit:
            if role in _DROP_ROLES and not (bid or (role == "generic" and name)):
                emit = False
            elif role == "LabelText" and not name:
                emit = False
            elif role in ("MenuListPopup",):
                emit = False
        if emit and role in _TEXT_ROLES:
            if not name or name in ancestor_text:
                continue
            if out and out[-1].role == "StaticText" and out[-1].depth == depth and out[-1].bid is None:
                prev = out[-1]
                out[-1] = AXNode(role="StaticText", name=_clean(prev.name + " " + name), depth=depth)
            else:
                out.append(AXNode(role="StaticText", name=name, depth=depth))
            continue
        child_depth = depth
        child_text = ancestor_text
        if emit:
            props: dict[str, Any] = {}
            for prop in node.get("properties") or ():
                pname = prop.get("name")
                if pname in _BOOL_PROPS:
                    val = _prop_value(prop)
                    if val is True or val == "true":
                        props[pname] = True
                    elif pname in ("expanded", "selected", "pressed") and val in (False, "false"):
                        props[pname] = False
                elif pname == "checked":
                    val = _prop_value(prop)
                    props["checked"] = "mixed" if val == "mixed" else (val is True or val == "true")
                elif pname == "invalid":
                    val = _prop_value(prop)
                    if val and val != "false":
                        props["invalid"] = True if val == "true" else val
                elif pname in ("level", "valuemin", "valuemax", "valuetext", "autocomplete", "haspopup"):
                    val = _prop_value(prop)
                    if val not in (None, "", "false"):
                        props[pname] = val
            value = ""
            if role in _VALUE_ROLES:
                value = _clean((node.get("value") or {}).get("value", ""))
            if role == "combobox" or role == "listbox":
                options = _option_labels(node, by_id)
                if options:
                    props["options"] = tuple(options)
            out.append(AXNode(role=role, name=name, bid=bid, value=value, depth=depth, props=props))
            child_depth = depth + 1
            child_text = name if name else ancestor_text
            if role in _LEAF_ROLES:
                continue  # editor internals / <select> popups are summarised in value/options
        for cid in reversed(children):
            child = by_id.get(cid)
            if child is not None:
                stack.append((child, child_depth, child_text))
    return tuple(out)


def _option_labels(node: dict, by_id: dict) -> list[str]:
    """Labels of a <select>'s options (under its MenuListPopup)."""
    labels: list[str] = []
    stack = list(reversed(node.get("childIds") or []))
    seen = 0
    while stack and seen < 2000:
        seen += 1
        child = by_id.get(stack.pop())
        if child is None:
            continue
        role = (child.get("role") or {}).get("value", "")
        if role in ("option", "MenuListOption"):
            labels.append(_clean((child.get("name") or {}).get("value", "")))
            continue
        if role in ("MenuListPopup", "group", "none", "generic") or child.get("ignored"):
            stack.extend(reversed(child.get("childIds") or []))
    return labels


# --------------------------------------------------------------------------- processes


def _chromium_pids() -> set[int]:
    """Chromium browser processes descending from this Python process."""
    me = os.getpid()
    parent: dict[int, int] = {}
    cmd: dict[int, str] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return set()
    for entry in entries:
        if not entry.isdigit():
            continue
        pid = int(entry)
        try:
            with open(f"/proc/{pid}/stat", "rb") as fh:
                stat = fh.read().decode("utf-8", "replace")
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                cmd[pid] = fh.read().replace(b"\0", b" ").decode("utf-8", "replace")
        except (OSError, ValueError, IndexError):
            continue
        parent[pid] = ppid
    out: set[int] = set()
    for pid, line in cmd.items():
        if ("chrom" not in line.lower()) or "--type=" in line:
            continue
        p, hops = pid, 0
        while p and p != me and hops < 20:
            p = parent.get(p, 0)
            hops += 1
        if p == me:
            out.add(pid)
    return out


def _main_browser_pid(candidates: list[int]) -> int | None:
    return candidates[0] if len(candidates) >= 1 else None


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except (OSError, ProcessLookupError):
        pass
