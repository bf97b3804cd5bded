"""The environment and suite protocols every task source implements."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import attrs

from halo_core.model import Evaluation, RawObservation, TaskSpec


class EnvironmentDead(RuntimeError):
    """The environment can no longer run this episode (browser crashed, site down).

    The loop ends the episode with an error record; the next episode gets a new
    environment.
    """


class TaskNotFound(LookupError):
    """A task id that no suite knows; the message says what to use instead."""


@attrs.frozen
class EnvSettings:
    headless: bool = True
    viewport: tuple[int, int] = (1280, 720)
    screenshot: bool = True
    action_timeout_ms: int = 5000
    navigation_timeout_ms: int = 10000
    init_timeout_s: float = 10.0
    run_id: str = "0"
    seed: int | None = None


@runtime_checkable
class Environment(Protocol):
    """One episode's world. ``step`` never raises for a bad action: it reports it
    in ``RawObservation.last_action_error``; it raises :class:`EnvironmentDead` when
    the world itself is gone."""

    def reset(self, task: TaskSpec) -> RawObservation: ...

    def step(self, action: str) -> RawObservation: ...

    def evaluate(self, final_message: str, infeasible: bool) -> Evaluation: ...

    def close(self) -> None: ...


@runtime_checkable
class Suite(Protocol):
    """A family of tasks and the environments that run them."""

    name: str

    def claims(self, task_id: str) -> bool:
        """True if ``task_id`` belongs to this suite (also for ids it will refuse)."""

    def list_tasks(self, *, site: str | None = None, split: str | None = None) -> list[TaskSpec]: ...

    def resolve(self, task_id: str) -> TaskSpec:
        """The task for ``task_id``; raise :class:`TaskNotFound` with suggestions."""

    def make_environment(self, task: TaskSpec, settings: EnvSettings) -> Environment: ...
