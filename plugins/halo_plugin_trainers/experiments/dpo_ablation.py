"""Why does DPO from BC lower the valid-action rate? A controlled ablation on ``halo demo`` data.

Usage (after a ``halo demo --quick --out OUT --run-id RUN``)::

    python plugins/halo_plugin_trainers/experiments/dpo_ablation.py OUT/RUN [--variants a,b] [--live]

Every variant trains a DPO LoRA adapter on the run's BC model (same data, seed, steps),
then measures, on the train prompts of ``bc.jsonl``:

* ``valid``: the greedy reply parses and its bid is on the page (what the worker accepts);
* ``match``: the greedy reply is the expert's action;
* ``dlogp``: mean change of the chosen (expert) action's log-probability versus BC;

and with ``--live`` the success rate of greedy episodes on the train tasks (real browser).
Results are printed as a Markdown table and written to ``<run>/dpo_ablation.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def variants(run: Path) -> dict[str, dict]:
    ds = run / "datasets"
    synthetic = str(ds / "dpo.jsonl")
    real = str(ds / "dpo_real.jsonl")
    both = str(ds / "dpo_mixed.jsonl")
    return {
        # what `halo demo` did: synthetic invalid-bid pairs, lr 5e-4, beta 0.1, LoRA r16
        "demo (lr 5e-4, β 0.1, synthetic)": dict(dataset=synthetic, lr=5e-4, beta=0.1),
        "lr 5e-5": dict(dataset=synthetic, lr=5e-5, beta=0.1),
        "β 0.5": dict(dataset=synthetic, lr=5e-4, beta=0.5),
        "+ SFT term (rpo α 1)": dict(dataset=synthetic, lr=5e-4, beta=0.1, sft_weight=1.0),
        "real pairs only": dict(dataset=real, lr=5e-4, beta=0.1),
        "real + synthetic": dict(dataset=both, lr=5e-4, beta=0.1),
        "fixed (lr 5e-5, β 0.1, + SFT, real + synthetic)": dict(dataset=both, lr=5e-5, beta=0.1, sft_weight=1.0),
    }


def make_real_pairs(run: Path) -> None:
    """Re-export with the evaluated models' own episodes: their failed actions in the
    expert's states are real negatives (``success_vs_failure``, no synthetic ones)."""
    from halo_core.export import export_datasets

    ds = run / "datasets"
    tmp = run / "datasets_real"
    export_datasets(run / "data" / "trajectories", tmp, pairing_strategies=("success_vs_failure",),
                    synthetic_negatives=False, val_fraction=0.0)
    rows = [json.loads(x) for x in (tmp / "dpo.jsonl").read_text().splitlines() if x.strip()]
    (ds / "dpo_real.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    synthetic = (ds / "dpo.jsonl").read_text()
    (ds / "dpo_mixed.jsonl").write_text(synthetic + "".join(json.dumps(r) + "\n" for r in rows))
    print(f"real pairs: {len(rows)}", flush=True)


def greedy_metrics(model_dir: Path, bc_rows: list[dict], bc_logps: list[float] | None):
    import torch
    from halo_plugin_qwen.chat import render_chat
    from halo_plugin_trainers.rewards import _action, page_bids

    from halo_core.backends import Message
    from halo_core.runtime import Runtime
    from halo_core.backends import BackendSettings

    backend = Runtime().backends.create(f"local:{model_dir}", BackendSettings(temperature=0.0, max_tokens=48))
    model, tokenizer = backend.load()
    valid = match = 0
    logps = []
    for row in bc_rows:
        messages = [Message(m["role"], m["content"]) for m in row["prompt"]]
        text = backend.complete(messages).text
        got, want = _action(text), _action(row["completion"][-1]["content"])
        ok = got is not None and (got.bid is None or got.bid in page_bids(row["prompt"]))
        valid += ok
        match += bool(got and want and got.to_string() == want.to_string())
        prompt = render_chat(tokenizer, messages)
        full = render_chat(tokenizer, messages + [Message("assistant", row["completion"][-1]["content"])],
                           add_generation_prompt=False)
        p_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        f_ids = tokenizer(full, add_special_tokens=False)["input_ids"]
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([f_ids])).logits[0, len(p_ids) - 1:-1]
        lp = torch.log_softmax(logits.float(), -1).gather(1, torch.tensor(f_ids[len(p_ids):])[:, None]).sum()
        logps.append(float(lp))
    n = len(bc_rows)
    dlogp = None if bc_logps is None else sum(a - b for a, b in zip(logps, bc_logps)) / n
    return {"valid": valid / n, "match": match / n, "n": n, "dlogp": dlogp}, logps


def live_success(model_dir: Path, task_ids: list[str], max_steps: int) -> dict:
    from halo_plugin_trainers.demo import _worker_config

    from halo_core.env.protocol import EnvSettings
    from halo_core.loop import run_episode
    from halo_core.runtime import Runtime

    runtime = Runtime()
    suite = runtime.suite("webclones")
    config = _worker_config("qwen_worker_dpo", f"local:{model_dir}", max_steps)
    env = None
    wins = steps = valid = 0
    try:
        for tid in task_ids:
            task = suite.resolve(tid)
            env = env or suite.make_environment(task, EnvSettings(headless=True, screenshot=False))
            records = []
            result = run_episode(task, config, env, runtime, run_id="ablation", data_dir=model_dir / "_live",
                                 on_step=lambda r, a: records.append(r))
            wins += bool(result.success)
            steps += len(records)
            valid += sum(1 for r in records if not r.error and not r.decision.meta.get("parse_error"))
    finally:
        if env is not None:
            env.close()
    return {"live_success": wins, "live_tasks": len(task_ids), "live_valid": valid / steps if steps else None}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("run", type=Path)
    parser.add_argument("--variants", default="")
    parser.add_argument("--steps", type=int, default=15)
    parser.add_argument("--live", action="store_true")
    parser.add_argument("--max-steps", type=int, default=4)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    from halo_plugin_trainers import train_dpo

    run = args.run
    bc_dir = run / "models" / "bc"
    bc_rows = [json.loads(x) for x in (run / "datasets" / "bc.jsonl").read_text().splitlines()]
    results = {"train_tasks": sorted({r["task_id"] for r in bc_rows})}
    if not (run / "datasets" / "dpo_real.jsonl").exists():
        make_real_pairs(run)  # real negatives exist once the demo has evaluated its models
    table = {}
    base_metrics, bc_logps = greedy_metrics(bc_dir, bc_rows, None)
    if args.live:
        base_metrics.update(live_success(bc_dir, results["train_tasks"], args.max_steps))
    table["BC (no DPO)"] = base_metrics
    print("BC", base_metrics, flush=True)
    wanted = [v.strip() for v in args.variants.split(",") if v.strip()]
    for i, (name, v) in enumerate(variants(run).items()):
        if wanted and not any(w in name for w in wanted):
            continue
        if not Path(v["dataset"]).read_text().strip():
            table[name] = {"skipped": "no pairs"}
            continue
        out = run / "ablation" / f"v{i}"
        kw = dict(v)
        train_dpo(base_model=str(bc_dir), output=str(out), max_steps=args.steps, batch_size=4, lora_r=16,
                  lora_alpha=32, seed=0, progress="none", save_steps=1000, logging_steps=5, max_length=4096, **kw)
        metrics, _ = greedy_metrics(out, bc_rows, bc_logps)
        if args.live:
            metrics.update(live_success(out, results["train_tasks"], args.max_steps))
        table[name] = metrics
        print(name, metrics, flush=True)
        (run / "dpo_ablation.json").write_text(json.dumps(table, indent=2) + "\n")
    print("\n| setting | valid (greedy, train prompts) | expert match | Δ log p(chosen) | live success (train) |")
    print("|---|---|---|---|---|")
    for name, m in table.items():
        if "skipped" in m:
            print(f"| {name} | - | - | - | {m['skipped']} |")
            continue
        live = f"{m['live_success']}/{m['live_tasks']}" if "live_success" in m else "-"
        d = "-" if m["dlogp"] is None else f"{m['dlogp']:+.2f}"
        print(f"| {name} | {100 * m['valid']:.0f}% (n={m['n']}) | {100 * m['match']:.0f}% | {d} | {live} |")


if __name__ == "__main__":
    sys.exit(main())
