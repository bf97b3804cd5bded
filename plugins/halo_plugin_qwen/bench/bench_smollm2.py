"""Valid-action rate of a small local model: prompt style × decoding, on any suite's tasks.

Runs a handful of tasks (web clones by default; MiniWoB++ instances such as
``miniwob.click-button@10000``) for a few steps each with the ``local:`` worker (no
manager, no cache), once per ``prompt/decoding`` pair, in the real browser, and prints
per pair the worker steps n, the valid-action rate (the output contract: valid after at
most one re-ask) with a 95% Wilson interval, the first-try rate, successes and wall time.
Decoding ``free`` is the model's own text; ``actions`` is constrained to one action on
the page (:mod:`halo_plugin_qwen.constrain`).

    halo models import-gguf --download --out models/smollm2-135m
    .venv/bin/python plugins/halo_plugin_qwen/bench/bench_smollm2.py --model models/smollm2-135m \\
        [--tasks shop-1,mail-1,miniwob.click-button@10000,...] [--max-steps 4] \\
        [--styles default/free,fewshot/free,fewshot/actions] [--threads 1]
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time

DEFAULT_TASKS = "shop-1,shop-2,mail-1,mail-2,calendar-1,calendar-2"


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The 95% Wilson score interval for k successes in n trials."""
    if n == 0:
        return 0.0, 1.0
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def _forwarded(name: str) -> property:
    """An attribute read from and written to ``self.inner``."""
    return property(lambda self: getattr(self.inner, name), lambda self, value: setattr(self.inner, name, value))


class CountingBackend:
    """Forwards to the local backend and keeps every reply (for first-try counts and samples)."""

    def __init__(self, inner) -> None:
        self.inner, self.replies = inner, []
        self.name, self.supports_images = inner.name, False

    # what the worker prompt hook sets on the backend each step goes to the wrapped one
    one_line = _forwarded("one_line")
    constrain_bids = _forwarded("constrain_bids")
    constrain_copy = _forwarded("constrain_copy")

    def check(self) -> None:
        self.inner.check()

    def complete(self, messages, **options):
        completion = self.inner.complete(messages, **options)
        self.replies.append(completion.text)
        return completion


class StepWatch:
    """Counts each worker step's calls (1 = valid at first try) and keeps invalid replies."""

    def __init__(self, backend: CountingBackend) -> None:
        self.backend, self.seen, self.first_try, self.invalid = backend, 0, 0, []

    def __call__(self, record, after) -> None:
        calls = len(self.backend.replies) - self.seen
        self.seen = len(self.backend.replies)
        if record.decision.source != "worker":
            return
        replies = self.backend.replies[-calls:] if calls else []
        verdict = "INVALID" if "invalid_output" in record.decision.meta else "ok"
        print(f"    step {record.step_idx}: {verdict} {' | '.join(repr(r[:70]) for r in replies)}"
              f"{'  (error: ' + after.last_action_error[:60] + ')' if after.last_action_error else ''}", flush=True)
        if "invalid_output" in record.decision.meta:
            self.invalid.append(record.decision.meta["invalid_output"][:80])
        elif calls == 1:
            self.first_try += 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="a local model folder (halo models import-gguf --out)")
    parser.add_argument("--tasks", default=DEFAULT_TASKS,
                        help=f"task ids; a bare name is a web clone (default {DEFAULT_TASKS})")
    parser.add_argument("--max-steps", type=int, default=4)
    parser.add_argument("--styles", default="default/free,fewshot/free,fewshot/actions",
                        help="prompt/decoding pairs (prompt: default|fewshot; decoding: free|actions)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the machine may be shared)")
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    from halo_core.backends import BackendSettings
    from halo_core.config import mode_config
    from halo_core.env.protocol import EnvSettings
    from halo_core.loop import run_episode
    from halo_core.testing import make_runtime
    from halo_plugin_qwen import plugin as qwen_plugin
    from halo_plugin_qwen.local import LocalBackend
    from halo_core.runtime import Runtime

    resolved = [Runtime().resolve_task(t if "." in t.split("@")[0] else f"webclones.{t}")
                for t in args.tasks.split(",")]
    backend = LocalBackend(os.path.abspath(args.model), BackendSettings(max_tokens=48))
    started = time.perf_counter()
    backend.load()
    print(f"model {args.model} loaded in {time.perf_counter() - started:.1f} s; "
          f"{len(resolved)} tasks × ≤{args.max_steps} steps; torch threads {args.threads}", flush=True)
    runtime = make_runtime(qwen_plugin)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-smollm2-") as data_dir:
        for pair in args.styles.split(","):
            style, _, decoding = pair.partition("/")
            decoding = decoding or "free"
            counting = CountingBackend(backend)
            watch = StepWatch(counting)
            steps = invalid = successes = 0
            style_started = time.perf_counter()
            for suite, task in resolved:
                config = mode_config("baseline_worker", env={}, runtime=runtime, max_steps=args.max_steps,
                                     worker_backend=f"local:{backend.model}", use_screenshot=False,
                                     worker_prompt=style, worker_decoding=decoding)
                env = suite.make_environment(task, EnvSettings(screenshot=False))
                try:
                    result = run_episode(task, config, env, runtime, data_dir=data_dir,
                                         backends={"worker": counting}, on_step=watch)
                finally:
                    env.close()
                steps += int(result.counter("worker_steps"))
                invalid += int(result.counter("invalid_outputs"))
                successes += int(result.success)
                print(f"  [{pair}] {task.id}: {int(result.counter('worker_steps'))} steps, "
                      f"{int(result.counter('invalid_outputs'))} invalid, {result.terminated_by}"
                      f"{' ' + result.error[:100] if result.error else ''}, success={result.success}", flush=True)
            wall = time.perf_counter() - style_started
            valid = steps - invalid
            low, high = wilson(valid, steps)
            rows.append((pair, steps, valid, low, high, watch.first_try, successes, len(resolved), wall,
                         len(counting.replies), watch.invalid[:3]))
    print()
    print(f"{'prompt/decoding':<16} {'n':>3} {'valid':>6} {'95% CI':>13} {'1st try':>7} {'success':>7} {'calls':>5} {'wall s':>7} "
          f"{'s/call':>6}")
    for style, n, valid, low, high, first, ok, total, wall, calls, samples in rows:
        rate = valid / n if n else 0.0
        print(f"{style:<16} {n:>3} {rate:>6.0%} {f'{low:.0%}–{high:.0%}':>13} {first:>7} {f'{ok}/{total}':>7} "
              f"{calls:>5} {wall:>7.0f} {wall / max(calls, 1):>6.1f}")
        for sample in samples:
            print(f"         invalid reply: {sample!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
