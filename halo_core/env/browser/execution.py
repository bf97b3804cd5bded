"""Running one parsed action in the browser.

Clicks and fills go the fast way when they can: one probe script finds the element
by bid, scrolls it into view and hit-tests its centre, then raw CDP input events
do the rest. When the probe says the element is covered, off-screen or unusual,
Playwright's locator (with its actionability waits) takes over. An action that
cannot run returns an error message; it never raises for the agent's mistakes.

Coordinate actions (``mouse_*``) are CSS pixels of the viewport, refused outside it;
keyboard actions go to whatever has focus. Neither can leave the task's origins any
more than an element click can: the navigation policy's route and its check before
every observation see a document request whatever input caused it.
"""

from __future__ import annotations

import json
import os
from urllib.parse import urljoin

from halo_core.actions import COORDINATE_ACTIONS, KEYBOARD_ACTIONS, Action
from halo_core.env.browser import scripts
from halo_core.env.browser.axtree import BID_ATTR
from halo_core.env.browser.navigation import NavigationPolicy
from halo_core.env.browser.session import BrowserSession, cdp_batch, playwright_errors

__all__ = ["ActionExecution"]


class ActionExecution(BrowserSession):
    """The action half of :class:`BrowserEnvironment` (see the module docstring)."""

    navigation_policy: NavigationPolicy = NavigationPolicy()
    #: the folder ``upload_file`` may take files from (a relative name is looked up there);
    #: None refuses every upload, so a model cannot send the machine's files to a page
    upload_dir: str | None = None
    #: intermediate mouse moves of a drag, so scripts that follow the pointer see it travel
    drag_steps: int = 8

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
        if name in COORDINATE_ACTIONS:
            return self._mouse(page, name, args)
        if name in KEYBOARD_ACTIONS:
            return self._keyboard(page, name, str(args[0]))
        if name in ("close_tab", "tab_close"):
            page.close()
            self._ensure_active().bring_to_front()
            return ""

        bid = str(args[0])
        loc = self._locator(bid)
        if name == "drag_and_drop":
            return self._drag_and_drop(page, bid, str(args[1]))
        if name == "upload_file":
            return self._upload(loc, bid, str(args[1]))
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
            wanted = list(args[1]) if isinstance(args[1], tuple) else [str(args[1])]
            res = loc.evaluate(scripts.SELECT_OPTION, wanted, timeout=t)
            if res.get("error") == "not-select":
                return (f"element '{bid}' is not a <select>; click it to open the list, then click the option")
            if len(wanted) > 1 and not res.get("multiple"):
                return (f"select '{bid}' takes one option (it is not a multiple select); "
                        f"got {len(wanted)}: {', '.join(repr(w) for w in wanted)}")
            missing = [w for w, i in zip(wanted, res["indexes"]) if i < 0]
            if missing:
                opts = ", ".join(repr(o) for o in res["options"][:20])
                return f"select '{bid}' has no option {', '.join(repr(m) for m in missing)}; options: {opts}"
            # a list replaces the selection with exactly those options, as Playwright's and BrowserGym's do
            loc.select_option(index=res["indexes"], timeout=t)
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

    def _viewport(self, page) -> tuple[float, float]:
        size = page.viewport_size
        if size:
            return float(size["width"]), float(size["height"])
        w, h = page.evaluate("[window.innerWidth, window.innerHeight]")
        return float(w), float(h)

    def _mouse(self, page, name: str, args: tuple) -> str:
        width, height = self._viewport(page)
        points = [(float(args[i]), float(args[i + 1])) for i in range(0, 4 if name == "mouse_drag_and_drop" else 2, 2)]
        for x, y in points:
            if not (0 <= x < width and 0 <= y < height):
                return (f"{name}(): ({x:g}, {y:g}) is outside the viewport "
                        f"(0-{width - 1:g} x 0-{height - 1:g}); scroll first")
        button = str(args[2]) if len(args) > 2 else "left"
        mouse = page.mouse
        (x, y), *rest = points
        if name == "mouse_move":
            mouse.move(x, y)
        elif name == "mouse_click":
            mouse.click(x, y, button=button)
        elif name == "mouse_dblclick":
            mouse.dblclick(x, y, button=button)
        elif name == "mouse_down":
            mouse.move(x, y)
            mouse.down(button=button)
            self._holding(page, "button", button, True)
        elif name == "mouse_up":
            mouse.move(x, y)
            mouse.up(button=button)
            self._holding(page, "button", button, False)
        else:  # mouse_drag_and_drop
            (to_x, to_y), = rest
            mouse.move(x, y)
            mouse.down()
            mouse.move(to_x, to_y, steps=self.drag_steps)
            mouse.up()
        return ""

    def _keyboard(self, page, name: str, key: str) -> str:
        keyboard = page.keyboard
        try:
            if name == "keyboard_press":
                keyboard.press(key)
            elif name == "keyboard_down":
                keyboard.down(key)
                self._holding(page, "key", key, True)
            elif name == "keyboard_up":
                keyboard.up(key)
                self._holding(page, "key", key, False)
            elif name == "keyboard_type":
                keyboard.type(key)
            else:  # keyboard_insert_text
                keyboard.insert_text(key)
        except playwright_errors() as exc:
            if "Unknown key" in str(exc):
                return f"{name}(): unknown key {key!r}; use names such as 'Enter', 'ArrowDown', 'Control+a'"
            raise
        return ""

    def _holding(self, page, kind: str, name: str, down: bool) -> None:
        """Note a key or button held across steps, or let go, for the next reset to release."""
        held = (page, kind, name)
        if held in self._held_input:
            self._held_input.remove(held)
        if down:
            self._held_input.append(held)

    def _drag_and_drop(self, page, source: str, target: str) -> str:
        t = self.settings.action_timeout_ms
        width, height = self._viewport(page)
        self._locator(source).scroll_into_view_if_needed(timeout=t)
        points = []
        for bid in (source, target):
            box = self._locator(bid).bounding_box(timeout=t)
            if not box or box["width"] <= 0 or box["height"] <= 0:
                return f"element '{bid}' is not visible"
            x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
            if not (0 <= x < width and 0 <= y < height):
                return f"drag_and_drop(): element '{bid}' is outside the viewport; scroll first"
            points.append((x, y))
        (x, y), (to_x, to_y) = points
        page.mouse.move(x, y)
        page.mouse.down()
        page.mouse.move(to_x, to_y, steps=self.drag_steps)
        page.mouse.up()
        return ""

    def _upload(self, loc, bid: str, file: str) -> str:
        if not self.upload_dir:
            return "upload_file(): uploads are off for this environment (no upload folder is set)"
        root = os.path.realpath(self.upload_dir)
        path = os.path.realpath(os.path.join(root, file))
        if os.path.commonpath([root, path]) != root or not os.path.isfile(path):
            return f"upload_file(): no file {file!r} in the upload folder"
        loc.set_input_files(path, timeout=self.settings.action_timeout_ms)
        return ""
