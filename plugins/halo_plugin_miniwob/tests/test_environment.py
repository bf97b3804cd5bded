"""MiniWoB pages in real Chromium through HALO's browser environment and loop."""

import time

import attrs
import pytest

from halo_core import hookimpl
from halo_core.config import AgentConfig
from halo_core.env.protocol import EnvSettings
from halo_core.loop import run_episode
from halo_core.model import Decision
from halo_core.testing import (
    ScriptedBackend,
    check_environment,
    check_seeded_environment,
    goal_of,
    make_runtime,
    within,
)
from halo_core.trajectory import read_trajectory
import halo_plugin_miniwob.plugin as plugin
from halo_plugin_miniwob import MiniwobSuite

SUITE = MiniwobSuite()
SETTINGS = EnvSettings(screenshot=False)


@pytest.fixture(scope="module")
def env():
    environment = SUITE.make_environment(None, SETTINGS)
    yield environment
    environment.close()


@pytest.fixture(scope="module")
def runtime():
    return make_runtime(plugin)


def test_environment_protocol_in_chromium():
    check_environment(SUITE.make_environment(None, SETTINGS), SUITE.resolve("miniwob.click-button@1"))


def test_seeded_instances_are_deterministic_and_distinct():
    check_seeded_environment(SUITE.make_environment(None, SETTINGS), SUITE.resolve("miniwob.enter-text"),
                             seeds=(1, 2, 3))


def test_reset_reports_the_pages_instruction_and_starts_without_the_cover(env):
    raw = env.reset(SUITE.resolve("miniwob.click-button@5"))
    assert raw.goal.startswith('Click on the "') and raw.goal.endswith('" button.')
    assert not raw.terminated and raw.reward == 0.0
    names = [n.name for n in raw.axtree]
    assert "START" not in names  # the sync cover is hidden, the problem is on screen
    label = raw.goal.split('"')[1]
    assert any(n.role == "button" and n.name == label for n in raw.axtree)


def test_observations_carry_the_instances_facts_in_info(env):
    raw = env.reset(SUITE.resolve("miniwob.click-button@5"))
    assert (raw.info["seed"], raw.info["instruction"], raw.info["done"]) == (5, raw.goal, False)
    assert raw.info["page_reader"] is env


def test_the_expert_reads_the_page_the_observation_names(env):
    from halo_core.builtins.summarizer import summarize
    from halo_plugin_miniwob.policy import halo_decide

    class Episode:
        config = AgentConfig(policy="expert")
        task = SUITE.resolve("miniwob.click-button@5")
        history = ()

    observation = summarize(env.reset(Episode.task))
    label = env.instruction.split('"')[1]
    decision = halo_decide(observation=observation, episode=Episode())
    assert decision.action == f"click('{observation.find('button', label).bid}')"
    # an observation without the environment's page (a replayed step) is not answered from
    # whatever page happens to be open
    blind = attrs.evolve(observation, info={})
    assert halo_decide(observation=blind, episode=Episode()).action.startswith("report_infeasible(")


def test_task_seed_setting_applies_to_unseeded_ids():
    with SUITE.make_environment(None, EnvSettings(screenshot=False, seed=2)) as environment:
        unseeded = environment.reset(SUITE.resolve("miniwob.enter-text")).goal
        seeded = environment.reset(SUITE.resolve("miniwob.enter-text@2")).goal
    assert unseeded == seeded


def test_seeds_give_different_goals_in_the_trajectory_and_worker_prompt(env, runtime, tmp_path):
    prompts = []

    def reply(messages):
        prompts.append(goal_of(messages))
        return "send_msg_to_user('done')"

    config = AgentConfig(policy="worker", worker_backend="scripted:test", max_steps=2)
    goals = {}
    for attempt, seed in enumerate((11, 12, 11)):
        task = SUITE.resolve(f"miniwob.enter-text@{seed}")
        result = run_episode(task, config, env, runtime, run_id="seeds", attempt=attempt, data_dir=tmp_path,
                             backends={"worker": ScriptedBackend(reply)})
        assert result.terminated_by == "message" and not result.success  # MiniWoB never ended it
        path = tmp_path / "trajectories" / config.mode / "seeds" / f"{task.id}__attempt_{attempt}.jsonl"
        goals.setdefault(seed, []).append(read_trajectory(path).goal)
    assert goals[11][0] == goals[11][1]  # same seed, same instruction
    assert goals[11][0] != goals[12][0]
    assert all(g.startswith('Enter "') for gs in goals.values() for g in gs)
    assert prompts == [goals[11][0], goals[12][0], goals[11][0]]


class _Clicker:
    """Clicks the button whose name is ``pick(goal)`` (a stand-in for a model)."""

    def __init__(self, pick):
        self.pick = pick

    @hookimpl(tryfirst=True)
    def halo_decide(self, observation, episode):
        target = observation.find("button", self.pick(episode.task.goal))
        return Decision(f"click('{target.bid}')" if target else "noop()", "test")

    @hookimpl
    def halo_register_policies(self, register):
        register("test", "clicks a named button")

    @hookimpl
    def halo_register_decision_sources(self, register):
        register("test", "the test's clicker")


def test_miniwob_ends_the_episode_with_its_own_reward(env, tmp_path):
    config = AgentConfig(policy="test", max_steps=5)
    right = make_runtime(_Clicker(lambda goal: goal.split('"')[1]))
    won = run_episode(SUITE.resolve("miniwob.click-button@7"), config, env, right, data_dir=tmp_path)
    assert (won.terminated_by, won.success, won.steps) == ("env", True, 1)
    assert won.reward == won.info["raw_reward"] == 1.0

    wrong = make_runtime(_Clicker(lambda goal: "TWO"))  # the page asks for ONE
    lost = run_episode(SUITE.resolve("miniwob.click-test-2@7"), config, env, wrong, data_dir=tmp_path)
    assert (lost.terminated_by, lost.success, lost.reward) == ("env", False, 0.0)
    assert lost.info["raw_reward"] == -1.0 and lost.info["done"]


def test_expert_solves_a_few_families(env, runtime, tmp_path):
    config = AgentConfig(policy="expert", max_steps=15)
    for task_id in ("miniwob.click-checkboxes@3", "miniwob.login-user@4", "miniwob.choose-list@5"):
        result = run_episode(SUITE.resolve(task_id), config, env, runtime, data_dir=tmp_path)
        assert (result.terminated_by, result.success) == ("env", True), (task_id, result)


def test_expert_stays_out_of_other_suites(runtime):
    from halo_plugin_miniwob.policy import halo_decide

    class Episode:
        config = AgentConfig(policy="expert")
        task = attrs.evolve(SUITE.resolve("miniwob.click-button"), suite="webclones", id="webclones.shop-1")

    assert halo_decide(observation=None, episode=Episode()) is None


@pytest.mark.slow
def test_halo_eval_runs_miniwob_tasks_with_the_expert(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from halo_core.cli import cli

    monkeypatch.setenv("HALO_LOAD_PLUGINS", "miniwob")
    tasks = "miniwob.click-button@21,miniwob.enter-text@22,miniwob.click-tab-2@23"
    result = CliRunner().invoke(cli, ["eval", "--suite", "miniwob", "--tasks", tasks, "--policy", "expert",
                                      "--workers", "1", "--results-dir", str(tmp_path / "results"),
                                      "--data-dir", str(tmp_path / "data")])
    assert result.exit_code == 0, result.output
    import json

    episodes = [json.loads(line) for line in
                next((tmp_path / "results").glob("*/episodes.jsonl")).read_text().splitlines()]
    assert len(episodes) == 3
    assert all(e["success"] for e in episodes), episodes


def _seen(raw):
    return raw.goal, tuple((n.role, n.name, n.bid, n.value, n.depth) for n in raw.axtree)


def test_resets_keep_the_context_and_see_what_a_fresh_context_sees():
    tasks = [SUITE.resolve(t) for t in ("miniwob.click-button@5", "miniwob.enter-text@3", "miniwob.click-button@6",
                                        "miniwob.click-checkboxes@2")]
    kept = SUITE.make_environment(None, SETTINGS)
    fresh = SUITE.make_environment(None, SETTINGS)
    fresh.reuse_context = False
    try:
        contexts, seen = [], []
        for task in tasks:
            seen.append(_seen(kept.reset(task)))
            contexts.append(kept.context)
            # the last episode's cookies and storage do not reach the next one
            kept.page.evaluate("() => { document.cookie = 'k=1; path=/'; localStorage.setItem('k', '1');"
                               " sessionStorage.setItem('k', '1'); }")
        assert all(c is contexts[0] for c in contexts)
        fresh_contexts = []
        for task, kept_view in zip(tasks, seen):
            assert _seen(fresh.reset(task)) == kept_view
            fresh_contexts.append(fresh.context)
        assert len({id(c) for c in fresh_contexts}) == len(tasks)

        kept.reset(tasks[0])
        assert kept.page.evaluate("() => [document.cookie, localStorage.length, sessionStorage.length]") == ["", 0, 0]
        # a second tab left open: the next episode gets a fresh context
        kept.context.new_page()
        before = kept.context
        assert _seen(kept.reset(tasks[1])) == seen[1]
        assert kept.context is not before and len(kept.context.pages) == 1
        # a page whose script never yields is not waited for: the next episode gets a fresh context
        kept.page.evaluate("() => { setTimeout(() => { for (;;) {} }, 0); }")
        before, started = kept.context, time.monotonic()
        assert _seen(kept.reset(tasks[2])) == seen[2]
        assert kept.context is not before and time.monotonic() - started < within(20)
    finally:
        kept.close()
        fresh.close()


def test_the_next_seed_of_a_task_starts_in_place_and_sees_what_a_reload_sees():
    """An episode started on the page the last one left (MiniWoB's own driver's way) shows
    the same goal, elements and ids as a reloaded page, after the agent typed, clicked and
    ended an episode there; a page that left the task's URL is loaded anew."""
    in_place = SUITE.make_environment(None, SETTINGS)
    reload = SUITE.make_environment(None, SETTINGS, miniwob_restart_in_place=False)
    try:
        for seed in (3, 4, 5):
            task = SUITE.resolve(f"miniwob.login-user@{seed}")
            got = in_place.reset(task)
            assert _seen(got) == _seen(reload.reset(task))
            fields = [n.bid for n in got.axtree if n.role == "textbox"]
            button = next(n.bid for n in got.axtree if n.role == "button")
            in_place.step(f"fill('{fields[0]}', 'someone')")
            if seed == 4:  # an ended episode (wrong login: MiniWoB's reward -1) before the next start
                assert in_place.step(f"click('{button}')").terminated
        assert in_place.starts == {"loaded": 1, "in_place": 2} and reload.starts == {"loaded": 3, "in_place": 0}
        for seed in (3, 4):  # the same seeds again: the same instances as their first time
            task = SUITE.resolve(f"miniwob.login-user@{seed}")
            assert _seen(in_place.reset(task)) == _seen(reload.reset(task))
        in_place.page.evaluate("() => { location.hash = 'elsewhere'; }")
        task = SUITE.resolve("miniwob.login-user@6")
        assert _seen(in_place.reset(task)) == _seen(reload.reset(task))
        assert in_place.starts["loaded"] == 2
    finally:
        in_place.close()
        reload.close()


def test_an_action_on_a_covered_element_gives_up_after_the_miniwob_timeout():
    """click-test-2 at seed 6 draws button TWO over button ONE: a click on ONE cannot land.
    It fails after the MiniWoB action timeout (2 s), not the browser's default 5 s, and a
    suite option sets another."""
    from halo_plugin_miniwob.environment import ACTION_TIMEOUT_MS

    for timeout, env in ((ACTION_TIMEOUT_MS, SUITE.make_environment(None, SETTINGS)),
                         (700, SUITE.make_environment(None, SETTINGS, miniwob_action_timeout_ms=700))):
        try:
            raw = env.reset(SUITE.resolve("miniwob.click-test-2@6"))
            one = next(n.bid for n in raw.axtree if n.role == "button" and n.name == "ONE")
            after = env.step(f"click('{one}')")
            assert f"Timeout {timeout}ms exceeded" in after.last_action_error and not after.terminated
        finally:
            env.close()
