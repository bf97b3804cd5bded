"""BC training speed: the same steps with and without the shared prompt start computed once.

Every worker prompt of one style opens with the same system turn (about half the tokens
of a MiniWoB example). ``train_bc`` computes a batch's common start once and shares its
keys and values with every row (:func:`halo_plugin_trainers.bc.shared_prefix_hidden`).
This bench trains the same base on the same data for the same steps both ways, in one
run, and prints s/step and the losses (equal up to float rounding: same computation).

    python bench/bench_bc_training.py --base RUN/models/tiny_warm --dataset RUN/datasets/bc.jsonl

``RUN`` is a ``halo demo`` run folder (``--out``/``--run-id``): its warm tiny model and
its exported BC data.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path


def _run(base: str, dataset: str, steps: int, batch: int, shared: bool, out: Path) -> dict:
    from halo_plugin_trainers import bc

    saved = bc.MIN_SHARED_PREFIX
    bc.MIN_SHARED_PREFIX = saved if shared else 1 << 30
    try:
        started = time.perf_counter()
        folder = bc.train_bc(dataset=dataset, base_model=base, output=str(out), max_steps=steps, lr=2e-3,
                             lr_scheduler="cosine", warmup_steps=10, batch_size=batch, lora=False, seed=0,
                             progress="none", save_steps=steps * 10, logging_steps=max(1, steps // 10),
                             max_length=4096)
        took = time.perf_counter() - started
    finally:
        bc.MIN_SHARED_PREFIX = saved
    metrics = json.loads((Path(folder) / "training_summary.json").read_text())["metrics"]
    return {"seconds": took, "s_per_step": metrics["wall_time_sec"] / steps, "train_loss": metrics["train_loss"],
            "final_loss": metrics.get("final_logged_loss")}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", required=True, help="a tiny model folder (a demo run's models/tiny_warm)")
    parser.add_argument("--dataset", required=True, help="an exported bc.jsonl")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    os.environ.setdefault("HALO_TORCH_THREADS", str(args.threads))
    for path in (args.base, args.dataset):
        if not Path(path).exists():
            print(f"error: {path} does not exist; give a halo demo run's models/tiny_warm and datasets/bc.jsonl",
                  file=sys.stderr)
            return 2
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, shared in (("whole prompt per row", False), ("shared start once", True)):
            rows[name] = _run(args.base, args.dataset, args.steps, args.batch, shared, Path(tmp) / name.replace(" ", "_"))
    plain, fast = rows["whole prompt per row"], rows["shared start once"]
    print(f"\nBC, {args.steps} steps of {args.batch}, {args.threads} threads, {args.dataset}")
    print("| path | s/step | mean loss | last logged loss |")
    print("|---|---|---|---|")
    for name, r in rows.items():
        print(f"| {name} | {r['s_per_step']:.3f} | {r['train_loss']:.4f} | {r['final_loss']} |")
    print(f"speed-up: {plain['s_per_step'] / fast['s_per_step']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
