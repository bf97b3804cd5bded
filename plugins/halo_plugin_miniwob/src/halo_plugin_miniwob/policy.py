"""The MiniWoB expert as a policy plugin: ``--policy expert`` on ``miniwob.*`` tasks.

It answers only for the ``miniwob`` suite and returns None elsewhere, so it shares the
policy name ``expert`` with other suites' experts (the web clones' answers for its own
tasks). It reads the live page through the observation's ``info["page_reader"]``, which
the MiniWoB environment puts into every observation it returns; an observation without
one (another environment, a replayed trajectory) gets ``report_infeasible``.
"""

from __future__ import annotations

from halo_core import Decision, hookimpl

from .environment import ACTION_TIMEOUT_MS
from .experts import expert_action

SOURCE = "miniwob_expert"


def page_reader(observation):
    """The MiniWoB environment that produced ``observation``, if it did (``info["page_reader"]``)."""
    return observation.info.get("page_reader")


@hookimpl(trylast=True)
def halo_decide(observation, episode):
    if episode.config.policy != "expert" or episode.task.suite != "miniwob":
        return None
    steps_taken = sum(1 for record in episode.history if not record.error)
    action = expert_action(page_reader(observation), episode.task, observation, steps_taken)
    return Decision(action, SOURCE, meta={"policy": "expert"})


@hookimpl(wrapper=True, specname="halo_decide")
def label_with_expert(observation, episode):
    """With ``expert_labels`` on, a step the worker model decides in a MiniWoB episode also
    records what the expert would do in that state (``decision_meta.expert_action``): the
    labels of expert relabelling (DAgger), which ``halo export`` turns into BC examples and
    on-policy DPO pairs. The model's action is the one taken."""
    decision = yield
    if (decision is not None and decision.source == "worker" and episode.task.suite == "miniwob"
            and episode.config.get("expert_labels", False)):
        steps_taken = sum(1 for record in episode.history if not record.error)
        label = expert_action(page_reader(observation), episode.task, observation, steps_taken)
        if not label.startswith(("report_infeasible", "noop")):
            decision.meta["expert_action"] = label
    return decision


@hookimpl
def halo_addoption(register):
    register("expert_labels", type=bool, default=False, flag="--expert-labels",
             help="MiniWoB: record the expert's action at every state the worker model decides (decision_meta."
                  "expert_action), for expert relabelling (DAgger): halo export makes them BC examples and "
                  "on-policy DPO pairs")
    register("miniwob_restart_in_place", type=bool, default=True,
             help="MiniWoB: start an episode on the task's page when it is already open, as MiniWoB's own driver "
                  "does (about 0.35 s of browser CPU less per episode); false reloads the page every episode")
    register("miniwob_action_timeout_ms", type=int, default=ACTION_TIMEOUT_MS, minimum=100,
             help="MiniWoB: how long an action waits for its element to become actionable (the local, static "
                  "pages make a covered element stay covered; the browser default is 5000)")


@hookimpl
def halo_register_policies(register):
    # shared: every installed suite's expert answers to --policy expert for its own tasks
    register("expert", "scripted experts: each suite's expert answers for its own tasks (MiniWoB++: page-reading "
                       "solvers for 49 tasks)", shared=True)


@hookimpl
def halo_register_decision_sources(register):
    register(SOURCE, "the MiniWoB++ scripted expert (reads the page as a demonstrator does, acts by bid)")
