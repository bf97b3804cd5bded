"""REAL-format tasks in a real browser: HALO's environment vs agisdk's harness (same score),
and unreachable sites failing fast. The web clones stand in for the REAL sites."""

import json
import shutil
import socket
import time

import pytest

from halo_core import mode_config, run_episode
from halo_core.env.protocol import EnvSettings
from halo_core.runtime import Runtime
from halo_core.testing import within
from halo_plugin_real.suite import RealSuite

webclones = pytest.importorskip("halo_plugin_webclones")
from halo_plugin_webclones.server import start_site  # noqa: E402
from halo_plugin_webclones.tasks import EVAL_SCRIPTS_DIR, TASKS_DIR  # noqa: E402

EXPERT = mode_config("baseline_worker", policy="expert", env={})


@pytest.fixture(scope="module")
def shop():
    server = start_site("shop")
    yield server
    server.close()


@pytest.fixture(scope="module")
def layout(shop, tmp_path_factory):
    """shop-1 (an action task) in agisdk's v2 layout, its website url pointing at the clone."""
    root = tmp_path_factory.mktemp("real") / "v2"
    (root / "tasks").mkdir(parents=True)
    (root / "eval_scripts").mkdir()
    raw = json.loads((TASKS_DIR / "shop-1.json").read_text())
    raw["website"]["url"] = shop.url + "/"
    (root / "tasks" / "shop-1.json").write_text(json.dumps(raw))
    shutil.copy(EVAL_SCRIPTS_DIR / "eval_shop_1.py", root / "eval_scripts")
    from halo_plugin_real.bridge import register_layout_tasks

    assert register_layout_tasks(root) == ["v2.shop-1"]
    return root


def _halo_run(layout, tmp_path, extra_plugin=None):
    suite = RealSuite(tasks_dir=layout, registry="none")
    task = suite.resolve("v2.shop-1")
    runtime = Runtime()
    if extra_plugin is not None:
        runtime.pm.register(extra_plugin, name="extra")
    env = suite.make_environment(task, EnvSettings(screenshot=False))
    try:
        return run_episode(task, EXPERT, env, runtime, data_dir=tmp_path / "halo")
    finally:
        env.close()


def _harness_run(tmp_path, plugins=()):
    from halo_plugin_real.bridge import HaloAgentArgs, make_harness

    args = HaloAgentArgs(policy="expert", data_dir=str(tmp_path / "bridge"), plugins=tuple(plugins))
    harness = make_harness(args, task_name="v2.shop-1", headless=True, max_steps=25,
                           results_dir=str(tmp_path / "results"))
    assert harness.env_args["slow_mo"] == 0
    results = harness.run()
    args.finish_episodes(results)
    return results["v2.shop-1"], args


def test_expert_gets_the_same_score_in_halo_and_in_the_harness(layout, tmp_path):
    halo = _halo_run(layout, tmp_path)
    assert halo.terminated_by == "message", halo.error
    assert halo.info["evaluator"] == "agisdk" and halo.info["evaluated"]
    record, args = _harness_run(tmp_path)
    assert record.get("err_msg") is None, record.get("stack_trace")
    assert halo.reward == record["cum_reward"] == 1.0
    # HALO's hierarchy made the decisions inside the harness, and logged its trajectory
    agent = args.agents[0]
    assert agent.finished and agent.episode.history[-1].decision.action.startswith("send_msg_to_user")
    lines = [json.loads(x) for x in next((tmp_path / "bridge").rglob("*.jsonl")).read_text().splitlines()]
    assert lines[0]["type"] == "episode_start" and lines[-1]["type"] == "episode_end"
    assert lines[-1]["reward"] == 1.0 and lines[-1]["total_steps"] == halo.steps


def test_do_nothing_scores_zero_in_both(layout, tmp_path):
    import quitter_plugin

    halo = _halo_run(layout, tmp_path, extra_plugin=quitter_plugin.Quitter())
    assert halo.terminated_by == "message" and halo.info["evaluated"]
    record, _ = _harness_run(tmp_path, plugins=["quitter_plugin:quitter"])
    assert record.get("err_msg") is None, record.get("stack_trace")
    assert halo.reward == record["cum_reward"] == 0.0


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("where", ["real-vercel-url", "closed-local-port"])
def test_unreachable_site_is_an_init_error_within_15s(tmp_path, where):
    if where == "real-vercel-url":
        suite = RealSuite(registry="none")
        task = suite.resolve("v2.omnizon-13")
    else:
        root = tmp_path / "v2"
        (root / "tasks").mkdir(parents=True)
        (root / "tasks" / "omni-1.json").write_text(json.dumps({
            "id": "omni-1", "goal": "g", "website": {"id": "omni", "url": f"http://127.0.0.1:{_closed_port()}/"},
            "challengeType": "action", "possible": True, "evals": [], "points": 1, "config": {}}))
        suite = RealSuite(tasks_dir=root, registry="none")
        task = suite.resolve("v2.omni-1")
    started = time.monotonic()
    env = suite.make_environment(task, EnvSettings(screenshot=False, init_timeout_s=10))
    try:
        result = run_episode(task, EXPERT, env, Runtime(), data_dir=tmp_path)
    finally:
        env.close()
    elapsed = time.monotonic() - started
    assert result.terminated_by == "init_error"
    assert "unreachable" in result.error and result.steps == 0
    assert elapsed < within(15), elapsed


def test_mouse_and_keyboard_actions_run_in_the_harness(layout, tmp_path):
    """Each coordinate and keyboard action reaches agisdk's BrowserGym and runs there without an error."""
    from coordinate_player import SCRIPT

    record, _ = _harness_run(tmp_path, plugins=["coordinate_player:player"])
    assert record.get("err_msg") is None, record.get("stack_trace")
    lines = [json.loads(x) for x in next((tmp_path / "bridge").rglob("*.jsonl")).read_text().splitlines()]
    steps = [x for x in lines if x["type"] == "step"]
    assert [s["action"] for s in steps[:len(SCRIPT)]] == list(SCRIPT)
    assert [s["last_action_error"] for s in steps[:len(SCRIPT)]] == [""] * len(SCRIPT)
