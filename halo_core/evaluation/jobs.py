"""One episode as a unit of work: the job, its outcome, and the code a worker runs.

An :class:`EpisodeJob` carries everything a worker process needs to run one
episode on its own (the resolved task, the agent config, where to write the
trajectory); :func:`execute_job` runs it and always returns an
:class:`EpisodeOutcome`, never raises. Executors (local processes, Ray actors, a
third party's cluster) only move jobs to a worker and outcomes back.

A worker process keeps a :class:`WorkerState`: the plugin runtime (imported and
collected once), the model backends (one per agent config) and, for suites that
declare ``reuse_environments = True``, one environment per suite that is reset for
each task instead of being rebuilt (a browser stays up across episodes).
"""

from __future__ import annotations

import os
import time
import traceback as _traceback
from pathlib import Path
from typing import Any, Mapping

import attrs

from halo_core.config import AgentConfig
from halo_core.env.protocol import EnvSettings
from halo_core.model import EpisodeResult, StepRecord, TaskSpec
from halo_core.trajectory import trajectory_path

__all__ = ["EpisodeJob", "EpisodeOutcome", "WorkerState", "execute_job", "failed_outcome", "make_environment",
           "trajectory_path"]

#: ``terminated_by`` values that make an episode an init/agent error (not a valid task).
ERROR_ENDINGS = frozenset({"init_error", "error"})


@attrs.frozen
class EpisodeJob:
    """Everything needed to run one (task, mode, attempt) episode in any process."""

    task: TaskSpec
    suite: str
    config: AgentConfig
    run_id: str
    attempt: int = 0
    data_dir: str = "data"
    headless: bool = True
    task_seed: int | None = None
    debug: bool = False
    #: Extra fields copied into the episode record (e.g. rollout index, temperature).
    extra: Mapping[str, Any] = attrs.field(factory=dict)

    @property
    def mode(self) -> str:
        return self.config.mode

    @property
    def key(self) -> tuple[str, str, int]:
        """The identity of this episode within a run: (task, mode, attempt)."""
        return (self.task.id, self.config.mode, self.attempt)

    @property
    def trajectory(self) -> Path:
        return trajectory_path(self.data_dir, self.config.mode, self.run_id, self.task.id, self.attempt)


@attrs.frozen
class EpisodeOutcome:
    """What comes back from a worker: the JSON record for ``episodes.jsonl`` and,
    for an errored episode, its traceback (which goes to ``errors.jsonl`` only)."""

    record: dict[str, Any]
    traceback: str = ""

    @property
    def is_error(self) -> bool:
        return self.record.get("terminated_by") in ERROR_ENDINGS


def result_fields(result: EpisodeResult) -> dict[str, Any]:
    """An episode's result as the fields of its ``episodes.jsonl`` record (the one shape every
    reader of results uses: ``steps``, not the trajectory's ``total_steps``)."""
    return {
        "success": bool(result.success),
        "reward": float(result.reward),
        "steps": int(result.steps),
        "wall_time_sec": round(float(result.wall_time_sec), 3),
        "terminated_by": result.terminated_by,
        "error": result.error,
        "scorable": bool(result.scorable),
        "usage": attrs.asdict(result.usage),
        "manager_calls": result.manager_calls,
        "counters": dict(result.counters),  # plugins' numbers (halo_episode_counters), read by their metrics
        "plugin_errors": list(result.plugin_errors),
        "final_message": result.final_message,
    }


def episode_record(job: EpisodeJob, result: EpisodeResult) -> dict[str, Any]:
    """The ``episodes.jsonl`` line for a finished episode."""
    return {
        "task": job.task.id,
        "mode": job.config.mode,
        "policy": job.config.policy,
        "attempt": job.attempt,
        **result_fields(result),
        "trajectory": str(job.trajectory),
        "worker_pid": os.getpid(),
        "finished_at": time.time(),
        **dict(job.extra),
    }


def failed_outcome(job: EpisodeJob, error: str, traceback: str = "", *, terminated_by: str = "error",
                   wall_time_sec: float = 0.0) -> EpisodeOutcome:
    """An error record for an episode that produced no result (worker crash, setup failure).

    Executors use this when the process running ``job`` died; the run goes on.
    """
    result = EpisodeResult(task_id=job.task.id, success=False, reward=0.0, steps=0, wall_time_sec=wall_time_sec,
                           terminated_by=terminated_by, error=error)
    record = episode_record(job, result)
    record["worker_pid"] = None
    return EpisodeOutcome(record, traceback)


# --------------------------------------------------------------------------- worker side


class WorkerState:
    """What a worker process keeps between episodes. Not thread-safe: one episode at a time."""

    def __init__(self, slot: int | str = 0, runtime=None) -> None:
        self.slot = slot
        self._runtime = runtime
        self._backends: dict[str, dict] = {}
        self._envs: dict[tuple, Any] = {}

    @property
    def runtime(self):
        if self._runtime is None:
            from halo_core.runtime import Runtime

            self._runtime = Runtime()
        return self._runtime

    def warm_up(self) -> None:
        """Load the plugins and collect the suites now, before the first job arrives."""
        _ = self.runtime.suites

    def suite_for(self, job: EpisodeJob):
        suites = self.runtime.suites
        if job.suite in suites:
            return suites[job.suite]
        suite, _task = self.runtime.resolve_task(job.task.id)
        return suite

    def backends_for(self, config: AgentConfig) -> dict:
        """The config's backends, made once per process (the parent already checked them)."""
        key = config.config_hash()
        if key not in self._backends:
            from halo_core.preflight import preflight_backends

            self._backends[key] = preflight_backends(self.runtime, config)
        return self._backends[key]

    def environment(self, suite, job: EpisodeJob, settings: EnvSettings):
        """A new environment per episode, or the kept one when the suite allows reuse."""
        if not getattr(suite, "reuse_environments", False):
            return make_environment(suite, job.task, settings, job.config.options), False
        key = (suite.name, settings, _env_key(suite, job.config.options))
        env = self._envs.get(key)
        if env is None:
            env = self._envs[key] = make_environment(suite, job.task, settings, job.config.options)
        return env, True

    def discard_environment(self, suite, settings: EnvSettings, options: Mapping[str, Any] | None = None) -> None:
        env = self._envs.pop((suite.name, settings, _env_key(suite, options or {})), None)
        if env is not None:
            _close_quietly(env)

    def close(self) -> None:
        for env in self._envs.values():
            _close_quietly(env)
        self._envs.clear()

    def run(self, job: EpisodeJob) -> EpisodeOutcome:
        return execute_job(job, self)


def make_environment(suite, task: TaskSpec, settings: EnvSettings, options: Mapping[str, Any] | None = None):
    """``suite.make_environment``, with the plugin option values its signature accepts
    (a suite's own options reach it; the core names none of them)."""
    from halo_core.runtime import accepted_options

    return suite.make_environment(task, settings, **accepted_options(suite.make_environment, dict(options or {})))


def _env_key(suite, options: Mapping[str, Any]) -> tuple:
    """The option values that shape this suite's environments (modes differing only in other
    options share one kept environment)."""
    from halo_core.runtime import accepted_options

    return tuple(sorted((k, repr(v)) for k, v in accepted_options(suite.make_environment, dict(options)).items()))


def _close_quietly(env) -> None:
    try:
        env.close()
    except Exception:
        pass


def _debug_printer(job: EpisodeJob):
    from halo_core.secrets import redact_console

    prefix = f"[{job.task.id} {job.config.mode} #{job.attempt}]"

    def show(record: StepRecord, after) -> None:
        flag = " manager" if record.manager_called else ""
        error = f" error: {record.error}" if record.error else ""
        line = (f"{prefix} {record.step_idx:>3} {record.url} {record.decision.action} <{record.decision.source}> "
                f"page={record.page_type}{flag}{error}")
        print(redact_console(line).rstrip(), flush=True)  # plain text: the model's words as written, keys masked

    return show


def execute_job(job: EpisodeJob, state: WorkerState | None = None) -> EpisodeOutcome:
    """Run one episode in this process and return its outcome; never raises.

    Setup failures (unknown suite, backend, environment construction) become
    ``init_error`` records; the loop itself turns everything else into a result.
    """
    from halo_core.loop import run_episode

    state = state or WorkerState()
    started = time.monotonic()
    try:
        runtime = state.runtime
        suite = state.suite_for(job)
        backends = state.backends_for(job.config)
        # a suite's own settings (a run id it reports to, a registry) come from its plugin's options
        settings = EnvSettings(headless=job.headless, seed=job.task_seed, screenshot=job.config.use_screenshot)
        env, kept = state.environment(suite, job, settings)
    except BaseException as exc:  # noqa: BLE001 - a setup failure is this episode's error, not the worker's
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        return failed_outcome(job, f"setup failed: {type(exc).__name__}: {exc}", _traceback.format_exc(),
                              terminated_by="init_error", wall_time_sec=time.monotonic() - started)
    try:
        result = run_episode(job.task, job.config, env, runtime, run_id=job.run_id, attempt=job.attempt,
                             data_dir=job.data_dir, backends=backends,
                             on_step=_debug_printer(job) if job.debug else None)
    except Exception as exc:  # run_episode catches plugin errors; this is a bug in a lifecycle hook
        if kept:
            state.discard_environment(suite, settings, job.config.options)
        else:
            _close_quietly(env)
        return failed_outcome(job, f"{type(exc).__name__}: {exc}", _traceback.format_exc(),
                              wall_time_sec=time.monotonic() - started)
    if not kept:
        _close_quietly(env)
    elif result.terminated_by in ERROR_ENDINGS:
        state.discard_environment(suite, settings, job.config.options)  # a kept environment that failed is not trusted again
    return EpisodeOutcome(episode_record(job, result), str(result.info.get("traceback", "")) if
                          result.terminated_by in ERROR_ENDINGS else "")
