"""Episodes per hour on the web clones with the expert policy: HALO vs agisdk's harness.

HALO runs ``halo eval --policy expert`` with 1 and 2 workers (end to end, as a user
would: a fresh ``halo`` process each time). agisdk runs the same tasks through
``agisdk.REAL.harness`` with an agent that replays the same expert solutions, one
harness run per task (its default single worker), in a fresh process as well.

To make agisdk's harness run the clone tasks, the child process starts the three
clone servers, writes the tasks (REAL task-JSON, ``website.url`` pointing at those
servers, the same eval scripts) into a task-version folder ``hc`` and registers it
with agisdk's task registry and BrowserGym. agisdk's other defaults are kept: its
task ``slow_mo`` (1000 ms; ``--agisdk-slow-mo`` to change it), its observation
(AXTree + screenshot), its experiment logging. Two things are changed because they
cannot work here: the browser is /usr/bin/chromium (no Playwright download), and
the per-step token statistics use a word count, because tiktoken would download its
BPE file on first use (no network).

    .venv/bin/python bench/bench_throughput.py [--tasks shop-1,mail-1,...] [--only halo|agisdk]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_TASKS = "shop-1,shop-2,mail-1,mail-2,calendar-1,calendar-2"
VERSION = "hc"  # agisdk task version holding the clone tasks ("webclones." would be rewritten to v1)


# --------------------------------------------------------------------------- HALO


def run_halo(tasks: list[str], workers: int, work: Path) -> dict:
    halo = Path(sys.executable).with_name("halo")
    cmd = [str(halo)] if halo.exists() else [sys.executable, "-c", "from halo_core.cli import main; main()"]
    run_id = f"bench_w{workers}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("HALO_")}
    started = time.monotonic()
    out = subprocess.run(cmd + ["eval", "--tasks", ",".join(f"webclones.{t}" for t in tasks), "--policy", "expert",
                                "--workers", str(workers), "--run-id", run_id, "--results-dir", str(work / "results"),
                                "--data-dir", str(work / "data")], capture_output=True, text=True, env=env, cwd=work)
    wall = time.monotonic() - started
    if out.returncode != 0:
        raise SystemExit(f"halo eval failed:\n{out.stderr[-3000:]}")
    records = [json.loads(line) for line in (work / "results" / run_id / "episodes.jsonl").read_text().splitlines()]
    return {"runner": f"HALO ({workers} worker{'s' if workers > 1 else ''})", "episodes": len(records),
            "successes": sum(bool(r["success"]) for r in records), "wall_s": wall,
            "episode_s": sorted(r["wall_time_sec"] for r in records)}


# --------------------------------------------------------------------------- agisdk (child process)


def _agisdk_child(tasks: list[str], out_path: Path, slow_mo: int | None, work: Path) -> None:
    os.environ.setdefault("RAY_DISABLE_USAGE_STATS", "1")
    from agisdk import REAL
    from agisdk.REAL.browsergym import core as bg_core
    from agisdk.REAL.browsergym.core.action.highlevel import HighLevelActionSet
    from agisdk.REAL.browsergym.core.registration import register_task
    from agisdk.REAL.browsergym.experiments import AbstractAgentArgs, Agent
    from agisdk.REAL.browsergym.experiments import loop as bg_loop
    from agisdk.REAL.browsergym.webclones import base as wc_base
    from agisdk.REAL.browsergym.webclones import task_config
    from halo_plugin_webclones import tasks as catalogue
    from halo_plugin_webclones.experts import TERMINAL_VERBS, expert_steps
    from halo_plugin_webclones.server import start_site
    from playwright.sync_api import sync_playwright

    from halo_core.env.chromium import find_chromium, launch_args

    # tiktoken downloads cl100k_base on first use: count words instead (stats only).
    bg_loop.count_tokens = lambda text, model="gpt-4": len(str(text).split())

    # agisdk launches Playwright's own Chromium, which is not installed: point it at ours.
    pw = sync_playwright().start()
    bg_core._set_global_playwright(pw)
    chromium = find_chromium(pw)
    original_launch = pw.chromium.launch

    def launch(*args, **kwargs):
        if chromium:
            kwargs.setdefault("executable_path", chromium)
        given = list(kwargs.get("args") or [])
        kwargs["args"] = given + [a for a in launch_args() if a not in given]
        return original_launch(*args, **kwargs)

    pw.chromium.launch = launch

    # The clone tasks as an agisdk task version, served by local clone servers.
    servers = {site: start_site(site) for site in sorted({t.split("-")[0] for t in tasks})}
    version_dir = work / "agisdk_tasks" / VERSION
    (version_dir / "tasks").mkdir(parents=True, exist_ok=True)
    shutil.copytree(catalogue.EVAL_SCRIPTS_DIR, version_dir / "eval_scripts", dirs_exist_ok=True)
    for name in tasks:
        raw = catalogue.load_task(name)
        raw["website"]["url"] = servers[raw["website"]["id"]].url
        (version_dir / "tasks" / f"{name}.json").write_text(json.dumps(raw))
        task_config.VERSION_DIRS[VERSION] = str(version_dir)
        task_config.TASK_INDEX[f"{VERSION}.{name}"] = (VERSION, name)
        register_task(f"{VERSION}.{name}", wc_base.AbstractWebCloneTask,
                      task_kwargs={"task_name": name, "task_version": VERSION})
    if slow_mo is not None:
        wc_base.AbstractWebCloneTask.slow_mo = slow_mo  # read by BrowserEnv through override_property

    class ExpertReplayAgent(Agent):
        """Replays the expert's solution, finding each element by role and name in agisdk's AXTree."""

        def __init__(self, task_name: str) -> None:
            self.plan = expert_steps(task_name)
            self.position = 0
            self.action_set = HighLevelActionSet(subsets=["chat", "bid", "infeas", "nav"], strict=False,
                                                 multiaction=False)

        def obs_preprocessor(self, obs):
            return obs  # the replay needs only the AXTree object

        def get_action(self, obs):
            if self.position >= len(self.plan):
                return "noop()", {}
            step = self.plan[self.position]
            self.position += 1
            if step[0] in TERMINAL_VERBS:
                return f"{step[0]}({step[1]!r})", {}
            role, name = step[1]
            bid = next((n.get("browsergym_id") for n in obs["axtree_object"]["nodes"]
                        if (n.get("role") or {}).get("value") == role and (n.get("name") or {}).get("value") == name
                        and n.get("browsergym_id")), None)
            if bid is None:
                return f"report_infeasible({f'no {role} {name!r}'!r})", {}
            if step[0] in ("fill", "select_option"):
                return f"{step[0]}('{bid}', {str(step[2])!r})", {}
            return f"{step[0]}('{bid}')", {}

    @dataclass
    class ExpertReplayArgs(AbstractAgentArgs):
        task_name: str = ""
        agent_name: str = "ExpertReplay"

        def make_agent(self):
            return ExpertReplayAgent(self.task_name)

    # agisdk pickles the agent args into its experiment folder: make them findable by name.
    for cls in (ExpertReplayAgent, ExpertReplayArgs):
        cls.__qualname__ = cls.__name__
        globals()[cls.__name__] = cls

    results = []
    started = time.monotonic()
    for name in tasks:
        t0 = time.monotonic()
        h = REAL.harness(agentargs=ExpertReplayArgs(task_name=name), task_name=f"{VERSION}.{name}",
                         task_version=VERSION, headless=True, max_steps=70, use_cache=False,
                         results_dir=str(work / "agisdk_results"))
        outcome = h.run()
        record = next(iter(outcome.values()), {}) if isinstance(outcome, dict) else {}
        results.append({"task": name, "reward": float(record.get("cum_reward", 0) or 0),
                        "steps": record.get("n_steps"), "err": record.get("err_msg"),
                        "wall_s": time.monotonic() - t0})
    wall = time.monotonic() - started
    for server in servers.values():
        server.close()
    out_path.write_text(json.dumps({"results": results, "wall_s": wall}))


def run_agisdk(tasks: list[str], work: Path, slow_mo: int | None) -> dict:
    out_path = work / "agisdk.json"
    cmd = [sys.executable, __file__, "--agisdk-child", "--tasks", ",".join(tasks), "--work", str(work),
           "--out", str(out_path)]
    if slow_mo is not None:
        cmd += ["--agisdk-slow-mo", str(slow_mo)]
    started = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=work)
    wall = time.monotonic() - started
    if proc.returncode != 0 or not out_path.exists():
        raise SystemExit(f"agisdk harness run failed:\n{proc.stderr[-4000:]}")
    data = json.loads(out_path.read_text())
    rows = data["results"]
    label = "agisdk harness" + (f" (slow_mo={slow_mo})" if slow_mo is not None else "")
    return {"runner": label, "episodes": len(rows), "successes": sum(r["reward"] > 0 for r in rows), "wall_s": wall,
            "episode_s": sorted(r["wall_s"] for r in rows), "details": rows}


# --------------------------------------------------------------------------- main


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tasks", default=DEFAULT_TASKS, help=f"clone task names (default {DEFAULT_TASKS})")
    ap.add_argument("--only", choices=("halo", "agisdk"))
    ap.add_argument("--agisdk-slow-mo", type=int, default=None,
                    help="override agisdk's task slow_mo in ms (default: agisdk's own, 1000)")
    ap.add_argument("--agisdk-child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--work", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--out", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    tasks = [t.strip().removeprefix("webclones.") for t in args.tasks.split(",") if t.strip()]
    if args.agisdk_child:
        _agisdk_child(tasks, Path(args.out), args.agisdk_slow_mo, Path(args.work))
        return 0

    work = Path(tempfile.mkdtemp(prefix="halo_bench_throughput_"))
    rows = []
    try:
        if args.only != "agisdk":
            rows += [run_halo(tasks, 1, work), run_halo(tasks, 2, work)]
        if args.only != "halo":
            rows.append(run_agisdk(tasks, work, args.agisdk_slow_mo))
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(f"\nweb clones, expert policy, {len(tasks)} tasks: {', '.join(tasks)}  ({os.cpu_count()} CPUs)")
    print(f"{'runner':<34} {'episodes':>8} {'success':>8} {'wall s':>8} {'median ep s':>12} {'episodes/h':>11}")
    base = next((r for r in rows if r["runner"].startswith("agisdk")), None)
    for r in rows:
        eph = r["episodes"] / r["wall_s"] * 3600
        med = r["episode_s"][len(r["episode_s"]) // 2] if r["episode_s"] else 0.0
        ratio = f"  x{eph / (base['episodes'] / base['wall_s'] * 3600):.2f} vs agisdk" if base and r is not base else ""
        print(f"{r['runner']:<34} {r['episodes']:>8} {r['successes']:>8} {r['wall_s']:>8.1f} {med:>12.1f} "
              f"{eph:>11.0f}{ratio}")
    halo2 = next((r for r in rows if r["runner"] == "HALO (2 workers)"), None)
    if base and halo2:
        ratio = (halo2["episodes"] / halo2["wall_s"]) / (base["episodes"] / base["wall_s"])
        print(f"\nHALO (2 workers) / agisdk harness throughput = {ratio:.2f}x (target >= 2x: "
              f"{'met' if ratio >= 2 else 'NOT met'})")
    if base:
        print("agisdk per task: " + ", ".join(f"{d['task']} reward={d['reward']} steps={d['steps']} "
                                               f"{d['wall_s']:.0f}s" for d in base["details"]))
    if base and any(d.get("err") for d in base.get("details", [])):
        print("agisdk errors: " + "; ".join(f"{d['task']}: {d['err']}" for d in base["details"] if d.get("err")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
