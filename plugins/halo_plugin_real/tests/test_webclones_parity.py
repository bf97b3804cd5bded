"""The web clones through agisdk's own harness score exactly as through HALO's loop.

One expert run of all 36 web-clone tasks each way: HALO's loop on one reused browser,
then agisdk's ``harness.run`` (which launches its own browsers per task) on one clone
server per site. Rewards must agree task by task, and agisdk's results must carry the
answer HALO sent for every retrieval task.
"""

import json
import time

import pytest

from halo_core import mode_config, run_episode
from halo_core.env.protocol import EnvSettings
from halo_core.runtime import Runtime

pytest.importorskip("halo_plugin_webclones")
from halo_plugin_webclones.server import SITES, start_site  # noqa: E402
from halo_plugin_webclones.suite import WebclonesSuite  # noqa: E402


def _halo_results(tmp_path):
    suite = WebclonesSuite()
    tasks = suite.list_tasks()
    config = mode_config("baseline_worker", policy="expert", env={})
    runtime = Runtime()
    env = suite.make_environment(tasks[0], EnvSettings(screenshot=False))
    try:
        return tasks, {t.raw["id"]: run_episode(t, config, env, runtime, run_id="parity", data_dir=tmp_path / "halo")
                       for t in tasks}
    finally:
        env.close()


def _harness_results(tmp_path, names):
    from halo_plugin_real.bridge import HaloAgentArgs, make_harness
    from halo_plugin_webclones.harness import register_harness_tasks

    servers = [start_site(site) for site in SITES]
    try:
        ids = register_harness_tasks({s.site_name: s.url for s in servers}, names)
        args = HaloAgentArgs(policy="expert", slow_mo=0, data_dir=str(tmp_path / "bridge"))
        harness = make_harness(args, headless=True, max_steps=40, results_dir=str(tmp_path / "results"))
        results = harness.run(tasks=ids)
        args.finish_episodes(results)
        return results
    finally:
        for server in servers:
            server.close()


@pytest.mark.slow
def test_every_webclone_task_scores_the_same_in_agisdks_harness_and_in_halo(tmp_path):
    started = time.monotonic()
    tasks, halo = _halo_results(tmp_path)
    halo_s = time.monotonic() - started
    assert len(tasks) == 36
    results = _harness_results(tmp_path, [t.raw["id"] for t in tasks])
    harness_s = time.monotonic() - started - halo_s
    print(f"HALO loop {halo_s:.0f} s, agisdk harness {harness_s:.0f} s")

    errors = {name: r.get("err_msg") for name, r in results.items() if r.get("err_msg")}
    assert not errors, errors
    agisdk_rewards = {name.split(".", 1)[1]: float(r["cum_reward"]) for name, r in results.items()}
    halo_rewards = {name: float(r.reward) for name, r in halo.items()}
    assert agisdk_rewards == halo_rewards
    assert set(halo_rewards.values()) == {1.0}, {n: (r.terminated_by, r.error) for n, r in halo.items() if not r.success}

    retrieval = [t.raw["id"] for t in tasks if t.challenge_type == "retrieval"]
    assert len(retrieval) >= 8
    for name in retrieval:
        record = results[f"v2.{name}"]
        assert halo[name].final_message and record["agent_response"] == halo[name].final_message, name
        # what agisdk wrote to disk says the same
        summary = json.loads(next((tmp_path / "results").rglob(f"*{name}_*/summary_info.json")).read_text())
        assert summary["agent_response"] == halo[name].final_message and summary["cum_reward"] == 1.0
