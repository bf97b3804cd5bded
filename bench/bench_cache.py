"""What the verified action cache and mined macros save, on the web clones (real Chromium).

The worker is a counting backend whose every answer is the web clones' expert's next
action on the current observation, so "model calls" are exactly the decisions the
hierarchy had to send to the worker; everything else came from the cache or a macro.

Part 1 — VAC: every web-clone task cold (empty cache), then warm (same cache).
Part 2 — macros: trajectories of the train-split tasks are mined into macros; the
held-out test-split tasks run cold without the VAC, with and without those macros.

    python bench/bench_cache.py [--sites shop,mail,calendar] [--scope task|site] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from halo_core import hookimpl, mode_config, run_episode
from halo_core.env.protocol import EnvSettings
from halo_core.plugins import make_plugin_manager
from halo_core.runtime import Runtime
from halo_core.testing import ScriptedBackend


class ExpertWorker:
    """A plugin + backend pair: the plugin remembers what the episode looks like at each
    decision; the backend answers from the expert, and counts every call."""

    def __init__(self) -> None:
        self.episode = None
        self.observation = None
        self.backend = ScriptedBackend(self._reply, name="expert:counting")

    @hookimpl
    def halo_annotate(self, observation, episode):
        self.episode, self.observation = episode, observation

    def _reply(self, messages) -> str:
        from halo_plugin_webclones.policy import expert_action

        ep = self.episode
        return expert_action(ep.task.id, self.observation, ep.history, ep.observations)

    def reset(self) -> None:
        self.backend.calls.clear()


def make_runtime(helper: ExpertWorker) -> Runtime:
    # installed plugins (webclones suite, vac, macros) plus the counting expert
    return Runtime(make_plugin_manager(load_entrypoints=True, extra=(helper,)))


def run_pass(label, tasks, suite, runtime, helper, config, data_dir, run_id, env_cache):
    rows = []
    started = time.perf_counter()
    for task in tasks:
        env = env_cache.get(task.site)
        if env is None:
            env = env_cache[task.site] = suite.make_environment(task, EnvSettings(screenshot=False))
        helper.reset()
        result = run_episode(task, config, env, runtime, run_id=run_id, data_dir=data_dir,
                             backends={"worker": helper.backend})
        rows.append({"task": task.id, "split": task.split, "success": result.success, "steps": result.steps,
                     "calls": len(helper.backend.calls), "cache_hits": result.counters.get("cache_hits", 0),
                     "cache_misses": result.counters.get("cache_misses", 0), "macro_steps": result.counters.get("macro_steps", 0),
                     "wall_s": round(result.wall_time_sec, 3), "error": result.error})
    wall = time.perf_counter() - started
    solved = sum(r["success"] for r in rows)
    calls = sum(r["calls"] for r in rows)
    summary = {"label": label, "tasks": len(rows), "solved": solved, "success_rate": solved / max(len(rows), 1),
               "model_calls": calls, "calls_per_solved": calls / solved if solved else float("inf"),
               "cache_hits": sum(r["cache_hits"] for r in rows), "macro_steps": sum(r["macro_steps"] for r in rows),
               "wall_s": round(wall, 2)}
    return summary, rows


def show(summary):
    print(f"  {summary['label']:<22} solved {summary['solved']}/{summary['tasks']}  model calls {summary['model_calls']:>4}"
          f"  calls/solved {summary['calls_per_solved']:6.2f}  cache hits {summary['cache_hits']:>4}"
          f"  macro steps {summary['macro_steps']:>3}  wall {summary['wall_s']:7.2f}s")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sites", default="", help="comma-separated sites (default: all)")
    parser.add_argument("--scope", default="task", choices=["task", "site"], help="VAC cache scope")
    parser.add_argument("--min-support", type=int, default=2)
    parser.add_argument("--out", default=None, help="folder for cache, macros, trajectories, results (default: temp)")
    args = parser.parse_args(argv)

    from halo_plugin_macros import mine_macros, read_traces, save_macros

    out = Path(args.out or tempfile.mkdtemp(prefix="halo-bench-cache-"))
    out.mkdir(parents=True, exist_ok=True)
    helper = ExpertWorker()
    runtime = make_runtime(helper)
    suite = runtime.suite("webclones")
    sites = [s for s in args.sites.split(",") if s]
    tasks = [t for t in suite.list_tasks() if not sites or t.site in sites]
    base = mode_config("baseline_worker", env={}, worker_backend="scripted:expert", use_recovery=False,
                       cache_path=str(out / "vac.sqlite"), macros_path=str(out / "macros.json"),
                       cache_scope=args.scope)
    envs: dict = {}
    results = {}
    try:
        print(f"# VAC: {len(tasks)} web-clone tasks, cold then warm (scope={args.scope}); output in {out}")
        vac = base.replace(use_vac=True, mode="bench_vac")
        cold, cold_rows = run_pass("cold (empty cache)", tasks, suite, runtime, helper, vac, out, "cold", envs)
        warm, warm_rows = run_pass("warm (same cache)", tasks, suite, runtime, helper, vac, out, "warm", envs)
        for s in (cold, warm):
            show(s)
        ratio_calls = warm["calls_per_solved"] / cold["calls_per_solved"] if cold["solved"] and warm["solved"] else None
        print(f"  warm/cold model calls per solved task: {ratio_calls:.3f}  (target ≤ 0.10)")
        print(f"  warm/cold wall time: {warm['wall_s'] / cold['wall_s']:.3f}")
        print(f"  success rate cold {cold['success_rate']:.2f} → warm {warm['success_rate']:.2f}"
              f"  ({'not lower' if warm['success_rate'] >= cold['success_rate'] else 'LOWER'})")
        results["vac"] = {"cold": cold, "warm": warm, "warm_cold_calls": ratio_calls, "rows": cold_rows + warm_rows}

        train = [t for t in tasks if t.split == "train"]
        test = [t for t in tasks if t.split == "test"]
        print(f"\n# Macros: mined from {len(train)} train tasks, measured on {len(test)} held-out test tasks (cold, no VAC)")
        plain = base.replace(mode="bench_train")
        run_pass("train (expert)", train, suite, runtime, helper, plain, out, "train", envs)
        macros = mine_macros(read_traces(out / "trajectories" / "bench_train"), min_support=args.min_support)
        save_macros(macros, out / "macros.json")
        print(f"  mined {len(macros)} macros (min support {args.min_support}):")
        for m in macros:
            print(f"    {m.id} [{m.site}] support {m.support}: {m.describe()}")
        without, rows_without = run_pass("test without macros", test, suite, runtime, helper,
                                         base.replace(mode="bench_test_plain"), out, "test", envs)
        with_, rows_with = run_pass("test with macros", test, suite, runtime, helper,
                                    base.replace(mode="bench_test_macros", use_macros=True), out, "test", envs)
        show(without)
        show(with_)
        saved = without["model_calls"] - with_["model_calls"]
        print(f"  model calls saved on held-out tasks by macros: {saved} of {without['model_calls']}"
              f" ({saved / max(without['model_calls'], 1):.1%}); success {without['solved']} → {with_['solved']}")
        for a, b in zip(rows_without, rows_with):
            if a["calls"] != b["calls"] or a["success"] != b["success"]:
                print(f"    {a['task']:<24} calls {a['calls']:>2} → {b['calls']:>2}  macro steps {b['macro_steps']}"
                      f"  success {a['success']} → {b['success']}")
        results["macros"] = {"without": without, "with": with_, "saved_calls": saved,
                             "macros": [m.to_dict() for m in macros], "rows": rows_without + rows_with}
    finally:
        for env in envs.values():
            env.close()
    (out / "bench_cache.json").write_text(json.dumps(results, indent=2, default=str))
    print(f"\nresults: {out / 'bench_cache.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
