"""Evaluation episodes per hour with a local model: one model per worker process vs one model shared.

The same MiniWoB++ tasks and held-out seeds, the same ``local:`` model, the demo's worker
configuration (greedy, grounded references, 48 new tokens), played twice back to back:

* ``processes`` — how ``local:`` evaluations ran before the shared engine: ``--workers``
  processes, each loading its own copy of the model and decoding one sequence at a time
  (one torch thread each), as ``HALO_SHARED_MODEL_EPISODES=0`` still does;
* ``shared`` — ``--shared`` episodes in flight in threads of one process, every call going
  to one :class:`halo_plugin_qwen.engine.DecodeEngine` that batches them and reuses the
  prompt's constant prefix, each MiniWoB page loaded anew every episode;
* ``shared, restart in place`` — the same, each thread keeping to one task's seeds and
  starting the next episode on the page the last one left (``miniwob_restart_in_place``,
  the demo's default).

Printed: episodes, wall time, episodes/hour, successes and mean steps per row, the ratio,
and whether both rows took the same actions (greedy decoding: they should, episode by
episode). Report ``uptime`` beside the figures.

    python bench/bench_shared_eval.py --model reports/demo/<run>/models/bc [--tasks a,b] [--seeds 5]

``--model`` is any folder ``local:`` loads (a demo's ``models/bc``); without it a random tiny
model is built (its episodes fail, which still times the machinery, not the learning).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

TASKS = "click-button,click-dialog,click-link,click-tab,enter-password,enter-text,focus-text,login-user"


def _actions(data_dir: Path, mode: str) -> dict[str, list[str]]:
    """Each episode's worker actions, by task id."""
    out: dict[str, list[str]] = {}
    for path in sorted((data_dir / "trajectories" / mode).rglob("*.jsonl")):
        steps = [json.loads(line) for line in path.read_text().splitlines()]
        task = path.name.split("__attempt_")[0]
        out[task] = [str(e.get("action")) for e in steps if e.get("type") == "step"]
    return out


def play(label: str, model: str, tasks: list, shared: int, workers: int, root: Path, in_place: bool = False) -> dict:
    from halo_core.api import Runtime
    from halo_plugin_trainers.demo import _run_episodes, _worker_config

    os.environ["HALO_SHARED_MODEL_EPISODES"] = str(shared)
    runtime = Runtime()
    config = _worker_config("qwen_worker_bc", f"local:{model}", 12,
                            miniwob_restart_in_place=in_place).replace(mode=f"bench_{label}")
    started = time.perf_counter()
    records = _run_episodes(runtime, f"bench_{label}", tasks, {f"bench_{label}": config}, data_dir=root / "data",
                            results_dir=root / "results", workers=workers, model_episodes=True)
    seconds = time.perf_counter() - started
    return {"label": label, "episodes": len(records), "seconds": seconds,
            "per_hour": 3600 * len(records) / seconds, "successes": sum(bool(r.get("success")) for r in records),
            "steps": sum(r.get("steps", 0) for r in records) / max(1, len(records)),
            "errors": sum(bool(r.get("error")) for r in records),
            "actions": _actions(root / "data", f"bench_{label}")}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="", help="a folder local: loads (default: a random tiny model)")
    parser.add_argument("--tasks", default=TASKS, help="MiniWoB++ task names, comma-separated")
    parser.add_argument("--seeds", type=int, default=5, help="held-out seeds per task")
    parser.add_argument("--workers", type=int, default=2, help="processes of the 'processes' row")
    parser.add_argument("--shared", type=int, default=8, help="episodes in flight in the 'shared' row")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

    from halo_core.api import Runtime
    from halo_plugin_trainers.demo import select_miniwob_tasks

    root = Path(tempfile.mkdtemp(prefix="halo_bench_eval_"))
    model = args.model
    if not model:
        from halo_plugin_qwen.tiny import build_tiny_qwen
        from halo_plugin_trainers.demo import TINY

        model = str(build_tiny_qwen(root / "tiny", ["click('1') fill('2', 'a')"] * 8, seed=0, **TINY))
    names = [n.strip() for n in args.tasks.split(",") if n.strip()]
    _, tasks = select_miniwob_tasks(Runtime(), False, 0, args.seeds, names=names)
    print(f"{len(tasks)} episodes ({len(names)} tasks x {args.seeds} held-out seeds), model {model}; "
          f"load average {os.getloadavg()[0]:.2f}", flush=True)
    rows = [play("processes", model, tasks, 0, args.workers, root),
            play("shared", model, tasks, args.shared, args.workers, root),
            play("shared_in_place", model, tasks, args.shared, args.workers, root, in_place=True)]
    print(f"\n  {'row':<46} {'episodes':>8} {'seconds':>8} {'episodes/h':>11} {'successes':>10} {'steps':>6}")
    for row, name in zip(rows, (f"processes ({args.workers}, a model each)",
                                f"shared ({args.shared} episodes, one model)",
                                f"shared ({args.shared}), restart in place")):
        print(f"  {name:<46} {row['episodes']:>8} {row['seconds']:>8.1f} {row['per_hour']:>11.0f} "
              f"{row['successes']:>10} {row['steps']:>6.2f}" + (f"  errors {row['errors']}" if row["errors"] else ""))
    old = rows[0]
    for new, name in zip(rows[1:], ("shared", "shared, restart in place")):
        same = sum(old["actions"].get(t) == a for t, a in new["actions"].items())
        ratio = new["per_hour"] / old["per_hour"]
        print(f"{name} / processes: {ratio:.2f}x episodes per hour (target >= 3x: "
              f"{'met' if ratio >= 3 else 'MISSED'}); same actions in {same}/{len(new['actions'])} episodes")
    print(f"load average after {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
