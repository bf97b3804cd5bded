"""`halo eval`, `halo rollouts`, `halo verify-exploration` end to end, as subprocesses.

The tasks come from the ``halo-evaltest`` plugin package (see test_executors.py),
installed into a private directory; a web-clone browser test runs too once the
``webclones`` suite is installed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from halo_core.evaluation.store import ResultsStore, read_jsonl

ROOT = Path(__file__).resolve().parents[1]
#: The CLI (entry point halo_core.cli:main), run as a module.
HALO = [sys.executable, "-m", "halo_core.cli"]


@pytest.fixture(scope="module")
def site(evaltest_site):
    return evaltest_site  # installed once per session (conftest.py)


def _env(site: Path, sleep: float = 0.01, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HALO_") and k != "OPENAI_API_KEY"}
    # the openai plugin for its worker_gpt4o mode, the second mode of these runs
    env.update(PYTHONPATH=f"{site}{os.pathsep}{env.get('PYTHONPATH', '')}", HALO_LOAD_PLUGINS="evaltest,openai",
               HALO_EVALTEST_SLEEP=str(sleep), RAY_DISABLE_USAGE_STATS="1", PYTHONUNBUFFERED="1")
    env.update(extra)
    return env


def halo(site: Path, cwd: Path, *args: str, sleep: float = 0.01, timeout: float = 300, **extra):
    return subprocess.run([*HALO, *args], capture_output=True, text=True, cwd=cwd, env=_env(site, sleep, **extra),
                          timeout=timeout)


def episodes(cwd: Path, run_id: str) -> list[dict]:
    return read_jsonl(cwd / "results" / run_id / "episodes.jsonl")


def by_key(records: list[dict]) -> dict:
    return {(r["task"], r["mode"], r["attempt"]): r for r in records}


def assert_whole_lines(path: Path) -> list[dict]:
    data = path.read_bytes()
    assert data.endswith(b"\n"), f"{path} ends without a newline"
    return [json.loads(line) for line in data.splitlines()]  # raises on a torn line


SCRIPTED = ("--policy", "scripted")


def test_eval_matrix_outputs(site, tmp_path):
    out = halo(site, tmp_path, "eval", "--tasks", "evalgraph.shop-1,evalgraph.fail-1,evalgraph.broken-1,"
               "evalgraph.unscorable-1,evalgraph.crash-1", "--mode", "baseline_worker", "--mode", "worker_gpt4o",
               *SCRIPTED, "--workers", "2", "--run-id", "m1", "--allow-errors")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1].startswith("errors: 4 episode(s) ended in init_error/error")
    d = tmp_path / "results" / "m1"
    assert {p.name for p in d.iterdir()} >= {"run.json", "episodes.jsonl", "errors.jsonl", "matrix.csv", "matrix.md"}
    recs = by_key(assert_whole_lines(d / "episodes.jsonl"))
    assert len(recs) == 10
    shop = recs[("evalgraph.shop-1", "worker_gpt4o", 0)]
    for field in ("success", "reward", "steps", "wall_time_sec", "usage", "terminated_by", "error", "trajectory"):
        assert field in shop
    assert Path(tmp_path / shop["trajectory"]).exists()
    assert shop["trajectory"] == "data/trajectories/worker_gpt4o/m1/evalgraph.shop-1__attempt_0.jsonl"
    errors = assert_whole_lines(d / "errors.jsonl")
    assert sorted((e["task"], e["mode"]) for e in errors) == sorted(
        (t, m) for t in ("evalgraph.broken-1", "evalgraph.crash-1") for m in ("baseline_worker", "worker_gpt4o"))
    assert all(e["error"] for e in errors)
    assert any("EnvironmentDead" in e["traceback"] for e in errors)
    rows = {r["mode"]: r for r in __import__("csv").DictReader((d / "matrix.csv").open())}
    for mode in ("baseline_worker", "worker_gpt4o"):
        r = rows[mode]
        assert (r["episodes"], r["valid_tasks"], r["init_or_agent_errors"], r["unscorable"], r["successes"],
                r["failures"], r["success_rate"], r["median_steps"]) == ("5", "2", "2", "1", "1", "1", "0.5", "5.0")
    assert "| baseline_worker | scripted | 5 | 2 | 2 | 1 | 1 | 1 | 0.500 | 5 |" in (d / "matrix.md").read_text()
    assert rows["worker_gpt4o"]["policy"] == "scripted"
    assert "- worker_gpt4o: policy scripted (no worker model)" in (d / "matrix.md").read_text()
    assert "gpt-4o" not in (d / "matrix.md").read_text().split("Modes:")[1]
    plan = json.loads((d / "run.json").read_text())
    assert plan["kind"] == "eval" and set(plan["modes"]) == {"baseline_worker", "worker_gpt4o"}
    assert plan["modes"]["worker_gpt4o"]["policy"] == "scripted" and len(plan["tasks"]) == 5
    assert "[10/10]" in out.stdout  # not a TTY: one plain line per episode


def test_kill_mid_run_then_resume(site, tmp_path):
    """SIGKILL the whole process group mid-run; --resume finishes with every episode exactly once."""
    tasks = ",".join(f"evalgraph.shop-{i}" for i in range(1, 9))
    proc = subprocess.Popen([*HALO, "eval", "--tasks", tasks, "--attempts", "2", *SCRIPTED, "--workers", "2",
                             "--run-id", "k1"], cwd=tmp_path, env=_env(site, sleep=0.2), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    ep = tmp_path / "results" / "k1" / "episodes.jsonl"
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            if ep.exists() and ep.read_bytes().count(b"\n") >= 1:
                break
            assert proc.poll() is None, "the run ended before it could be killed"
            time.sleep(0.05)
        assert proc.poll() is None, "the run finished before the kill"
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(30)
    finished_before = len(read_jsonl(ep))
    assert 1 <= finished_before < 16
    assert not (tmp_path / "results" / "k1" / "matrix.csv").exists()

    out = halo(site, tmp_path, "eval", "--resume", "k1", "--workers", "2", sleep=0.01)
    assert out.returncode == 0, out.stderr
    assert f"resumed: {finished_before} episode(s) were already finished, {16 - finished_before} ran now" in out.stdout
    lines = assert_whole_lines(ep)
    keys = [(r["task"], r["mode"], r["attempt"]) for r in lines]
    assert len(keys) == len(set(keys)) == 16
    assert set(keys) == {(f"evalgraph.shop-{i}", "baseline_worker", a) for i in range(1, 9) for a in (0, 1)}
    assert all(r["success"] for r in lines)
    trajectories = sorted((tmp_path / "data" / "trajectories" / "baseline_worker" / "k1").glob("*.jsonl"))
    assert len(trajectories) == 16
    for path in trajectories:
        events = assert_whole_lines(path)
        assert events[0]["type"] == "episode_start" and events[-1]["type"] == "episode_end"
        assert [e["type"] for e in events].count("episode_start") == 1
    assert "| baseline_worker | scripted | 16 | 16 | 0 | 0 | 16 | 0 | 1.000 | 5 |" in (ep.parent / "matrix.md").read_text()

    again = halo(site, tmp_path, "eval", "--resume", "k1")
    assert again.returncode == 0 and "16 episode(s) were already finished, 0 ran now" in again.stdout
    assert len(read_jsonl(ep)) == 16


def test_resume_tolerates_a_torn_line_and_reruns_missing(site, tmp_path):
    out = halo(site, tmp_path, "eval", "--tasks", "evalgraph.shop-1,evalgraph.shop-2,evalgraph.broken-1",
               *SCRIPTED, "--workers", "2", "--run-id", "t1")
    assert out.returncode == 1, out.stderr  # broken-1 errored: the run says so by its exit status
    assert out.stdout.strip().splitlines()[-1].startswith("errors: 1 episode(s) ended in init_error/error")
    ep = tmp_path / "results" / "t1" / "episodes.jsonl"
    lines = ep.read_bytes().splitlines(keepends=True)
    keep = [ln for ln in lines if b"shop-2" not in ln]
    ep.write_bytes(b"".join(keep) + b'{"task": "evalgraph.shop-2", "mode": "basel')  # torn, no newline
    out = halo(site, tmp_path, "eval", "--resume", "t1", "--retry-errors", "--allow-errors")
    assert out.returncode == 0, out.stderr
    assert "truncated" in out.stderr
    recs = by_key(assert_whole_lines(ep))
    assert len(recs) == 3 and len(assert_whole_lines(ep)) == 3
    assert recs[("evalgraph.shop-2", "baseline_worker", 0)]["success"]
    assert recs[("evalgraph.broken-1", "baseline_worker", 0)]["terminated_by"] == "init_error"  # retried, same end


def test_dry_run_starts_nothing(site, tmp_path):
    out = halo(site, tmp_path, "eval", "--suite", "evalgraph", "--site", "shop", "--sample-size", "3", "--seed", "7",
               "--mode", "baseline_worker", "--mode", "worker_gpt4o", "--attempts", "2", *SCRIPTED, "--dry-run",
               "--run-id", "d1")
    assert out.returncode == 0, out.stderr
    assert "3 task(s) × 2 mode(s) × 2 attempt(s) = 12 episode(s)" in out.stdout
    assert "results/d1/" in out.stdout and "data/trajectories/worker_gpt4o/d1/<task>__attempt_<k>.jsonl" in out.stdout
    assert not (tmp_path / "results").exists() and not (tmp_path / "data").exists()
    again = halo(site, tmp_path, "eval", "--suite", "evalgraph", "--site", "shop", "--sample-size", "3", "--seed", "7",
                 *SCRIPTED, "--dry-run", "--run-id", "d1")
    picked = [ln for ln in out.stdout.splitlines() if "tasks:" in ln]
    assert picked == [ln for ln in again.stdout.splitlines() if "tasks:" in ln]  # the sample is reproducible
    assert all("evalgraph.shop-" in t for t in picked[0].split(":", 1)[1].split(","))


def test_split_subset_and_experiments(site, tmp_path):
    config = tmp_path / "exp.yaml"
    config.write_text("experiments:\n  quick:\n    base_mode: worker_gpt4o\n    max_steps: 3\n"
                      "task_subsets:\n  two: [evalgraph.shop-4, evalgraph.fail-1]\n")
    out = halo(site, tmp_path, "eval", "--config", str(config), "--experiment", "quick", "--subset", "two", *SCRIPTED,
               "--dry-run")
    assert out.returncode == 0, out.stderr
    assert "tasks: evalgraph.shop-4, evalgraph.fail-1" in out.stdout and "mode quick:" in out.stdout
    assert "max_steps=3" in out.stdout
    out = halo(site, tmp_path, "eval", "--suite", "evalgraph", "--split", "train", *SCRIPTED, "--dry-run")
    assert "tasks: evalgraph.shop-1, evalgraph.shop-2, evalgraph.shop-3\n" in out.stdout
    bad = halo(site, tmp_path, "eval", "--tasks", "evalgraph.shop-99", *SCRIPTED, "--dry-run")
    assert bad.returncode == 1 and "unknown task 'evalgraph.shop-99'" in bad.stderr


def test_missing_key_fails_before_any_task(site, tmp_path):
    out = halo(site, tmp_path, "eval", "--tasks", "evalgraph.shop-1", "--mode", "baseline_worker", "--run-id", "nk")
    assert out.returncode == 1
    lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: worker backend:"), out.stderr
    assert not (tmp_path / "results" / "nk").exists() and not (tmp_path / "data").exists()


@pytest.mark.slow  # 20-60 s: starting a local Ray instance dominates
def test_ray_executor_gives_the_same_results(site, tmp_path):
    args = ("eval", "--tasks", "evalgraph.shop-1,evalgraph.fail-1,evalgraph.unscorable-1,evalgraph.broken-1",
            "--mode", "baseline_worker", "--mode", "worker_gpt4o", *SCRIPTED, "--workers", "2", "--allow-errors")
    local = halo(site, tmp_path, *args, "--run-id", "local")
    assert local.returncode == 0, local.stderr
    ray = halo(site, tmp_path, *args, "--executor", "ray", "--run-id", "ray")
    assert ray.returncode == 0, ray.stderr
    a, b = by_key(episodes(tmp_path, "local")), by_key(episodes(tmp_path, "ray"))
    assert set(a) == set(b) and len(a) == 8
    for key in a:
        assert (a[key]["success"], a[key]["steps"], a[key]["terminated_by"]) == (
            b[key]["success"], b[key]["steps"], b[key]["terminated_by"]), key
    assert (tmp_path / "results" / "ray" / "matrix.csv").read_text().splitlines()[1:] != []
    assert {r["worker_pid"] for r in b.values()} - {r["worker_pid"] for r in a.values()}


def test_rollouts_summary(site, tmp_path):
    out = halo(site, tmp_path, "rollouts", "--tasks", "evalgraph.shop-1,evalgraph.shop-2", "--rollouts-per-task", "3",
               "--task-seed", "123", "--temperature", "0.7", "--seed", "42", *SCRIPTED, "--workers", "2",
               "--run-id", "r1")
    assert out.returncode == 0, out.stderr
    rows = assert_whole_lines(tmp_path / "results" / "r1" / "rollout_summary.jsonl")
    assert sorted((r["task"], r["rollout_idx"]) for r in rows) == [
        (f"evalgraph.shop-{i}", k) for i in (1, 2) for k in range(3)]
    for r in rows:
        assert (r["task_seed"], r["temperature"]) == (123, 0.7) and r["seed"] == 42 + r["rollout_idx"]
        assert r["success"] and r["steps"] == 7  # the detour taken at temperature > 0
        assert (tmp_path / r["trajectory"]).exists()
        assert r["trajectory"].endswith(f"__attempt_{r['rollout_idx']}.jsonl")
    start = assert_whole_lines(tmp_path / rows[0]["trajectory"])[0]
    assert start["config"]["worker_temperature"] == 0.7


def test_verify_exploration(site, tmp_path):
    out = halo(site, tmp_path, "verify-exploration", "--task", "evalgraph.shop-1", "--mode", "baseline_worker",
               "--task-seed", "123", "--temperature-a", "0.0", "--temperature-b", "0.7", "--compare-steps", "10",
               *SCRIPTED, "--run-id", "v1")
    assert out.returncode == 0, out.stderr
    assert "diverged at step 1" in out.stdout
    result = json.loads((tmp_path / "results" / "v1" / "exploration.json").read_text())
    assert result["first_divergence"] == 1 and result["actions_b"][1] == "go_back()"
    same = halo(site, tmp_path, "verify-exploration", "--task", "evalgraph.shop-1", "--temperature-a", "0.0",
                "--temperature-b", "0.0", "--compare-steps", "4", *SCRIPTED)
    assert same.returncode == 0, same.stderr
    assert "no divergence within the first 4 step(s)" in same.stdout


def _webclones_available() -> bool:
    try:
        from halo_core.runtime import Runtime

        return "webclones" in Runtime().suites
    except Exception:
        return False


@pytest.mark.skipif(not _webclones_available(), reason="the webclones suite is not installed yet")
def test_eval_webclones_expert_in_real_browser(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("HALO_") and k != "OPENAI_API_KEY"}
    tasks = "webclones.shop-1,webclones.mail-1,webclones.calendar-1,webclones.shop-2"
    out = subprocess.run([*HALO, "eval", "--tasks", tasks, "--policy", "expert", "--workers", "2", "--run-id", "wc"],
                         capture_output=True, text=True, cwd=tmp_path, env=env, timeout=600)
    assert out.returncode == 0, out.stderr + out.stdout
    recs = by_key(episodes(tmp_path, "wc"))
    assert len(recs) == 4
    assert all(r["success"] and r["terminated_by"] == "message" for r in recs.values()), recs
    assert "| baseline_worker | expert | 4 | 4 | 0 | 0 | 4 | 0 | 1.000 |" in (
        tmp_path / "results" / "wc" / "matrix.md").read_text()


def test_results_store_reads_and_repairs(tmp_path):
    store = ResultsStore(tmp_path, "x")
    store.append_episode({"task": "a", "mode": "m", "attempt": 0, "reward": 1.0})
    store.append_episode({"task": "a", "mode": "m", "attempt": 1, "reward": 0.0})
    store.close()
    with store.episodes_path.open("ab") as fh:
        fh.write(b'{"task": "a", "mo')
    with pytest.warns(UserWarning, match="truncated"):
        assert len(store.episodes()) == 2
    lines = store.episodes_path.read_bytes().splitlines(keepends=True)  # repaired in place
    assert len(lines) == 2 and lines[-1].endswith(b"}\n") and json.loads(lines[-1])["reward"] == 0.0
    store.drop_episodes([("a", "m", 0)])
    assert [r["attempt"] for r in store.episodes()] == [1]


def test_a_plugin_option_source_counter_and_column_reach_config_trajectories_and_matrix(site, tmp_path):
    """A third-party plugin (evaltest) declares an option, a decision source, a result counter and a
    metric column: `halo config` lists the option, trajectories carry the option value and the source,
    and matrix.md has the plugin's column with its value."""
    shown = halo(site, tmp_path, "config", "--json")
    assert shown.returncode == 0, shown.stderr
    option = next(o for o in json.loads(shown.stdout)["options"] if o["name"] == "route_note")
    assert option["plugin"] == "evaltest" and option["default"] == "plain" and option["flag"] == "--route-note"
    out = halo(site, tmp_path, "eval", "--tasks", "evalgraph.shop-1,evalgraph.shop-2", "--mode", "baseline_worker",
               *SCRIPTED, "--route-note", "fancy", "--workers", "1", "--run-id", "p1")
    assert out.returncode == 0, out.stderr
    events = assert_whole_lines(tmp_path / "data" / "trajectories" / "baseline_worker" / "p1"
                                / "evalgraph.shop-1__attempt_0.jsonl")
    assert events[0]["config"]["route_note"] == "fancy"
    assert [e["action_source"] for e in events if e["type"] == "step"][:4] == ["route"] * 4
    assert events[-1]["counters"]["route_clicks"] == 4
    recs = episodes(tmp_path, "p1")
    assert all(r["counters"]["route_clicks"] == 4 for r in recs)
    matrix = (tmp_path / "results" / "p1" / "matrix.md").read_text()
    header = next(line for line in matrix.splitlines() if line.startswith("| mode"))
    row = next(line for line in matrix.splitlines() if line.startswith("| baseline_worker"))
    cells = dict(zip([c.strip() for c in header.split("|")], [c.strip() for c in row.split("|")]))
    assert float(cells["route_clicks_per_episode"]) == 4.0
    bad = halo(site, tmp_path, "eval", "--tasks", "evalgraph.shop-1", *SCRIPTED, "--set", "route_note=odd",
               "--run-id", "p2")
    assert bad.returncode != 0 and "route_note='odd' is not allowed: expected one of plain, fancy" in bad.stderr
