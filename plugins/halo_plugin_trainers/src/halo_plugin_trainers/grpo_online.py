"""Online GRPO: whole episodes in the live environment are the rollouts (as WebAgent-R1).

trl's ``GRPOTrainer`` samples one completion per prompt and scores it; a web task is a
multi-turn episode whose states come from the environment, so its rollouts cannot be
generated up front. This module is the small update loop instead, with torch + peft:

1. **rollouts** — for a task, ``group_size`` episodes run through
   :func:`halo_core.loop.run_episode` with the policy being trained as the worker backend
   (:class:`SamplingPolicy`, sampling at ``temperature``); every model call is recorded
   as its exact prompt and completion token ids;
2. **reward** — per episode: the environment's reward (1.0 on success for the web clones)
   plus ``valid_bonus`` × the share of steps whose action parsed and executed without error
   (a denser signal while no episode of a group succeeds yet);
3. **advantage** — group-relative: ``(r - mean(r)) / (std(r) + eps)`` within the group (a
   group whose episodes all scored alike teaches nothing and is skipped);
4. **update** — one policy-gradient step on every completion token of the group's
   episodes (token-level mean: ``-A * log p``), plus ``beta`` × the k3 estimate of
   KL(policy ‖ reference) per token. One update per sampled group keeps it on-policy, so
   the importance ratio is 1 and needs no clipping.

The reference is the policy training started from: the base with the adapter disabled
for a fresh LoRA adapter, a frozen copy (adapter ``ref``) when an adapter is continued
(e.g. GRPO from a BC adapter), a frozen copy of the model for full fine-tuning.
"""

from __future__ import annotations

import copy
import json
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import attrs

from halo_core.api import Completion, Message, TaskSpec, Usage

from ._common import TrainingError, TrainOptions, finish_line, load_policy, load_tokenizer, resolve_model, save_final, set_threads

DEFAULT_LR = 1e-5


@attrs.define
class Turn:
    """One model call of an episode: the rendered prompt and the sampled completion."""

    prompt_ids: list[int]
    completion_ids: list[int]


@attrs.define
class Rollout:
    """One episode played by the policy, with its reward."""

    task_id: str
    success: bool
    env_reward: float
    valid_fraction: float
    reward: float
    steps: int
    terminated_by: str
    turns: list[Turn]


class SamplingPolicy:
    """The policy under training as a HALO backend: samples a reply and records its tokens.

    It renders the worker's messages with the same chat template as the ``local:``
    backend, so the tokens trained on are exactly those the policy saw and produced.
    """

    supports_images = False

    def __init__(self, model, tokenizer, *, temperature: float = 1.0, max_tokens: int = 48,
                 name: str = "grpo:policy") -> None:
        from halo_plugin_qwen.local import LocalOptions, stop_tokens

        #: the per-call options, as the ``local:`` backend declares them (``worker_decoding``
        #: reaches each call through ``halo_call_options``)
        self.Options = LocalOptions
        self.model, self.tokenizer = model, tokenizer
        self.temperature, self.max_tokens, self.name = temperature, max_tokens, name
        self.turns: list[Turn] = []
        self.stop = stop_tokens(tokenizer)

    def check(self) -> None:
        return None

    def complete(self, messages: Sequence[Message], *, temperature: float | None = None, seed: int | None = None,
                 max_tokens: int | None = None, options=None) -> Completion:
        import torch
        from halo_plugin_qwen.chat import render_chat
        from halo_plugin_qwen.parsing import clean_qwen_text

        from halo_core.api import parse_options

        call = parse_options(self, options)
        prompt = render_chat(self.tokenizer, messages)
        ids = self.tokenizer(prompt, return_tensors="pt", add_special_tokens=False)["input_ids"]
        ids = ids.to(self.model.device)
        was_training = self.model.training
        self.model.eval()
        kwargs: dict[str, Any] = {"max_new_tokens": self.max_tokens, "eos_token_id": self.stop or None,
                                  "pad_token_id": self.tokenizer.pad_token_id or (self.stop[0] if self.stop else 0),
                                  "attention_mask": torch.ones_like(ids)}
        if self.temperature > 0:
            kwargs.update(do_sample=True, temperature=self.temperature, top_p=1.0, top_k=0)
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        if call.constrain_bids is not None:  # sampled as the local backend decodes in evaluation
            from halo_plugin_qwen.local import action_constraint

            kwargs["logits_processor"] = action_constraint(self.tokenizer, call.constrain_bids, ids.shape[1],
                                                           self.stop, self.max_tokens, call.constrain_copy,
                                                           call.constrain_refs)
        with torch.no_grad():
            output = self.model.generate(input_ids=ids, **kwargs)
        if was_training:
            self.model.train()
        new = output[0, ids.shape[1]:].tolist()
        for i, token in enumerate(new):  # keep the stop token (trained on: ending the reply is part of it)
            if token in self.stop:
                new = new[:i + 1]
                break
        self.turns.append(Turn(ids[0].tolist(), new))
        text = clean_qwen_text(self.tokenizer.decode(new, skip_special_tokens=False))
        return Completion(text, Usage(calls=1, tokens_in=int(ids.shape[1]), tokens_out=len(new)), model=self.name)


def episode_config(*, max_steps: int, temperature: float, max_tokens: int, max_page_chars: int | None = None,
                   **options: Any):
    """The worker alone (no manager, cache, macros or recovery): the policy decides every step.
    ``options``: plugin options of the episodes (``worker_references="on"``)."""
    from halo_core.api import mode_config

    extra = {"max_page_chars": max_page_chars} if max_page_chars else {}
    extra.update({k: v for k, v in options.items() if v is not None})
    return mode_config("baseline_worker", policy="worker", use_manager=False, use_vac=False, use_macros=False,
                       use_recovery=False, use_screenshot=False, max_steps=max_steps,
                       worker_temperature=min(max(temperature, 0.0), 2.0), max_tokens=max_tokens,
                       **extra).replace(mode="grpo_online")


def group_advantages(rewards: Sequence[float], eps: float = 1e-4) -> list[float]:
    """GRPO's group-relative advantages: rewards standardised within the group."""
    n = len(rewards)
    if n == 0:
        return []
    mean = sum(rewards) / n
    std = math.sqrt(sum((r - mean) ** 2 for r in rewards) / n)
    if std < eps:
        return [0.0] * n
    return [(r - mean) / (std + eps) for r in rewards]


class Environments:
    """Environments for the rollouts, created on demand and reused across episodes.

    ``factory(task)`` makes one; with ``shared=True`` (a suite whose environment can reset
    to any of its tasks, like the web clones' browser) one environment serves every task.
    """

    def __init__(self, factory: Callable[[TaskSpec], Any], *, shared: bool = False) -> None:
        self.factory, self.shared = factory, shared
        self._envs: dict[str, Any] = {}

    def get(self, task: TaskSpec):
        key = "*" if self.shared else task.id
        if key not in self._envs:
            self._envs[key] = self.factory(task)
        return self._envs[key]

    def discard(self, task: TaskSpec) -> None:
        env = self._envs.pop("*" if self.shared else task.id, None)
        if env is not None:
            try:
                env.close()
            except Exception:  # a dead environment may fail to close; it is dropped either way
                pass

    def close(self) -> None:
        for key in list(self._envs):
            env = self._envs.pop(key)
            try:
                env.close()
            except Exception:
                pass


def play_group(task: TaskSpec, policy: SamplingPolicy, envs: Environments, runtime, config, *, group_size: int,
               valid_bonus: float, data_dir: str | Path, run_id: str, attempt0: int = 0) -> list[Rollout]:
    """``group_size`` episodes of ``task`` played by ``policy``; episodes that errored
    (a dead browser) are dropped and their environment replaced."""
    from halo_core.api import run_episode

    rollouts = []
    for i in range(group_size):
        policy.turns = []
        steps: list[Any] = []
        result = run_episode(task, config, envs.get(task), runtime, run_id=run_id, attempt=attempt0 + i,
                             data_dir=data_dir, backends={"worker": policy},
                             on_step=lambda record, after: steps.append(record))
        if result.terminated_by in ("error", "init_error"):
            envs.discard(task)
            continue
        valid = sum(1 for s in steps if not s.error and not s.decision.meta.get("parse_error"))
        valid_fraction = valid / len(steps) if steps else 0.0
        env_reward = float(result.reward if result.reward is not None else result.success)
        rollouts.append(Rollout(task.id, bool(result.success), env_reward, valid_fraction,
                                env_reward + valid_bonus * valid_fraction, result.steps, result.terminated_by,
                                list(policy.turns)))
    return rollouts


# --------------------------------------------------------------------------- the update


def _completion_logps(model, turn: Turn):
    """Per-token log-probabilities of ``turn``'s completion under ``model``."""
    import torch

    ids = torch.tensor([turn.prompt_ids + turn.completion_ids], device=model.device)
    logits = model(input_ids=ids).logits[0, len(turn.prompt_ids) - 1:-1].float()
    targets = ids[0, len(turn.prompt_ids):]
    return torch.log_softmax(logits, dim=-1).gather(1, targets[:, None])[:, 0]


class Reference:
    """Log-probabilities under the policy training started from (see the module doc)."""

    def __init__(self, model, *, continued_adapter: bool) -> None:
        self.model, self.kind, self.frozen = model, "none", None
        if hasattr(model, "peft_config"):
            if continued_adapter:
                config = model.peft_config["default"]
                model.add_adapter("ref", config)
                for name, param in model.named_parameters():
                    if ".default." in name:
                        model.get_parameter(name.replace(".default.", ".ref.")).data.copy_(param.data)
                self._trainable_default()
                self.kind = "starting adapter (frozen copy)"
            else:
                self.kind = "base model (adapter disabled)"
        else:
            self.frozen = copy.deepcopy(model).eval()
            for p in self.frozen.parameters():
                p.requires_grad_(False)
            self.kind = "starting model (frozen copy)"

    def _trainable_default(self) -> None:
        self.model.set_adapter("default")
        for name, param in self.model.named_parameters():
            param.requires_grad_(".default." in name)

    def logps(self, turn: Turn):
        import torch

        with torch.no_grad():
            if self.frozen is not None:
                return _completion_logps(self.frozen, turn)
            if self.kind.startswith("base"):
                with self.model.disable_adapter():
                    return _completion_logps(self.model, turn)
            self.model.set_adapter("ref")
            try:
                return _completion_logps(self.model, turn)
            finally:
                self._trainable_default()


def grpo_update(model, optimizer, rollouts: Sequence[Rollout], advantages: Sequence[float], *,
                reference: Reference | None, beta: float, max_grad_norm: float = 1.0) -> dict[str, float]:
    """One optimizer step on the group's completion tokens; returns the loss terms."""
    import torch

    model.train()
    optimizer.zero_grad()
    tokens = sum(len(t.completion_ids) for r, a in zip(rollouts, advantages) for t in r.turns
                 if a != 0.0 or beta > 0)
    if tokens == 0:
        return {"loss": 0.0, "pg_loss": 0.0, "kl": 0.0, "tokens": 0}
    pg_total = kl_total = 0.0
    for rollout, advantage in zip(rollouts, advantages):
        if advantage == 0.0 and beta <= 0:
            continue
        for turn in rollout.turns:
            if not turn.completion_ids:
                continue
            logps = _completion_logps(model, turn)
            pg = -(advantage * logps).sum()
            loss = pg
            if beta > 0 and reference is not None:
                delta = reference.logps(turn) - logps
                kl = (torch.exp(delta) - delta - 1).sum()
                loss = loss + beta * kl
                kl_total += float(kl.detach())
            (loss / tokens).backward()
            pg_total += float(pg.detach())
    params = [p for p in model.parameters() if p.requires_grad]
    torch.nn.utils.clip_grad_norm_(params, max_grad_norm)
    optimizer.step()
    return {"loss": (pg_total + beta * kl_total) / tokens, "pg_loss": pg_total / tokens, "kl": kl_total / tokens,
            "tokens": tokens}


# --------------------------------------------------------------------------- the run


def train_grpo_online(*, tasks: Sequence[TaskSpec], envs: Environments, runtime=None, group_size: int = 4,
                      tasks_per_step: int = 1, temperature: float = 1.0, beta: float = 0.04,
                      max_completion_length: int = 48, episode_max_steps: int = 10, valid_bonus: float = 0.1,
                      max_page_chars: int | None = None, log: Callable[[str], None] = print,
                      worker_references: str | None = None, **options: Any) -> Path:
    """Online GRPO over ``tasks`` (``--max-steps`` updates, each on ``tasks_per_step``
    groups of ``group_size`` episodes); returns the output directory. ``worker_references``:
    the episodes' reference prompts (``on``/``off``; None leaves the option's default)."""
    import torch

    from halo_core.api import Runtime

    opts = TrainOptions(**{"dataset": "", **options})
    if not tasks:
        raise TrainingError("online GRPO needs at least one task (--tasks)")
    if opts.gradient_checkpointing:
        raise TrainingError("--gradient-checkpointing is not supported by online GRPO (its update loop is its own, "
                            "not transformers' Trainer); leave it off, or train offline (grpo without --online)")
    if group_size < 2:
        raise TrainingError("--group-size must be at least 2: advantages are relative to the group")
    set_threads()
    torch.manual_seed(opts.seed)
    base, init = resolve_model(opts)
    tokenizer = load_tokenizer(base)
    model, peft_config = load_policy(opts, base, init)
    if peft_config is not None:
        from peft import get_peft_model

        model = get_peft_model(model, peft_config)
    reference = Reference(model, continued_adapter=bool(init)) if beta > 0 else None
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise TrainingError("no trainable parameters (is the adapter loaded as trainable?)")
    optimizer = torch.optim.AdamW(params, lr=opts.lr if opts.lr is not None else DEFAULT_LR, weight_decay=0.0)
    policy = SamplingPolicy(model, tokenizer, temperature=temperature, max_tokens=max_completion_length)
    runtime = runtime or Runtime()
    config = episode_config(max_steps=episode_max_steps, temperature=temperature, max_tokens=max_completion_length,
                            max_page_chars=max_page_chars, worker_references=worker_references)
    out = Path(opts.output)
    out.mkdir(parents=True, exist_ok=True)
    data_dir = out / "rollouts"
    steps = opts.max_steps if opts.max_steps and opts.max_steps > 0 else max(1, math.ceil(opts.epochs * len(tasks) /
                                                                                              tasks_per_step))
    history: list[dict[str, Any]] = []
    started = time.monotonic()
    episodes = 0
    try:
        for step in range(1, steps + 1):
            batch = [tasks[((step - 1) * tasks_per_step + k) % len(tasks)] for k in range(tasks_per_step)]
            rollouts: list[Rollout] = []
            advantages: list[float] = []
            for task in batch:
                group = play_group(task, policy, envs, runtime, config, group_size=group_size,
                                   valid_bonus=valid_bonus, data_dir=data_dir, run_id=f"grpo_step{step}",
                                   attempt0=episodes)
                episodes += group_size
                rollouts += group
                advantages += group_advantages([r.reward for r in group])
            terms = grpo_update(model, optimizer, rollouts, advantages, reference=reference, beta=beta)
            row = {"step": step, "episodes": len(rollouts), "tasks": [t.id for t in batch],
                   "reward": sum(r.reward for r in rollouts) / max(1, len(rollouts)),
                   "success": sum(r.success for r in rollouts) / max(1, len(rollouts)),
                   "valid": sum(r.valid_fraction for r in rollouts) / max(1, len(rollouts)),
                   "groups_with_signal": len({r.task_id for r, a in zip(rollouts, advantages) if a != 0.0}),
                   **terms}
            history.append(row)
            if opts.progress != "none":
                log(f"  [grpo-online] step {step}/{steps} reward={row['reward']:.3g} success={row['success']:.2f} "
                    f"valid={row['valid']:.2f} loss={row['loss']:.4g} kl={row['kl']:.3g} "
                    f"({time.monotonic() - started:.0f}s)")
    finally:
        envs.close()
    (out / "rollouts.jsonl").write_text("".join(json.dumps(h) + "\n" for h in history))
    metrics: dict[str, Any] = {"global_step": len(history), "wall_time_sec": round(time.monotonic() - started, 2),
                               "episodes": episodes}
    if history:
        metrics.update({"final_logged_loss": history[-1]["loss"], "final_reward": history[-1]["reward"],
                        "final_success": history[-1]["success"], "first_reward": history[0]["reward"],
                        "mean_success": sum(h["success"] for h in history) / len(history)})
    opts.dataset = opts.dataset or "(online: live episodes)"
    saved = save_final(SimpleNamespace(model=model), tokenizer, opts, kind="grpo", base=base, init_adapter=init,
                       metrics=metrics,
                       data={"train_examples": episodes, "val_examples": 0, "online": True, "rollouts": "episodes",
                             "method": "online GRPO (group-relative policy gradient on live episodes)",
                             "tasks": [t.id for t in tasks], "group_size": group_size, "beta": beta,
                             "temperature": temperature, "valid_bonus": valid_bonus,
                             "reference": reference.kind if reference else "none (beta=0)",
                             "rewards": f"environment reward + {valid_bonus} x valid-action share"})
    if reference is not None and reference.kind.startswith("starting adapter"):
        import shutil

        shutil.rmtree(saved / "ref", ignore_errors=True)
    finish_line("grpo", saved, metrics, log)
    return saved


def suite_environments(runtime, suite_name: str, *, headless: bool = True) -> tuple[Any, Environments]:
    """(suite, Environments) for a registered suite; one environment serves all its tasks."""
    from halo_core.api import EnvSettings

    suite = runtime.suite(suite_name)
    return suite, Environments(lambda task: suite.make_environment(task, EnvSettings(headless=headless,
                                                                                     screenshot=False)),
                               shared=True)


def resolve_tasks(suite, spec: str, *, split: str | None = None) -> list[TaskSpec]:
    """Tasks from ``--tasks`` (comma-separated ids) or, when empty, the suite's ``split``."""
    ids = [s.strip() for s in (spec or "").split(",") if s.strip()]
    if ids:
        return [suite.resolve(i) for i in ids]
    tasks = suite.list_tasks(split=split) if split else suite.list_tasks()
    if not tasks:
        raise TrainingError(f"the suite has no {split or ''} tasks; pass --tasks")
    return list(tasks)


__all__ = ["Environments", "Reference", "Rollout", "SamplingPolicy", "Turn", "group_advantages", "grpo_update",
           "play_group", "resolve_tasks", "suite_environments", "train_grpo_online"]
