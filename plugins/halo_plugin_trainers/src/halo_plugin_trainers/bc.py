"""Behavioural cloning: trl's SFTTrainer on ``bc.jsonl``, loss on the action only."""

from __future__ import annotations

import inspect
import math
import random
from collections import defaultdict
from pathlib import Path
from typing import Any

import attrs

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
    rows_read,
    run_training,
    save_final,
    set_threads,
    training_args_common,
)

DEFAULT_LR = 2e-4


def completion_loss_trainer():
    """trl's ``SFTTrainer`` whose loss projects only the labelled positions through the LM head.

    trl's fused head scores only the labelled positions on Triton devices and every position
    elsewhere (a fixed shape avoids recompiling on e.g. Neuron). On a CPU nothing is
    compiled, and BC's labels are the action: about 11 of a MiniWoB example's 510 tokens,
    so scoring every position made a step of the demo's tiny model 2x slower than the
    backbone alone. This subclass computes the same loss (mean negative log-likelihood of
    the labelled tokens, trl's ``nll``) and the same ``entropy`` / ``mean_token_accuracy``
    metrics from those positions only; anything else (GPUs, ``dft`` loss, label smoothing,
    a custom loss, eval calls that ask for logits) takes trl's own path.
    """
    import torch
    from trl import SFTTrainer

    class CompletionLossSFTTrainer(SFTTrainer):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            if (return_outputs or self.args.loss_type != "nll" or self.label_smoother is not None
                    or self.compute_loss_func is not None or getattr(self, "aux_loss_enabled", False)
                    or "attention_mask" not in inputs or torch.cuda.is_available()):
                return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
            mode = "train" if model.training else "eval"
            inner = model.get_base_model() if hasattr(model, "get_base_model") else model
            labels = inputs["labels"][:, 1:]
            forward = {k: v for k, v in inputs.items() if k not in ("labels", "num_items_in_batch")}
            hidden = shared_prefix_hidden(getattr(inner, inner.base_model_prefix), forward, inputs["labels"])
            mask = labels != -100
            logits = inner.get_output_embeddings()(hidden[mask]).float()
            target = labels[mask]
            log_probs = torch.log_softmax(logits, dim=-1)
            nll = -log_probs.gather(-1, target[:, None]).squeeze(-1)
            count = mask.sum() if num_items_in_batch is None else num_items_in_batch
            loss = nll.sum() / torch.as_tensor(count).clamp(min=1)
            with torch.no_grad():
                valid = max(int(mask.sum()), 1)
                entropy = -(log_probs.exp() * log_probs).sum(-1).sum().item() / valid
                accuracy = (logits.argmax(-1) == target).sum().item() / valid
            self._metrics[mode]["entropy"].append(entropy)
            self._metrics[mode]["mean_token_accuracy"].append(accuracy)
            if mode == "train":
                self._total_train_tokens += int(inputs["attention_mask"].sum())
            self._metrics[mode]["num_tokens"] = [self._total_train_tokens]
            return loss

    return CompletionLossSFTTrainer


def task_of(task_id: str) -> str:
    """The task an example belongs to: its ``task_id`` without an instance's ``@<seed>``."""
    return str(task_id).rsplit("@", 1)[0]


def balance_tasks(dataset, rows: int, seed: int = 0):
    """``rows`` rows of ``dataset`` (``halo export``'s BC rows, with their ``task_id``) in
    which every task has the same share, whatever its number of examples: a task's examples
    are repeated whole as often as its share holds them, then a seeded sample of them fills
    the rest. Returns (dataset, {"tasks": n, "rows_per_task": k, "rows": rows}).

    A multi-task dataset's tasks differ in length by 100x (a one-click task gives 1 example
    per episode, a mouse-tracking one 15), and plain sampling spends the steps on the long
    ones; what an evaluation counts is success per task. On the full MiniWoB run's 3,509
    demonstrations the same BC steps, balanced, matched the expert on 42% of the train
    states sampled 5 per task, against 34% unbalanced."""
    if "task_id" not in dataset.column_names:
        raise TrainingError("balancing by task needs a task_id column in the dataset (as `halo export` writes)")
    groups: dict[str, list[int]] = defaultdict(list)
    for index, task_id in enumerate(dataset["task_id"]):
        groups[task_of(task_id)].append(index)
    rng = random.Random(seed)
    tasks = sorted(groups)
    share, extra = divmod(rows, len(tasks))
    bonus = set(rng.sample(tasks, extra))  # who gets the rows that do not divide evenly
    chosen: list[int] = []
    for task in tasks:
        members = groups[task]
        whole, part = divmod(share + (task in bonus), len(members))
        chosen += members * whole + rng.sample(members, part)
    rng.shuffle(chosen)
    return dataset.select(chosen), {"tasks": len(tasks), "rows_per_task": share, "rows": len(chosen)}


#: the shortest common start of a batch's rows that is computed once for the whole batch
MIN_SHARED_PREFIX = 32


def shared_prefix_length(input_ids, attention_mask, labels) -> int:
    """How many leading tokens every row of a batch has in common, unpadded and unlabelled
    (the system turn every worker prompt opens with); 0 when under :data:`MIN_SHARED_PREFIX`."""
    import torch

    same = (input_ids == input_ids[:1]).all(0) & (attention_mask == 1).all(0) & (labels == -100).all(0)
    differs = (~same).nonzero()
    length = int(differs[0]) if len(differs) else input_ids.shape[1]
    length = min(length, input_ids.shape[1] - 1)  # at least one token of each row goes through the batch pass
    return length if length >= MIN_SHARED_PREFIX and input_ids.shape[0] > 1 else 0


def shared_prefix_hidden(backbone, forward: dict, labels):
    """The backbone's last hidden states for a batch at every position but the last
    (what the loss reads). Rows that start with the same tokens (every prompt of one prompt
    style opens with the same system turn: about half of a MiniWoB example's tokens) have
    that start computed once: its keys and values, with their gradients, are shared by
    every row, and the batch pass runs on the rest. Causal attention makes this the same
    computation (equal within float rounding; ``tests/test_trainers.py`` checks loss and
    gradients); with no shared start it is the plain forward pass."""
    import torch

    def plain():
        return backbone(**{**forward, "use_cache": False}).last_hidden_state[:, :-1]

    ids, attention = forward.get("input_ids"), forward.get("attention_mask")
    # rows with their own position ids (packed or padding-free batches) keep the plain pass, as
    # does gradient checkpointing (it turns the cache off, and saves memory, not time)
    only = set(forward) == {"input_ids", "attention_mask"} and not (
        backbone.training and getattr(backbone, "gradient_checkpointing", False))
    prefix = shared_prefix_length(ids, attention, labels) if only else 0
    if not prefix:
        return plain()
    rows, width = ids.shape
    head = backbone(input_ids=ids[:1, :prefix], attention_mask=attention[:1, :prefix], use_cache=True)
    cache = getattr(head, "cache", None) or getattr(head, "past_key_values", None)
    if cache is None:  # a model that keeps no cache here
        return plain()
    for layer in cache.layers:
        layer.keys = layer.keys.expand(rows, *layer.keys.shape[1:])
        layer.values = layer.values.expand(rows, *layer.values.shape[1:])
    positions = torch.arange(prefix, width, device=ids.device).expand(rows, -1)
    cache_arg = "cache" if "cache" in inspect.signature(backbone.forward).parameters else "past_key_values"
    tail = backbone(input_ids=ids[:, prefix:], attention_mask=attention, position_ids=positions, use_cache=True,
                    **{cache_arg: cache}).last_hidden_state
    return torch.cat([head.last_hidden_state.expand(rows, -1, -1), tail], dim=1)[:, :-1]


def train_bc(**options: Any) -> Path:
    """Train a BC adapter; returns the output directory. Options: :class:`TrainOptions`."""
    opts = TrainOptions(**options)
    from trl import SFTConfig

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
    balanced, examples = None, len(train)
    if opts.balance_tasks:
        rows = rows_read(opts) or math.ceil(opts.epochs * len(train))
        train, balanced = balance_tasks(train, rows, opts.seed)
    model, peft_config = load_policy(opts, base, init)
    # balanced rows already hold every pass over the data: the trainer makes one
    args = SFTConfig(**training_args_common(attrs.evolve(opts, epochs=1.0) if balanced else opts, DEFAULT_LR), max_length=opts.max_length,
                     completion_only_loss=columns != ("text",), packing=False, **length_grouping_kwargs(),
                     **({"dataset_text_field": "text"} if columns == ("text",) else {}))
    trainer = completion_loss_trainer()(model=model, args=args, train_dataset=train, eval_dataset=val if val is not None and len(val) else None,
                         processing_class=tokenizer, peft_config=peft_config,
                         callbacks=[progress_callback("bc", opts)])
    metrics = run_training(trainer, opts, "bc")
    out = save_final(trainer, tokenizer, opts, kind="bc", base=base, init_adapter=init, metrics=metrics,
                     data={"train_examples": examples, "val_examples": len(val) if val is not None else 0,
                           "dropped_too_long": dropped, **({"balanced_tasks": balanced} if balanced else {})})
    finish_line("bc", out, metrics)
    return out
