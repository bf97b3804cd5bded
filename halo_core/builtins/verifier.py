"""Postcondition verifier: did the action do what that kind of action should?

The verified action cache trusts an action only after these verdicts held.
"""

from __future__ import annotations

from halo_core import hookimpl
from halo_core.actions import ActionError, parse_action
from halo_core.model import Observation, Verdict

# Actions whose effect is a change of page or page state.
_CHANGING = frozenset({"click", "dblclick", "press", "go_back", "go_forward", "new_tab", "close_tab", "tab_focus"})


def check_postcondition(action_text: str, before: Observation, after: Observation) -> Verdict:
    if after.last_action_error:
        return Verdict("postcondition", False, f"action failed: {after.last_action_error}")
    try:
        action = parse_action(action_text)
    except ActionError as exc:
        return Verdict("postcondition", False, str(exc))
    name, args = action.name, action.args
    if name in ("fill", "select_option"):
        target = next((e for e in after.elements if e.bid == args[0]), None)
        if target is None:
            # the page moved on (e.g. select submits a form): a state change is the effect
            ok = after.fingerprint != before.fingerprint
            return Verdict("postcondition", ok, "" if ok else "element vanished without a state change")
        if isinstance(args[1], tuple):  # several options of a multiple select
            return _options_selected(after, target, args[1])
        expected = " ".join(str(args[1]).split()).lower()  # pages report whitespace their own way
        got = " ".join((target.value or "").split()).lower()
        ok = got == expected or (name == "select_option" and expected in got)
        return Verdict("postcondition", ok, "" if ok else f"value is {target.value!r}, expected {args[1]!r}")
    if name in ("check", "uncheck"):
        target = next((e for e in after.elements if e.bid == args[0]), None)
        want = name == "check"
        ok = target is not None and bool(target.props.get("checked")) == want
        return Verdict("postcondition", ok, "" if ok else f"element is not {'checked' if want else 'unchecked'}")
    if name == "goto":
        ok = after.url.rstrip("/").startswith(str(args[0]).rstrip("/"))
        return Verdict("postcondition", ok, "" if ok else f"landed on {after.url}")
    if name in _CHANGING:
        changed = after.url != before.url or after.fingerprint != before.fingerprint or after.text != before.text
        return Verdict("postcondition", changed, "" if changed else "nothing changed on the page")
    return Verdict("postcondition", True)


def _norm(text: str) -> str:
    return " ".join(str(text).split()).lower()


def _options_selected(after: Observation, target, wanted: tuple[str, ...]) -> Verdict:
    """The list's selected options (the ``option`` elements right after it) are the wanted ones: as
    many, and each wanted label among them (one named by its value is only counted)."""
    elements = list(after.elements)
    start = next(i for i, e in enumerate(elements) if e is target) + 1
    options = []
    for e in elements[start:]:
        if e.role != "option":
            break
        options.append(e)
    selected = {_norm(e.name) for e in options if e.props.get("selected")}
    want = {_norm(w) for w in wanted}
    ok = len(selected) == len(want) and want & {_norm(e.name) for e in options} <= selected
    return Verdict("postcondition", ok, "" if ok else f"selected {sorted(selected)}, expected {sorted(want)}")


@hookimpl
def halo_verify(before, decision, after, episode):
    return check_postcondition(decision.action, before, after)
