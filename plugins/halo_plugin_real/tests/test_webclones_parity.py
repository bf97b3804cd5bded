"""The web clones through agisdk's own harness score exactly as through ``halo eval``.

One expert run of all 36 web-clone tasks each way: ``halo eval --suite webclones`` as a
user runs it (two workers, each reusing one browser), then agisdk's ``harness.run``
(which launches its own browsers per task) on one clone server per site. Rewards must
agree task by task, and agisdk's results must carry the answer HALO sent for every
retrieval task.
"""

import json
import os
import subprocess
import sys
import time
from types import SimpleNamespace

import pytest

pytest.importorskip("halo_plugin_webclones")
from halo_plugin_webclones.server import SITES, start_site  # noqa: E402
from halo_plugin_webclones.suite import WebclonesSuite  # noqa: E402


def _halo_results(tmp_path):
    tasks = WebclonesSuite().list_tasks()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HALO_")}
    env["HALO_NO_DOTENV"] = "1"
    done = subprocess.run([sys.executable, "-m", "halo_core.cli", "eval", "--suite", "webclones", "--policy", "expert",
                           "--workers", "2", "--run-id", "parity", "--data-dir", str(tmp_path / "halo"),
                           "--results-dir", str(tmp_path / "halo_results"), "--set", "use_screenshot=false"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=3000)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    records = [json.loads(line) for line in
               (tmp_path / "halo_results" / "parity" / "episodes.jsonl").read_text().splitlines()]
    assert len(records) == len(tasks) and {r["policy"] for r in records} == {"expert"}
    return tasks, {r["task"].split(".", 1)[1]: SimpleNamespace(reward=r["reward"], success=r["success"],
                                                               final_message=r["final_message"],
                                                               terminated_by=r["terminated_by"], error=r["error"])
                   for r in records}


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
    print(f"halo eval {halo_s:.0f} s, agisdk harness {harness_s:.0f} s")

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
