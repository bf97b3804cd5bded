"""``halo train bc|dpo|grpo`` and ``halo demo``."""

from __future__ import annotations

import shlex

import click

from ._common import TrainingError


def command_line(ctx: click.Context) -> str:
    """The command as the user could type it again: ``halo train bc --dataset ...`` (options
    that differ from their defaults)."""
    parts = ["halo", *ctx.command_path.split()[1:]]
    for param in ctx.command.params:
        value = ctx.params.get(param.name)
        if not isinstance(param, click.Option) or value == param.default or value is None:
            continue
        flag = max(param.opts, key=len)
        if param.is_flag:
            if value:
                parts.append(flag)
            continue
        parts += [flag, str(value)]
    return " ".join(shlex.quote(p) for p in parts)


def _common_options(f, *, dataset_required: bool = True):
    options = [
        click.option("--dataset", required=dataset_required, default=None, type=click.Path(dir_okay=False),
                     help="JSONL from `halo export` (bc.jsonl for bc/grpo, dpo.jsonl for dpo)"
                          + ("." if dataset_required else "; not used by grpo --online.")),
        click.option("--val-dataset", default=None, type=click.Path(dir_okay=False),
                     help="Validation JSONL (default: <dataset>_val.jsonl next to it, if present)."),
        click.option("--base-model", required=True,
                     help="Base model: a local directory or a hub id (hub only when online/cached). "
                          "An adapter directory here continues that adapter on its base."),
        click.option("--init-adapter", default=None, type=click.Path(file_okay=False),
                     help="Start from this LoRA adapter (e.g. DPO/GRPO from checkpoints/qwen_bc)."),
        click.option("--output", required=True, type=click.Path(file_okay=False), help="e.g. checkpoints/qwen_bc."),
        click.option("--max-steps", type=int, default=-1, show_default=True, help="Optimizer steps (-1: --epochs)."),
        click.option("--epochs", type=float, default=1.0, show_default=True),
        click.option("--lr", type=float, default=None, help="Learning rate (default: bc 2e-4, dpo 5e-5, grpo 1e-5)."),
        click.option("--batch-size", type=click.IntRange(min=1), default=4, show_default=True),
        click.option("--grad-accum", type=click.IntRange(min=1), default=1, show_default=True),
        click.option("--lr-scheduler", default="linear", show_default=True, help="linear, cosine, constant, ..."),
        click.option("--warmup-steps", type=click.IntRange(min=0), default=0, show_default=True),
        click.option("--lora-r", type=click.IntRange(min=1), default=8, show_default=True),
        click.option("--lora-alpha", type=click.IntRange(min=1), default=16, show_default=True),
        click.option("--lora-dropout", type=float, default=0.05, show_default=True),
        click.option("--lora-targets", default="all-linear", show_default=True,
                     help="all-linear or comma-separated module names."),
        click.option("--lora-top-layers", type=click.IntRange(min=0), default=0, show_default=True,
                     help="Adapters on the top N decoder layers only (0: all); the frozen layers below need "
                          "no backward pass, so CPU steps are much cheaper."),
        click.option("--no-lora", is_flag=True, help="Full fine-tuning instead of a LoRA adapter."),
        click.option("--max-length", type=click.IntRange(min=16), default=4096, show_default=True,
                     help="Examples longer than this (tokens) are dropped, never truncated."),
        click.option("--gradient-checkpointing", is_flag=True,
                     help="Recompute activations in the backward pass: less memory, more time (SmolLM2-135M "
                          "LoRA BC, batch 4, CPU: peak 16.3 -> 8.8 GB, +30% time). Not with grpo --online."),
        click.option("--resume", is_flag=True, help="Continue from the last checkpoint in --output."),
        click.option("--seed", type=int, default=0, show_default=True),
        click.option("--logging-steps", type=click.IntRange(min=1), default=10, show_default=True),
        click.option("--save-steps", type=click.IntRange(min=1), default=100, show_default=True),
        click.option("--progress", type=click.Choice(["tqdm", "lines", "none"]), default="tqdm", show_default=True),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def _dataset_optional(f):
    return _common_options(f, dataset_required=False)


def _train(ctx: click.Context, name: str, **options) -> None:
    from halo_core.api import HaloError, get_runtime

    options["lora"] = not options.pop("no_lora")
    if not options.get("dataset") and not options.get("online"):
        raise HaloError(f"halo train {name}: --dataset is required (a JSONL from `halo export`)")
    options["command_line"] = command_line(ctx)
    trainers = get_runtime(ctx).trainers.trainers
    if name not in trainers:
        raise HaloError(f"no trainer {name!r} is registered (registered: {', '.join(sorted(trainers)) or 'none'})")
    try:
        trainers[name](**options)
    except TrainingError as exc:
        raise HaloError(str(exc)) from None


@click.group("train")
def train_group() -> None:
    """Train the worker: BC, then DPO and GRPO (LoRA adapters by default)."""


@train_group.command("bc")
@_common_options
@click.option("--balance-tasks", is_flag=True,
              help="Give every task the same share of the steps (instances <task>@<seed> are one task), "
                   "whatever its number of examples.")
@click.pass_context
def train_bc_command(ctx, **options) -> None:
    """Behavioural cloning with trl's SFTTrainer (loss on the action only)."""
    _train(ctx, "bc", **options)


@train_group.command("dpo")
@_common_options
@click.option("--beta", type=float, default=0.1, show_default=True, help="DPO temperature.")
@click.option("--sft-weight", type=click.FloatRange(min=0.0), default=1.0, show_default=True,
              help="Weight of the chosen action's NLL added to the DPO loss (RPO); 0 for plain DPO.")
@click.pass_context
def train_dpo_command(ctx, **options) -> None:
    """Direct preference optimisation with trl's DPOTrainer on dpo.jsonl."""
    _train(ctx, "dpo", **options)


@train_group.command("grpo")
@_dataset_optional
@click.option("--num-generations", type=click.IntRange(min=2), default=4, show_default=True)
@click.option("--max-completion-length", type=click.IntRange(min=1), default=48, show_default=True)
@click.option("--temperature", type=float, default=1.0, show_default=True)
@click.option("--beta", type=float, default=None,
              help="KL coefficient to the reference (default 0 offline: no reference model; 0.04 --online).")
@click.option("--online", is_flag=True,
              help="Online GRPO: the rollouts are whole episodes in the live environment (--suite, --tasks, "
                   "--group-size); --dataset is not used.")
@click.option("--suite", default="webclones", show_default=True, help="Suite for --online / --online-step-reward.")
@click.option("--tasks", default="", help="--online: comma-separated task ids (default: the suite's --split tasks).")
@click.option("--split", default="train", show_default=True, help="--online without --tasks: the suite's split.")
@click.option("--group-size", type=click.IntRange(min=2), default=4, show_default=True,
              help="--online: episodes per task in a group (advantages are relative to the group).")
@click.option("--tasks-per-step", type=click.IntRange(min=1), default=1, show_default=True,
              help="--online: groups (tasks) per update.")
@click.option("--valid-bonus", type=click.FloatRange(min=0.0), default=0.1, show_default=True,
              help="--online: reward added per episode times its share of valid actions.")
@click.option("--max-page-chars", type=click.IntRange(min=100), default=None,
              help="--online: page text kept in the prompts (match the data the model was trained on).")
@click.option("--online-step-reward", is_flag=True,
              help="Offline GRPO plus the environment's verdict on each sampled action (live episodes "
                   "continued by --online-policy).")
@click.option("--online-policy", default="expert", show_default=True,
              help="Policy that plays the steps before and after the sampled action (--online-step-reward).")
@click.option("--online-max-steps", type=click.IntRange(min=1), default=15, show_default=True,
              help="Steps per live episode.")
@click.option("--reward-weights", default=None, help="Comma-separated weights: validity,match[,online].")
@click.pass_context
def train_grpo_command(ctx, reward_weights, **options) -> None:
    """GRPO. Offline: trl's GRPOTrainer with rewards for valid actions and matching the
    recorded action (plus --online-step-reward). --online: whole episodes in the live
    environment are the rollouts (group-relative policy gradient with a KL penalty)."""
    if reward_weights:
        options["reward_weights"] = tuple(float(w) for w in reward_weights.split(","))
    _train(ctx, "grpo", **options)
