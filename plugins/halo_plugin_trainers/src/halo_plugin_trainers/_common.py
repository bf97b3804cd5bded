"""What the three trainers share: options, model/adapter loading, datasets, saving, the model card."""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs

ADAPTER_CONFIG = "adapter_config.json"


class TrainingError(RuntimeError):
    """A training run that cannot start (bad dataset, missing model); the message says why."""


@attrs.define(kw_only=True)
class TrainOptions:
    """Options common to ``halo train bc|dpo|grpo`` (each trainer adds its own)."""

    dataset: str
    base_model: str
    output: str
    val_dataset: str | None = None  # default: <dataset stem>_val.jsonl next to it, when it exists
    init_adapter: str | None = None  # continue training this LoRA adapter (e.g. DPO/GRPO from BC)
    max_steps: int = -1  # -1: run --epochs
    epochs: float = 1.0
    lr: float | None = None  # default per trainer
    batch_size: int = 4
    grad_accum: int = 1
    lr_scheduler: str = "linear"  # transformers scheduler name: linear, cosine, constant, ...
    warmup_steps: int = 0
    lora: bool = True
    lora_r: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.05
    lora_targets: str = "all-linear"
    # adapters on the top N decoder layers only (0: every layer). The frozen layers below
    # need no backward pass, so a step costs little more than a forward on CPU
    lora_top_layers: int = 0
    max_length: int = 4096  # longer examples are dropped (never truncated: the action must stay in the span)
    gradient_checkpointing: bool = False  # recompute activations in backward: less memory, more time
    # BC: every task the same share of the steps (instances ``<task>@<seed>`` are one task),
    # whatever its number of examples; see :func:`halo_plugin_trainers.bc.balance_tasks`
    balance_tasks: bool = False
    resume: bool = False
    seed: int = 0
    logging_steps: int = 10
    save_steps: int = 100
    save_total_limit: int = 2
    progress: str = "tqdm"  # tqdm | lines | none
    command_line: str = ""
    extra: dict[str, Any] = attrs.field(factory=dict)


def rows_read(opts: TrainOptions) -> int:
    """How many rows a run of ``--max-steps`` reads (steps x batch x accumulation); 0 when
    the run is set by ``--epochs`` instead."""
    return opts.max_steps * opts.batch_size * opts.grad_accum if opts.max_steps and opts.max_steps > 0 else 0


def set_threads() -> None:
    """Respect ``HALO_TORCH_THREADS`` / ``OMP_NUM_THREADS`` on shared CPU machines."""
    from halo_plugin_qwen.local import set_torch_threads

    set_torch_threads()


# --------------------------------------------------------------------------- models


def is_adapter_dir(path: str | os.PathLike | None) -> bool:
    return bool(path) and (Path(path) / ADAPTER_CONFIG).is_file()


def adapter_base(path: str | os.PathLike) -> str:
    """``base_model_name_or_path`` of a PEFT adapter directory."""
    config = json.loads((Path(path) / ADAPTER_CONFIG).read_text())
    base = config.get("base_model_name_or_path")
    if not base:
        raise TrainingError(f"{path}/{ADAPTER_CONFIG} does not name its base model (base_model_name_or_path)")
    return base


def resolve_model(opts: TrainOptions) -> tuple[str, str | None]:
    """(base model id or absolute path, adapter to start from or None).

    ``--base-model`` may itself be an adapter directory: training then continues that
    adapter on its own base model.
    """
    base, init = opts.base_model, opts.init_adapter
    if is_adapter_dir(base):
        if init and Path(init).resolve() != Path(base).resolve():
            raise TrainingError(f"--base-model {base} is an adapter and --init-adapter {init} is another one")
        init, base = base, adapter_base(base)
    if init and not is_adapter_dir(init):
        raise TrainingError(f"--init-adapter {init}: no {ADAPTER_CONFIG} there")
    if init:
        declared = adapter_base(init)
        if Path(declared).exists() and Path(base).exists() and Path(declared).resolve() != Path(base).resolve():
            raise TrainingError(f"adapter {init} was trained on {declared}, not on --base-model {base}")
    if Path(base).exists():
        base = str(Path(base).resolve())
    elif base.startswith((".", "/")) or base.count("/") > 1:
        raise TrainingError(f"--base-model {base!r}: no such directory (and not a hub id)")
    return base, (str(Path(init).resolve()) if init else None)


def device_kwargs() -> dict[str, Any]:
    import torch

    cuda = torch.cuda.is_available()
    return {"use_cpu": not cuda, "bf16": bool(cuda and torch.cuda.is_bf16_supported())}


def load_tokenizer(base: str):
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(base)
    except OSError as exc:
        raise TrainingError(f"cannot load the tokenizer of {base!r}: {exc}") from None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if not getattr(tokenizer, "chat_template", None):
        raise TrainingError(f"the tokenizer of {base!r} has no chat template; the datasets are conversational")
    return tokenizer


def load_policy(opts: TrainOptions, base: str, init_adapter: str | None, *, trainable_adapter: bool = True):
    """The model to train and the ``peft_config`` to hand the trainer (None when the model
    is already a PeftModel, or for full fine-tuning)."""
    import torch
    from transformers import AutoModelForCausalLM

    dtype = torch.bfloat16 if device_kwargs()["bf16"] else torch.float32
    try:
        model = AutoModelForCausalLM.from_pretrained(base, dtype=dtype)
    except OSError as exc:
        raise TrainingError(f"cannot load base model {base!r}: {exc}") from None
    peft_config = None
    if init_adapter:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, init_adapter, is_trainable=trainable_adapter and opts.lora)
        if not opts.lora:  # full fine-tuning from an adapter: fold it in first
            model = model.merge_and_unload()
    elif opts.lora:
        from peft import LoraConfig

        targets: Any = opts.lora_targets
        if targets != "all-linear":
            targets = [t.strip() for t in targets.split(",") if t.strip()]
        layers = None
        if opts.lora_top_layers > 0:
            total = int(model.config.num_hidden_layers)
            layers = list(range(max(0, total - opts.lora_top_layers), total))
            if targets == "all-linear":  # peft takes layers_to_transform with named modules only
                targets = sorted({name.rsplit(".", 1)[-1] for name, module in model.named_modules()
                                  if isinstance(module, torch.nn.Linear) and ".layers." in name})
        peft_config = LoraConfig(r=opts.lora_r, lora_alpha=opts.lora_alpha, lora_dropout=opts.lora_dropout,
                                 target_modules=targets, task_type="CAUSAL_LM", layers_to_transform=layers)
    return model, peft_config


# --------------------------------------------------------------------------- data


def default_val_path(dataset: str) -> str | None:
    path = Path(dataset)
    candidate = path.with_name(f"{path.stem}_val{path.suffix}")
    return str(candidate) if candidate.is_file() else None


def load_jsonl(path: str | None, required: tuple[str, ...]):
    """A ``datasets`` Dataset from a JSONL file, or None for a missing/empty optional file."""
    if not path:
        return None
    p = Path(path)
    if not p.is_file():
        raise TrainingError(f"dataset {path} does not exist (make it with `halo export`)")
    if p.stat().st_size == 0:
        return None
    from datasets import load_dataset

    dataset = load_dataset("json", data_files=str(p), split="train")
    missing = [c for c in required if c not in dataset.column_names]
    if missing:
        raise TrainingError(f"dataset {path} lacks column(s) {', '.join(missing)}; "
                            f"has {', '.join(dataset.column_names)}")
    return dataset


def drop_too_long(dataset, tokenizer, max_length: int, fields: tuple[str, ...]):
    """Drop (never truncate) examples whose prompt + longest answer exceeds ``max_length``
    tokens, so the answer is always inside the trained span. Returns (dataset, dropped)."""
    if dataset is None or not max_length:
        return dataset, 0

    def fits(example) -> bool:
        longest = 0
        for field in fields:
            ids = tokenizer.apply_chat_template(example["prompt"] + example[field], tokenize=True)
            if isinstance(ids, dict) or hasattr(ids, "keys"):
                ids = ids["input_ids"]
            longest = max(longest, len(ids))
        return longest <= max_length

    before = len(dataset)
    dataset = dataset.filter(fits)
    return dataset, before - len(dataset)


# --------------------------------------------------------------------------- run


def training_args_common(opts: TrainOptions, default_lr: float) -> dict[str, Any]:
    return dict(
        output_dir=opts.output,
        max_steps=opts.max_steps if opts.max_steps and opts.max_steps > 0 else -1,
        num_train_epochs=opts.epochs,
        learning_rate=opts.lr if opts.lr is not None else default_lr,
        per_device_train_batch_size=opts.batch_size,
        per_device_eval_batch_size=opts.batch_size,
        gradient_accumulation_steps=opts.grad_accum,
        logging_steps=opts.logging_steps,
        save_strategy="steps",
        save_steps=opts.save_steps,
        save_total_limit=opts.save_total_limit,
        report_to=[],
        seed=opts.seed,
        disable_tqdm=opts.progress != "tqdm",
        lr_scheduler_type=opts.lr_scheduler,
        warmup_steps=opts.warmup_steps,
        dataloader_num_workers=0,
        # off unless asked: tiny and small LoRA runs are compute-bound (and trl may default it on);
        # non-reentrant: a LoRA model's inputs do not require grad, which the reentrant variant needs
        **checkpointing_kwargs(opts.gradient_checkpointing),
        **device_kwargs(),
    )


def _training_argument_names() -> set[str]:
    """The fields of this transformers' ``TrainingArguments`` (some were renamed across releases)."""
    import dataclasses

    from transformers import TrainingArguments

    return {f.name for f in dataclasses.fields(TrainingArguments)}


def checkpointing_kwargs(on: bool) -> dict[str, Any]:
    """Activation (gradient) checkpointing on or off, under the name this transformers uses
    (``activation_checkpointing`` since it renamed ``gradient_checkpointing``)."""
    prefix = "activation" if "activation_checkpointing" in _training_argument_names() else "gradient"
    out: dict[str, Any] = {f"{prefix}_checkpointing": on}
    if on:
        out[f"{prefix}_checkpointing_kwargs"] = {"use_reentrant": False}
    return out


def length_grouping_kwargs() -> dict[str, Any]:
    """Batches of similar lengths (less padding: about a fifth fewer tokens per step on the
    MiniWoB prompts), under the name this transformers uses (``train_sampling_strategy``
    since it replaced ``group_by_length``). Only for datasets with ``input_ids`` (BC)."""
    names = _training_argument_names()
    if "train_sampling_strategy" in names:
        return {"train_sampling_strategy": "group_by_length"}
    return {"group_by_length": True} if "group_by_length" in names else {}


def last_checkpoint(output: str) -> str | None:
    from transformers.trainer_utils import get_last_checkpoint

    return get_last_checkpoint(output) if Path(output).is_dir() else None


def progress_callback(kind: str, opts: TrainOptions):
    """A callback printing one line per log (``--progress lines``)."""
    from transformers import TrainerCallback

    started = time.monotonic()

    class LineProgress(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            if opts.progress != "lines" or not logs:
                return
            shown = {k: v for k, v in logs.items() if isinstance(v, (int, float)) and
                     any(s in k for s in ("loss", "reward", "accuracies", "margins")) and "std" not in k}
            text = " ".join(f"{k}={v:.4g}" for k, v in list(shown.items())[:5])
            print(f"  [{kind}] step {state.global_step}/{state.max_steps} {text} ({time.monotonic() - started:.0f}s)",
                  flush=True)

    return LineProgress()


def run_training(trainer, opts: TrainOptions, kind: str) -> dict[str, Any]:
    """Train (resuming when asked), returning the metrics."""
    resume_from = None
    if opts.resume:
        resume_from = last_checkpoint(opts.output)
        if resume_from is None:
            print(f"[{kind}] --resume: no checkpoint in {opts.output}; starting from scratch", flush=True)
        else:
            print(f"[{kind}] resuming from {resume_from}", flush=True)
    if opts.progress != "tqdm":  # our own one-line progress replaces the printed log dicts
        from transformers.trainer_callback import PrinterCallback

        trainer.remove_callback(PrinterCallback)
    started = time.monotonic()
    result = trainer.train(resume_from_checkpoint=resume_from)
    metrics = dict(result.metrics)
    metrics["train_loss"] = float(result.training_loss) if not math.isnan(result.training_loss) else None
    metrics["global_step"] = int(trainer.state.global_step)
    metrics["wall_time_sec"] = round(time.monotonic() - started, 2)
    history = [h for h in trainer.state.log_history if "loss" in h]
    if history:
        metrics["final_logged_loss"] = history[-1]["loss"]
        metrics.update({f"final_{k}": v for k, v in history[-1].items()
                        if isinstance(v, (int, float)) and ("reward" in k or "rewards/" in k) and "std" not in k})
    if trainer.eval_dataset is not None:
        metrics.update({k: v for k, v in trainer.evaluate().items() if isinstance(v, (int, float))})
    if resume_from:
        metrics["resumed_from"] = resume_from
    return metrics


def save_final(trainer, tokenizer, opts: TrainOptions, *, kind: str, base: str, init_adapter: str | None,
               metrics: dict[str, Any], data: dict[str, Any]) -> Path:
    """Save the adapter (or full model), tokenizer, ``training_summary.json`` and ``README.md``."""
    out = Path(opts.output)
    out.mkdir(parents=True, exist_ok=True)
    model = trainer.model
    unwrap = getattr(trainer, "accelerator", None)
    if unwrap is not None:
        model = unwrap.unwrap_model(model)
    is_peft = hasattr(model, "peft_config")
    if is_peft:
        model.save_pretrained(str(out), selected_adapters=["default"])
        config_path = out / ADAPTER_CONFIG
        config = json.loads(config_path.read_text())
        config["base_model_name_or_path"] = base  # vLLM and the local: backend read it
        config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    else:
        model.save_pretrained(str(out))
    tokenizer.save_pretrained(str(out))
    summary = {"kind": kind, "base_model": base, "init_adapter": init_adapter, "lora": is_peft,
               "lora_r": opts.lora_r if is_peft else None, "lora_alpha": opts.lora_alpha if is_peft else None,
               "dataset": opts.dataset, "val_dataset": opts.val_dataset, **data, "metrics": metrics,
               "options": {k: v for k, v in attrs.asdict(opts).items() if k not in ("extra",)},
               "extra": opts.extra, "command_line": opts.command_line, "finished_at": time.time()}
    (out / "training_summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    (out / "README.md").write_text(model_card(summary))
    write_prompt_info(out, opts.dataset, init_adapter or base)
    return out


def write_prompt_info(out: Path, dataset: str | None, started_from: str | None) -> None:
    """``halo_prompt.json`` beside the model: the prompt style it was trained on (grounded
    references or not), from the dataset's prompts, else as the model it started from; the
    qwen plugin's ``worker_references=auto`` reads it."""
    from halo_plugin_qwen.prompting import PROMPT_INFO
    from halo_plugin_qwen.references import is_grounded

    info = None
    path = Path(dataset) if dataset else None
    if path is not None and path.is_file():
        with open(path) as fh:
            first = fh.readline()
        try:
            row = json.loads(first)
            user = [m["content"] for m in row.get("prompt", []) if m.get("role") == "user"]
            info = {"references": bool(user) and is_grounded(user[-1])}
        except (ValueError, TypeError, KeyError, AttributeError):
            info = None
    if info is None and started_from:
        try:
            info = json.loads((Path(started_from) / PROMPT_INFO).read_text())
        except (OSError, ValueError):
            info = None
    if info is not None:
        (out / PROMPT_INFO).write_text(json.dumps(info) + "\n")


def model_card(summary: dict[str, Any]) -> str:
    kind = summary["kind"]
    base = summary["base_model"]
    name = Path(summary["options"]["output"]).name
    method = summary.get("method") or {"bc": "behavioural cloning (trl SFTTrainer, loss on the action only)",
              "dpo": "direct preference optimisation (trl DPOTrainer)",
              "grpo": "group relative policy optimisation (trl GRPOTrainer)"}[kind]
    metrics = summary["metrics"]
    lines = [
        "---",
        f"base_model: {base}",
        "library_name: peft" if summary["lora"] else "library_name: transformers",
        "tags: [halo, web-agent, " + kind + ", trl" + (", lora" if summary["lora"] else "") + "]",
        "---",
        "",
        f"# {name}",
        "",
        f"A HALO worker policy trained by {method}.",
        "",
        "| | |",
        "|---|---|",
        f"| base model | `{base}` |",
        f"| started from | `{summary['init_adapter'] or 'the base model'}` |",
        f"| weights | {'LoRA adapter, r=%s, alpha=%s' % (summary['lora_r'], summary['lora_alpha']) if summary['lora'] else 'full model'} |",
        f"| dataset | `{summary['dataset']}` ({summary.get('train_examples', '?')} examples"
        + (f", {summary['trained_pairs']} of them sampled for the steps" if "trained_pairs" in summary
           and summary["trained_pairs"] != summary.get("train_examples") else "")
        + (f", every task the same share of {summary['balanced_tasks']['rows']} rows" if summary.get("balanced_tasks") else "")
        + (f", {summary.get('dropped_too_long')} dropped as longer than {summary['options']['max_length']} tokens"
           if summary.get("dropped_too_long") else "") + ") |",
        f"| validation | `{summary['val_dataset'] or 'none'}` ({summary.get('val_examples', 0)} examples) |",
        f"| steps | {metrics.get('global_step')} |",
        f"| final train loss | {_num(metrics.get('final_logged_loss', metrics.get('train_loss')))} |",
    ]
    for key in sorted(metrics):
        if key.startswith("eval_") and isinstance(metrics[key], (int, float)):
            lines.append(f"| {key} | {_num(metrics[key])} |")
    if summary.get("rewards"):
        lines.append(f"| rewards | {summary['rewards']} |")
    lines.append(f"| wall time | {metrics.get('wall_time_sec')} s |")
    lines += [
        "",
        "## Command",
        "",
        "```",
        summary["command_line"] or "(called from Python)",
        "```",
        "",
        "## Use",
        "",
        "```",
    ]
    if summary["lora"]:
        lines += [f"vllm serve {base} --enable-lora --lora-modules {name}={Path(summary['options']['output']).resolve()}",
                  f"halo eval --mode qwen_worker_{kind} --worker-backend vllm:{name}",
                  f"halo eval --mode qwen_worker_{kind} --worker-backend local:{summary['options']['output']}"]
    else:
        lines += [f"vllm serve {Path(summary['options']['output']).resolve()}",
                  f"halo eval --mode qwen_worker_{kind} --worker-backend local:{summary['options']['output']}"]
    lines += ["```", "", "Prompts are HALO's worker prompts (`halo_core.prompts.worker_messages`); "
              "the model answers with one action, e.g. `click('12')`.", ""]
    return "\n".join(lines)


def _num(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def finish_line(kind: str, out: Path, metrics: dict[str, Any], log: Callable[[str], None] = print) -> None:
    loss = metrics.get("final_logged_loss", metrics.get("train_loss"))
    log(f"[{kind}] done: {metrics.get('global_step')} steps in {metrics.get('wall_time_sec')}s, "
        f"final loss {_num(loss)} -> {out} (adapter, README.md, training_summary.json)")
