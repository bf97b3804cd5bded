"""The decision loop: reset → (observe → decide → act → verify → log)* → evaluate.

This file is the whole agent. Everything it does beyond this skeleton comes from
hook implementations: the built-ins in :mod:`halo_core.builtins` and the plugins.
"""

from __future__ import annotations

import os
import time
import traceback
from pathlib import Path
from typing import Any

import attrs

from halo_core.actions import TERMINAL_ACTIONS, ActionError, parse_action
from halo_core.backends import Backend, BackendError, BackendSettings
from halo_core.config import AgentConfig
from halo_core.env.protocol import Environment, EnvironmentDead
from halo_core.model import (
    EpisodeResult,
    Observation,
    RawObservation,
    StepRecord,
    TaskSpec,
    Usage,
    Verdict,
)
from halo_core.runtime import Runtime


@attrs.define(eq=False)
class Episode:
    """The state of one running episode, handed to every hook."""

    task: TaskSpec
    config: AgentConfig
    runtime: Runtime
    run_id: str = "local"
    attempt: int = 0
    data_dir: Path = Path("data")
    history: list[StepRecord] = attrs.field(factory=list)
    observations: list[Observation] = attrs.field(factory=list)  # one per step, plus the last
    state: dict[str, Any] = attrs.field(factory=dict)  # per-plugin scratch space, keyed by plugin
    usage: Usage = Usage()
    _backends: dict[str, Backend] = attrs.field(factory=dict)

    @property
    def step_idx(self) -> int:
        return len(self.history)

    @property
    def trajectory_path(self) -> Path:
        safe = self.task.id.replace("/", "_")
        return self.data_dir / "trajectories" / self.config.mode / self.run_id / f"{safe}__attempt_{self.attempt}.jsonl"

    def backend(self, role: str) -> Backend:
        """The model backend for ``role`` (``worker`` or ``manager``), made on first use."""
        if role not in self._backends:
            cfg = self.config
            spec = cfg.worker_backend if role == "worker" else cfg.manager_backend
            if not spec:
                raise BackendError(f"no {role} backend is configured")
            settings = BackendSettings(
                temperature=cfg.worker_temperature if role == "worker" else cfg.manager_temperature,
                seed=cfg.seed,
                max_tokens=cfg.max_tokens,
                images=cfg.use_screenshot,
            )
            self._backends[role] = self.runtime.backends.create(spec, settings)
        return self._backends[role]

    def use_backend(self, role: str, backend: Backend) -> None:
        """Give this episode a ready backend for ``role`` (shared across episodes by runners)."""
        self._backends[role] = backend

    def log(self, event: dict[str, Any]) -> None:
        self.runtime.hook.halo_log(event=event, episode=self)


def observe(runtime: Runtime, raw: RawObservation, episode: Episode) -> Observation:
    observation = runtime.hook.halo_observe(raw=raw, episode=episode)
    if observation is None:
        raise RuntimeError("no plugin implements halo_observe (is the 'summarizer' built-in disabled?)")
    runtime.hook.halo_annotate(observation=observation, episode=episode)
    return observation


def _flatten(results: list[Any]) -> tuple[Verdict, ...]:
    out: list[Verdict] = []
    for item in results:
        if isinstance(item, Verdict):
            out.append(item)
        elif item:
            out.extend(v for v in item if isinstance(v, Verdict))
    return tuple(out)


def run_episode(
    task: TaskSpec,
    config: AgentConfig,
    env: Environment,
    runtime: Runtime | None = None,
    *,
    run_id: str = "local",
    attempt: int = 0,
    data_dir: str | os.PathLike = "data",
    backends: dict[str, Backend] | None = None,
    on_step=None,
) -> EpisodeResult:
    """Run one episode of ``task`` in ``env`` and return its scored result.

    The episode always ends with an ``episode_end`` event and a result, whatever
    happens: a dead environment or a failing model call becomes ``error``.
    """
    runtime = runtime or Runtime()
    hook = runtime.hook
    episode = Episode(task=task, config=config, runtime=runtime, run_id=run_id, attempt=attempt,
                      data_dir=Path(data_dir))
    for role, backend in (backends or {}).items():
        episode.use_backend(role, backend)
    started = time.monotonic()
    hook.halo_episode_start(episode=episode)
    episode.log({
        "type": "episode_start", "task_id": task.id, "task_name": task.id, "site": task.site, "goal": task.goal,
        "run_id": run_id, "mode": config.mode, "attempt_idx": attempt, "timestamp": time.time(),
        "pid": os.getpid(), "config_hash": config.config_hash(), "config": config.to_dict(),
    })

    terminated_by, error, final_message, infeasible, tb = "max_steps", "", "", False, ""
    try:
        try:
            raw = env.reset(task)
        except EnvironmentDead as exc:
            raise _InitError(str(exc)) from exc
        observation = observe(runtime, raw, episode)
        episode.observations.append(observation)
        while episode.step_idx < config.max_steps:
            step_started = time.perf_counter()
            started_at = time.time()
            decision = hook.halo_decide(observation=observation, episode=episode)
            if decision is None:
                raise RuntimeError("no layer of the hierarchy chose an action (is a worker or policy plugin enabled?)")
            raw = env.step(decision.action)
            after = observe(runtime, raw, episode)
            verdicts = _flatten(hook.halo_verify(before=observation, decision=decision, after=after, episode=episode))
            record = StepRecord(
                step_idx=episode.step_idx, url=observation.url, fingerprint=observation.fingerprint,
                page_type=observation.page_type, decision=decision, error=after.last_action_error,
                verdicts=verdicts, elapsed_ms=(time.perf_counter() - step_started) * 1000.0,
                manager_called=bool(decision.meta.get("manager_called")), cache_hit=decision.source == "vac",
            )
            episode.history.append(record)
            episode.usage = episode.usage + decision.usage
            episode.log({**step_event(record, observation), "started_at": started_at})
            episode.observations.append(after)
            if on_step is not None:
                on_step(record, after)
            observation = after
            name = _action_name(decision.action)
            if name in TERMINAL_ACTIONS and not after.last_action_error:
                terminated_by = "infeasible" if name == "report_infeasible" else "message"
                infeasible = name == "report_infeasible"
                final_message = str(parse_action(decision.action).args[0])
                break
    except _InitError as exc:
        terminated_by, error, tb = "init_error", str(exc), traceback.format_exc()
    except (EnvironmentDead, BackendError) as exc:
        terminated_by, error, tb = "error", f"{type(exc).__name__}: {exc}", traceback.format_exc()
    except Exception as exc:  # a plugin bug ends this episode, not the run
        terminated_by, error, tb = "error", f"{type(exc).__name__}: {exc}", traceback.format_exc()

    evaluation = None
    if terminated_by not in ("init_error", "error"):
        try:
            evaluation = env.evaluate(final_message, infeasible)
        except Exception as exc:
            terminated_by, error, tb = "error", f"evaluation failed: {type(exc).__name__}: {exc}", traceback.format_exc()
    sources = [r.decision.source for r in episode.history]
    result = EpisodeResult(
        task_id=task.id,
        success=bool(evaluation and evaluation.success),
        reward=float(evaluation.reward) if evaluation else 0.0,
        steps=episode.step_idx,
        wall_time_sec=time.monotonic() - started,
        terminated_by=terminated_by,
        error=error,
        final_message=final_message,
        usage=episode.usage,
        manager_calls=sum(1 for r in episode.history if r.manager_called),
        cache_hits=sources.count("vac"),
        cache_misses=int(episode.state.get("vac", {}).get("misses", 0)) if isinstance(episode.state.get("vac"), dict) else 0,
        macro_steps=sources.count("macro"),
        scorable=evaluation.scorable if evaluation else True,
        info={"traceback": tb} if tb else dict(evaluation.info) if evaluation else {},
    )
    try:
        hook.halo_episode_end(episode=episode, result=result)
    finally:
        episode.log(end_event(result))
    return result


class _InitError(RuntimeError):
    pass


def _action_name(action: str) -> str:
    try:
        return parse_action(action).name
    except ActionError:
        return ""


def step_event(record: StepRecord, observation: Observation) -> dict[str, Any]:
    d = record.decision
    return {
        "type": "step",
        "step_idx": record.step_idx,
        "url": record.url,
        "obs_hash": observation.annotations.get("obs_hash", ""),
        "fingerprint": record.fingerprint,
        "page_type": record.page_type,
        "action": d.action,
        "action_source": d.source,
        "reason": d.reason,
        "last_action_error": record.error,
        "elapsed_ms": round(record.elapsed_ms, 3),
        "manager_called": record.manager_called,
        "cache_hit": record.cache_hit,
        "tokens": {"in": d.usage.tokens_in, "out": d.usage.tokens_out},
        "usage": attrs.asdict(d.usage),
        "verdicts": [attrs.asdict(v) for v in record.verdicts],
        "decision_meta": dict(d.meta),
        "obs_summary": observation.text,
        "actionable_elements": observation.annotations.get("actionable_elements")
        or [e.describe() for e in observation.elements],
        "valid_bids": observation.annotations.get("bids") or [e.bid for e in observation.elements],
    }


def end_event(result: EpisodeResult) -> dict[str, Any]:
    return {
        "type": "episode_end",
        "task_id": result.task_id,
        "success": result.success,
        "reward": result.reward,
        "total_steps": result.steps,
        "wall_time_sec": round(result.wall_time_sec, 3),
        "terminated_by": result.terminated_by,
        "manager_calls": result.manager_calls,
        "cache_hits": result.cache_hits,
        "cache_misses": result.cache_misses,
        "macro_steps": result.macro_steps,
        "usage": attrs.asdict(result.usage),
        "final_message": result.final_message,
        "scorable": result.scorable,
        "error": result.error,
        "traceback": result.info.get("traceback", ""),
        "timestamp": time.time(),
    }
