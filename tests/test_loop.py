"""The decision loop: hierarchy order, manager gate triggers, recovery, limits, JSONL records."""

import json

import attrs

import pytest
from helpers import EXPERT_PATH, shop_env, shop_task

from halo_core import Decision, hookimpl, mode_config, run_episode
from halo_core.testing import ScriptedBackend, make_runtime

REQUIRED_STEP_FIELDS = {
    "step_idx", "url", "obs_hash", "fingerprint", "action", "action_source", "last_action_error",
    "elapsed_ms", "manager_called", "tokens", "obs_summary", "actionable_elements", "valid_bids",
}


def scripted(actions):
    return ScriptedBackend(list(actions))


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_worker_solves_task_and_writes_trajectory(tmp_path):
    runtime = make_runtime()
    config = mode_config("baseline_worker")
    result = run_episode(shop_task(), config, shop_env(), runtime, run_id="r1", attempt=2, data_dir=tmp_path,
                         backends={"worker": scripted(EXPERT_PATH)})
    assert result.success and result.reward == 1.0
    assert result.steps == 6 and result.terminated_by == "message"
    assert result.usage.calls == 6
    path = tmp_path / "trajectories" / "baseline_worker" / "r1" / "graph.shop-1__attempt_2.jsonl"
    events = read_jsonl(path)
    assert [e["type"] for e in events] == ["episode_start"] + ["step"] * 6 + ["episode_end"]
    start, steps, end = events[0], events[1:-1], events[-1]
    assert {"task_id", "task_name", "run_id", "mode", "attempt_idx", "timestamp", "pid", "config_hash"} <= set(start)
    assert start["attempt_idx"] == 2 and start["run_id"] == "r1" and start["mode"] == "baseline_worker"
    for i, step in enumerate(steps):
        assert REQUIRED_STEP_FIELDS <= set(step)
        assert step["step_idx"] == i and step["action_source"] == "worker"
        assert step["tokens"]["in"] > 0
    assert steps[0]["valid_bids"] == ["1", "2", "3"]
    assert {"success", "reward", "total_steps", "wall_time_sec", "manager_calls", "counters", "plugin_errors",
            "error"} <= set(end)
    assert end["success"] is True and end["total_steps"] == 6


def test_hierarchy_order_macro_then_vac_then_worker(tmp_path):
    calls = []

    class Macro:
        @hookimpl(tryfirst=True)
        def halo_decide(self, observation, episode):
            calls.append("macro")
            if episode.step_idx == 0:
                return Decision("click('1')", "macro")

    class Cache:
        @hookimpl
        def halo_decide(self, observation, episode):
            calls.append("vac")
            if episode.step_idx == 1:
                return Decision("click('2')", "vac")

    worker = scripted(EXPERT_PATH[2:])
    runtime = make_runtime(Cache(), Macro())  # registration order must not matter: tryfirst wins
    result = run_episode(shop_task(), mode_config("baseline_worker"), shop_env(), runtime, data_dir=tmp_path,
                         backends={"worker": worker})
    assert result.success
    assert calls[:4] == ["macro", "macro", "vac", "macro"]  # step 0: macro decides; step 1: macro passes, vac decides
    events = read_jsonl(tmp_path / "trajectories" / "baseline_worker" / "local" / "graph.shop-1__attempt_0.jsonl")
    assert [e["action_source"] for e in events if e["type"] == "step"][:3] == ["macro", "vac", "worker"]
    assert len(worker.calls) == 4


def _gate_run(tmp_path, actions, manager_reply="APPROVE", **overrides):
    manager = ScriptedBackend(lambda messages: manager_reply, name="scripted:manager")
    worker = scripted(actions)
    config = mode_config("hierarchy_mgr_gate", **overrides)
    result = run_episode(shop_task(), config, shop_env(), make_runtime(), data_dir=tmp_path,
                         backends={"worker": worker, "manager": manager})
    return result, manager


def _reasons(manager):
    return [m[-1].content.split("Why you are asked: ")[1].split("\n")[0] for m in manager.calls]


def test_manager_gate_on_high_stakes_pages(tmp_path):
    result, manager = _gate_run(tmp_path, EXPERT_PATH)
    assert result.success
    # cart and checkout pages are high stakes; "Add to cart" on the product page is not a gate action
    assert _reasons(manager) == ["high-stakes page (cart)", "high-stakes page (checkout)"]
    assert result.manager_calls == 2


def test_manager_gate_on_action_error_and_override(tmp_path):
    class BadCache:  # hands the loop an action whose element is gone
        @hookimpl(tryfirst=True)
        def halo_decide(self, observation, episode):
            if episode.step_idx == 0:
                return Decision("click('99')", "vac")

    manager = ScriptedBackend(lambda messages: "click('1')", name="scripted:manager")
    worker = scripted(["click('3')"] + EXPERT_PATH[1:])
    result = run_episode(shop_task(), mode_config("hierarchy_mgr_gate"), shop_env(), make_runtime(BadCache()),
                         data_dir=tmp_path, backends={"worker": worker, "manager": manager})
    reasons = _reasons(manager)
    assert reasons[0].startswith("last action failed: element '99'")
    events = read_jsonl(tmp_path / "trajectories" / "hierarchy_mgr_gate" / "local" / "graph.shop-1__attempt_0.jsonl")
    assert events[2]["action"] == "click('1')" and events[2]["action_source"] == "manager"  # overrode click('3')
    assert events[2]["decision_meta"]["manager_verdict"] == "override"
    assert result.success


def test_manager_gate_on_loop_and_repeated_errors(tmp_path):
    # Home -> Products -> Home -> Products: alternating actions make a loop
    loop = ["click('1')", "click('1')", "click('1')", "click('1')"]
    result, manager = _gate_run(tmp_path, loop + EXPERT_PATH[1:], max_steps=6)
    assert any(r.startswith("loop:") for r in _reasons(manager))

    errors = ["click('77')", "click('78')", "click('79')"]
    result, manager = _gate_run(tmp_path, errors, max_steps=3, manager_reply="APPROVE")
    assert _reasons(manager)[0].startswith("last action failed")
    assert result.manager_calls == 2  # steps 1 and 2 follow errors; step 0 does not


def test_manager_gate_on_high_stakes_action(tmp_path):
    from halo_core.builtins.manager import gate_reason
    from halo_core.builtins.summarizer import summarize
    from halo_core.loop import Episode
    from halo_core.model import AXNode, RawObservation

    raw = RawObservation(url="http://x.test/mail/inbox", axtree=(AXNode("button", "Send", bid="5"),))
    episode = Episode(task=shop_task(), config=mode_config("hierarchy_mgr_gate"), runtime=make_runtime())
    obs = summarize(raw)
    assert gate_reason(obs, episode, Decision("click('5')", "worker")) == "high-stakes action on 'Send'"
    assert gate_reason(obs, episode, Decision("scroll(0, 100)", "worker")) == ""


def test_manager_warm_start_and_always_on(tmp_path):
    result, manager = _gate_run(tmp_path, EXPERT_PATH, manager_warm_start=2)
    assert _reasons(manager)[:2] == ["warm start", "warm start"]
    result, manager = _gate_run(tmp_path, EXPERT_PATH, manager_always=True)
    assert len(manager.calls) == result.steps == 6
    assert set(_reasons(manager)) == {"always-on ablation"}


def test_manager_not_called_without_triggers(tmp_path):
    # a task that never touches a high-stakes page and makes no error
    actions = ["click('1')", "click('2')", "send_msg_to_user('Blender page found')"]
    result, manager = _gate_run(tmp_path, actions)
    assert manager.calls == [] and result.manager_calls == 0


def test_recovery_steps_back_from_a_loop(tmp_path):
    loop = ["click('1')", "click('1')", "click('1')", "click('1')"] + ["noop()"] * 10
    result = run_episode(shop_task(), mode_config("baseline_worker", max_steps=6), shop_env(), make_runtime(),
                         data_dir=tmp_path, backends={"worker": scripted(loop)})
    events = [json.loads(line) for line in
              (tmp_path / "trajectories" / "baseline_worker" / "local" / "graph.shop-1__attempt_0.jsonl")
              .read_text().splitlines()]
    sources = [e["action_source"] for e in events if e["type"] == "step"]
    assert "recovery" in sources
    no_rec = run_episode(shop_task(), mode_config("no_recovery", use_vac=False, use_macros=False, use_manager=False,
                                                  max_steps=6),
                         shop_env(), make_runtime(), data_dir=tmp_path, backends={"worker": scripted(loop)})
    assert no_rec.steps == 6
    assert result.steps == 6


def test_max_steps(tmp_path):
    result = run_episode(shop_task(), mode_config("baseline_worker", max_steps=3, use_recovery=False), shop_env(),
                         make_runtime(), data_dir=tmp_path, backends={"worker": scripted(["noop()"] * 10)})
    assert result.terminated_by == "max_steps" and result.steps == 3 and not result.success


def test_infeasible(tmp_path):
    result = run_episode(shop_task(), mode_config("baseline_worker"), shop_env(), make_runtime(), data_dir=tmp_path,
                         backends={"worker": scripted(["report_infeasible('no such product')"])})
    assert result.terminated_by == "infeasible" and result.final_message == "no such product"
    assert result.steps == 1 and not result.success


def test_environment_death_ends_episode_with_error(tmp_path):
    env = shop_env()

    class Killer:
        @hookimpl
        def halo_verify(self, before, decision, after, episode):
            if episode.step_idx == 1:
                env.kill()

    result = run_episode(shop_task(), mode_config("baseline_worker"), env, make_runtime(Killer()), data_dir=tmp_path,
                         backends={"worker": scripted(EXPERT_PATH)})
    assert result.terminated_by == "error" and "EnvironmentDead" in result.error
    events = read_jsonl(tmp_path / "trajectories" / "baseline_worker" / "local" / "graph.shop-1__attempt_0.jsonl")
    assert events[-1]["type"] == "episode_end" and events[-1]["error"]
    # the next episode on a fresh environment runs normally
    ok = run_episode(shop_task(), mode_config("baseline_worker"), shop_env(), make_runtime(), data_dir=tmp_path,
                     backends={"worker": scripted(EXPERT_PATH)})
    assert ok.success


def test_init_error_when_reset_fails(tmp_path):
    env = shop_env()
    env.kill()
    result = run_episode(shop_task(), mode_config("baseline_worker"), env, make_runtime(), data_dir=tmp_path,
                         backends={"worker": scripted(EXPERT_PATH)})
    assert result.terminated_by == "init_error" and result.steps == 0


def test_plugin_exception_becomes_error_record(tmp_path):
    class Broken:
        @hookimpl
        def halo_decide(self, observation, episode):
            raise ZeroDivisionError("plugin bug")

    result = run_episode(shop_task(), mode_config("baseline_worker"), shop_env(), make_runtime(Broken()),
                         data_dir=tmp_path, backends={"worker": scripted(EXPERT_PATH)})
    assert result.terminated_by == "error" and "ZeroDivisionError" in result.error
    assert "Traceback" in result.info["traceback"]


def test_no_decider_is_a_clear_error(tmp_path):
    result = run_episode(shop_task(), mode_config("baseline_worker", policy="nobody"), shop_env(), make_runtime(),
                         data_dir=tmp_path)
    assert "no layer of the hierarchy chose an action" in result.error


@pytest.mark.parametrize("garbage", ["I think I should click the button", ""])
def test_worker_reasks_once_then_records_action_error(tmp_path, garbage):
    worker = scripted([garbage, garbage, "click('1')", "click('2')", "click('1')", "click('1')", "click('1')",
                       "send_msg_to_user('Done')"])
    result = run_episode(shop_task(), mode_config("baseline_worker", use_recovery=False), shop_env(),
                         make_runtime(), data_dir=tmp_path, backends={"worker": worker})
    assert "not usable" in worker.calls[1][-1].content  # the re-ask carries the parse error
    events = read_jsonl(tmp_path / "trajectories" / "baseline_worker" / "local" / "graph.shop-1__attempt_0.jsonl")
    assert events[1]["last_action_error"]  # the unusable reply became an action error
    assert events[1]["usage"]["calls"] == 2
    assert result.success


def test_screenshots_saved_beside_trajectory(tmp_path):
    import attrs

    from halo_core.testing import GraphEnvironment

    class ShootingEnv(GraphEnvironment):
        def _observe(self, action="", error=""):
            raw = super()._observe(action, error)
            return attrs.evolve(raw, screenshot=b"\x89PNG fake " + self.current.encode())

    from helpers import shop_pages

    env = ShootingEnv(shop_pages(), goal_page="done")
    run_episode(shop_task(), mode_config("baseline_worker"), env, make_runtime(), data_dir=tmp_path,
                backends={"worker": scripted(EXPERT_PATH)})
    folder = tmp_path / "trajectories" / "baseline_worker" / "local"
    steps = [e for e in read_jsonl(folder / "graph.shop-1__attempt_0.jsonl") if e["type"] == "step"]
    assert steps[0]["screenshot"] == "graph.shop-1__attempt_0/step_000.png"
    assert (folder / steps[1]["screenshot"]).read_bytes() == b"\x89PNG fake products"  # taken before step 1
    off = run_episode(shop_task("graph.shop-2"), mode_config("baseline_worker", save_screenshots=False),
                      ShootingEnv(shop_pages(), goal_page="done"), make_runtime(), data_dir=tmp_path,
                      backends={"worker": scripted(EXPERT_PATH)})
    assert off.success and not (folder / "graph.shop-2__attempt_0").exists()


def _sources(tmp_path, mode):
    path = tmp_path / "trajectories" / mode / "local" / "graph.shop-1__attempt_0.jsonl"
    return [(e["action_source"], e["action"], e["url"]) for e in map(json.loads, path.read_text().splitlines())
            if e["type"] == "step"]


def test_recovery_and_the_manager_gate_coexist_and_no_recovery_differs(tmp_path):
    errors = ["click('77')", "click('78')", "click('79')", "click('80')"] + ["noop()"] * 4
    manager = ScriptedBackend(lambda messages: "APPROVE", name="scripted:manager")
    cache = str(tmp_path / "vac.sqlite")
    full = run_episode(shop_task(), mode_config("hierarchy_vac_macros", env={}, max_steps=5, cache_path=cache),
                       shop_env(), make_runtime(), data_dir=tmp_path,
                       backends={"worker": scripted(errors), "manager": manager})
    off = run_episode(shop_task(), mode_config("no_recovery", env={}, max_steps=5, cache_path=cache),
                      shop_env(), make_runtime(), data_dir=tmp_path,
                      backends={"worker": scripted(errors), "manager": manager})
    full_steps, off_steps = _sources(tmp_path, "hierarchy_vac_macros"), _sources(tmp_path, "no_recovery")
    assert "recovery" in [s for s, _, _ in full_steps]  # recovery fires although a manager is configured
    assert "recovery" not in [s for s, _, _ in off_steps]
    assert full.steps == off.steps == 5


def test_recovery_never_steps_back_off_the_first_page(tmp_path):
    errors = ["click('77')", "click('78')"] + ["noop()"] * 4
    run_episode(shop_task(), mode_config("baseline_worker", env={}, max_steps=3), shop_env(), make_runtime(),
                data_dir=tmp_path, backends={"worker": scripted(errors)})
    steps = _sources(tmp_path, "baseline_worker")
    recovery = [(a, u) for s, a, u in steps if s == "recovery"]
    assert recovery and all(not a.startswith("go_back") for a, _ in recovery)  # nothing on this site to go back to
    # after visiting a second page, stepping back stays on the site
    errors = ["click('1')", "click('77')", "click('78')"] + ["noop()"] * 4
    run_episode(shop_task(), mode_config("baseline_worker", env={}, max_steps=4), shop_env(), make_runtime(),
                data_dir=tmp_path, backends={"worker": scripted(errors)})
    steps = _sources(tmp_path, "baseline_worker")
    assert ("recovery", "go_back()") in [(s, a) for s, a, _ in steps]


class SeededEnv:
    """An environment that generates its instruction per seed and ends the episode itself,
    as procedurally generated benchmarks do."""

    WORDS = ["apple", "berry", "cherry", "damson", "elder"]

    def __init__(self):
        self.target = ""
        self.done = False

    def _raw(self, action="", error="", reward=None, terminated=False, goal=""):
        from halo_core.model import AXNode, RawObservation

        nodes = tuple(AXNode("button", w, bid=str(i)) for i, w in enumerate(self.WORDS))
        return RawObservation(url="http://seeded.test/", axtree=nodes, last_action=action, last_action_error=error,
                              goal=goal, terminated=terminated, reward=reward)

    def reset(self, task):
        import random

        self.target = random.Random(task.seed).choice(self.WORDS)
        self.done = False
        return self._raw(goal=f"Click the button {self.target}.")

    def step(self, action):
        from halo_core.actions import ActionError, parse_action

        try:
            parsed = parse_action(action)
        except ActionError as exc:
            return self._raw(action, error=str(exc))
        if parsed.name == "click" and not parsed.args[0].isdigit():
            return self._raw(action, error=f"element {parsed.args[0]!r} is not on the current page")
        if parsed.name == "click":
            self.done = True
            reward = 1.0 if self.WORDS[int(parsed.args[0])] == self.target else -1.0
            return self._raw(action, reward=reward, terminated=True)
        return self._raw(action)

    def evaluate(self, final_message, infeasible):
        from halo_core.model import Evaluation

        return Evaluation(reward=1.0 if self.done else 0.0, success=self.done)

    def close(self):
        pass


def test_the_environment_states_the_instruction_and_ends_the_episode(tmp_path):
    from halo_core.model import TaskSpec
    from halo_core.testing import check_environment, check_seeded_environment

    base = TaskSpec(id="seeded.click", goal="(set by the page)", suite="seeded")
    goals = {}
    for seed in (2, 3, 2):
        worker = scripted(["noop()", "click('0')", "click('1')"])
        task = attrs.evolve(base, seed=seed)
        result = run_episode(task, mode_config("baseline_worker", env={}, max_steps=10), SeededEnv(), make_runtime(),
                             run_id=f"s{seed}", data_dir=tmp_path, backends={"worker": worker})
        # the loop stopped when the environment ended the episode, not at max_steps
        assert result.terminated_by == "env" and result.steps == 2 and len(worker.calls) == 2
        path = tmp_path / "trajectories" / "baseline_worker" / f"s{seed}" / "seeded.click__attempt_0.jsonl"
        events = [json.loads(line) for line in path.read_text().splitlines()]
        goals.setdefault(seed, set()).add(events[0]["goal"])
        assert "Click the button" in worker.calls[0][-1].content  # the prompt has the page's instruction
        assert events[0]["goal"] in worker.calls[0][-1].content
    assert len(goals[2]) == 1  # same seed, same instruction
    assert goals[2] != goals[3]  # another seed, another instance
    check_seeded_environment(SeededEnv(), base, seeds=(1, 2, 3, 4))
    check_environment(SeededEnv(), attrs.evolve(base, seed=1))


def test_an_unusable_model_reply_never_reaches_the_environment(tmp_path):
    sent = []
    inner = shop_env()

    class Recording:
        def reset(self, task):
            return inner.reset(task)

        def step(self, action):
            sent.append(action)
            return inner.step(action)

        def evaluate(self, *args):
            return inner.evaluate(*args)

        def close(self):
            inner.close()

    worker = scripted(["Let me think about this page first.", "The products link, please.", *EXPERT_PATH])
    result = run_episode(shop_task(), mode_config("baseline_worker", env={}, use_recovery=False), Recording(),
                         make_runtime(), data_dir=tmp_path, backends={"worker": worker})
    assert result.success and result.counters == {"worker_steps": 7, "invalid_outputs": 1}
    assert sent == EXPERT_PATH  # the unusable reply was asked again once, then recorded, never sent
    events = [json.loads(line) for line in
              (tmp_path / "trajectories" / "baseline_worker" / "local" / "graph.shop-1__attempt_0.jsonl")
              .read_text().splitlines()]
    first = events[1]
    assert first["decision_meta"]["invalid_output"] == "The products link, please."
    assert "nothing was sent to the browser" in first["last_action_error"]
    from halo_core.builtins.worker import _valid_action_rate

    assert _valid_action_rate([{"counters": result.counters}]) == 6 / 7
