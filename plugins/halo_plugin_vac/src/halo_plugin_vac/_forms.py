"""Bid-free action forms: what an action does, independent of the page's element ids.

Bids change between runs and sessions; the element's role, accessible name and its
position among elements with the same role and name do not. A cached action is
stored in this form and re-resolved on the page it is replayed on.
"""

from __future__ import annotations

import json
from typing import Any

import attrs

from halo_core.api import Action, ActionError, Observation, parse_action


@attrs.frozen
class ActionForm:
    """``verb`` plus the target element (``role``, ``name``, ``nth`` duplicate) and other args.

    ``role`` is None for actions without a target element (``goto``, ``go_back``,
    ``send_msg_to_user``...).
    """

    verb: str
    role: str | None
    name: str
    nth: int
    args: tuple[Any, ...]

    @property
    def key(self) -> str:
        return json.dumps([self.verb, self.role, self.name, self.nth, list(self.args)], ensure_ascii=False)

    @classmethod
    def from_key(cls, key: str) -> ActionForm:
        verb, role, name, nth, args = json.loads(key)
        return cls(verb, role, name, int(nth), tuple(args))

    def resolve(self, observation: Observation) -> str | None:
        """The action string on ``observation``, or None when the target element is not there."""
        if self.role is None:
            return Action(self.verb, self.args).to_string()
        matches = [e for e in observation.elements if e.role == self.role and e.name == self.name]
        if len(matches) <= self.nth:
            return None
        return Action(self.verb, (matches[self.nth].bid,) + self.args).to_string()


def action_form(action_text: str, observation: Observation) -> ActionForm | None:
    """The bid-free form of ``action_text`` taken on ``observation``; None if it cannot be
    formed (unparseable, or its bid is not on that page) or is not grounded in the page's
    elements: coordinate actions (``mouse_click(x, y)``: what a point hits depends on layout,
    scroll and window size, none of which the state fingerprint holds), keyboard actions (they
    go to whichever element has focus) and ``drag_and_drop`` (its second element would be
    stored as a bid). Such actions are never cached nor replayed."""
    try:
        action = parse_action(action_text)
    except ActionError:
        return None
    if not action.is_grounded:
        return None  # a point, the focused element or a second element: not re-found on another page
    bid = action.bid
    if bid is None:
        return ActionForm(action.name, None, "", 0, tuple(action.args))
    target = None
    nth = 0
    for element in observation.elements:
        if element.bid == bid:
            target = element
            break
    if target is None:
        return None
    for element in observation.elements:
        if element is target:
            break
        if element.role == target.role and element.name == target.name:
            nth += 1
    return ActionForm(action.name, target.role, target.name, nth, tuple(action.args[1:]))
