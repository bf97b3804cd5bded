"""Running one parsed action in the browser.

Clicks and fills go the fast way when they can: one probe script finds the element
by bid, scrolls it into view and hit-tests its centre, then raw CDP input events
do the rest. When the probe says the element is covered, off-screen or unusual,
Playwright's locator (with its actionability waits) takes over. An action that
cannot run returns an error message; it never raises for the agent's mistakes.
"""

from __future__ import annotations

from urllib.parse import urljoin

import json

from halo_core.actions import Action
from halo_core.env.browser import scripts
from halo_core.env.browser.axtree import BID_ATTR
from halo_core.env.browser.navigation import NavigationPolicy
from halo_core.env.browser.session import BrowserSession, cdp_batch, playwright_errors

__all__ = ["ActionExecution"]


class ActionExecution(BrowserSession):
    """The action half of :class:`BrowserEnvironment` (see the module docstring)."""

    navigation_policy: NavigationPolicy = NavigationPolicy()

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
                page.evaluate(scripts.FRAMES)
            except playwright_errors():
                pass
            return ""
        if name == "goto":
            url = str(args[0])
            if url.startswith("/") and not url.startswith("//"):
                # prompts show site-relative URLs (the same on every port): resolve against this page
                url = urljoin(page.url, url)
            refused = self.navigation_policy.refusal(url)
            if refused:
                return refused
            page.goto(url, wait_until="commit", timeout=self.settings.navigation_timeout_ms)
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
        res = cdp_batch(cdp, [("Runtime.evaluate", {
            "expression": f"{scripts.PROBE_TARGET}({json.dumps(bid)}, {json.dumps(mode)})", "returnByValue": True})],
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
            cdp_batch(cdp, events, timeout_ms=max(2000, t))
            return ""
        if fast and name == "fill":
            if info.get("type") in ("checkbox", "radio"):
                return f"element '{bid}' is a {info.get('type')}: use check/uncheck or click"
            cdp_batch(cdp, [("Input.insertText", {"text": str(args[1])})], timeout_ms=max(2000, t))
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
            res = loc.evaluate(scripts.SELECT_OPTION, str(args[1]), timeout=t)
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
