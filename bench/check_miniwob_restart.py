"""MiniWoB++ episodes started in place play exactly as episodes on a freshly loaded page.

The MiniWoB environment starts an episode on the task's page when the worker's page
already shows it (``core.endEpisode(0)``, seed, data mode, ``core.startEpisodeReal()``, as
the ``miniwob`` package's own driver does) instead of loading the page again. This plays
the scripted expert on every expert-covered task and the given seeds twice — every page
loaded anew (``miniwob_restart_in_place=false``), then restarted in place — with the same
thread executor, and compares each episode: success, reward, the actions and a hash of
every observation the expert saw. It prints the episodes where anything differs, both
runs' wall time. Tasks in ``RELOAD_EACH_EPISODE`` load their page every episode in both
runs (they are the ones this check found differing); their differences are reported
apart, as the task's own variation between two loads.

    python bench/check_miniwob_restart.py [--tasks a,b] [--seeds 3] [--threads 4]

Exit status 1 when an episode differs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path


def _episodes(data_dir: Path, mode: str) -> dict[str, dict]:
    """{task id: {"actions": [...], "observations": [...], "success": bool, "reward": float}}."""
    out: dict[str, dict] = {}
    for path in sorted((data_dir / "trajectories" / mode).rglob("*.jsonl")):
        rows = [json.loads(line) for line in path.read_text().splitlines()]
        steps = [r for r in rows if r.get("type") == "step"]
        end = next((r for r in rows if r.get("type") == "episode_end"), {})
        out[path.name.split("__attempt_")[0]] = {
            "actions": [s.get("action") for s in steps], "observations": [s.get("obs_hash") for s in steps],
            "success": bool(end.get("success")), "reward": end.get("reward")}
    return out


def play(in_place: bool, tasks: list, threads: int, root: Path) -> tuple[dict, float]:
    from halo_core.api import Runtime, mode_config
    from halo_plugin_trainers.demo import DEMO_PAGE_CHARS, _run_episodes

    mode = "restart_in_place" if in_place else "restart_reload"
    config = mode_config("baseline_worker", policy="expert", use_screenshot=False, max_steps=40,
                         max_page_chars=DEMO_PAGE_CHARS, miniwob_restart_in_place=in_place).replace(mode=mode)
    started = time.perf_counter()
    _run_episodes(Runtime(), mode, tasks, {mode: config}, data_dir=root / "data", results_dir=root / "results",
                  workers=threads, threads=threads)
    return _episodes(root / "data", mode), time.perf_counter() - started


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", default="", help="MiniWoB++ task names, comma-separated (default: every "
                                                   "expert-covered task)")
    parser.add_argument("--seeds", type=int, default=3, help="train seeds per task (0..N-1)")
    parser.add_argument("--threads", type=int, default=4, help="episodes in flight")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    from halo_core.api import Runtime
    from halo_plugin_trainers.demo import select_miniwob_tasks

    names = [n.strip() for n in args.tasks.split(",") if n.strip()] or None
    tasks, _ = select_miniwob_tasks(Runtime(), False, args.seeds, 0, names=names, full=names is None)
    root = Path(tempfile.mkdtemp(prefix="halo_check_restart_"))
    print(f"{len(tasks)} expert episodes ({len(tasks) // args.seeds} tasks x {args.seeds} seeds), "
          f"{args.threads} in flight; load average {os.getloadavg()[0]:.2f}", flush=True)
    reload, reload_s = play(False, tasks, args.threads, root)
    in_place, in_place_s = play(True, tasks, args.threads, root)
    from halo_plugin_miniwob import parse_task_id
    from halo_plugin_miniwob.catalogue import RELOAD_EACH_EPISODE

    differ = sorted(t for t in reload if reload[t] != in_place.get(t))
    own = [t for t in differ if parse_task_id(t)[0] in RELOAD_EACH_EPISODE]  # reloaded both times
    differ = [t for t in differ if t not in own]
    print(f"\n  reload every episode: {reload_s:7.1f} s, {sum(e['success'] for e in reload.values())}/{len(reload)} solved")
    print(f"  restart in place:     {in_place_s:7.1f} s, {sum(e['success'] for e in in_place.values())}/"
          f"{len(in_place)} solved ({reload_s / in_place_s:.2f}x faster)")
    if own:
        print(f"\n{len(own)} episodes of tasks that reload every episode (RELOAD_EACH_EPISODE) differ between "
              f"their two loads, the task's own variation: {', '.join(own)}")
    if differ:
        print(f"\n{len(differ)} episodes differ:")
        for task in differ:
            a, b = reload[task], in_place.get(task, {})
            what = [k for k in ("success", "reward", "actions", "observations") if a.get(k) != b.get(k)]
            print(f"  {task}: {', '.join(what)}")
        return 1
    print(f"\nevery episode of a task that restarts in place is identical both ways (success, reward, actions, "
          f"observation hashes): {len(reload) - len(own)} of {len(reload)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
