"""BrowserGym-style action strings: parsing and validation.

An action is one call, e.g. ``click('12')`` or ``fill('31', "cooking pot")``. Parsing
uses Python's own parser on a single call expression whose arguments must be
literals, so a model can never make the loop run code.
"""

from __future__ import annotations

import ast
import functools
import re
from typing import Any, Iterable

import attrs

# name -> (argument kinds). "bid" is an element id that must be on the page;
# "str"/"num" are literals; a trailing "*" marks optional arguments. Names and argument
# order follow BrowserGym's high-level action set, so traces and prompts transfer.
ACTION_SIGNATURES: dict[str, tuple[str, ...]] = {
    "click": ("bid", "str*"),
    "dblclick": ("bid", "str*"),
    "hover": ("bid",),
    "fill": ("bid", "str"),
    "select_option": ("bid", "str"),
    "check": ("bid",),
    "uncheck": ("bid",),
    "press": ("bid", "str"),
    "focus": ("bid",),
    "clear": ("bid",),
    "drag_and_drop": ("bid", "bid"),
    "upload_file": ("bid", "str"),
    "scroll": ("num", "num"),
    # coordinates are CSS pixels of the viewport (what the observation's boxes are in)
    "mouse_move": ("num", "num"),
    "mouse_click": ("num", "num", "str*"),
    "mouse_dblclick": ("num", "num", "str*"),
    "mouse_down": ("num", "num", "str*"),
    "mouse_up": ("num", "num", "str*"),
    "mouse_drag_and_drop": ("num", "num", "num", "num"),
    # the keyboard acts on whatever has focus
    "keyboard_press": ("str",),
    "keyboard_type": ("str",),
    "keyboard_down": ("str",),
    "keyboard_up": ("str",),
    "keyboard_insert_text": ("str",),
    "goto": ("str",),
    "go_back": (),
    "go_forward": (),
    "tab_focus": ("num",),
    "new_tab": (),
    "close_tab": (),
    "tab_close": (),  # BrowserGym's name for close_tab
    "noop": ("num*",),
    "send_msg_to_user": ("str",),
    "report_infeasible": ("str",),
}

TERMINAL_ACTIONS = frozenset({"send_msg_to_user", "report_infeasible"})
#: actions that name a point of the viewport instead of an element: what they hit depends on
#: layout, scroll position and window size, none of which a bid or a state fingerprint pins
COORDINATE_ACTIONS = frozenset({"mouse_move", "mouse_click", "mouse_dblclick", "mouse_down", "mouse_up",
                                "mouse_drag_and_drop"})
#: actions sent to the focused element, whichever it is
KEYBOARD_ACTIONS = frozenset({"keyboard_press", "keyboard_type", "keyboard_down", "keyboard_up",
                              "keyboard_insert_text"})
MOUSE_BUTTONS = ("left", "middle", "right")
#: (action, argument index) whose "str" may also be a non-empty list of strings, as BrowserGym's
#: ``select_option(bid, ["a", "b"])`` picks several options of a multiple <select>. Kept out of
#: the signature's kind so that writers of the single form (prompts, grammars) need not change.
LIST_ARGUMENTS = frozenset({("select_option", 1)})


class ActionError(ValueError):
    """An action string that cannot be executed; becomes ``last_action_error``."""


@attrs.frozen
class Action:
    name: str
    args: tuple[Any, ...] = ()

    @property
    def bid(self) -> str | None:
        kinds = ACTION_SIGNATURES.get(self.name, ())
        if kinds and kinds[0] == "bid" and self.args:
            return str(self.args[0])
        return None

    @property
    def bids(self) -> tuple[str, ...]:
        """Every element id the action names (``drag_and_drop`` names two)."""
        kinds = ACTION_SIGNATURES.get(self.name, ())
        return tuple(str(a) for a, k in zip(self.args, kinds) if k == "bid")

    @property
    def is_coordinate(self) -> bool:
        """It names a point of the viewport (:data:`COORDINATE_ACTIONS`)."""
        return self.name in COORDINATE_ACTIONS

    @property
    def targets_focus(self) -> bool:
        """It acts on whatever has focus (:data:`KEYBOARD_ACTIONS`)."""
        return self.name in KEYBOARD_ACTIONS

    @property
    def is_grounded(self) -> bool:
        """What it acts on is named in it by at most one element id (or it names none and acts on the
        page or browser as a whole): false for points, the focused element and two-element drags.
        Replaying a grounded action on a page found by its elements does the same thing again."""
        kinds = ACTION_SIGNATURES.get(self.name, ())
        return not (self.is_coordinate or self.targets_focus) and kinds.count("bid") <= 1

    @property
    def is_terminal(self) -> bool:
        return self.name in TERMINAL_ACTIONS

    def to_string(self) -> str:
        return f"{self.name}({', '.join(_literal(a) for a in self.args)})"


def _literal(value: Any) -> str:
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, tuple):  # a list argument (LIST_ARGUMENTS), written as the list it was
        return "[" + ", ".join(_literal(v) for v in value) + "]"
    return str(value)


@functools.lru_cache(maxsize=4096)
def parse_action(text: str) -> Action:
    """Parse one action string; raise :class:`ActionError` saying what is wrong.

    Cached: the loop, verifier and gate all parse the same decision each step.
    """
    source = (text or "").strip()
    if not source:
        raise ActionError("empty action; expected a call such as click('12')")
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError as exc:
        raise ActionError(f"cannot parse action {source!r}: {exc.msg}") from None
    call = tree.body
    if not isinstance(call, ast.Call) or not isinstance(call.func, ast.Name):
        raise ActionError(f"action {source!r} is not a single call like click('12')")
    name = call.func.id
    if name not in ACTION_SIGNATURES:
        raise ActionError(f"unknown action {name!r}; allowed: {', '.join(sorted(ACTION_SIGNATURES))}")
    if call.keywords:
        raise ActionError(f"{name}() takes positional arguments only")
    try:
        args = tuple(ast.literal_eval(arg) for arg in call.args)
    except ValueError:
        raise ActionError(f"arguments of {name}() must be literals") from None
    kinds = ACTION_SIGNATURES[name]
    required = sum(1 for k in kinds if not k.endswith("*"))
    if not required <= len(args) <= len(kinds):
        raise ActionError(f"{name}() takes {required}-{len(kinds)} arguments, got {len(args)}")
    args = list(args)
    for i, (value, kind) in enumerate(zip(args, kinds)):
        kind = kind.rstrip("*")
        if (name, i) in LIST_ARGUMENTS and isinstance(value, (list, tuple)):
            if not value or not all(isinstance(v, str) for v in value):
                raise ActionError(f"{name}(): expected a string or a non-empty list of strings, got {value!r}")
            args[i] = tuple(value)  # hashable, like every other argument; written back as a list
            continue
        if kind == "bid" and not isinstance(value, (str, int)):
            raise ActionError(f"{name}(): element id must be a string like '12'")
        if kind == "str" and not isinstance(value, str):
            raise ActionError(f"{name}(): expected a string, got {value!r}")
        if kind == "num" and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise ActionError(f"{name}(): expected a number, got {value!r}")
    if name in COORDINATE_ACTIONS and name != "mouse_drag_and_drop" and len(args) > 2 and args[2] not in MOUSE_BUTTONS:
        raise ActionError(f"{name}(): button must be 'left', 'middle' or 'right', got {args[2]!r}")
    args = tuple(str(a) if k == "bid" else a for a, k in zip(args, kinds))
    return Action(name, args)


def validate_action(action: Action, valid_bids: Iterable[str]) -> None:
    """Raise :class:`ActionError` if the action names an element not on the page."""
    bids = action.bids
    if not bids:
        return
    valid = set(valid_bids)
    for bid in bids:
        if bid not in valid:
            raise ActionError(f"element '{bid}' is not on the current page; use a bid from the observation")


_CALL_START = re.compile(r"\b(?:" + "|".join(ACTION_SIGNATURES) + r")\s*\(")


def _calls_in(line: str) -> list[str]:
    """Every well-formed action call in ``line``, in order (a line may hold several)."""
    try:
        return [parse_action(line).to_string()]
    except ActionError:
        pass
    calls = []
    for start in _CALL_START.finditer(line):
        close = line.find(")", start.end() - 1)
        while close != -1:  # the shortest span that parses: quotes may hold ')'
            try:
                calls.append(parse_action(line[start.start():close + 1]).to_string())
                break
            except ActionError:
                close = line.find(")", close + 1)
    return calls


def extract_action(text: str) -> str:
    """Pull the action call out of free model output.

    Accepts a bare call, a fenced code block, or ``Action: ...``; the last
    well-formed known call wins, as models often think aloud first.
    """
    if not text:
        raise ActionError("model returned no text")
    candidates: list[str] = []
    for block in re.findall(r"```(?:\w+)?\s*(.*?)```", text, re.S):
        candidates.extend(line.strip() for line in block.splitlines())
    candidates.extend(line.strip() for line in text.splitlines())
    for line in reversed(candidates):
        line = re.sub(r"^(?:action\s*:\s*)", "", line, flags=re.I).strip().strip("`")
        found = _calls_in(line)
        if found:
            return found[-1]
    raise ActionError(f"no valid action found in model output: {text[:200]!r}")
