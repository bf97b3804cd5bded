"""Group relative policy optimisation: trl's GRPOTrainer on the BC prompts.

Offline (default): each prompt of ``bc.jsonl`` is sampled ``--num-generations`` times
and every completion is scored by :func:`~halo_plugin_trainers.rewards.action_validity_reward`
and :func:`~halo_plugin_trainers.rewards.action_match_reward` (the recorded action).

With ``--online-step-reward`` the environment's verdict is added —
:class:`~halo_plugin_trainers.rewards.OnlineTaskReward` plays each completion as the
action of its step in a live episode and rewards task success.

Online (``--online --suite webclones --tasks ... --group-size N``): the rollouts are
whole multi-turn episodes in the live environment, which trl's GRPOTrainer cannot
drive; :mod:`halo_plugin_trainers.grpo_online` is the update loop for that.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ._common import (
    TrainingError,
    TrainOptions,
    finish_line,
    load_jsonl,
    load_policy,
    load_tokenizer,
    progress_callback,
    resolve_model,
    run_training,
    save_final,
    set_threads,
    training_args_common,
)
from .rewards import OnlineTaskReward, action_match_reward, action_validity_reward

DEFAULT_LR = 1e-5


def _as_prompts(dataset):
    """bc.jsonl rows -> GRPO rows: prompt, expected_action, task_id, step_idx."""
    def convert(row):
        completion = row.get("completion")
        expected = completion[-1]["content"] if isinstance(completion, list) and completion else row.get("expected_action", "")
        return {"expected_action": expected}

    dataset = dataset.map(convert)
    keep = {"prompt", "expected_action", "task_id", "step_idx"}
    return dataset.remove_columns([c for c in dataset.column_names if c not in keep])


def train_grpo(*, num_generations: int = 4, max_completion_length: int = 48, temperature: float = 1.0,
               beta: float | None = None, online: bool = False, online_step_reward: bool = False,
               suite: str = "webclones", online_policy: str = "expert", online_max_steps: int = 15,
               reward_weights: tuple[float, ...] | None = None, tasks: str = "", split: str = "train",
               group_size: int = 4, tasks_per_step: int = 1, valid_bonus: float = 0.1,
               max_page_chars: int | None = None, **options: Any) -> Path:
    """Train a GRPO adapter; returns the output directory.

    ``online=True``: whole episodes in the live environment are the rollouts
    (:mod:`halo_plugin_trainers.grpo_online`); ``dataset`` is not used. Otherwise trl's
    GRPOTrainer on the dataset's prompts, with ``online_step_reward`` adding
    :class:`~halo_plugin_trainers.rewards.OnlineTaskReward`.
    """
    if online:
        from halo_core.api import Runtime

        from .grpo_online import resolve_tasks, suite_environments, train_grpo_online

        runtime = Runtime()
        try:
            suite_obj, envs = suite_environments(runtime, suite)
        except Exception as exc:  # an unknown suite names the registered ones
            raise TrainingError(f"--suite {suite}: {exc}") from None
        try:
            task_list = resolve_tasks(suite_obj, tasks, split=split)
        except TrainingError:
            raise
        except Exception as exc:
            raise TrainingError(f"--tasks: {exc}") from None
        return train_grpo_online(tasks=task_list, envs=envs, runtime=runtime, group_size=group_size,
                                 tasks_per_step=tasks_per_step, temperature=temperature,
                                 beta=0.04 if beta is None else beta, max_completion_length=max_completion_length,
                                 episode_max_steps=online_max_steps, valid_bonus=valid_bonus,
                                 max_page_chars=max_page_chars, **options)
    beta = 0.0 if beta is None else beta
    online = online_step_reward
    opts = TrainOptions(**options)
    from trl import GRPOConfig, GRPOTrainer

    set_threads()
    base, init = resolve_model(opts)
    tokenizer = load_tokenizer(base)
    train = load_jsonl(opts.dataset, ("prompt",))
    if train is None or len(train) == 0:
        raise TrainingError(f"dataset {opts.dataset} is empty")
    train = _as_prompts(train)
    if online and not {"task_id", "step_idx"} <= set(train.column_names):
        raise TrainingError("--online-step-reward needs task_id and step_idx columns (as `halo export` writes them)")
    rewards: list[Any] = [action_validity_reward, action_match_reward]
    online_reward = None
    if online:
        online_reward = OnlineTaskReward(suite=suite, policy=online_policy, max_steps=online_max_steps)
        rewards.append(online_reward)
    weights = list(reward_weights) if reward_weights else None
    if weights is not None and len(weights) != len(rewards):
        raise TrainingError(f"--reward-weights needs {len(rewards)} numbers (validity, match"
                            f"{', online' if online else ''})")
    batch = opts.batch_size * opts.grad_accum
    if batch % num_generations:
        opts.batch_size = num_generations  # trl needs whole groups in a generation batch
        opts.grad_accum = 1
    model, peft_config = load_policy(opts, base, init)
    args = GRPOConfig(**training_args_common(opts, DEFAULT_LR), num_generations=num_generations,
                      max_completion_length=max_completion_length, temperature=temperature, beta=beta,
                      reward_weights=weights, log_completions=False)
    trainer = GRPOTrainer(model=model, reward_funcs=rewards, args=args, train_dataset=train,
                          processing_class=tokenizer, peft_config=peft_config,
                          callbacks=[progress_callback("grpo", opts)])
    try:
        metrics = run_training(trainer, opts, "grpo")
    finally:
        if online_reward is not None:
            online_reward.close()
    reward_means = {k: v for k, v in metrics.items() if "reward" in k}
    rewards_desc = ", ".join(getattr(r, "__name__", type(r).__name__) for r in rewards)
    if online_reward is not None:
        metrics["online_episodes"] = online_reward.episodes
    out = save_final(trainer, tokenizer, opts, kind="grpo", base=base, init_adapter=init, metrics=metrics,
                     data={"train_examples": len(train), "val_examples": 0, "rewards": rewards_desc,
                           "reward_weights": weights, "online": online, "num_generations": num_generations,
                           "reward_metrics": reward_means})
    finish_line("grpo", out, metrics)
    return out
