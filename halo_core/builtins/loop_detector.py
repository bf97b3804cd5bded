"""Loop detector: the same state twice within five steps, or A-B-A-B actions.

Its verdict (``check="loop"``) is what the manager gate and recovery react to.
"""

from __future__ import annotations

from halo_core import hookimpl
from halo_core.model import Verdict

WINDOW = 5


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


@hookimpl
def halo_verify(before, decision, after, episode):
    seen = episode.state.setdefault("loop_states", [])
    actions = episode.state.setdefault("loop_actions", [])
    seen.append(state_key(before))  # the states the actions were taken in, oldest first
    actions.append(decision.action)
    reason = detect_loop(seen[-(WINDOW + 1):] + [state_key(after)], actions[-4:])
    episode.state["loop"] = reason
    return Verdict("loop", not reason, reason)
