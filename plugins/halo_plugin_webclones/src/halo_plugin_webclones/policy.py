"""The expert policy: scripted solutions acting only through agent actions.

Selected with ``--policy expert``. It reads bids from the observation (by accessibility
role and name) and emits the same action strings a model would. It is also the
reference example of a third-party policy plugin: one ``halo_decide`` implementation
that answers only when its policy is selected.

The expert is stateless across layers: it re-derives how far its plan has got from the
episode's history, so steps taken by the cache or a macro count as progress.
"""

from __future__ import annotations

from typing import Sequence

from halo_core import Decision, hookimpl
from halo_core.api import ActionError, Observation, StepRecord, parse_action

from .experts import TERMINAL_VERBS, expert_steps


def _literal(text: str) -> str:
    return repr(str(text))


def _matches(step: tuple, action: str, observation: Observation) -> bool:
    """Did ``action`` (taken on ``observation``) carry out plan ``step``?"""
    try:
        act = parse_action(action)
    except ActionError:
        return False
    verb = step[0]
    if act.name != verb:
        return False
    if verb in TERMINAL_VERBS:
        return True
    element = next((e for e in observation.elements if e.bid == act.bid), None)
    if element is None or (element.role, element.name) != tuple(step[1]):
        return False
    return verb not in ("fill", "select_option") or str(act.args[1]) == str(step[2])


def plan_position(plan: Sequence[tuple], history: Sequence[StepRecord], observations: Sequence[Observation]) -> int:
    position = 0
    for i, (record, seen) in enumerate(zip(history, observations)):
        after = observations[i + 1] if i + 1 < len(observations) else None
        # A click may report an error once its navigation has begun (BrowserGym gives it
        # 500 ms on a slow machine); the page having moved on says the step took effect.
        done = not record.error or (after is not None and after.url != seen.url)
        if position < len(plan) and done and _matches(plan[position], record.decision.action, seen):
            position += 1
    return position


def expert_action(task_id: str, observation: Observation, history: Sequence[StepRecord] = (),
                  observations: Sequence[Observation] = ()) -> str:
    """The expert's next action string on ``observation``.

    ``history`` and ``observations`` (the observation each past step was decided on) let
    the expert see which steps of its plan are already done.
    """
    plan = expert_steps(task_id)
    position = plan_position(plan, history, observations)
    if position >= len(plan):
        return "noop()"
    step = plan[position]
    verb = step[0]
    if verb in TERMINAL_VERBS:
        return f"{verb}({_literal(step[1])})"
    if verb == "goto_path":
        from urllib.parse import urljoin

        return f"goto({_literal(urljoin(observation.url, step[1]))})"
    role, name = step[1]
    element = observation.find(role, name)
    if element is None:
        # the page is not where the plan expects: say so, as a model would have to
        return f"report_infeasible({_literal(f'expert: no {role} {name!r} on {observation.url}')})"
    if verb in ("fill", "select_option"):
        return f"{verb}('{element.bid}', {_literal(step[2])})"
    return f"{verb}('{element.bid}')"


@hookimpl(trylast=True)
def halo_decide(observation, episode):
    if episode.config.policy != "expert":
        return None
    try:
        expert_steps(episode.task.id)
    except KeyError:
        return None  # not a web clones task: another suite's expert (same --policy expert) may know it
    action = expert_action(episode.task.id, observation, episode.history, episode.observations)
    return Decision(action, "expert", meta={"policy": "expert"})


@hookimpl
def halo_register_policies(register):
    # shared: every installed suite's expert answers to --policy expert for its own tasks
    register("expert", "the web clones' scripted expert (an oracle that reads the task's solution)", shared=True)


@hookimpl
def halo_register_decision_sources(register):
    register("expert", "the scripted expert policy")
