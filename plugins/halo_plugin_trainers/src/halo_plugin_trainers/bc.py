"""Behavioural cloning: trl's SFTTrainer on ``bc.jsonl``, loss on the action only."""

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
    length_grouping_kwargs,
    load_tokenizer,
    progress_callback,
    resolve_model,
    run_training,
    save_final,
    set_threads,
    training_args_common,
)

DEFAULT_LR = 2e-4


def train_bc(**options: Any) -> Path:
    """Train a BC adapter; returns the output directory. Options: :class:`TrainOptions`."""
    opts = TrainOptions(**options)
    from trl import SFTConfig, SFTTrainer

    set_threads()
    opts.val_dataset = opts.val_dataset or default_val_path(opts.dataset)
    base, init = resolve_model(opts)
    tokenizer = load_tokenizer(base)
    train = load_jsonl(opts.dataset, ())
    if train is None or len(train) == 0:
        raise TrainingError(f"dataset {opts.dataset} is empty")
    # prompt-completion rows (halo export), or plain {"text": ...} rows for language-model warm-up
    columns = ("text",) if "text" in train.column_names else ("prompt", "completion")
    train = load_jsonl(opts.dataset, columns)
    val = load_jsonl(opts.val_dataset, columns)
    dropped = 0
    if columns != ("text",):
        train, dropped = drop_too_long(train, tokenizer, opts.max_length, ("completion",))
        val, _ = drop_too_long(val, tokenizer, opts.max_length, ("completion",))
    if len(train) == 0:
        raise TrainingError(f"every example of {opts.dataset} is longer than --max-length {opts.max_length}")
    model, peft_config = load_policy(opts, base, init)
    args = SFTConfig(**training_args_common(opts, DEFAULT_LR), max_length=opts.max_length,
                     completion_only_loss=columns != ("text",), packing=False, **length_grouping_kwargs(),
                     **({"dataset_text_field": "text"} if columns == ("text",) else {}))
    trainer = SFTTrainer(model=model, args=args, train_dataset=train, eval_dataset=val if val is not None and len(val) else None,
                         processing_class=tokenizer, peft_config=peft_config,
                         callbacks=[progress_callback("bc", opts)])
    metrics = run_training(trainer, opts, "bc")
    out = save_final(trainer, tokenizer, opts, kind="bc", base=base, init_adapter=init, metrics=metrics,
                     data={"train_examples": len(train), "val_examples": len(val) if val is not None else 0,
                           "dropped_too_long": dropped})
    finish_line("bc", out, metrics)
    return out
