"""Recovery policies: cheap, model-free ways out of a stuck state.

Ordinary ``halo_decide`` implementations, consulted after the caches and before the
worker. Each fires once per trigger, so the worker always gets the next turn.
Off when ``config.use_recovery`` is false (the ``no_recovery`` ablation).
"""

from __future__ import annotations

from halo_core import hookimpl
from halo_core.model import Decision, Observation

_DISMISS = ("close", "cancel", "dismiss", "no thanks", "not now", "ok")


def recovery_action(observation: Observation, episode) -> tuple[str, str] | None:
    """(action, reason) to get unstuck, or None when nothing is stuck."""
    history = episode.history
    if not history:
        return None
    last = history[-1]
    if last.decision.source == "recovery":
        return None  # one recovery step per trigger; then the worker decides again
    dialog_close = next((e for e in observation.elements
                         if e.role == "button" and e.name.strip().lower() in _DISMISS
                         and observation.annotations.get("dialog_open")), None)
    repeated_error = len(history) >= 2 and history[-1].error and history[-2].error
    if episode.state.get("loop"):
        if dialog_close is not None:
            return f"click('{dialog_close.bid}')", "loop with a dialog open: dismiss it"
        return "go_back()", f"loop detected ({episode.state['loop']}): step back"
    if repeated_error:
        if "not on the current page" in last.error or "not visible" in last.error or "Timeout" in last.error:
            return "scroll(0, 400)", "element not reachable twice: scroll to reveal more"
        return "go_back()", "two failed actions in a row: step back"
    return None


@hookimpl
def halo_decide(observation, episode):
    if not episode.config.use_recovery or episode.config.use_manager:
        return None  # with a manager, the gate handles errors and loops
    found = recovery_action(observation, episode)
    if found is None:
        return None
    action, reason = found
    return Decision(action, "recovery", reason=reason)
