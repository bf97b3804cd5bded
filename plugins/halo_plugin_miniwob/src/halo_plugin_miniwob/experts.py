"""Scripted MiniWoB++ solutions: read the instruction and the page, act through bids.

Each solver is a function of a :class:`View` returning one HALO action string. It is
*reactive*: it looks at the page as it is now and picks the next move (the box still
to tick, the field still empty, the Submit button last), so it needs no memory and
recovers from a step the cache or a macro took for it. It reads the page through the
environment's page API — as a human demonstrator looks at the screen — because many
MiniWoB controls are ``<span>``/``<div>`` elements whose accessible name Chromium
leaves empty; it acts only with action strings on bids the observation shows.

:data:`SOLVERS` maps task names to solvers; ``expert_action`` answers
``report_infeasible`` for tasks it has no solver for.
"""

from __future__ import annotations

import ast
import functools
import math
import re
import time
import weakref
from importlib import resources
from typing import Any, Callable

from halo_core.api import Observation, TaskSpec

__all__ = ["SOLVERS", "NoMove", "View", "expert_action"]

_PRELUDE = resources.files(__package__).joinpath("page_reader.js").read_text()


class NoMove(Exception):
    """The page is not in a state the solver knows how to continue from."""


class View:
    """The instruction, the live page (read-only) and the observation's bids."""

    def __init__(self, env, task: TaskSpec, observation: Observation, steps_taken: int = 0) -> None:
        self.env = env
        self.task = task
        self.observation = observation
        self.utterance = env.instruction or task.goal
        self.steps_taken = steps_taken

    # -- reading
    def js(self, body: str, arg: Any = None) -> Any:
        """Evaluate ``body`` (a function body over ``arg`` and page_reader.js' helpers) in the page."""
        return self.env.page.evaluate("(arg) => {" + _PRELUDE + "\n" + body + "\n}", arg)

    def quoted(self) -> list[str]:
        return re.findall(r'"([^"]*)"', self.utterance)

    # -- acting
    def _bid(self, bid: Any, what: str) -> str:
        if not bid:
            raise NoMove(f"no element for {what}")
        bid = str(bid)
        if bid not in self.observation.valid_bids:
            raise NoMove(f"{what} has bid {bid}, which the observation does not show")
        return bid

    def click(self, bid: Any, what: str = "the target") -> str:
        return f"click({self._bid(bid, what)!r})"

    def fill(self, bid: Any, value: str, what: str = "the field") -> str:
        return f"fill({self._bid(bid, what)!r}, {str(value)!r})"

    def select(self, bid: Any, option: str, what: str = "the list") -> str:
        return f"select_option({self._bid(bid, what)!r}, {str(option)!r})"

    def press(self, bid: Any, key: str, what: str = "the field") -> str:
        return f"press({self._bid(bid, what)!r}, {key!r})"

    def focus(self, bid: Any, what: str = "the field") -> str:
        return f"focus({self._bid(bid, what)!r})"

    def mouse_click(self, point: Any, what: str = "the point") -> str:
        """Click at ``point`` ([x, y], viewport pixels, as the page measured it)."""
        x, y = self._point(point, what)
        return f"mouse_click({x}, {y})"

    def drag(self, start: Any, end: Any, what: str = "the drag") -> str:
        (x1, y1), (x2, y2) = self._point(start, what), self._point(end, what)
        return f"mouse_drag_and_drop({x1}, {y1}, {x2}, {y2})"

    def _point(self, point: Any, what: str) -> tuple[float, float]:
        if not point or len(point) != 2 or any(not isinstance(c, (int, float)) for c in point):
            raise NoMove(f"no point for {what}")
        x, y = (round(float(c), 1) for c in point)
        width, height = self.viewport()
        if not (0 <= x < width and 0 <= y < height):
            raise NoMove(f"{what} at ({x}, {y}) is outside the viewport")
        return (int(x) if x == int(x) else x), (int(y) if y == int(y) else y)

    def viewport(self) -> tuple[float, float]:
        size = (self.observation.info or {}).get("viewport") or {}
        if size.get("width") and size.get("height"):
            return float(size["width"]), float(size["height"])
        return tuple(self.js("return [window.innerWidth, window.innerHeight];"))

    def click_element(self, js_body: str, arg: Any = None, what: str = "the target") -> str:
        """Click the element ``js_body`` returns: by its bid when the observation gives it one of
        its own, else at its centre (a target nested in another element's click region)."""
        # the first box of an inline element that wraps: the middle of its bounding box may be blank
        found = self.js("const el = (() => {" + js_body + "})(); if (!el) return null;" + _AIM, arg)
        if not found:
            raise NoMove(f"no {what}")
        if found["bid"] and str(found["bid"]) in self.observation.valid_bids:
            return self.click(found["bid"], what)
        if found.get("scroll"):
            return self.scroll_towards(found["scroll"], what)
        return self.mouse_click([found["x"], found["y"]], what)

    def scroll_towards(self, scroll: dict, what: str) -> str:
        """Scroll a scrolled box (``{at, dy}``) as a person does: pointer over it, then the wheel."""
        if self.observation.last_action.startswith("mouse_move("):
            return f"scroll(0, {round(scroll['dy'])})"
        return f"mouse_move({', '.join(str(c) for c in self._point(scroll['at'], what))})"

    def click_selector(self, selector: str, what: str = "") -> str:
        return self.click(self.js("const el = qa(arg).filter(visible)[0]; return bidOf(el);", selector),
                          what or selector)


#: where to aim at ``el``: its first box's centre, or how to scroll the box that clips it there
_AIM = """
    const rs = el.getClientRects(), r = rs.length ? rs[0] : el.getBoundingClientRect();
    const x = r.left + r.width / 2, y = r.top + r.height / 2;
    const top = document.elementFromPoint(x, y);
    if (!(top === el || el.contains(top))) {
      for (let box = el.parentElement; box; box = box.parentElement) {
        const st = getComputedStyle(box);
        if (/(auto|scroll)/.test(st.overflowY) && box.scrollHeight > box.clientHeight) {
          const b = box.getBoundingClientRect();
          return {bid: null, x, y, scroll: {at: [b.left + b.width / 2, b.top + b.height / 2], dy: y - (b.top + b.height / 2)}};
        }
      }
    }
    return {bid: el.getAttribute(ATTR), x, y};
"""

Solver = Callable[[View], str]
SOLVERS: dict[str, Solver] = {}


def solves(*names: str) -> Callable[[Solver], Solver]:
    def register(fn: Solver) -> Solver:
        for name in names:
            SOLVERS[name] = fn
        return fn
    return register


def expert_action(env, task: TaskSpec, observation: Observation, steps_taken: int = 0) -> str:
    """The expert's next action on ``observation`` of MiniWoB task ``task`` in ``env``."""
    name = str(task.raw.get("name") or task.id.split(".", 1)[-1].split("@", 1)[0])
    solver = SOLVERS.get(name)
    if solver is None:
        return f"report_infeasible({f'expert: no scripted solution for MiniWoB task {name}'!r})"
    if env is None or env.task is None:
        return f"report_infeasible({'expert: the MiniWoB page is not reachable from this process'!r})"
    if env.state.done:
        return "noop()"
    try:
        return solver(View(env, task, observation, steps_taken))
    except NoMove as exc:
        return f"report_infeasible({f'expert: {exc}'!r})"


# --------------------------------------------------------------------------- buttons and links


@solves("click-test")
def _click_test(v: View) -> str:
    return v.click_selector("#subbtn", "the button")


def _press_or_click(v: View, button: dict | None, what: str) -> str:
    """Click ``button`` ({bid, covered}); when another element lies over its centre (these
    tasks place buttons at random and they may overlap) a click there would land on the
    other one, so press Enter on it instead, as a keyboard user would."""
    if not button:
        raise NoMove(f"no {what}")
    if button.get("covered"):
        return v.press(button["bid"], "Enter", what)
    return v.click(button["bid"], what)


_BUTTON = """
    const el = arg.id ? q('#' + arg.id) : byText('#area button', arg.text).filter(visible)[0];
    if (!el) return null;
    const r = el.getBoundingClientRect();
    const top = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
    return {bid: bidOf(el), covered: !!top && top !== el && !el.contains(top)};
"""


@solves("click-test-2", "click-test-transfer")
def _click_test_2(v: View) -> str:
    word = re.search(r"button (\w+)", v.utterance).group(1)
    return _press_or_click(v, v.js(_BUTTON, {"text": word}), f"button {word}")


@solves("click-button-sequence")
def _click_button_sequence(v: View) -> str:
    target = "subbtn" if v.steps_taken == 0 else "subbtn2"
    return _press_or_click(v, v.js(_BUTTON, {"id": target}), f"button #{target}")


@solves("click-button")
def _click_button(v: View) -> str:
    label = v.quoted()[0]
    return v.click(v.js("return bidOf(byText('#area button', arg).filter(visible)[0]);", label), f"button {label!r}")


@solves("click-link")
def _click_link(v: View) -> str:
    label = v.quoted()[0]
    return v.click(v.js("return bidOf(byText('.alink', arg).filter(visible)[0]);", label), f"link {label!r}")


@solves("click-dialog")
def _click_dialog(v: View) -> str:
    return v.click_selector(".ui-dialog-titlebar-close", "the dialog's close button")


@solves("click-dialog-2")
def _click_dialog_2(v: View) -> str:
    label = v.quoted()[0]
    if label == "x":
        return v.click_selector(".ui-dialog-titlebar-close", "the dialog's close button")
    return v.click(v.js("return bidOf(byText('.ui-dialog-buttonpane button', arg)[0]);", label), f"button {label!r}")


@solves("click-widget")
def _click_widget(v: View) -> str:
    kind = v.quoted()[0]
    return v.click(v.js("return bidOf(qa('#area [data-type=\"' + arg + '\"]').filter(visible)[0]);", kind),
                   f"a {kind} widget")


@solves("click-tab")
def _click_tab(v: View) -> str:
    number = re.search(r"Tab #(\d+)", v.utterance).group(1)
    return v.click(v.js("return bidOf(byText('#area a', arg)[0]);", f"Tab #{number}"), f"Tab #{number}")


@solves("click-tab-2", "click-tab-2-easy", "click-tab-2-medium", "click-tab-2-hard")
def _click_tab_2(v: View) -> str:
    label = v.quoted()[0]
    found = v.js("""
        const links = byText('.alink', arg);
        const shown = links.filter(visible)[0];
        if (shown) return {link: bidOf(shown)};
        const panel = links.length ? links[0].closest('.ui-tabs-panel') : null;
        // click-tab-2-medium: when the link is on no tab, the answer is the emptied 2nd tab
        if (!panel) return {tab: bidOf(qa('.ui-tab')[1])};
        return {tab: bidOf(q('a[href="#' + panel.id + '"]'))};
    """, label)
    if found.get("link"):
        return v.click(found["link"], f"link {label!r}")
    return v.click(found.get("tab"), f"the tab holding link {label!r}")


@solves("click-collapsible", "click-collapsible-nodelay")
def _click_collapsible(v: View) -> str:
    state = v.js("""
        const open = qa('.ui-accordion-content').some(visible);
        return {open, header: bidOf(q('#area h3')), submit: bidOf(q('#subbtn'))};
    """)
    return v.click(state["submit"], "Submit") if state["open"] else v.click(state["header"], "the section header")


@solves("click-collapsible-2", "click-collapsible-2-nodelay")
def _click_collapsible_2(v: View) -> str:
    label = v.quoted()[0]
    found = v.js("""
        const links = byText('.alink', arg);
        const shown = links.filter((el) => visible(el) && visible(el.closest('.ui-accordion-content') || el))[0];
        if (shown) {
          const section = shown.closest('.ui-accordion-content');
          // wait for the slide-down animation to finish before clicking inside it
          if (section && section.style.height && section.style.height !== 'auto' && $(section).is(':animated')) return {wait: true};
          return {link: bidOf(shown)};
        }
        const section = links.length ? links[0].closest('.ui-accordion-content') : null;
        if (!section) return {};
        if ($(section).is(':animated')) return {wait: true};
        return {header: bidOf(section.previousElementSibling)};
    """, label)
    if found.get("wait"):
        return "noop(300)"
    if found.get("link"):
        return v.click(found["link"], f"link {label!r}")
    return v.click(found.get("header"), f"the section holding link {label!r}")


# --------------------------------------------------------------------------- choices


def _choices(v: View, wanted: set[str]) -> str:
    state = v.js("""
        const todo = qa('#area input[type=checkbox], #area input[type=radio]').filter((el) => el.checked !== arg.includes(labelOf(el)));
        return {todo: todo.map(bidOf), submit: bidOf(q('#subbtn'))};
    """, sorted(wanted))
    if state["todo"]:
        return v.click(state["todo"][0], "a checkbox to change")
    return v.click(state["submit"], "Submit")


@solves("click-checkboxes", "click-checkboxes-large", "click-checkboxes-transfer")
def _click_checkboxes(v: View) -> str:
    match = re.match(r"Select (.*) and click Submit\.", v.utterance)
    listed = match.group(1) if match else ""
    wanted = set() if listed == "nothing" else {w.strip() for w in listed.split(",") if w.strip()}
    return _choices(v, wanted)


#: Words of like meaning, one group a line: what a person brings to click-checkboxes-soft. The
#: groups cover the vocabulary of that page (its boxes and its instruction draw one word each
#: from a group of such words); a word outside them is only "similar" to itself.
_SIMILAR_WORDS = tuple(frozenset(line.split()) for line in """
    big large huge enormous gigantic
    small tiny little mini petite
    red scarlet crimson vermillion
    happy cheerful joyful gleeful delighted
    sad unhappy sorrowful miserable tragic
    angry mad furious irritated
    evil wicked immoral sinful corrupt depraved
    wrong incorrect mistaken erroneous
    real genuine actual
    strange odd peculiar unusual weird
    stop cease halt end finish
    scared terrified panicked fearful frightened afraid
    quiet calm peaceful serene mild
    old aged archaic
    love like adore favor
    kill murder assassinate
    keep retain preserve sustain maintain
    hide conceal camouflage
    hate despise loathe detest dislike
    funny humorous amusing comical laughable
    fat fleshy plump chubby
    stupid dumb dull unwise
    delicious savory delectable appetizing
    cut slice carve chop
    brave courageous fearless
    begin start initiate launch
    answer reply response
    television televisions tv tvs
    house home houses homes
    fire flame fires flames
    pig pork swine
    rabbit rabbits bunny bunnies
    car cars automobile automobiles vehicle vehicles
""".strip().splitlines())


def _similar(a: str, b: str) -> bool:
    a, b = a.lower(), b.lower()
    return a == b or any(a in group and b in group for group in _SIMILAR_WORDS)


@solves("click-checkboxes-soft")
def _click_checkboxes_soft(v: View) -> str:
    listed = re.match(r"Select words similar to (.*) and click Submit\.", v.utterance).group(1)
    asked = [] if listed == "nothing" else [w.strip() for w in listed.split(",") if w.strip()]
    labels = v.js("return qa('#boxes input[type=checkbox]').map(labelOf);")
    return _choices(v, {label for label in labels if any(_similar(label, word) for word in asked)})


@solves("click-option")
def _click_option(v: View) -> str:
    wanted = re.match(r"Select (.*) and click Submit\.", v.utterance).group(1)
    return _choices(v, {wanted})


@solves("choose-list")
def _choose_list(v: View) -> str:
    wanted = re.match(r"Select (.*) from the list and click Submit\.", v.utterance).group(1)
    state = v.js("""
        const sel = q('#options');
        return {select: bidOf(sel), chosen: sel.options[sel.selectedIndex].textContent,
                submit: bidOf(byText('#area button', 'Submit')[0])};
    """)
    if state["chosen"] != wanted:
        return v.select(state["select"], wanted, "the list")
    return v.click(state["submit"], "Submit")


@solves("click-scroll-list")
def _click_scroll_list(v: View) -> str:
    """One or two items of a multiple-selection list: the first by ``select_option`` (which
    replaces the selection), the second by a Control-click on it, as a person adds to a
    selection; the list box is scrolled to the item first, with Control up (Control and the
    wheel would zoom)."""
    listed = re.match(r"Select (.*) from the scroll list and click Submit\.", v.utterance).group(1)
    state = v.js("""
        const sel = q('#options'), box = sel.getBoundingClientRect();
        return {select: bidOf(sel), submit: bidOf(byText('#area button', 'Submit')[0]),
                box: [box.left, box.top + sel.clientTop, box.width, box.top + sel.clientTop + sel.clientHeight],
                options: Array.from(sel.options).map((o) => {
                  const r = o.getBoundingClientRect();
                  return {text: text(o), selected: o.selected, x: r.left + r.width / 2, y: r.top + r.height / 2};
                })};
    """)
    names = {o["text"] for o in state["options"]}
    wanted, part = [], ""
    for piece in listed.split(", "):  # names have no comma, but join back any that would
        part = f"{part}, {piece}" if part else piece
        if part in names:
            wanted.append(part)
            part = ""
    if part or not wanted:
        raise NoMove(f"the list has no item {part or listed!r}")
    chosen = [o["text"] for o in state["options"] if o["selected"]]
    last = v.observation.last_action
    holding = last == "keyboard_down('Control')" or last.startswith("mouse_click(")
    if not chosen or any(name not in wanted for name in chosen):
        if holding:
            return "keyboard_up('Control')"
        return v.select(state["select"], wanted[0], "the list")
    missing = [name for name in wanted if name not in chosen]
    if not missing:
        if holding:
            return "keyboard_up('Control')"
        return v.click(state["submit"], "Submit")
    item = next(o for o in state["options"] if o["text"] == missing[0] and not o["selected"])
    left, top, width, bottom = state["box"]
    if not top + 4 <= item["y"] <= bottom - 4:  # its middle in the box: a click there hits it
        if holding:
            return "keyboard_up('Control')"
        centre = [left + width / 2, (top + bottom) / 2]
        return v.scroll_towards({"at": centre, "dy": item["y"] - centre[1]}, f"the item {missing[0]}")
    if last != "keyboard_down('Control')":
        return "keyboard_down('Control')"
    return v.mouse_click([item["x"], item["y"]], f"the item {missing[0]}")


# --------------------------------------------------------------------------- text entry


def _fill_then(v: View, fields: list[tuple[str, str]], submit: str) -> str:
    """Fill each ``(selector, value)`` that does not hold its value yet, then click ``submit``."""
    state = v.js("""
        return {values: arg.fields.map((f) => { const el = q(f[0]); return el ? [bidOf(el), el.value] : [null, null]; }),
                submit: bidOf(q(arg.submit))};
    """, {"fields": fields, "submit": submit})
    for (selector, value), (bid, current) in zip(fields, state["values"]):
        if current != value:
            return v.fill(bid, value, selector)
    return v.click(state["submit"], submit)


@solves("enter-text", "enter-text-dynamic")
def _enter_text(v: View) -> str:
    return _fill_then(v, [("#tt", v.quoted()[0])], "#subbtn")


@solves("enter-text-2")
def _enter_text_2(v: View) -> str:
    word = v.quoted()[0]
    word = word.upper() if "upper case" in v.utterance else word.lower()
    return _fill_then(v, [("#tt", word)], "#subbtn")


@solves("enter-password")
def _enter_password(v: View) -> str:
    password = v.quoted()[0]
    return _fill_then(v, [("#password", password), ("#verify", password)], "#subbtn")


@solves("login-user")
def _login_user(v: View) -> str:
    user, password = v.quoted()[:2]
    return _fill_then(v, [("#username", user), ("#password", password)], "#subbtn")


@solves("focus-text")
def _focus_text(v: View) -> str:
    return v.click_selector("#tt", "the text box")


@solves("focus-text-2")
def _focus_text_2(v: View) -> str:
    nth = {"1st": 1, "2nd": 2, "3rd": 3}[re.search(r"(1st|2nd|3rd)", v.utterance).group(1)]
    return v.click_selector(f"#tt{nth}", f"text box {nth}")


@solves("enter-date")
def _enter_date(v: View) -> str:
    month, day, year = re.search(r"(\d\d)/(\d\d)/(\d{4})", v.utterance).groups()
    return _fill_then(v, [("#tt", f"{year}-{month}-{day}")], "#subbtn")


@solves("enter-time")
def _enter_time(v: View) -> str:
    hour, minute, half = re.search(r"(\d{1,2}):(\d\d)\s*([AP]M)", v.utterance).groups()
    hour = int(hour) % 12 + (12 if half == "PM" else 0)
    return _fill_then(v, [("#tt", f"{hour:02d}:{minute}")], "#subbtn")


@solves("find-word")
def _find_word(v: View) -> str:
    nth = int(re.search(r"(\d+)(?:st|nd|rd|th) word", v.utterance).group(1))
    words = v.js("return text(q('#area p')).split(/\\s+/).filter((w) => w);")
    word = re.sub(r"[^a-zA-Z]", "", words[nth - 1])
    return _fill_then(v, [("#answer-input", word)], "#subbtn")


@solves("scroll-text")
def _scroll_text(v: View) -> str:
    words = v.js("return q('#text-area').value.split(/\\s+/).filter((w) => w);")
    return _fill_then(v, [("#answer-input", re.sub(r"[^a-zA-Z0-9]", "", words[-1]))], "#subbtn")


@solves("scroll-text-2")
def _scroll_text_2(v: View) -> str:
    bottom = "bottom" in v.utterance
    state = v.js("""
        const ta = q('#text-area');
        const atBottom = Math.abs(ta.offsetHeight + ta.scrollTop - ta.scrollHeight) < 10;
        const atTop = Math.abs(ta.scrollTop) < 10;
        return {area: bidOf(ta), atBottom, atTop, submit: bidOf(q('#subbtn'))};
    """)
    if state["atBottom"] if bottom else state["atTop"]:
        return v.click(state["submit"], "Submit")
    return v.press(state["area"], "Control+End" if bottom else "Control+Home", "the text area")


@solves("use-autocomplete", "use-autocomplete-nodelay")
def _use_autocomplete(v: View) -> str:
    parts = v.quoted()
    start, end = parts[0], (parts[1] if len(parts) > 1 else "")
    state = v.js("""
        const input = q('#tags');
        // a suggestion's own bid (the menu opens after a delay: one that appeared after the
        // observation has none yet, and its ancestor's bid would click the wrong place)
        const own = (li) => [li.querySelector('div, a'), li].map((el) => el && el.getAttribute(ATTR)).find((b) => b) || null;
        const items = qa('.ui-menu-item').filter(visible).map((li) => [own(li), text(li)]);
        return {input: bidOf(input), value: input.value, items, submit: bidOf(q('#subbtn'))};
    """)
    value = state["value"]
    if value.startswith(start) and value.endswith(end) and value != start:
        return v.click(state["submit"], "Submit")
    for bid, label in state["items"]:
        if label.startswith(start) and label.endswith(end):
            if not bid or bid not in v.observation.valid_bids:
                return "noop(300)"  # shown after this observation was taken: look again
            return v.click(bid, f"suggestion {label!r}")
    if value != start:
        return v.fill(state["input"], start, "the tags field")
    return "noop(300)"  # the suggestions are on their way


_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December"]


@solves("choose-date", "choose-date-easy", "choose-date-medium", "choose-date-nodelay")
def _choose_date(v: View) -> str:
    month, day, year = (int(x) for x in re.search(r"(\d\d)/(\d\d)/(\d{4})", v.utterance).groups())
    wanted = f"{month:02d}/{day:02d}/{year}"
    state = v.js("""
        const input = q('#datepicker');
        const cal = q('#ui-datepicker-div');
        const open = visible(cal);
        return {input: bidOf(input), value: input.value, open, submit: bidOf(q('#subbtn')),
                month: open ? text(q('.ui-datepicker-month', cal)) : '', year: open ? text(q('.ui-datepicker-year', cal)) : '',
                prev: open ? bidOf(q('.ui-datepicker-prev', cal)) : null, next: open ? bidOf(q('.ui-datepicker-next', cal)) : null,
                days: open ? qa('td a', cal).map((a) => [bidOf(a), text(a)]) : []};
    """)
    if state["value"] == wanted:
        return v.click(state["submit"], "Submit")
    if not state["open"]:
        return v.click(state["input"], "the date field")
    shown = (int(state["year"]), _MONTHS.index(state["month"]) + 1)
    # the calendar's Prev/Next arrows are <a> without href (no bid); its keyboard moves months
    if shown > (year, month):
        return v.press(state["input"], "PageUp", "the date field")
    if shown < (year, month):
        return v.press(state["input"], "PageDown", "the date field")
    for bid, label in state["days"]:
        if label == str(day):
            return v.click(bid, f"day {day}")
    raise NoMove(f"day {day} is not in the calendar")


@solves("book-flight")
def _book_flight(v: View) -> str:
    """Fill From and To through their suggestions, pick the date in the calendar, Search, then
    book the cheapest or shortest of the flights listed (read from their price and duration)."""
    match = re.search(r"Book the (cheapest|shortest) one-way flight from: (.*) to: (.*) on (\d\d)/(\d\d)/(\d{4})\.",
                      v.utterance)
    if not match:
        raise NoMove("the instruction is not a flight booking")
    goal, origin, destination = match.group(1), match.group(2), match.group(3)
    month, day, year = (int(x) for x in match.groups()[3:])
    wanted_date = f"{month:02d}/{day:02d}/{year}"
    state = v.js("""
        const own = (li) => [li.querySelector('div, a'), li].map((el) => el && el.getAttribute(ATTR)).find((b) => b) || null;
        const field = (sel) => {
          const input = q(sel), menu = $(input).autocomplete('widget')[0];
          return {bid: bidOf(input), value: input.value,
                  items: menu && visible(menu) ? qa('.ui-menu-item', menu).filter(visible).map((li) => [own(li), text(li)]) : []};
        };
        const cal = q('#ui-datepicker-div'), open = visible(cal);
        const results = q('#results');
        return {results: visible(results),
                codes: text(q('.flight-codes', results)), back: bidOf(q('#menu-back')),
                flights: qa('.flight', results).map((f) => [text(q('.flight-price', f)), text(q('.time-duration', f))]),
                from: field('#flight-from'), to: field('#flight-to'),
                date: {bid: bidOf(q('#datepicker')), value: q('#datepicker').value, open,
                       month: open ? text(q('.ui-datepicker-month', cal)) : '', year: open ? text(q('.ui-datepicker-year', cal)) : '',
                       days: open ? qa('td a', cal).map((a) => [bidOf(a), text(a)]) : []}};
    """)

    def names(label: str, place: str) -> bool:  # "City, ST (CODE)" names a place by "City, ST" or by CODE
        return label.startswith(place + " (") or label.endswith(f"({place})")

    if state["results"]:
        listed = [(int(re.sub(r"\D", "", price) or 0), duration, i)
                  for i, (price, duration) in enumerate(state["flights"])]
        if not listed:
            raise NoMove("no flight listed")

        def minutes(duration: str) -> int:
            hours, mins = re.match(r"(\d+)h (\d+)m", duration).groups()
            return int(hours) * 60 + int(mins)

        best = min(listed, key=(lambda f: f[0]) if goal == "cheapest" else (lambda f: minutes(f[1])))
        return v.click_element("return qa('#results .flight')[arg].querySelector('.flight-price');", best[2],
                               f"the {goal} flight")
    for key, place, what in (("from", origin, "From"), ("to", destination, "To")):
        field = state[key]
        if names(field["value"], place):
            continue
        for bid, label in field["items"]:
            if names(label, place):
                if not bid or bid not in v.observation.valid_bids:
                    return "noop(300)"  # shown after this observation was taken: look again
                return v.click(bid, f"suggestion {label!r}")
        if field["value"] != place:
            return v.fill(field["bid"], place, f"the {what} field")
        return "noop(300)"  # the suggestions are on their way
    date = state["date"]
    if date["value"] != wanted_date:
        if not date["open"]:
            return v.click(date["bid"], "the departure date")
        shown = (int(date["year"]), _MONTHS.index(date["month"]) + 1)
        if shown != (year, month):  # the calendar's arrows have no bid; its keyboard moves months
            return v.press(date["bid"], "PageUp" if shown > (year, month) else "PageDown", "the departure date")
        for bid, label in date["days"]:
            if label == str(day):
                return v.click(bid, f"day {day}")
        raise NoMove(f"day {day} is not in the calendar")
    return v.click_element("return q('#search');", None, "Search")


# navigate-tree is out of reach: the whole tree is one cursor:pointer region with a single bid, so
# no file or folder can be clicked on its own (see the README).


@solves("search-engine")
def _search_engine(v: View) -> str:
    term = v.quoted()[0]
    nth = int(re.search(r"(\d+)(?:st|nd|rd|th) search result", v.utterance).group(1))
    state = v.js("""
        const input = q('#search-text');
        return {input: bidOf(input), value: input.value, search: bidOf(q('#search')),
                results: qa('#page-content a.search-title').filter(visible).map((a) => [bidOf(a), a.getAttribute('data-result')]),
                pages: qa('#pagination a').filter(visible).map((a) => [bidOf(a), text(a)])};
    """)
    if state["value"] != term:
        return v.fill(state["input"], term, "the search box")
    if not state["results"]:
        return v.click(state["search"], "Search")
    for bid, index in state["results"]:
        if index == str(nth - 1):
            return v.click(bid, f"result {nth}")
    page = str((nth - 1) // 3 + 1)
    for bid, label in state["pages"]:
        if label == page:
            return v.click(bid, f"page {page}")
    raise NoMove(f"no page {page} link")


# --------------------------------------------------------------------------- forms and feedback


@solves("multi-layouts", "multi-orderings")
def _multi_layouts(v: View) -> str:
    genre, director, year = re.match(r"Search for (.*) movies directed by (.*) from year (\d+)\.", v.utterance).groups()
    state = v.js("""
        const rowOf = (input) => input.closest('p, tr, .row, .field, .ui-entry') || input.parentElement;
        const fields = qa('#area input[type=text]').map((input) => [bidOf(input), text(rowOf(input)), input.value]);
        const submit = qa('#area button, #area .final, #area .ui-submit').filter(visible)[0];
        return {fields, submit: bidOf(submit)};
    """)
    wanted = {"genre": genre, "director": director, "year": year}
    for bid, label, value in state["fields"]:
        label = label.lower()
        key = "genre" if "genre" in label else "director" if "director" in label else "year"
        if value != wanted[key]:
            return v.fill(bid, wanted[key], f"the {key} field")
    return v.click(state["submit"], "the search button")


@solves("login-user-popup")
def _login_user_popup(v: View) -> str:
    cancel = v.js("const b = q('#popup-cancel'); return b && visible(b) ? bidOf(b) : null;")
    if cancel:
        return v.click(cancel, "the popup's Cancel")
    user, password = v.quoted()[:2]
    return _fill_then(v, [("#username", user), ("#password", password)], "#subbtn")


@solves("guess-number")
def _guess_number(v: View) -> str:
    state = v.js("""
        const said = (sel) => visible(q(sel)) ? parseInt(text(q(sel + ' span')), 10) : null;
        return {input: bidOf(q('#tt')), value: q('#tt').value, higher: said('#higher'), lower: said('#lower'),
                submit: bidOf(q('#subbtn')), bounds: window.__haloExpertBounds || [0, 9]};
    """)
    low, high = state["bounds"]
    if state["higher"] is not None:
        low = max(low, state["higher"] + 1)
    if state["lower"] is not None:
        high = min(high, state["lower"] - 1)
    guess = str((low + high) // 2)
    if state["value"] != guess:
        # the expert's own notes: the page shows only the last hint, a person remembers the rest
        v.js("window.__haloExpertBounds = arg;", [low, high])
        return v.fill(state["input"], guess, "the guess field")
    return v.click(state["submit"], "Submit")


@solves("identify-shape")
def _identify_shape(v: View) -> str:
    kind = v.js("""
        const svg = q('#area_svg');
        const t = svg.querySelector('text');
        if (t) return /^[0-9]$/.test(text(t)) ? 'digit' : 'letter';
        if (svg.querySelector('circle')) return 'circle';
        if (svg.querySelector('rect')) return 'rectangle';
        if (svg.querySelector('polygon, path')) return 'triangle';
        return '';
    """)
    return v.click(v.js("return bidOf(q('#area-buttons button[data-type=\"' + arg + '\"]'));", kind), f"the {kind} button")


# --------------------------------------------------------------------------- email inbox


# Reply and forward sit inside one cursor:pointer region that gets a single bid (see the README):
# they are clicked at their own centre.
@solves("email-inbox-delete", "email-inbox-important", "email-inbox", "email-inbox-noscroll", "email-inbox-reply",
        "email-inbox-forward", "email-inbox-star-reply")
def _email_inbox(v: View) -> str:
    u = v.utterance
    sender = re.search(r"Find the email by (.+?)(?: and |, )", u).group(1)
    reply = re.search(r'reply to them with the text "([^"]*)"', u)
    forward = re.search(r"forward that email to (.+?)\.$", u)
    return _email(v, sender, reply.group(1) if reply else None, forward.group(1) if forward else None,
                  star="star" in u, trash="trash" in u)


@solves("email-inbox-forward-nl", "email-inbox-forward-nl-turk", "email-inbox-nl-turk")
def _email_inbox_nl(v: View) -> str:
    """The natural-language variants. In train mode the page's utterance object carries the
    task's fields; in test mode it is free text, read here: the sender is the inbox's sender
    the text names, the other name is whom to forward to, a quoted text is the reply."""
    try:
        fields = ast.literal_eval(v.utterance)["fields"]
    except (ValueError, SyntaxError, KeyError, TypeError):
        fields = _email_fields(v)
    task = fields.get("task", "forward")
    return _email(v, fields["by"], fields.get("message") if task == "reply" else None,
                  fields.get("to") if task == "forward" else None, star=task == "star", trash=task == "delete")


def _email_fields(v: View) -> dict:
    u = v.utterance
    senders = set(v.js("return qa('#main .email-thread .email-sender').map(text);"))
    names = [w for w in re.findall(r"[A-Z][a-z]+", u) if w in senders]
    if not names:
        raise NoMove(f"cannot read {u!r}: it names no sender in the inbox")
    marked = re.search(r"(?:from|by|written by) ([A-Z][a-z]+)|([A-Z][a-z]+)(?:'s| sent)", u)
    by = next((n for n in (marked.groups() if marked else ()) if n in senders), names[0])
    quoted = re.search(r'"(.*?)"', u)
    low = u.lower()
    if quoted and not re.search(r"\bforward", low):
        return {"task": "reply", "by": by, "message": quoted.group(1).rstrip()}
    if re.search(r"\b(delete|trash|remove|discard)", low):
        return {"task": "delete", "by": by}
    if re.search(r"\b(star|important|flag)", low):
        return {"task": "star", "by": by}
    others = [w for w in re.findall(r"[A-Z][a-z]+", u) if w != by and w not in _NOT_NAMES]
    if not others:
        raise NoMove(f"cannot read {u!r}: no one to forward to")
    return {"task": "forward", "by": by, "to": others[0]}


#: capitalised words of the test-mode email instructions that are not names
_NOT_NAMES = frozenset("""Get Forward Email Search Send Find Primary Alexa Go For Respond Delete Mark Star Reply
    Please The Then And An A Can Could Would Will You Open Look Inbox I Me My To From In Answer Write""".split())


def _email(v: View, sender: str, reply_text: str | None, forward_to: str | None, *, star: bool, trash: bool) -> str:
    state = v.js("""
        const open = q('#email') && visible(q('#email'));
        const replyBox = q('#reply') && visible(q('#reply'));
        const forwardBox = q('#forward') && visible(q('#forward'));
        return {
          thread: bidOf(qa('#main .email-thread').find((t) => text(q('.email-sender', t)) === arg)),
          open, openSender: open ? text(q('#email .email-sender')) : '',
          starred: open ? q('#email .email-actions .star').classList.contains('clicked') : false,
          star: open ? bidOf(q('#email .email-actions .star')) : null,
          trash: open ? bidOf(q('#email .email-actions .trash')) : null,
          reply: open ? bidOf(q('#email .email-reply')) : null,
          forward: open ? bidOf(q('#email .email-forward')) : null,
          close: open ? bidOf(q('#close-email')) : null,
          replyBox, replyText: replyBox ? bidOf(q('#reply-text')) : null, replyValue: replyBox ? q('#reply-text').value : '',
          sendReply: replyBox ? bidOf(q('#send-reply')) : null,
          forwardBox, forwardTo: forwardBox ? bidOf(q('.forward-sender')) : null,
          forwardValue: forwardBox ? q('.forward-sender').value : '', sendForward: forwardBox ? bidOf(q('#send-forward')) : null,
        };
    """, sender)
    if state["replyBox"]:
        if state["replyValue"] != reply_text:
            return v.fill(state["replyText"], reply_text, "the reply text")
        return v.click(state["sendReply"], "send reply")
    if state["forwardBox"]:
        if state["forwardValue"] != forward_to:
            return v.fill(state["forwardTo"], forward_to, "the forward address")
        return v.click(state["sendForward"], "send forward")
    if state["open"]:
        if state["openSender"] != sender:
            return v.click(state["close"], "back to the inbox")
        # reply and forward share one click region (one bid): they are clicked at their own centre
        if star and not state["starred"]:
            return v.click_element("return q('#email .email-actions .star');", None, "the star icon")
        if reply_text is not None:
            return v.click_element("return q('#email .email-reply');", None, "reply")
        if forward_to is not None:
            return v.click_element("return q('#email .email-forward');", None, "forward")
        if trash:
            return v.click_element("return q('#email .email-actions .trash');", None, "the trash icon")
        raise NoMove("the email is open but the instruction names no known action")
    return v.click(state["thread"], f"the email by {sender}")


# --------------------------------------------------------------------------- points, drags and selections
# These act at viewport coordinates the page itself measures (getBoundingClientRect), as a
# person aims the mouse at what they see.

_CENTRE = "const centre = (el) => { const r = el.getBoundingClientRect(); return [r.left + r.width / 2, r.top + r.height / 2]; };"


def _submit(v: View) -> str:
    return v.click_selector("#subbtn", "Submit")


@solves("grid-coordinate")
def _grid_coordinate(v: View) -> str:
    coords = re.search(r"\((-?\d+),\s*(-?\d+)\)", v.utterance)
    target = f"({coords.group(1)},{coords.group(2)})"
    return v.mouse_click(v.js(_CENTRE + "const c = qa('circle').find((el) => el.id === arg); return c ? centre(c) : null;",
                              target), f"grid point {target}")


def _svg_point_to_page(v: View, which: str) -> str:
    """Click where the page will draw its marker over ``which`` ([cx, cy] in the svg, from JS):
    these pages draw the marker at (pageX, pageY - 50), assuming the svg starts 50 px down."""
    return v.js(which + """
        if (!p) return null;
        return [p[0] - window.scrollX, p[1] + 50 - window.scrollY];
    """)


@solves("circle-center")
def _circle_center(v: View) -> str:
    if v.js("return !!q('#blue-circle');"):
        return _submit(v)
    return v.mouse_click(_svg_point_to_page(v, """
        const c = q('circle.black-circle');
        const p = c ? [Number(c.getAttribute('cx')), Number(c.getAttribute('cy'))] : null;
    """), "the circle's centre")


@solves("find-midpoint")
def _find_midpoint(v: View) -> str:
    if v.js("return !!q('#blue-circle');"):
        return _submit(v)
    return v.mouse_click(_svg_point_to_page(v, """
        const cs = qa('circle.black-circle').map((c) => [Number(c.getAttribute('cx')), Number(c.getAttribute('cy'))]);
        const p = cs.length === 2 ? [(cs[0][0] + cs[1][0]) / 2, (cs[0][1] + cs[1][1]) / 2] : null;
    """), "the midpoint")


_SELECT_TEXT = """
    const el = arg.selector ? q(arg.selector) : null;
    if (!el) return null;
    const want = text(el).replace(/\\s/g, '');
    const got = String(window.getSelection()).replace(/\\s/g, '');
    if (got === want) return {done: true};
    const range = document.createRange();
    range.selectNodeContents(el);
    const rects = Array.from(range.getClientRects()).filter((r) => r.width > 0);
    if (!rects.length) return null;
    const first = rects[0], last = rects[rects.length - 1];
    return {done: false, start: [first.left + 1, first.top + first.height / 2],
            end: [last.right - 1, last.top + last.height / 2]};
"""


def _highlight(v: View, selector: str) -> str:
    state = v.js(_SELECT_TEXT, {"selector": selector})
    if not state:
        raise NoMove(f"no text at {selector}")
    if state["done"]:
        return _submit(v)
    return v.drag(state["start"], state["end"], "the selection")


@solves("highlight-text")
def _highlight_text(v: View) -> str:
    return _highlight(v, "#randomText")


@solves("highlight-text-2")
def _highlight_text_2(v: View) -> str:
    nth = {"1st": 1, "2nd": 2, "3rd": 3}[re.search(r"(1st|2nd|3rd) paragraph", v.utterance).group(1)]
    return _highlight(v, f"#randomText p:nth-of-type({nth})")


@solves("drag-box")
def _drag_box(v: View) -> str:
    state = v.js("""
        const small = q('#draggableSmall'), large = q('#draggableLarge');
        const px = (el, k) => parseInt(getComputedStyle(el)[k], 10);
        const dy = px(small, 'top') - px(large, 'top'), dx = px(small, 'left') - px(large, 'left');
        if (dy > 0 && dy < 30 && dx > 0 && dx < 30) return {done: true};
        // grab the small box at a point of it that the large one does not cover
        const s = small.getBoundingClientRect(), l = large.getBoundingClientRect();
        for (const fy of [0.5, 0.2, 0.8]) for (const fx of [0.5, 0.2, 0.8]) {
          const x = s.left + s.width * fx, y = s.top + s.height * fy;
          const top = document.elementFromPoint(x, y);
          if (top === small || small.contains(top)) {
            return {done: false, start: [x, y], end: [x + (l.left + 15 - s.left), y + (l.top + 15 - s.top)]};
          }
        }
        return null;
    """)
    if not state:
        raise NoMove("the small box is covered")
    if state["done"]:
        return _submit(v)
    return v.drag(state["start"], state["end"], "the small box")


@solves("use-colorwheel", "use-colorwheel-2")
def _use_colorwheel(v: View) -> str:
    """Type the colour's hex code into the picker's own text field (named in use-colorwheel,
    a swatch in use-colorwheel-2)."""
    named = re.search(r"Select (\w+) with", v.utterance)
    state = v.js("""
        let want = '';
        if (arg) want = String(ui_utils.colorNameToHex(arg));
        else {
          const m = getComputedStyle(q('#query .cc')).backgroundColor.match(/\\d+/g) || [];
          want = m.slice(0, 3).map((c) => Number(c).toString(16).padStart(2, '0')).join('');
        }
        const col = q('#col');
        return {want: want.replace('#', '').toLowerCase(), bid: bidOf(col), value: col ? col.value.toLowerCase() : null};
    """, named.group(1) if named else None)
    if state["value"] is None:
        raise NoMove("no colour field")
    if state["value"] != state["want"]:
        return v.fill(state["bid"], state["want"], "the colour field")
    return _submit(v)


_ORDINALS = {"top": 1, "bottom": 5, "1st": 1, "2nd": 2, "3rd": 3, "4th": 4, "5th": 5}


@solves("drag-items")
def _drag_items(v: View) -> str:
    m = re.search(r"Drag (.+?) (to the (top|bottom|\w+) position|to the (top|bottom)|(up|down) by one position)\.",
                  v.utterance)
    if not m:
        raise NoMove(f"cannot read {v.utterance!r}")
    name = m.group(1)
    items = v.js(_CENTRE + "return qa('#sortable li').map((li) => ({name: text(li), at: centre(li)}));")
    names = [i["name"] for i in items]
    src = names.index(name)
    if m.group(5):
        dst = src + (1 if m.group(5) == "down" else -1)
    else:
        dst = _ORDINALS[m.group(3) or m.group(4)] - 1
    (x, y), (_tx, ty) = items[src]["at"], items[dst]["at"]
    # past the target's centre, so the sortable's intersect test moves the item over it
    ty += 6 if dst > src else -6
    return v.drag([x, y], [x, ty], f"{name} to position {dst + 1}")


@solves("click-pie", "click-pie-nodelay")
def _click_pie(v: View) -> str:
    label = v.quoted()[0]
    state = v.js(_CENTRE + """
        const slices = qa('path[id^="wheelnav-divWheel-slice-"]');
        const size = Math.max(0, ...slices.map((s) => s.getBoundingClientRect().width));
        const title = qa('text[id^="wheelnav-divWheel-title-"]').find((t) => text(t) === arg);
        const plus = text(q('#wheelnav-divWheel-spreadertitle')) === '+';
        if (!title) return {size, plus, title: null};
        // a point of this slice that nothing else covers (the + button may lie over its title)
        const i = title.id.split('-').pop();
        const mine = (el) => !!el && (el.id === 'wheelnav-divWheel-slice-' + i || el.id === 'wheelnav-divWheel-title-' + i
                                      || (el.parentNode && el.parentNode.id === 'wheelnav-divWheel-title-' + i));
        const wheel = centre(q('#wheelnav-divWheel-spreader') || title), t = centre(title);
        for (const f of [1.25, 1.1, 1, 0.85, 1.4, 0.7]) {
          const p = [wheel[0] + (t[0] - wheel[0]) * f, wheel[1] + (t[1] - wheel[1]) * f];
          if (mine(document.elementFromPoint(p[0], p[1]))) return {size, plus, title: p};
        }
        return {size, plus, title: null};
    """, label)
    if state["size"] < 30 or not state["title"]:
        if state["plus"]:
            return v.click_element("return q('#wheelnav-divWheel-spreadertitle');", None, "the pie's + button")
        return "noop(300)"  # the menu is still opening
    return v.mouse_click(state["title"], f"the slice {label!r}")


@solves("drag-sort-numbers")
def _drag_sort_numbers(v: View) -> str:
    items = v.js(_CENTRE + "return qa('#sortable li').map((li) => ({n: parseInt(text(li), 10), at: centre(li)}));")
    numbers = [i["n"] for i in items]
    want = sorted(numbers)
    for pos, n in enumerate(numbers):
        if n != want[pos]:
            src = numbers.index(want[pos], pos)  # the number that belongs here, further down
            (x, y), (_x, ty) = items[src]["at"], items[pos]["at"]
            return v.drag([x, y], [x, ty - 6], f"{want[pos]} up to position {pos + 1}")
    return _submit(v)


_GRID_PLACES = {"top left": 1, "top center": 2, "top right": 3, "center left": 4, "center": 5, "center right": 6,
                "bottom left": 7, "bottom center": 8, "bottom right": 9}
_GRID_MOVES = {"up": -3, "down": 3, "left": -1, "right": 1}


@solves("drag-items-grid")
def _drag_items_grid(v: View) -> str:
    """A jQuery UI sortable of floated items: the placeholder goes before the item under the
    pointer when the pointer's last move went left or straight up, after it when it went right
    or down. A straight drag on a diagonal going right and up (or left and down) puts the item on
    the wrong side, so the pointer is pressed on the item, jumps to the target cell's far half
    (10 px from its centre), crosses to its near half (5 px the other side, a move towards the
    place the item should take), and is released there."""
    m = re.search(r"Drag (.+?) (?:to the (.+?)|(up|down|left|right) by one)\.$", v.utterance)
    if not m:
        raise NoMove(f"cannot read {v.utterance!r}")
    last = v.observation.last_action
    moved = re.fullmatch(r"mouse_move\(([-\d.]+), ([-\d.]+)\)", last)
    if moved and v.js("return !!q('#sortable .ui-sortable-helper');"):
        x, y = float(moved.group(1)), float(moved.group(2))
        # the grid's cells stay put while items move between them: the in-flow items mark them
        cell = v.js(_CENTRE + """
            const hit = qa('#sortable li').filter((li) => !li.classList.contains('ui-sortable-helper')).find((li) => {
              const r = li.getBoundingClientRect();
              return r.left <= arg[0] && arg[0] <= r.right && r.top <= arg[1] && arg[1] <= r.bottom; });
            return hit ? centre(hit) : null;
        """, [x, y])
        if cell is None:
            raise NoMove("the pointer is off the grid")
        if abs(x - cell[0]) > 7:  # on the far half: across to the near one
            return "mouse_move({}, {})".format(*v._point([cell[0] + (5 if x < cell[0] else -5), y], "the near half"))
        return "mouse_up({}, {})".format(*v._point([x, y], "the drop"))
    items = v.js(_CENTRE + "return qa('#sortable li').map((li) => ({name: text(li), at: centre(li)}));")
    names = [i["name"] for i in items]
    if m.group(1) not in names:
        raise NoMove(f"no item {m.group(1)!r}")
    src = names.index(m.group(1))
    if not last.startswith("mouse_down("):
        return "mouse_down({}, {})".format(*v._point(items[src]["at"], m.group(1)))
    dst = _GRID_PLACES[m.group(2)] - 1 if m.group(2) else src + _GRID_MOVES[m.group(3)]
    tx, ty = items[dst]["at"]
    # an earlier place is taken on a move left, so the far half is the right one
    return "mouse_move({}, {})".format(*v._point([tx + (10 if dst < src else -10), ty], f"cell {dst + 1}"))


_STEP = {"left": (-1, 0), "right": (1, 0), "up": (0, -1), "down": (0, 1)}


@solves("drag-single-shape", "drag-circle")
def _drag_single_shape(v: View) -> str:
    direction = re.search(r"Drag the (?:item|circle) (left|right|up|down)", v.utterance).group(1)
    state = v.js(_CENTRE + """
        const el = q('.black-shape') || q('svg circle');
        if (!el) return null;
        const now = shapes.gridCoords(el), was = el.getBBox();
        const moved = {up: now.y < was.y, down: now.y > was.y, left: now.x < was.x, right: now.x > was.x}[arg];
        return {moved, at: centre(el)};
    """, direction)
    if not state:
        raise NoMove("no shape")
    if state["moved"]:
        return _submit(v)
    (x, y), (dx, dy) = state["at"], _STEP[direction]
    return v.drag([x, y], [x + 20 * dx, y + 20 * dy], f"the shape {direction}")


#: a point of the element ``arg`` (a selector) that nothing covers or clips, nearest its centre
_GRAB = """
    const el = q(arg);
    if (!el) return null;
    const r = el.getBoundingClientRect();
    const points = [];
    for (let fy = 0.05; fy < 1; fy += 0.1) for (let fx = 0.05; fx < 1; fx += 0.1) points.push([fx, fy]);
    points.sort((a, b) => Math.hypot(a[0] - 0.5, a[1] - 0.5) - Math.hypot(b[0] - 0.5, b[1] - 0.5));
    for (const [fx, fy] of points) {
      const x = r.left + r.width * fx, y = r.top + r.height * fy;
      const top = document.elementFromPoint(x, y);
      if (top === el || el.contains(top)) return [x, y];
    }
    return null;
"""


@solves("resize-textarea")
def _resize_textarea(v: View) -> str:
    m = re.search(r"(width|height) is (smaller|larger)", v.utterance)
    if v.steps_taken:
        return v.click_selector("#submit", "Submit")
    dim, way = m.group(1), m.group(2)
    handle = v.js(_GRAB, "#area .ui-resizable-e" if dim == "width" else "#area .ui-resizable-s")
    if not handle:
        raise NoMove(f"no resize handle for the {dim}")
    sign = 1 if way == "larger" else -1
    x, y = handle
    end = [x + sign * 15, y] if dim == "width" else [x, y + sign * 15]
    return v.drag([x, y], end, f"the textarea {way}")


# --------------------------------------------------------------------------- reading and typing


def _fill_and_submit(v: View, selector: str, value: str, submit: str = "#subbtn") -> str:
    field = v.js("const el = q(arg); return el ? {bid: bidOf(el), value: el.value} : null;", selector)
    if not field:
        raise NoMove(f"no field {selector}")
    if field["value"] != value:
        return v.fill(field["bid"], value, selector)
    return v.click_selector(submit, "Submit")


@solves("simple-arithmetic")
def _simple_arithmetic(v: View) -> str:
    a, op, b = re.match(r"\s*(-?\d+)\s*([-+x])\s*(-?\d+)", v.js("return text(q('#math-problem'));")).groups()
    a, b = int(a), int(b)
    return _fill_and_submit(v, "#math-answer", str(a + b if op == "+" else a - b if op == "-" else a * b))


@solves("simple-algebra")
def _simple_algebra(v: View) -> str:
    problem = v.js("return text(q('#math-problem'));").replace(" ", "")
    m = re.match(r"^(-?\d+)?([-+])?x([-+])?(-?\d+)?=(-?\d+)$", problem)
    if not m:
        raise NoMove(f"cannot read {problem!r}")
    total = int(m.group(5))
    if m.group(1) is not None:  # a + x = c, a - x = c
        a = int(m.group(1))
        x = total - a if m.group(2) == "+" else a - total
    else:  # x + b = c, x - b = c
        b = int(m.group(4))
        x = total - b if m.group(3) == "+" else total + b
    return _fill_and_submit(v, "#math-answer", str(x))


@solves("odd-or-even")
def _odd_or_even(v: View) -> str:
    rows = v.js("""return qa('#numbers .row').map((row) => ({n: parseInt(text(q('.display-number', row)), 10),
        odd: bidOf(q('.odd', row)), even: bidOf(q('.even', row)),
        chosen: q('button.selected', row) ? text(q('button.selected', row)) : ''}));""")
    for row in rows:
        want = "Odd" if row["n"] % 2 else "Even"
        if row["chosen"] != want:
            return v.click(row["odd" if want == "Odd" else "even"], f"{want} for {row['n']}")
    return v.click_selector("#submit", "Submit")


@solves("unicode-test")
def _unicode_test(v: View) -> str:
    label = v.quoted()[0]
    return v.click(v.js("return bidOf(byText('#area button', arg).filter(visible)[0]);", label), f"button {label!r}")


@solves("copy-paste")
def _copy_paste(v: View) -> str:
    return _fill_and_submit(v, "#answer-input", v.js("return q('#to-copy').value;"))


@solves("copy-paste-2")
def _copy_paste_2(v: View) -> str:
    nth = int(re.search(r"from the (\d)", v.utterance).group(1))
    return _fill_and_submit(v, "#answer-input", v.js("return q('#text-' + arg).value;", nth))


@solves("generate-number")
def _generate_number(v: View) -> str:
    shown = v.js("return text(q('#display-number'));")
    u = v.utterance
    if shown.lstrip("-").isdigit():
        n = int(shown)
        less, more = re.search(r"less than (\d+)", u), re.search(r"greater than (\d+)", u)
        ok = (n < int(less.group(1)) if less else n > int(more.group(1)) if more
              else n % 2 == 1 if "odd number" in u else n % 2 == 0)
        if ok:
            return v.click_selector("#submit", "Submit")
    return v.click_selector("#generate", "Generate")


@solves("click-color")
def _click_color(v: View) -> str:
    colour = re.search(r"Click on the (\w+) colored box", v.utterance).group(1)
    return v.click_element("return qa('#area .color').find((el) => el.style.backgroundColor === arg);", colour,
                           f"the {colour} box")


@solves("click-shades")
def _click_shades(v: View) -> str:
    """Tell a shade by its dominant channel, as the eye does, and toggle the boxes still wrong."""
    colour = re.search(r"shades of (\w+)", v.utterance).group(1)
    boxes = v.js(_CENTRE + """
        return qa('#area span').map((el) => {
          const [r, g, b] = (getComputedStyle(el).backgroundColor.match(/\\d+/g) || []).map(Number);
          const hue = r > g && r > b ? 'red' : g > r && g > b ? 'green' : b > r && b > g ? 'blue' : '';
          return {hue, selected: el.classList.contains('selected'), at: centre(el)};
        });
    """)
    for box in boxes:
        if (box["hue"] == colour) != box["selected"]:
            return v.mouse_click(box["at"], f"a {box['hue']} box")
    return v.click_selector("#area button", "Submit")


#: per environment, when button-delay's button ONE was clicked and when the expert last decided
#: (it times its wait as a person counts seconds, allowing for how long a step takes to land)
_CLOCKS: "weakref.WeakKeyDictionary[Any, dict]" = weakref.WeakKeyDictionary()


@solves("button-delay")
def _button_delay(v: View) -> str:
    seconds = int(re.search(r"wait (\d+) seconds?", v.utterance).group(1))
    now = time.monotonic()
    if v.steps_taken == 0:
        _CLOCKS[v.env] = {"one": now, "last": now}
        return _press_or_click(v, v.js(_BUTTON, {"id": "subbtn"}), "button ONE")  # the two may overlap
    clock = _CLOCKS.setdefault(v.env, {"one": now, "last": now})
    cycle, clock["last"] = now - clock["last"], now  # one decision to the next: what a step costs
    # the click lands about half a step after this decision (the action runs before the next observation)
    if now - clock["one"] + cycle / 2 >= seconds:
        return _press_or_click(v, v.js(_BUTTON, {"id": "subbtn2"}), "button TWO")
    return f"noop({max(50, round((seconds - (now - clock['one']) - cycle / 2) * 1000))})"


@solves("use-slider")
def _use_slider(v: View) -> str:
    want = int(re.search(r"Select (-?\d+)", v.utterance).group(1))
    s = v.js("""
        const el = $('#slider'), handle = q('#slider .ui-slider-handle'), r = q('#slider').getBoundingClientRect();
        const h = handle.getBoundingClientRect();
        return {value: parseInt(text(q('#val')), 10), min: el.slider('option', 'min'), max: el.slider('option', 'max'),
                vertical: el.slider('option', 'orientation') === 'vertical', bid: bidOf(handle),
                handle: [h.left + h.width / 2, h.top + h.height / 2],
                box: [r.left, r.top, r.width, r.height]};
    """)
    if s["value"] == want:
        return _submit(v)
    if abs(s["value"] - want) > 3:
        frac = (want - s["min"]) / max(1, s["max"] - s["min"])
        left, top, width, height = s["box"]
        end = [s["handle"][0], top + height * (1 - frac)] if s["vertical"] else [left + width * frac, s["handle"][1]]
        return v.drag(s["handle"], end, f"the slider to {want}")
    return v.press(s["bid"], "ArrowUp" if want > s["value"] else "ArrowDown", "the slider handle")


@solves("read-table")
def _read_table(v: View) -> str:
    label = re.search(r"value of (.+?) into", v.utterance).group(1)
    value = v.js("const row = qa('#tab tr').find((tr) => text(tr.cells[0]) === arg); return row ? text(row.cells[1]) : null;",
                 label)
    if value is None:
        raise NoMove(f"no row {label!r}")
    return _fill_and_submit(v, "#tt", value)


@solves("read-table-2")
def _read_table_2(v: View) -> str:
    fields = v.js("""
        const table = Object.fromEntries(qa('#tab tr').map((tr) => [text(tr.cells[0]), text(tr.cells[1])]));
        return qa('#form label').map((l) => {
          const input = l.parentElement.querySelector('input');
          return {want: table[l.getAttribute('data-key') || text(l).replace(/:$/, '')], bid: bidOf(input), value: input.value};
        });
    """)
    for f in fields:
        if f["want"] is None:
            raise NoMove("a label is not in the table")
        if f["value"] != f["want"]:
            return v.fill(f["bid"], f["want"], "a field")
    return _submit(v)


@solves("text-transform")
def _text_transform(v: View) -> str:
    return _fill_and_submit(v, "#tt", v.js("return qa('#captcha span').map((s) => s.textContent).join('');"))


@solves("visual-addition")
def _visual_addition(v: View) -> str:
    return _fill_and_submit(v, "#math-answer", str(v.js("return qa('#math-problem .addition-block').length;")))


@solves("phone-book")
def _phone_book(v: View) -> str:
    m = re.search(r"Find (.+?) in the contact book and click on their (\w+)", v.utterance)
    name, prop = m.group(1), {"phone": "phone", "email": "email", "address": "address"}.get(m.group(2).lower())
    if prop is None:
        raise NoMove(f"unknown property {m.group(2)!r}")
    if v.js("return text(q('#contact .name')) === arg;", name):
        return v.click_element("return q('#contact a.' + arg);", prop, f"{name}'s {prop}")
    return v.click(v.js("return bidOf(q('#pagination .next:not(.disabled) a'));"), "the next page")


@solves("navigate-tree")
def _navigate_tree(v: View) -> str:
    """Open the folders above the item (at their expand arrows, which have no bid), then click it."""
    name = v.quoted()[0]
    return v.click_element("""
        const span = qa('#tree span').find((s) => text(s) === arg);
        if (!span) return null;
        let closed = null;
        for (let li = span.closest('li'); li; li = li.parentElement.closest('li')) {
          const list = li.parentElement;
          if (list.id !== 'tree' && getComputedStyle(list).display === 'none') closed = list.closest('li');
        }
        return closed ? closed.querySelector(':scope > .hitarea') : span;
    """, name, f"the tree towards {name!r}")


#: the items of a MiniWoB shape grid as a viewer sees them: colour, size, kind and what it is
_SHAPES = """
    return qa('#area_svg > *').filter((el) => ['text', 'circle', 'rect', 'polygon'].includes(el.tagName)).map((el) => {
      const box = el.getBBox();
      let kind = 'shape', what = {circle: 'circle', rect: 'rectangle', polygon: 'triangle'}[el.tagName];
      let large = Math.max(box.width, box.height) > 14;
      if (el.tagName === 'text') {
        what = text(el);
        kind = /^[0-9]$/.test(what) ? 'digit' : 'letter';
        large = parseFloat(el.getAttribute('font-size')) > 14;
      }
      return {bid: bidOf(el), color: el.getAttribute('fill'), size: large ? 'large' : 'small', kind, what};
    });
"""
_SHAPE_COLOURS = ("red", "green", "blue", "aqua", "black", "magenta", "yellow")


def _matches(item: dict, description: str) -> bool:
    """MiniWoB's own rule (shapes.shapeMatchesText) on a description such as "large red digit"."""
    words = description.split()
    size = words.pop(0) if words and words[0] in ("large", "small") else ""
    colour = words.pop(0) if words and words[0] in _SHAPE_COLOURS else ""
    what = " ".join(words) or "item"
    return ((not size or item["size"] == size) and (not colour or item["color"] == colour)
            and (what == "item" or what in (item["what"], item["kind"])))


@solves("click-shape")
def _click_shape(v: View) -> str:
    description = re.search(r"Click on an? (.+)$", v.utterance.strip()).group(1)
    for item in v.js(_SHAPES):
        if _matches(item, description):
            return v.click(item["bid"], f"the {description}")
    raise NoMove(f"no {description}")


@solves("count-shape")
def _count_shape(v: View) -> str:
    description = re.search(r"How many (.+?)s are there\?", v.utterance).group(1)
    count = sum(_matches(item, description) for item in v.js(_SHAPES))
    return v.click(v.js("return bidOf(byText('#count-buttons button', arg)[0]);", str(count)), f"the answer {count}")


@solves("form-sequence")
def _form_sequence(v: View) -> str:
    m = re.search(r"Select (-?\d+) with the slider, click the (\d)\w\w checkbox", v.utterance)
    want, nth = int(m.group(1)), int(m.group(2))
    value = int(v.js("return text(q('#val'));"))
    if value != want:
        return _use_slider(v)
    box = v.js("const el = q('#checkbox-' + arg); return {bid: bidOf(el), checked: el.checked};", nth)
    if not box["checked"]:
        return v.click(box["bid"], f"checkbox {nth}")
    return _submit(v)


@solves("form-sequence-2")
def _form_sequence_2(v: View) -> str:
    m = re.search(r'Check the (\d)\w\w radio button and enter the number "(-?\d+)" into the (\d)\w\w textbox', v.utterance)
    radio, number, box = int(m.group(1)), m.group(2), int(m.group(3))
    state = v.js("""const r = qa('#area input[type=radio]')[arg.radio - 1], t = q('#input-' + arg.box);
        return {radio: bidOf(r), checked: r.checked, box: bidOf(t), value: t.value};""", {"radio": radio, "box": box})
    if not state["checked"]:
        return v.click(state["radio"], f"radio {radio}")
    if state["value"] != number:
        return v.fill(state["box"], number, f"textbox {box}")
    return _submit(v)


@solves("social-media")
def _social_media(v: View) -> str:
    """The post's icons show a pointer only on hover, so they have no bid: they are clicked at their centre."""
    m = re.search(r'For the user (@\S+), click on the "(.+?)" button', v.utterance)
    user, label = m.group(1), m.group(2)
    icons = {"Reply": "reply", "Retweet": "retweet", "Like": "like"}
    post = "const post = qa('#area .media').find((p) => text(q('.username', p)) === arg.user); if (!post) return null;"
    if label in icons:
        return v.click_element(post + "return q('.' + arg.icon, post);", {"user": user, "icon": icons[label]}, label)
    menu_open = v.js(post + "return !q('ul', post).classList.contains('hide');", {"user": user})
    if not menu_open:
        return v.click_element(post + "return q('.more', post);", {"user": user}, f"the menu of {user}")
    return v.click_element(post + "return qa('ul li', post).find((li) => text(li).startsWith(arg.label));",
                           {"user": user, "label": label}, label)


@solves("use-spinner")
def _use_spinner(v: View) -> str:
    """The spinner's arrows are hidden from the accessibility tree (no bid shown): clicked at their centre."""
    want = int(re.search(r"Select (-?\d+)", v.utterance).group(1))
    raw = v.js("return q('#spinner').value;")
    value = int(raw) if raw.strip().lstrip("-").isdigit() else 0
    if raw.strip() and value == want:
        return _submit(v)
    arrow = ".ui-spinner-up" if want > value or not raw.strip() else ".ui-spinner-down"
    return v.click_element("return q(arg);", arrow, "the spinner arrow")


@solves("click-menu")
def _click_menu(v: View) -> str:
    """Hover each menu on the path so its submenu opens, then click the last item."""
    path = v.utterance.strip().removeprefix("Select ").split(">")
    steps = v.js("""
        let menu = q('#menu');
        const out = [];
        for (const name of arg) {
          const li = Array.from(menu.children).find((c) => c.matches('li') && text(q(':scope > div', c)) === name);
          if (!li) return null;
          const sub = q(':scope > ul', li);
          out.push({bid: bidOf(q(':scope > div', li)), open: !!sub && visible(sub)});
          menu = sub;
        }
        return out;
    """, path)
    if not steps:
        raise NoMove(f"no menu path {path}")
    for step, name in zip(steps, path):
        if str(step["bid"]) not in v.observation.valid_bids:
            return "noop(300)"  # a submenu still opening: its items get bids on a later observation
        if step is not steps[-1] and not step["open"]:
            return f"hover({v._bid(step['bid'], name)!r})"
    return v.click(steps[-1]["bid"], path[-1])


_LINES = ((0, 1, 2), (3, 4, 5), (6, 7, 8), (0, 3, 6), (1, 4, 7), (2, 5, 8), (0, 4, 8), (2, 4, 6))


def _winner(board: tuple[str, ...]) -> str:
    for a, b, c in _LINES:
        if board[a] and board[a] == board[b] == board[c]:
            return board[a]
    return ""


def _completing(board: tuple[str, ...], mark: str) -> list[int]:
    out = []
    for line in _LINES:
        marks = [board[i] for i in line]
        if marks.count(mark) == 2 and marks.count("") == 1:
            out.append(line[marks.index("")])
    return out


@functools.lru_cache(maxsize=None)
def _x_wins(board: tuple[str, ...]) -> float:
    """Chance that X (to move) wins against the page's opponent: 55 % a random square, else
    its own win, else a block, else random (tic-tac-toe.html's computerMove)."""
    free = [i for i, m in enumerate(board) if not m]
    if not free:
        return 0.0
    best = 0.0
    for move in free:
        after = board[:move] + ("x",) + board[move + 1:]
        if _winner(after) == "x":
            return 1.0
        best = max(best, _after_o(after))
    return best


def _after_o(board: tuple[str, ...]) -> float:
    free = [i for i, m in enumerate(board) if not m]
    if not free:
        return 0.0
    smart = _completing(board, "o") or _completing(board, "x")
    outcomes = []
    for weight, choices in ((0.55, free), (0.45, smart[-1:] or free)):
        for move in choices:
            after = board[:move] + ("o",) + board[move + 1:]
            value = 0.0 if _winner(after) == "o" else _x_wins(after)
            outcomes.append(weight * value / len(choices))
    return sum(outcomes)


@solves("tic-tac-toe")
def _tic_tac_toe(v: View) -> str:
    cells = v.js(_CENTRE + """return qa('.ttt-row span').map((s) =>
        ({mark: s.classList.contains('mark-x') ? 'x' : s.classList.contains('mark-o') ? 'o' : '', at: centre(s)}));""")
    board = tuple(c["mark"] for c in cells)
    free = [i for i, m in enumerate(board) if not m]
    if not free:
        raise NoMove("the board is full")

    def value(move: int) -> float:
        after = board[:move] + ("x",) + board[move + 1:]
        return 1.0 if _winner(after) == "x" else _after_o(after)

    move = max(free, key=value)
    return v.mouse_click(cells[move]["at"], f"cell {move}")


@solves("social-media-all", "social-media-some")
def _social_media_many(v: View) -> str:
    m = re.search(r'Click the "(\w+)" button on (all|\d+) posts? by (@\S+) and then click Submit', v.utterance)
    label, how_many, user = m.group(1), m.group(2), m.group(3)
    icon = label.lower()
    posts = v.js("""
        return qa('#area .media').filter((p) => text(q('.username', p)) === arg.user).map((p) => {
          const el = q('.' + arg.icon, p);
          return {active: !!el && el.classList.contains('active'), hidden: !!el && !visible(el)};
        });
    """, {"user": user, "icon": icon})
    wanted = len(posts) if how_many == "all" else int(how_many)
    if sum(p["active"] for p in posts) < wanted:
        i = next(i for i, p in enumerate(posts) if not p["active"])
        post = ("const post = qa('#area .media').filter((p) => text(q('.username', p)) === arg.user)[arg.i];"
                " if (!post) return null;")
        if posts[i]["hidden"]:  # inside the post's "more" menu
            return v.click_element(post + "return q('.more', post);", {"user": user, "i": i}, "the post's menu")
        return v.click_element(post + "return q('.' + arg.icon, post);", {"user": user, "i": i, "icon": icon}, label)
    return v.click_element("return q('#submitRow button');", None, "Submit")


@solves("sign-agreement")
def _sign_agreement(v: View) -> str:
    if "Click the cancel button" in v.utterance:
        return v.click_selector("#cancel", "Cancel")
    name, button = re.search(r'enter the name "(.+?)" then press "(\w+)"', v.utterance).groups()
    state = v.js("""
        const t = q('#text-area'), b = t.getBoundingClientRect(), n = q('#name');
        return {bottom: t.scrollHeight <= t.scrollTop + t.clientHeight + 10, at: [b.left + b.width / 2, b.top + b.height / 2],
                dy: t.scrollHeight, name: bidOf(n), value: n.value, disabled: n.disabled};
    """)
    if not state["bottom"] or state["disabled"]:
        return v.scroll_towards({"at": state["at"], "dy": state["dy"]}, "the agreement")
    if state["value"] != name:
        return v.fill(state["name"], name, "the name field")
    return v.click_selector("#agree" if button == "Agree" else "#cancel", button)


@solves("draw-line")
def _draw_line(v: View) -> str:
    """Drag a straight stroke through the dot, 30 px either side of it."""
    if v.js("return !!q('svg path');"):
        return v.click_selector("#controls button", "Submit")
    vertical = "vertical line" in v.utterance
    dot = v.js(_CENTRE + "const c = q('svg circle'); return c ? centre(c) : null;")
    if not dot:
        raise NoMove("no dot")
    x, y = dot
    if vertical:
        return v.drag([x, y - 30], [x, y + 30], "a vertical line")
    return v.drag([x - 30, y], [x + 30, y], "a horizontal line")


_EDITOR_TAGS = {"bold": "STRONG", "italics": "EM", "italic": "EM", "underlined": "U", "underline": "U"}


@solves("text-editor")
def _text_editor(v: View) -> str:
    """Select the words (a drag over them, or Control+A for everything), then the toolbar's
    style button or colour, then Submit."""
    u = v.utterance
    m = re.search(r"give (?:the text (.+?)|everything) the style (\w+)", u) or \
        re.search(r"(?:give the text (.+?)|make everything) the color (\w+)", u)
    if not m:
        raise NoMove(f"cannot read {u!r}")
    word, what = m.group(1), m.group(2)
    colour = "the color" in u
    state = v.js("""
        const ed = q('#area .ql-editor');
        const all = text(ed);
        const target = arg.word || all;
        // is the target formatted (and only it)?
        const marked = qa(arg.colour ? '#area .ql-editor [style*="color"]' : '#area .ql-editor ' + arg.tag, ed.parentElement)
          .map((el) => text(el)).join(' ');
        const done = marked === target;
        const sel = String(window.getSelection()).trim();
        let start = null, end = null;
        if (arg.word) {
          const node = Array.from(ed.querySelectorAll('*')).concat([ed]).flatMap((el) => Array.from(el.childNodes))
            .find((n) => n.nodeType === 3 && n.textContent.includes(arg.word));
          if (node) {
            const i = node.textContent.indexOf(arg.word), r = document.createRange();
            r.setStart(node, i); r.setEnd(node, i + 1);
            const a = r.getBoundingClientRect();
            r.setStart(node, i + arg.word.length - 1); r.setEnd(node, i + arg.word.length);
            const b = r.getBoundingClientRect();
            start = [a.left + 1, a.top + a.height / 2]; end = [b.right - 1, b.top + b.height / 2];
          }
        }
        const hexes = arg.colour ? (COLOR_MAP[arg.what] || []) : [];
        const swatch = qa('#area .ql-color .ql-picker-item').find((el) => hexes.includes(el.getAttribute('data-value')));
        return {done, selected: sel === target, focused: document.activeElement === ed, editor: bidOf(ed), start, end,
                pickerOpen: !!q('#area .ql-color.ql-expanded'), swatch: swatch ? bidOf(swatch) : null,
                button: arg.tag ? bidOf(q('#area button.ql-' + arg.button)) : null};
    """, {"word": word, "what": what, "colour": colour, "tag": None if colour else _EDITOR_TAGS.get(what),
          "button": {"underlined": "underline", "italics": "italic"}.get(what, what)})
    if state["done"]:
        return _submit(v)
    if colour and state["pickerOpen"]:  # the editor keeps its selection while the picker is open
        return v.click(state["swatch"], f"the colour {what}")
    if not state["selected"]:
        if word:
            if not state["start"]:
                return "noop(300)"  # the editor is still being built
            return v.drag(state["start"], state["end"], f"the word {word!r}")
        if not state["focused"]:
            return v.click(state["editor"], "the editor")
        return "keyboard_press('Control+a')"
    if colour:
        return v.click_element("return q('#area .ql-color .ql-picker-label');", None, "the colour picker")
    return v.click(state["button"], f"the {what} button")


_SVG_POINTS = """
    const at = (sel) => qa(sel).map((c) => [Number(c.getAttribute('cx')), Number(c.getAttribute('cy'))]);
    const svg = q('svg').getBoundingClientRect();
    return {vertex: at(arg.vertex)[0], others: at(arg.others), size: [svg.width, svg.height]};
"""


def _inside(point: tuple[float, float], size: list[float], margin: float = 6) -> bool:
    return margin <= point[0] <= size[0] - margin and margin <= point[1] <= size[1] - margin


def _click_svg_point(v: View, point: tuple[float, float], what: str) -> str:
    """Click where the page draws its marker at svg ``point`` (it draws at pageX, pageY - 50)."""
    scroll = v.js("return [window.scrollX, window.scrollY];")
    return v.mouse_click([point[0] - scroll[0], point[1] + 50 - scroll[1]], what)


@solves("right-angle")
def _right_angle(v: View) -> str:
    """A third point 30 px from the vertex, at a right angle to the first arm."""
    if v.js("return !!q('#blue-circle');"):
        return _submit(v)
    p = v.js(_SVG_POINTS, {"vertex": "#init-blue", "others": "#init-black"})
    (vx, vy), (ax, ay) = p["vertex"], p["others"][0]
    dx, dy = ax - vx, ay - vy
    norm = math.hypot(dx, dy) or 1.0
    for length in (30, 20, 12, 40):
        for sign in (1, -1):
            point = (vx - sign * dy / norm * length, vy + sign * dx / norm * length)
            if _inside(point, p["size"]):
                return _click_svg_point(v, point, "the third point")
    raise NoMove("no room for a right angle")


@solves("bisect-angle")
def _bisect_angle(v: View) -> str:
    """A point on the bisector: the sum of the two arms' unit vectors from the vertex."""
    if v.js("return !!q('#blue-circle');"):
        return _submit(v)
    p = v.js(_SVG_POINTS, {"vertex": ".init-blue", "others": ".init-black"})
    vx, vy = p["vertex"]
    ux = uy = 0.0
    for ox, oy in p["others"][:2]:
        norm = math.hypot(ox - vx, oy - vy) or 1.0
        ux, uy = ux + (ox - vx) / norm, uy + (oy - vy) / norm
    norm = math.hypot(ux, uy)
    if norm < 1e-6:
        raise NoMove("the arms are opposite")
    for length in (30, 20, 12, 45):
        point = (vx + ux / norm * length, vy + uy / norm * length)
        if _inside(point, p["size"]):
            return _click_svg_point(v, point, "a point on the bisector")
    raise NoMove("no room on the bisector")


_SHAPE_GRID = """
    const svg = q('#area_svg'), o = svg.getBoundingClientRect();
    const boxes = qa('#area_svg rect').filter((r) => r.getAttribute('fill') === 'none').map((r) =>
      [Number(r.getAttribute('x')), Number(r.getAttribute('y')), Number(r.getAttribute('width')), Number(r.getAttribute('height'))])
      .sort((a, b) => a[0] - b[0]);
    const items = qa('#area_svg rect, #area_svg circle, #area_svg polygon').filter((el) => el.getAttribute('fill') !== 'none')
      .map((el) => {
        const c = shapes.gridCoords(el), b = el.getBoundingClientRect();
        let grab = null;
        for (const [fx, fy] of [[0.5, 0.5], [0.3, 0.6], [0.7, 0.6], [0.5, 0.75]]) {
          const x = b.left + b.width * fx, y = b.top + b.height * fy, top = document.elementFromPoint(x, y);
          if (top === el) { grab = [x, y]; break; }
        }
        return {tag: el.tagName, fill: el.getAttribute('fill'), at: [c.x, c.y], grab};
      });
    return {origin: [o.left, o.top], size: [o.width, o.height], boxes, items};
"""


def _in_box(at: list[float], box: list[float]) -> bool:
    return box[0] < at[0] < box[0] + box[2] and box[1] < at[1] < box[1] + box[3]


def _sort_shapes(v: View, wanted: Callable[[dict], int | None]) -> str:
    """Drag each item to the box ``wanted`` names (its index, or None: anywhere outside every box)."""
    g = v.js(_SHAPE_GRID)
    ox, oy = g["origin"]
    for item in g["items"]:
        target = wanted(item)
        if target is None:
            if not any(_in_box(item["at"], b) for b in g["boxes"]):
                continue
            spots = [(x, y) for y in (12, 80, 148) for x in (12, 80, 148)]
            free = [s for s in spots if not any(b[0] - 22 < s[0] < b[0] + b[2] + 22 and b[1] - 22 < s[1] < b[1] + b[3] + 22
                                                for b in g["boxes"])]
            if not free:
                raise NoMove("no room outside the boxes")
            to = free[0]
        else:
            box = g["boxes"][target]
            if _in_box(item["at"], box):
                continue
            to = (box[0] + box[2] / 2, box[1] + box[3] / 2)
        if not item["grab"]:
            continue  # covered by another shape: that one moves first
        return v.drag(item["grab"], [ox + to[0], oy + to[1]], f"a {item['fill']} {item['tag']}")
    return _submit(v)


_SHAPE_TAGS = {"rectangles": "rect", "circles": "circle", "triangles": "polygon"}


@solves("drag-shapes")
def _drag_shapes(v: View) -> str:
    tag = _SHAPE_TAGS[re.search(r"Drag all (\w+) into the black box", v.utterance).group(1)]
    return _sort_shapes(v, lambda item: 0 if item["tag"] == tag else None)


@solves("drag-shapes-2")
def _drag_shapes_2(v: View) -> str:
    by_kind = re.search(r"Drag all (rectangles|circles|triangles) into the left box", v.utterance)
    if by_kind:
        tag = _SHAPE_TAGS[by_kind.group(1)]
        return _sort_shapes(v, lambda item: 0 if item["tag"] == tag else 1)
    colour = re.search(r"Drag all (\w+) shapes into the left box", v.utterance).group(1)
    return _sort_shapes(v, lambda item: 0 if item["fill"] == colour else 1)


@solves("draw-circle")
def _draw_circle(v: View) -> str:
    """Press beside the mark, move round it in twelve steps, release, then Submit."""
    mark = v.js(_CENTRE + "const c = q('#circ'); return c ? centre(c) : null;")
    if not mark:
        raise NoMove("no marked point")
    x, y = mark
    radius = 20.0
    ring = [(x + radius * math.cos(2 * math.pi * k / 12), y + radius * math.sin(2 * math.pi * k / 12)) for k in range(13)]
    step = v.steps_taken
    where = ", ".join
    if step == 0:
        return f"mouse_down({where(str(c) for c in v._point(ring[0], 'the circle'))})"
    if step <= 12:
        return f"mouse_move({where(str(c) for c in v._point(ring[step], 'the circle'))})"
    if step == 13:
        return f"mouse_up({where(str(c) for c in v._point(ring[12], 'the circle'))})"
    return v.click_element("return q('#subbtn') || qa('#area button').find((b) => text(b) === 'Submit');", None, "Submit")


#: probe points over hot-cold's touch area (fractions of it): every point of it is within
#: 40 px (the page's COLD) of one of them
_PROBES = [(fx, fy) for fy in (0.12, 0.5, 0.88) for fx in (0.1, 0.37, 0.63, 0.9)]


@solves("hot-cold")
def _hot_cold(v: View) -> str:
    """Move the pointer over a grid of probe points until the page's signal is no longer ICE COLD,
    then click there (MiniWoB scores COLD 0.25, WARM 0.5, HOT 1)."""
    state = v.js("""const a = q('#touch-area').getBoundingClientRect(), s = q('#signal');
        return {box: [a.left, a.top, a.width, a.height], signal: s ? text(s) : ''};""")
    left, top, width, height = state["box"]
    last = v.observation.last_action
    if last.startswith("mouse_move(") and state["signal"] in ("HOT", "WARM", "COLD"):
        x, y = (float(c) for c in last[len("mouse_move("):-1].split(","))
        return v.mouse_click([x, y], f"the {state['signal']} spot")
    i = min(v.steps_taken, len(_PROBES) - 1)
    fx, fy = _PROBES[i]
    return f"mouse_move({', '.join(str(c) for c in v._point([left + width * fx, top + height * fy], 'a probe'))})"


@solves("chase-circle")
def _chase_circle(v: View) -> str:
    """Move the pointer onto the circle's centre each step; the page ends the episode (about 10 s)."""
    at = v.js(_CENTRE + "const c = q('#circ'); return c ? centre(c) : null;")
    if not at:
        raise NoMove("no circle")
    return f"mouse_move({', '.join(str(c) for c in v._point(at, 'the circle'))})"


@solves("moving-items")
def _moving_items(v: View) -> str:
    """Click a circle inside the play area where it is now (they keep moving; the page ends the
    episode after 9.9 s and scores 0.2 a hit, less 1)."""
    circles = v.js(_CENTRE + """const a = q('svg').getBoundingClientRect();
        return qa('svg .item').map(centre).filter(([x, y]) =>
          x > a.left + 12 && x < a.right - 12 && y > a.top + 12 && y < a.bottom - 12);""")
    if not circles:
        return "noop(500)"
    return v.mouse_click(circles[0], "a moving circle")


@solves("drag-cube")
def _drag_cube(v: View) -> str:
    """Turn the cube by drags (three sideways, then one down, and again) until the asked side faces the user."""
    want = v.quoted()[0]
    s = v.js("const b = q('.viewport').getBoundingClientRect(), a = document.body.getElementsByClassName('active')[0];"
             " return {active: a ? text(a) : '', box: [b.left, b.top, b.width, b.height]};")
    if s["active"] == want:
        return _submit(v)
    left, top, width, height = s["box"]
    x, y = left + width / 2, top + height / 2
    dx, dy = ((50, 0), (50, 0), (50, 0), (0, 50))[v.steps_taken % 4]
    return v.drag([x, y], [x + dx, y + dy], "the cube")
