"""Loop detector: the same state twice within five steps, or A-B-A-B actions.

It flags a loop as an observation annotation (``observation.annotations["loop"]``,
the reason, "" when there is none) in ``halo_annotate``, so every layer deciding on
that observation sees it; its verdict (``check="loop"``) records the same reason.
"""

from __future__ import annotations

from halo_core import hookimpl
from halo_core.model import Verdict
from halo_core.stash import StashKey

WINDOW = 5

#: (state keys the actions were taken in, actions, the previous observation's key)
_HISTORY = StashKey[dict]()


def detect_loop(fingerprints: list[str], actions: list[str]) -> str:
    """Why the recent history looks like a loop, or "" if it does not.

    ``fingerprints`` are the states the actions were taken in (oldest first) plus the
    state reached by the last one; ``actions`` the actions, oldest first.
    """
    recent = fingerprints[-(WINDOW + 1):]
    current = recent[-1] if recent else None
    if current is not None and current in recent[:-1] and len(actions) >= 2:
        # revisiting a state after a real action sequence; a failed action that left the
        # page untouched is the verifier's business, not a loop, unless it repeats
        last = actions[-1]
        if recent[-2] != current or actions[-2:] == [last, last]:
            return "same state seen twice within %d steps" % WINDOW
    if len(actions) >= 4:
        a, b, c, d = actions[-4:]
        if a == c and b == d and a != b:
            return f"actions alternate {a} / {b}"
    if len(actions) >= 3 and len(set(actions[-3:])) == 1 and len(set(fingerprints[-4:])) == 1:
        return f"same action {actions[-1]} repeated without effect"
    return ""


def state_key(observation) -> str:
    """Fingerprint plus the page text's hash: a page that shows new content after a
    form submission (same controls, new values) is progress, not a revisit."""
    return f"{observation.fingerprint}:{observation.annotations.get('obs_hash', '')}"


def loop_reason(observation) -> str:
    """Why this observation's state looks like a loop ("" when it does not)."""
    return str(observation.annotations.get("loop") or "")


@hookimpl
def halo_annotate(observation, episode):
    history = episode.stash.setdefault(_HISTORY, {"states": [], "actions": [], "previous": None})
    key = state_key(observation)
    reason = ""
    last = episode.last_decision.action if episode.last_decision is not None else ""
    if history["previous"] is not None and last:
        history["states"].append(history["previous"])  # the state the last action was taken in
        history["actions"].append(last)
        del history["states"][:-(WINDOW + 1)]
        del history["actions"][:-4]
        reason = detect_loop(history["states"] + [key], history["actions"])
    history["previous"] = key
    observation.annotations["loop"] = reason


@hookimpl
def halo_verify(before, decision, after, episode):
    reason = loop_reason(after)
    return Verdict("loop", not reason, reason)
