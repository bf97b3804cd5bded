"""Direct preference optimisation: trl's DPOTrainer on ``dpo.jsonl``.

The reference model: with a fresh LoRA adapter it is the base model (adapter
disabled); when training continues an adapter (``--init-adapter`` or an adapter as
``--base-model``, e.g. DPO from BC), trl keeps a frozen copy of the starting adapter
as the reference, so the KL anchor is the BC policy, not the raw base.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ._common import (
    TrainingError,
    TrainOptions,
    default_val_path,
    drop_too_long,
    finish_line,
    load_jsonl,
    load_policy,
    load_tokenizer,
    progress_callback,
    resolve_model,
    rows_read,
    run_training,
    save_final,
    set_threads,
    training_args_common,
)

DEFAULT_LR = 5e-5


def train_dpo(*, beta: float = 0.1, sft_weight: float = 1.0, **options: Any) -> Path:
    """Train a DPO adapter; returns the output directory.

    ``sft_weight`` > 0 (default 1) adds the negative log-likelihood of the chosen action
    to the loss (RPO; trl's ``loss_type=["sigmoid", "sft"]``), which keeps DPO from
    lowering the chosen action's probability along with the rejected one's — what plain
    DPO does on pairs that differ only in a bid (see the README); 0 is plain DPO.
    """
    opts = TrainOptions(**options)
    opts.extra.setdefault("beta", beta)
    opts.extra.setdefault("sft_weight", sft_weight)
    from trl import DPOConfig, DPOTrainer

    set_threads()
    opts.val_dataset = opts.val_dataset or default_val_path(opts.dataset)
    base, init = resolve_model(opts)
    tokenizer = load_tokenizer(base)
    columns = ("prompt", "chosen", "rejected")
    train = load_jsonl(opts.dataset, columns)
    if train is None or len(train) == 0:
        raise TrainingError(f"dataset {opts.dataset} is empty (no preference pairs: try "
                            "`halo export --pairing-strategy success_vs_failure`)")
    val = load_jsonl(opts.val_dataset, columns)
    pairs = len(train)
    # a run of N steps reads N x batch pairs: only those are tokenised (a seeded sample, the same
    # on --resume); the work no longer grows with the pair file (the full MiniWoB demo's 7,966
    # pairs, idle: 124.5 s for 80 steps of 4 preparing all, 129.3 s preparing 320 -- within the
    # training's own spread for the tiny model)
    needed = rows_read(opts)
    if 0 < needed < pairs:
        train = train.shuffle(seed=opts.seed).select(range(needed))
    train, dropped = drop_too_long(train, tokenizer, opts.max_length, ("chosen", "rejected"))
    val, _ = drop_too_long(val, tokenizer, opts.max_length, ("chosen", "rejected"))
    model, peft_config = load_policy(opts, base, init)
    args = DPOConfig(**training_args_common(opts, DEFAULT_LR), max_length=opts.max_length, beta=beta,
                     **({"loss_type": ["sigmoid", "sft"], "loss_weights": [1.0, sft_weight]} if sft_weight > 0 else {}))
    trainer = DPOTrainer(model=model, args=args, train_dataset=train,
                         eval_dataset=val if val is not None and len(val) else None,
                         processing_class=tokenizer, peft_config=peft_config,
                         callbacks=[progress_callback("dpo", opts)])
    metrics = run_training(trainer, opts, "dpo")
    sources = dict(__import__("collections").Counter(train["source"])) if "source" in train.column_names else {}
    out = save_final(trainer, tokenizer, opts, kind="dpo", base=base, init_adapter=init, metrics=metrics,
                     data={"train_examples": pairs, "trained_pairs": len(train), "val_examples": len(val) if val is not None else 0,
                           "dropped_too_long": dropped, "pair_sources": sources,
                           "reference": "starting adapter (frozen copy)" if init else "base model (adapter disabled)"})
    finish_line("dpo", out, metrics)
    return out
