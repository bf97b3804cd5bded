"""MiniWoB++ through HALO: per-step latency, episodes per hour, and BrowserGym side by side.

Part 1 — latency: on a few tasks and seeds, the time of ``reset`` and of one environment
``step`` (action + settle + observation), with screenshots on (as BrowserGym takes them),
for a ``noop()`` and for the expert's own actions.
Part 2 — throughput: the same expert episodes with 1 and with 2 worker processes
(each its own Chromium), as episodes per hour.
Part 3 — BrowserGym-MiniWoB (its own virtualenv, it pins another Playwright) on the same
tasks and seeds, served by the same local page server: reset and ``noop()`` step latency
with its defaults (``pre_observation_delay=0.5`` s) and with that delay removed; the
ratio to HALO's ``noop()`` step is printed. When BrowserGym cannot run, the reason is
printed instead.

    python bench/bench_miniwob.py [--tasks click-button,enter-text] [--seeds 5] [--episodes 20]
        [--bgym-python /tmp/bgym/bin/python] [--json out.json]

BrowserGym set-up: ``python3 -m venv /tmp/bgym && /tmp/bgym/bin/pip install browsergym-miniwob``;
its Playwright browser download is not needed: Chromium is taken from /usr/bin/chromium
(or ``--chromium``).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path


def _stats(values: list[float]) -> dict[str, float]:
    if not values:
        return {"n": 0}
    ordered = sorted(values)
    return {"n": len(values), "median_ms": round(statistics.median(ordered), 1),
            "p90_ms": round(ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))], 1),
            "mean_ms": round(statistics.fmean(ordered), 1)}


def _halo(screenshot: bool):
    from halo_core.env.protocol import EnvSettings
    from halo_core.testing import make_runtime

    import halo_plugin_miniwob.plugin as plugin
    from halo_plugin_miniwob import MiniwobSuite

    suite = MiniwobSuite()
    return suite, suite.make_environment(None, EnvSettings(screenshot=screenshot)), make_runtime(plugin)


def halo_latency(tasks: list[str], seeds: list[int], noops: int = 3) -> dict:
    from halo_core.config import AgentConfig
    from halo_core.loop import run_episode

    suite, env, runtime = _halo(screenshot=True)
    resets, noop_steps, expert_steps = [], [], []
    try:
        env.reset(suite.resolve(f"miniwob.{tasks[0]}@0"))  # browser launch is not a reset
        with tempfile.TemporaryDirectory() as data_dir:
            for task in tasks:
                for seed in seeds:
                    spec = suite.resolve(f"miniwob.{task}@{seed}")
                    t0 = time.perf_counter()
                    env.reset(spec)
                    resets.append((time.perf_counter() - t0) * 1000)
                    for _ in range(noops):
                        t0 = time.perf_counter()
                        env.step("noop()")
                        noop_steps.append((time.perf_counter() - t0) * 1000)
                    run_episode(spec, AgentConfig(policy="expert", max_steps=20), env, runtime, run_id="bench",
                                data_dir=data_dir, on_step=lambda record, after: expert_steps.append(env.timings["step"]))
    finally:
        env.close()
    return {"reset": _stats(resets), "noop_step": _stats(noop_steps), "expert_step": _stats(expert_steps)}


def _run_share(share: list[tuple[str, int]]) -> tuple[int, int]:
    from halo_core.config import AgentConfig
    from halo_core.loop import run_episode

    suite, env, runtime = _halo(screenshot=False)
    wins = 0
    try:
        with tempfile.TemporaryDirectory() as data_dir:
            for task, seed in share:
                result = run_episode(suite.resolve(f"miniwob.{task}@{seed}"), AgentConfig(policy="expert", max_steps=20),
                                     env, runtime, run_id="bench", data_dir=data_dir)
                wins += result.success
    finally:
        env.close()
    return wins, len(share)


def throughput(tasks: list[str], episodes: int, workers: int) -> dict:
    jobs = [(tasks[i % len(tasks)], 1000 + i) for i in range(episodes)]
    shares = [jobs[w::workers] for w in range(workers)]
    t0 = time.perf_counter()
    if workers == 1:
        results = [_run_share(shares[0])]
    else:
        with multiprocessing.get_context("spawn").Pool(workers) as pool:
            results = pool.map(_run_share, shares)
    elapsed = time.perf_counter() - t0
    wins = sum(w for w, _ in results)
    return {"workers": workers, "episodes": episodes, "successes": wins, "seconds": round(elapsed, 1),
            "episodes_per_hour": round(3600 * episodes / elapsed)}


_BGYM_SCRIPT = textwrap.dedent("""
    import json, statistics, sys, time
    import gymnasium as gym
    import browsergym.miniwob  # registers browsergym/miniwob.* environments
    spec = json.loads(sys.argv[1])
    out = {}
    for label, delay in (("defaults", None), ("no_delay", 0.0)):
        resets, steps = [], []
        for task in spec["tasks"]:
            kwargs = {"headless": True, "pw_chromium_kwargs": {"executable_path": spec["chromium"]}}
            if delay is not None:
                kwargs["pre_observation_delay"] = delay
            env = gym.make("browsergym/miniwob." + task, **kwargs)
            try:
                env.reset(seed=spec["seeds"][0])  # browser launch is not a reset
                for seed in spec["seeds"]:
                    t0 = time.perf_counter(); env.reset(seed=seed); resets.append((time.perf_counter() - t0) * 1000)
                    for _ in range(spec["noops"]):
                        t0 = time.perf_counter(); env.step("noop()"); steps.append((time.perf_counter() - t0) * 1000)
            finally:
                env.close()
        out[label] = {"reset": resets, "noop_step": steps}
    print("BGYM_RESULT " + json.dumps(out))
""")


def _playwright_browsers_dir(python: str, chromium: str) -> str | dict:
    """A PLAYWRIGHT_BROWSERS_PATH whose Chromium is ``chromium``: BrowserGym's chat window
    launches a second browser that ignores ``pw_chromium_kwargs``, so the executable
    must sit where that Playwright looks for its own download."""
    found = subprocess.run([python, "-c", "import playwright, pathlib; print(pathlib.Path(playwright.__file__).parent)"],
                           capture_output=True, text=True)
    manifest = Path(found.stdout.strip()) / "driver" / "package" / "browsers.json"
    if found.returncode or not manifest.is_file():
        return {"error": f"cannot find the BrowserGym virtualenv's Playwright browsers.json ({found.stderr.strip()[-200:]})"}
    if not Path(chromium).exists():
        return {"error": f"no Chromium at {chromium} (--chromium)"}
    revision = next(b["revision"] for b in json.loads(manifest.read_text())["browsers"] if b["name"] == "chromium")
    root = Path(tempfile.mkdtemp(prefix="bgym-browsers-"))
    (root / f"chromium-{revision}" / "chrome-linux").mkdir(parents=True)
    (root / f"chromium-{revision}" / "chrome-linux" / "chrome").symlink_to(chromium)
    return str(root)


def browsergym_latency(python: str, tasks: list[str], seeds: list[int], chromium: str, noops: int = 3) -> dict:
    if not Path(python).exists():
        return {"error": f"no BrowserGym virtualenv at {python}: python3 -m venv /tmp/bgym && "
                         "/tmp/bgym/bin/pip install browsergym-miniwob"}
    from halo_plugin_miniwob import start_server

    browsers = _playwright_browsers_dir(python, chromium)
    if isinstance(browsers, dict):
        return browsers
    with start_server() as server, tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as script:
        script.write(_BGYM_SCRIPT)
        script.flush()
        env = dict(os.environ, MINIWOB_URL=server.url + "/miniwob/", PLAYWRIGHT_BROWSERS_PATH=browsers)
        spec = json.dumps({"tasks": tasks, "seeds": seeds, "chromium": chromium, "noops": noops})
        try:
            proc = subprocess.run([python, script.name, spec], capture_output=True, text=True, env=env, timeout=900)
        finally:
            os.unlink(script.name)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("BGYM_RESULT ")), None)
    if line is None:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-6:]
        return {"error": f"BrowserGym exited {proc.returncode}: " + " | ".join(tail)}
    raw = json.loads(line[len("BGYM_RESULT "):])
    return {label: {k: _stats(v) for k, v in parts.items()} for label, parts in raw.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default="click-button,enter-text,click-checkboxes,choose-list")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--episodes", type=int, default=20, help="episodes per throughput run (0: skip)")
    parser.add_argument("--bgym-python", default="/tmp/bgym/bin/python")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--json", default="")
    args = parser.parse_args(argv)
    tasks = [t for t in args.tasks.split(",") if t]
    seeds = list(range(args.seeds))
    report: dict = {"tasks": tasks, "seeds": seeds, "cpus": os.cpu_count(), "load_average": os.getloadavg()}

    report["halo"] = halo_latency(tasks, seeds)
    print(f"HALO  reset {report['halo']['reset']}\n      noop step {report['halo']['noop_step']}\n"
          f"      expert step {report['halo']['expert_step']}", flush=True)
    if args.episodes:
        report["throughput"] = [throughput(tasks, args.episodes, w) for w in (1, 2)]
        for row in report["throughput"]:
            print(f"HALO  {row['workers']} worker(s): {row['episodes']} episodes in {row['seconds']} s "
                  f"= {row['episodes_per_hour']} episodes/hour ({row['successes']} successes)", flush=True)
    bgym = browsergym_latency(args.bgym_python, tasks, seeds, args.chromium)
    report["browsergym"] = bgym
    if "error" in bgym:
        print(f"BrowserGym: not measured: {bgym['error']}")
    else:
        halo_step = report["halo"]["noop_step"]["median_ms"]
        for label, parts in bgym.items():
            step = parts["noop_step"]["median_ms"]
            print(f"BrowserGym ({label}) reset {parts['reset']}\n      noop step {parts['noop_step']}\n"
                  f"      noop step median ratio BrowserGym/HALO = {step / halo_step:.2f}")
    print(f"(machine: {report['cpus']} CPUs, load average {', '.join(f'{x:.1f}' for x in report['load_average'])})")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
