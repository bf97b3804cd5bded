"""Recovery policies: cheap, model-free ways out of a stuck state.

Ordinary ``halo_decide`` implementations, consulted after the caches and before the
worker. Each fires once per trigger, so the worker always gets the next turn.

Recovery and the manager gate coexist: recovery proposes its way out (dismiss a
dialog, scroll, step back), and the gate — a wrapper around every layer — still
reviews that proposal when its own triggers hold (errors, loops), so the manager can
approve or override it. ``use_recovery=false`` (the ``no_recovery`` ablation) turns
recovery off and leaves errors and loops to the worker and the gate alone.

Recovery never leaves the task's site: it steps back only when an earlier page of
this episode on the same origin exists to return to.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from halo_core import hookimpl
from halo_core.model import Decision, Observation

_DISMISS = ("close", "cancel", "dismiss", "no thanks", "not now", "ok")


def _origin(url: str) -> str:
    parts = urlsplit(url or "")
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme in ("http", "https") else ""


def can_go_back(observation: Observation, episode) -> bool:
    """True when going back lands on an earlier page of this episode on the same site."""
    here = observation.url
    origin = _origin(here)
    if not origin:
        return False
    earlier = [o.url for o in episode.observations[:-1]] if episode.observations else []
    return any(url != here and _origin(url) == origin for url in earlier)


def recovery_action(observation: Observation, episode) -> tuple[str, str] | None:
    """(action, reason) to get unstuck, or None when nothing is stuck."""
    history = episode.history
    if not history:
        return None
    last = history[-1]
    if last.decision.source == "recovery":
        return None  # one recovery step per trigger; then the worker decides again
    dialog_close = None
    if observation.annotations.get("dialog_open"):  # scan the elements only when a dialog is open
        dialog_close = next((e for e in observation.elements
                             if e.role == "button" and e.name.strip().lower() in _DISMISS), None)
    repeated_error = len(history) >= 2 and history[-1].error and history[-2].error
    loop = observation.annotations.get("loop")
    if loop:
        if dialog_close is not None:
            return f"click('{dialog_close.bid}')", "loop with a dialog open: dismiss it"
        if can_go_back(observation, episode):
            return "go_back()", f"loop detected ({loop}): step back"
        return "scroll(0, 400)", f"loop detected ({loop}) on the first page: scroll to reveal more"
    if repeated_error:
        if "not on the current page" in last.error or "not visible" in last.error or "Timeout" in last.error:
            return "scroll(0, 400)", "element not reachable twice: scroll to reveal more"
        if can_go_back(observation, episode):
            return "go_back()", "two failed actions in a row: step back"
        return "scroll(0, 400)", "two failed actions in a row on the first page: scroll to reveal more"
    return None


@hookimpl
def halo_decide(observation, episode):
    if not episode.config.get("use_recovery", True):
        return None
    found = recovery_action(observation, episode)
    if found is None:
        return None
    action, reason = found
    return Decision(action, "recovery", reason=reason)


@hookimpl
def halo_addoption(register):
    register("use_recovery", type=bool, default=True,
             help="model-free recovery (dismiss dialogs, scroll, step back) on loops and repeated errors")


@hookimpl
def halo_register_decision_sources(register):
    register("recovery", "a model-free recovery policy")


@hookimpl
def halo_register_modes(register):
    register("no_recovery", description="ablation: the full hierarchy without recovery policies",
             base=("hierarchy_vac_macros", "hierarchy_vac", "hierarchy_mgr_gate"), use_recovery=False)
