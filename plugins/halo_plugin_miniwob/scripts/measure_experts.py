"""Measure the MiniWoB expert: success over N seeds per task, through HALO's episode loop.

    python plugins/halo_plugin_miniwob/scripts/measure_experts.py --seeds 50 [--tasks a,b] [--json out.json]

Each episode is ``halo_core.loop.run_episode`` with ``--policy expert`` on
``miniwob.<task>@<seed>``; success is MiniWoB's own (raw reward > 0). Prints a
Markdown table (the README's).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time

from halo_core.config import AgentConfig
from halo_core.env.protocol import EnvSettings
from halo_core.loop import run_episode
from halo_core.testing import make_runtime

import halo_plugin_miniwob.plugin as plugin
from halo_plugin_miniwob import MiniwobSuite
from halo_plugin_miniwob.experts import SOLVERS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default="", help="comma-separated task names (default: every task with a solver)")
    parser.add_argument("--seeds", type=int, default=50)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--max-steps", type=int, default=30)
    parser.add_argument("--json", default="")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    names = [t for t in args.tasks.split(",") if t] or sorted(SOLVERS)
    runtime = make_runtime(plugin)
    suite = MiniwobSuite()
    config = AgentConfig(policy="expert", max_steps=args.max_steps)
    env = suite.make_environment(None, EnvSettings(screenshot=False))
    rows = []
    try:
        with tempfile.TemporaryDirectory() as data_dir:
            for name in names:
                wins, steps, started, failures = 0, 0, time.perf_counter(), []
                for seed in range(args.first_seed, args.first_seed + args.seeds):
                    task = suite.resolve(f"miniwob.{name}@{seed}")
                    result = run_episode(task, config, env, runtime, run_id="measure", data_dir=data_dir)
                    wins += result.success
                    steps += result.steps
                    if not result.success:
                        failures.append(seed)
                        if args.verbose:
                            print(f"  {name}@{seed}: {result.terminated_by} {result.info.get('reason', '')} "
                                  f"{result.error or result.final_message}", file=sys.stderr)
                elapsed = time.perf_counter() - started
                row = {"task": name, "episodes": args.seeds, "success": wins, "rate": wins / args.seeds,
                       "mean_steps": steps / args.seeds, "sec_per_episode": elapsed / args.seeds,
                       "failed_seeds": failures}
                rows.append(row)
                print(f"| {name} | {wins}/{args.seeds} | {100 * wins / args.seeds:.0f} % | {steps / args.seeds:.1f} "
                      f"| {elapsed / args.seeds:.2f} |", flush=True)
    finally:
        env.close()
    total = sum(r["success"] for r in rows)
    episodes = sum(r["episodes"] for r in rows)
    print(f"overall: {total}/{episodes} = {100 * total / max(1, episodes):.1f} % over {len(rows)} tasks")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
