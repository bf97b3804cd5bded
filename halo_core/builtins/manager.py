"""The manager gate: a stronger model reviews the decision when it matters.

A ``wrapper=True`` implementation of ``halo_decide``: it sees the decision the inner
layers made and may replace it. It calls the manager on action errors, loops,
high-stakes pages or actions, repeated errors, the first ``manager_warm_start``
steps, or every step when ``manager_always`` is set (the ablation).
"""

from __future__ import annotations

import re

import attrs

from halo_core import hookimpl
from halo_core.actions import ActionError, extract_action, parse_action, validate_action
from halo_core.model import Decision, Observation, Usage

HIGH_STAKES_PAGES = frozenset({"checkout", "cart", "login", "payment", "compose"})
HIGH_STAKES_ACTION = re.compile(r"place order|pay\b|purchase|buy now|send|submit|confirm|delete|checkout|sign in|log in", re.I)


def gate_reason(observation: Observation, episode, decision: Decision | None) -> str:
    """Why the manager must look at this step, or "" when it need not."""
    config = episode.config
    if config.manager_always:
        return "always-on ablation"
    if episode.step_idx < config.manager_warm_start:
        return "warm start"
    if observation.last_action_error:
        return f"last action failed: {observation.last_action_error}"
    if observation.annotations.get("loop"):
        return f"loop: {observation.annotations['loop']}"
    recent_errors = sum(1 for r in episode.history[-3:] if r.error)
    if recent_errors >= 2:
        return f"{recent_errors} errors in the last 3 steps"
    if observation.page_type in HIGH_STAKES_PAGES:
        return f"high-stakes page ({observation.page_type})"
    if decision is not None:
        try:
            bid = parse_action(decision.action).bid
        except ActionError:
            bid = None
        target = next((e for e in observation.elements if e.bid == bid), None) if bid else None
        if target is not None and HIGH_STAKES_ACTION.search(target.name):
            return f"high-stakes action on {target.name!r}"
    if decision is None:
        return "no layer decided"
    return ""


@hookimpl(wrapper=True)
def halo_decide(observation, episode):
    decision = yield
    config = episode.config
    if not config.use_manager or not config.manager_backend:
        return decision
    reason = gate_reason(observation, episode, decision)
    if not reason:
        return decision
    backend = episode.backend("manager")
    messages = episode.runtime.hook.halo_build_messages(role="manager", observation=observation, episode=episode,
                                                        proposed=decision.action if decision else None,
                                                        reason=reason)
    completion = backend.complete(messages)
    usage = (decision.usage if decision else Usage()) + completion.usage
    meta = {**(dict(decision.meta) if decision else {}), "manager_called": True, "gate_reason": reason,
            "manager_model": getattr(backend, "name", ""), "manager_prompt": messages[-1].content,
            "manager_usage": attrs.asdict(completion.usage)}
    reply = completion.text.strip()
    if decision is not None and reply.upper().startswith("APPROVE"):
        return Decision(decision.action, decision.source, usage=usage, reason=decision.reason,
                        meta={**meta, "manager_verdict": "approve"})
    try:
        action = extract_action(reply)
        validate_action(parse_action(action), observation.valid_bids)
    except ActionError as exc:
        if decision is not None:  # an unusable override keeps the worker's action
            return Decision(decision.action, decision.source, usage=usage, reason=decision.reason,
                            meta={**meta, "manager_verdict": f"unusable: {exc}"})
        return Decision(reply.splitlines()[0] if reply else "noop()", "manager", usage=usage,
                        meta={**meta, "manager_verdict": f"unusable: {exc}"})
    verdict = "approve" if decision is not None and action == decision.action else "override"
    source = decision.source if verdict == "approve" else "manager"
    return Decision(action, source, usage=usage, reason=reason, meta={**meta, "manager_verdict": verdict})


@hookimpl(trylast=True)
def halo_build_messages(role, observation, episode, proposed, reason):
    if role != "manager":
        return None
    from halo_core.prompts import manager_messages

    backend = episode.backend("manager")
    return manager_messages(episode.task.goal, observation, episode.history, proposed=proposed, reason=reason,
                            images=episode.config.use_screenshot and getattr(backend, "supports_images", False))


@hookimpl
def halo_register_decision_sources(register):
    register("manager", "the manager model replaced the inner layers' action")


@hookimpl
def halo_register_modes(register):
    register("hierarchy_mgr_gate", description="worker + manager gate (a stronger model on errors, loops, high stakes)",
             base="baseline_worker", use_manager=True)
    register("manager_only", description="ablation: the manager reviews every step", base="baseline_worker",
             use_manager=True, manager_always=True)
