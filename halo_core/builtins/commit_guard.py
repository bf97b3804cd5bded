"""A task's commit happens at most once per episode.

Clicking "Place order", "Pay", "Send" or "Submit" a second time places a second order,
pays twice, sends the mail again. Whatever decided the step — the worker, the manager, a
replayed skill's hand-back, a cached action — this outermost ``halo_decide`` wrapper refuses a
commit the episode has already made, unless the goal asks for more than one (``twice``,
``each``, ``every``, ``all``, ``both``, a count of orders or times). A refused step never
reaches the browser: the step records why (``Last action error`` on the next prompt), so
the model can move on, e.g. report that the order is placed.

A commit counts as made when its step ran without an action error and the page moved on
from it: the URL changed, or no element of that name is left on the page. A submit that
a form rejected (same page, the button still there) can be tried again.

Which elements commit is :data:`COMMIT_ACTION` on the element's accessible name (the
manager gate's high-stakes words, less the ones that are safe to repeat: signing in,
going to the checkout). Coordinate clicks (``mouse_click``) are not matched to elements
and pass unchecked; ``commit_once=false`` turns the guard off.
"""

from __future__ import annotations

import re

import attrs

from halo_core import hookimpl
from halo_core.actions import ActionError, parse_action
from halo_core.model import Decision, Observation
from halo_core.stash import StashKey

__all__ = ["COMMIT_ACTION", "commit_name", "goal_allows_repeats"]

#: accessible names of elements whose activation commits (orders, pays, sends, submits, confirms)
COMMIT_ACTION = re.compile(r"place (?:the |your )?order|\bpay\b|purchase|buy now|\bsend\b|submit|confirm", re.I)
#: goals that ask for a commit more than once
_REPEATS = re.compile(r"\b(?:twice|thrice|each|every|all|both|(?:\d+|two|three|four|five|several) "
                      r"(?:orders|times|messages|emails|purchases|payments))\b", re.I)
#: actions that activate the element they name
_ACTIVATING = frozenset({"click", "dblclick", "press"})

#: name (normalised) -> the step that committed it
_COMMITTED = StashKey[dict]()


def goal_allows_repeats(goal: str) -> bool:
    """Whether ``goal`` asks for a commit more than once."""
    return bool(_REPEATS.search(goal or ""))


def commit_name(action_text: str, observation: Observation) -> str:
    """The normalised name of the commit element ``action_text`` activates, or ""."""
    try:
        action = parse_action(action_text)
    except ActionError:
        return ""
    if action.name not in _ACTIVATING or not action.args:
        return ""
    if action.name == "press" and str(action.args[1] if len(action.args) > 1 else "").lower() not in ("enter", " "):
        return ""
    target = next((e for e in observation.elements if e.bid == str(action.args[0])), None)
    if target is None or not COMMIT_ACTION.search(target.name or ""):
        return ""
    return _normalised(target.name)


def _normalised(name: str | None) -> str:
    return " ".join((name or "").lower().split())


def _active(episode) -> bool:
    return bool(episode.config.get("commit_once", True)) and not goal_allows_repeats(episode.task.goal)


@hookimpl
def halo_addoption(register):
    register("commit_once", type=bool, default=True,
             help="refuse a second activation of an element that commits (place order, pay, buy now, send, submit, "
                  "confirm) in one episode, unless the goal asks for more than one")


@hookimpl
def halo_episode_start(episode):
    episode.stash[_COMMITTED] = {}


@hookimpl(wrapper=True, tryfirst=True)
def halo_decide(observation, episode):
    decision = yield
    if decision is None or not _active(episode):
        return decision
    name = commit_name(decision.action, observation)
    committed = episode.stash.get(_COMMITTED, {})
    if not name or name not in committed:
        return decision
    why = (f"{name!r} was already activated at step {committed[name]} and the page moved on; the goal asks for it "
           "once, so it is not done again. If the task is complete, say so with send_msg_to_user")
    return attrs.evolve(decision, meta={**decision.meta, "refused": why})


@hookimpl
def halo_verify(before, decision, after, episode):
    if after is None or after.last_action_error or not _active(episode):
        return None
    name = commit_name(decision.action, before)
    if not name:
        return None
    still_there = any(_normalised(e.name) == name for e in after.elements)
    if after.url != before.url or not still_there:
        episode.stash.setdefault(_COMMITTED, {}).setdefault(name, episode.step_idx)
    return None
