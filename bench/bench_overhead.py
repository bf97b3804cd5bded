"""Per-step overhead of HALO's own machinery: observe + decide + verify + log.

All built-in plugins are on (summarizer, manager gate, recovery, worker, verifier,
loop detector, JSONL logger). The browser and the model are excluded: the
environment replays a fixed large AXTree (≥ 1,500 nodes) and the worker's backend
answers instantly. Target: median < 0.5 ms per step. Beside wall time the bench prints
this process's CPU time per step, which a loaded machine inflates far less.

    python bench/bench_overhead.py [--nodes 1600] [--steps 300]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

from halo_core import mode_config, run_episode
from halo_core.model import AXNode, Evaluation, RawObservation, TaskSpec
from halo_core.testing import ScriptedBackend, make_runtime


def big_axtree(n_nodes: int, variant: int) -> tuple[AXNode, ...]:
    nodes = [AXNode("RootWebArea", "Catalog", depth=0), AXNode("heading", "Products", depth=1)]
    i = 0
    while len(nodes) < n_nodes:
        nodes.append(AXNode("listitem", "", depth=2))
        nodes.append(AXNode("link", f"Product {i}", bid=str(2 * i + 1), depth=3))
        nodes.append(AXNode("StaticText", f"${10 + i}.99 — rating {i % 5} stars", depth=3))
        nodes.append(AXNode("button", f"Add product {i} to cart", bid=str(2 * i + 2), depth=3))
        i += 1
    nodes.append(AXNode("textbox", "Search", bid="search", value=str(variant % 7), depth=1))
    return tuple(nodes)


class ReplayEnvironment:
    """Returns a large pre-built page on every step; costs nothing itself."""

    def __init__(self, n_nodes: int) -> None:
        self.pages = [RawObservation(url=f"http://shop.test/list?page={v}", title="Catalog",
                                     axtree=big_axtree(n_nodes, v)) for v in range(7)]
        self.i = 0

    def reset(self, task):
        return self.pages[0]

    def step(self, action):
        self.i += 1
        return self.pages[self.i % len(self.pages)]

    def evaluate(self, final_message, infeasible):
        return Evaluation(0.0, False)

    def close(self):
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=1600)
    parser.add_argument("--steps", type=int, default=300)
    args = parser.parse_args()

    env = ReplayEnvironment(args.nodes)
    backend = ScriptedBackend(lambda messages: "click('1')")
    backend_time: list[float] = []
    inner = backend.complete

    def timed_complete(messages, **kw):  # measured so it can be subtracted
        t = time.perf_counter()
        out = inner(messages, **kw)
        backend_time.append(time.perf_counter() - t)
        return out

    backend.complete = timed_complete
    env_time: list[float] = []
    step = env.step

    def timed_step(action):
        t = time.perf_counter()
        out = step(action)
        env_time.append(time.perf_counter() - t)
        return out

    env.step = timed_step
    runtime = make_runtime()
    task = TaskSpec(id="bench.overhead", goal="Find the cheapest blender and add it to the cart", suite="bench")
    config = mode_config("hierarchy_mgr_gate", max_steps=args.steps, env={}, use_recovery=True)
    runs, cpu_runs = [], []
    for _ in range(5):  # five episodes; the median episode's per-step figure is reported
        env_time.clear()
        backend_time.clear()
        with tempfile.TemporaryDirectory() as data_dir:
            t0, c0 = time.perf_counter(), time.process_time()
            result = run_episode(task, config, env, runtime, data_dir=data_dir,
                                 backends={"worker": backend, "manager": backend})
            total = time.perf_counter() - t0
            cpu = time.process_time() - c0
        assert result.steps == args.steps, result.error
        runs.append(1000 * (total - sum(env_time) - sum(backend_time)) / result.steps)
        cpu_runs.append(1000 * cpu / result.steps)
    median = statistics.median(runs)
    print(f"AXTree nodes per page: {len(env.pages[0].axtree)}  actionable: "
          f"{sum(1 for n in env.pages[0].axtree if n.bid)}")
    print(f"episodes: {len(runs)} x {args.steps} steps; per-step overhead by episode (ms): "
          + ", ".join(f"{r:.3f}" for r in runs))
    print(f"median overhead per step (observe + decide + verify + log): {median:.3f} ms   "
          f"target < 0.5 ms: {'MET' if median < 0.5 else 'MISSED'}")
    print(f"median CPU time per step (this process, env and backend included, both ~0): "
          f"{statistics.median(cpu_runs):.3f} ms")


if __name__ == "__main__":
    main()
