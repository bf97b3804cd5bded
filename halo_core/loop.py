"""The decision loop: reset → (observe → decide → act → verify → log)* → evaluate.

This file is the whole agent. Everything it does beyond this skeleton comes from
hook implementations: the built-ins in :mod:`halo_core.builtins` and the plugins.
"""

from __future__ import annotations

import contextvars
import functools
import os
import sys
import time
import traceback
import warnings
from pathlib import Path
from typing import Any

import attrs

from halo_core.actions import TERMINAL_ACTIONS, ActionError, parse_action
from halo_core.backends import Backend, BackendError, BackendSettings
from halo_core.config import AgentConfig
from halo_core.env.protocol import Environment, EnvironmentDead
from halo_core.model import (
    Decision,
    EpisodeResult,
    Evaluation,
    Observation,
    RawObservation,
    StepRecord,
    TaskSpec,
    Usage,
    Verdict,
)
from halo_core.runtime import Runtime
from halo_core.stash import Stash
from halo_core.trajectory import end_event, start_event, step_event


@attrs.define(eq=False)
class Episode:
    """The state of one running episode, handed to every hook.

    Plugins keep their own state in :attr:`stash` under their own
    :class:`~halo_core.stash.StashKey`.
    """

    task: TaskSpec
    config: AgentConfig
    runtime: Runtime
    run_id: str = "local"
    attempt: int = 0
    data_dir: Path = Path("data")
    history: list[StepRecord] = attrs.field(factory=list)
    observations: list[Observation] = attrs.field(factory=list)  # one per step, plus the last
    stash: Stash = attrs.field(factory=Stash)
    usage: Usage = Usage()
    #: the decision whose outcome is being observed (set before ``halo_observe`` of its result)
    last_decision: Decision | None = None
    _backends: dict[str, Backend] = attrs.field(factory=dict)

    @property
    def step_idx(self) -> int:
        return len(self.history)

    @property
    def trajectory_path(self) -> Path:
        from halo_core.trajectory import trajectory_path

        return trajectory_path(self.data_dir, self.config.mode, self.run_id, self.task.id, self.attempt)

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
    if raw.info and not observation.info:
        # the environment's facts reach deciders whichever plugin built the observation
        observation = attrs.evolve(observation, info=raw.info)
    runtime.hook.halo_annotate(observation=observation, episode=episode)
    return observation


def flatten_verdicts(results: list[Any]) -> tuple[Verdict, ...]:
    """``halo_verify``'s results (verdicts, lists of them, Nones) as one tuple."""
    out: list[Verdict] = []
    for item in results:
        if isinstance(item, Verdict):
            out.append(item)
        elif item:
            out.extend(v for v in item if isinstance(v, Verdict))
    return tuple(out)


_collected_errors: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar("halo_hook_errors", default=None)


def _isolated(impl: Any) -> Any:
    """``impl``'s function, recording what it raises into the current :func:`call_isolated`
    call instead of stopping the hook (outside one it raises as before)."""
    function = impl.function

    @functools.wraps(function)
    def isolated(*args: Any) -> Any:
        try:
            return function(*args)
        except Exception as exc:
            errors = _collected_errors.get()
            if errors is None:
                raise
            errors.append(f"{impl.plugin_name}: {type(exc).__name__}: {exc}")
            return None

    isolated.__halo_isolated__ = True  # type: ignore[attr-defined]
    return isolated


def call_isolated(hook_caller, **kwargs: Any) -> list[str]:
    """Call a hook through pluggy (traced, wrappable) with each implementation isolated: one
    that raises cannot stop the others; returns ``"plugin: error"`` for each that raised.

    The isolation is a thin wrapper put around each implementation's function (wrapper
    implementations excepted) the first time; it keeps the function's name, so
    ``halo plugins --hook`` still shows the plugin's own function.
    """
    for impl in hook_caller.get_hookimpls():
        if not (impl.wrapper or impl.hookwrapper or getattr(impl.function, "__halo_isolated__", False)):
            impl.function = _isolated(impl)  # type: ignore[misc]
    errors: list[str] = []
    token = _collected_errors.set(errors)
    try:
        hook_caller(**kwargs)
    finally:
        _collected_errors.reset(token)
    return errors


def terminal_message(action: str) -> tuple[str, str] | None:
    """(terminated_by, message) when ``action`` ends the episode, else None."""
    try:
        parsed = parse_action(action)
    except ActionError:
        return None
    if parsed.name not in TERMINAL_ACTIONS:
        return None
    return ("infeasible" if parsed.name == "report_infeasible" else "message"), str(parsed.args[0])


class EpisodeRunner:
    """One episode, step by step: ``start`` → (``observe`` → ``decide`` → ``record``)* → ``finish``.

    The same runner serves pull-style callers (:func:`run_episode` drives an
    :class:`Environment`) and push-style harnesses that hand HALO an observation and
    ask for an action (a benchmark's own harness). Every episode thus has the same hooks, events and
    :class:`EpisodeResult` fields whoever drives it.
    """

    def __init__(self, task: TaskSpec, config: AgentConfig, runtime: Runtime | None = None, *,
                 run_id: str = "local", attempt: int = 0, data_dir: str | os.PathLike = "data",
                 backends: dict[str, Backend] | None = None, runner: str = "halo") -> None:
        self.runtime = runtime or Runtime()
        self.episode = Episode(task=task, config=config, runtime=self.runtime, run_id=run_id, attempt=attempt,
                               data_dir=Path(data_dir))
        for role, backend in (backends or {}).items():
            self.episode.use_backend(role, backend)
        self.runner = runner
        self.terminated_by = "max_steps"
        self.final_message = ""
        self.error = ""
        self.traceback = ""
        self.result: EpisodeResult | None = None
        self.started = False
        self._started = time.monotonic()
        self._last_raw: RawObservation | None = None

    # -- lifecycle ------------------------------------------------------------------

    @property
    def done(self) -> bool:
        """The episode ended (terminal action, error) or reached its step limit."""
        return self.terminated_by != "max_steps" or self.episode.step_idx >= self.episode.config.max_steps

    def start(self, *, instruction: str = "") -> Episode:
        """Begin the episode. ``instruction`` is the environment's statement of the task
        (``RawObservation.goal`` at reset) when it generates one; it replaces the task's goal
        for the prompts, the trajectory and every hook."""
        if self.started:
            return self.episode
        self.started = True
        episode, config = self.episode, self.episode.config
        if instruction and instruction != episode.task.goal:
            episode.task = attrs.evolve(episode.task, goal=instruction)
        episode.log(start_event(episode, runner=self.runner))  # first: what plugins log at start follows it
        self.runtime.hook.halo_episode_start(episode=episode)
        if config.policy not in self.runtime.policies:
            _warn_once(self.runtime, f"policy {config.policy!r} is not declared by any plugin "
                       f"(halo_register_policies); {self.runtime.policies.unknown_message(config.policy)}")
        return episode

    def observe(self, raw: RawObservation) -> Observation:
        """Turn a raw observation (after reset or after the last action) into an Observation."""
        self._last_raw = raw
        return observe(self.runtime, raw, self.episode)

    def decide(self, observation: Observation) -> Decision:
        """Ask the hierarchy for the next action on ``observation``."""
        episode = self.episode
        if not episode.observations or episode.observations[-1] is not observation:
            episode.observations.append(observation)
        decision = self.runtime.hook.halo_decide(observation=observation, episode=episode)
        if decision is None:
            raise RuntimeError("no layer of the hierarchy chose an action (is a worker or policy plugin enabled?)")
        if decision.source not in self.runtime.decision_sources:
            _warn_once(self.runtime, f"decision source {decision.source!r} is not declared by any plugin; declare it "
                       "with halo_register_decision_sources so reports and metrics can describe it")
        episode.last_decision = decision
        return decision

    def record(self, decision: Decision, before: Observation, after: Observation | None, *,
               step_started: float | None = None, started_at: float | None = None) -> StepRecord:
        """Verify and log an executed decision; ``after`` is None when nothing followed it
        (a push-style harness that ended on a terminal action)."""
        episode = self.episode
        verdicts: tuple[Verdict, ...] = ()
        if after is not None:
            verdicts = flatten_verdicts(self.runtime.hook.halo_verify(before=before, decision=decision, after=after,
                                                                      episode=episode))
        elapsed = (time.perf_counter() - step_started) * 1000.0 if step_started is not None else 0.0
        error = after.last_action_error if after is not None else ""
        record = StepRecord(
            step_idx=episode.step_idx, url=before.url, fingerprint=before.fingerprint,
            page_type=before.page_type, decision=decision, error=error,
            verdicts=verdicts, elapsed_ms=elapsed, manager_called=bool(decision.meta.get("manager_called")),
        )
        episode.history.append(record)
        episode.usage = episode.usage + decision.usage
        episode.log(step_event(record, before, started_at=started_at))
        if after is not None:
            episode.observations.append(after)
        ended = terminal_message(decision.action)
        if ended is not None and not error:
            self.terminated_by, self.final_message = ended
        elif after is not None and self._last_raw is not None and (self._last_raw.terminated
                                                                   or self._last_raw.truncated):
            self.end_by_environment()
        return record

    def refused(self, decision: Decision) -> RawObservation | None:
        """The observation after a decision that must not reach the environment (a model
        reply that is no valid action: ``meta["invalid_output"]``; a step a layer vetoed:
        ``meta["refused"]``, the reason), or None for a decision
        to execute. The page is unchanged and the step records why nothing was done."""
        if self._last_raw is None:
            return None
        if "refused" in decision.meta:  # a layer vetoed it (e.g. a commit made once already)
            error = f"refused: {decision.meta['refused']}; nothing was sent to the browser"
        elif "invalid_output" in decision.meta:
            why = decision.meta.get("parse_error") or "not a valid action"
            error = f"the model's reply is not a valid action ({why}); nothing was sent to the browser"
        else:
            return None
        return attrs.evolve(self._last_raw, last_action="", terminated=False, truncated=False,
                            last_action_error=error)

    def fail(self, exc: BaseException, *, init: bool = False) -> None:
        """End the episode with an error (``init_error`` when the environment never started)."""
        if not self.started:
            try:
                self.start()
            except Exception:  # the episode is failing already; its start event still gets written
                pass
        self.terminated_by = "init_error" if init else "error"
        self.error = str(exc) if init else f"{type(exc).__name__}: {exc}"
        self.traceback = traceback.format_exc() if sys.exc_info()[0] is not None else ""

    def end_by_environment(self) -> None:
        """The environment ended the episode itself (its own success rule or time limit)."""
        self.terminated_by = "env"

    @property
    def errored(self) -> bool:
        return self.terminated_by in ("init_error", "error")

    def finish(self, evaluation: Evaluation | None) -> EpisodeResult:
        """Score, count, fire ``halo_episode_end`` and log the end event (once)."""
        if self.result is not None:
            return self.result
        if not self.started:
            self.start()
        episode = self.episode
        hook = self.runtime.hook
        counters: dict[str, float] = {}
        for contributed in hook.halo_episode_counters(episode=episode):
            if contributed:
                counters.update({str(k): v for k, v in dict(contributed).items()})
        info = {"traceback": self.traceback} if self.traceback else dict(evaluation.info) if evaluation else {}
        if self.runner != "halo":
            info["runner"] = self.runner
        result = EpisodeResult(
            task_id=episode.task.id,
            success=bool(evaluation and evaluation.success),
            reward=float(evaluation.reward) if evaluation else 0.0,
            steps=episode.step_idx,
            wall_time_sec=time.monotonic() - self._started,
            terminated_by=self.terminated_by,
            error=self.error,
            final_message=self.final_message,
            usage=episode.usage,
            manager_calls=sum(1 for r in episode.history if r.manager_called),
            scorable=evaluation.scorable if evaluation else True,
            info=info,
            counters=counters,
        )
        # a plugin failing at episode end is recorded beside the result, never replaces it
        plugin_errors = call_isolated(hook.halo_episode_end, episode=episode, result=result)
        if plugin_errors:
            result = attrs.evolve(result, plugin_errors=tuple(plugin_errors))
        self.result = result
        episode.log(end_event(result))
        return result


class UndeclaredNameWarning(UserWarning):
    """A policy or decision source that no plugin declared (a typo, or a plugin that forgot)."""


def _warn_once(runtime: Runtime, message: str) -> None:
    seen = runtime.__dict__.setdefault("_halo_warned", set())
    if message not in seen:
        seen.add(message)
        warnings.warn(message, UndeclaredNameWarning, stacklevel=3)


class InitError(RuntimeError):
    """The environment (or the episode's set-up) could not start; the episode is an ``init_error``."""


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

    The environment is reset first, so an instruction it generates (per seed) is the
    episode's goal from the first event on. The episode ends on a terminal action, when
    the environment ends it (``terminated``/``truncated``: ``terminated_by="env"``), at
    ``max_steps``, or on an error; it always ends with an ``episode_end`` event and a
    result: a dead environment or a failing model call becomes ``error``.
    """
    runner = EpisodeRunner(task, config, runtime, run_id=run_id, attempt=attempt, data_dir=data_dir,
                           backends=backends)
    try:
        try:
            raw = env.reset(task)
        except EnvironmentDead as exc:
            raise InitError(str(exc)) from exc
        runner.start(instruction=raw.goal)
        observation = runner.observe(raw)
        while not runner.done:
            step_started = time.perf_counter()
            started_at = time.time()
            decision = runner.decide(observation)
            raw = runner.refused(decision) or env.step(decision.action)
            after = runner.observe(raw)
            record = runner.record(decision, observation, after, step_started=step_started, started_at=started_at)
            if on_step is not None:
                on_step(record, after)
            observation = after
    except InitError as exc:
        runner.fail(exc, init=True)
    except Exception as exc:  # a dead browser, a failed model call or a plugin bug ends this episode, not the run
        runner.fail(exc)

    evaluation = None
    if not runner.errored:
        try:
            evaluation = env.evaluate(runner.final_message, runner.terminated_by == "infeasible")
        except Exception as exc:
            runner.fail(exc)
            runner.error = f"evaluation failed: {runner.error}"
    return runner.finish(evaluation)
