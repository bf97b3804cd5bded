"""The runtime: a plugin manager plus the registries its plugins filled."""

from __future__ import annotations

import difflib
import inspect
from functools import cached_property
from typing import Any, Callable

import attrs
import pluggy

from halo_core.backends import BackendRegistry, collect_backends
from halo_core.env.protocol import Suite, TaskNotFound
from halo_core.model import TaskSpec
from halo_core.plugins import make_plugin_manager


def accepted_options(fn: Callable[..., Any], options: dict[str, Any]) -> dict[str, Any]:
    """The non-None ``options`` that ``fn`` accepts by keyword.

    Suites that do not know an option simply do not get it: ``--task-registry`` pins
    the REAL suite and means nothing to the web clones.
    """
    options = {k: v for k, v in options.items() if v is not None}
    if not options:
        return {}
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return {}
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return options
    return {k: v for k, v in options.items() if k in params}


@attrs.define
class TrainerRegistry:
    trainers: dict[str, Callable[..., Any]] = attrs.field(factory=dict)
    descriptions: dict[str, str] = attrs.field(factory=dict)

    def register(self, name: str, trainer: Callable[..., Any], *, description: str = "") -> None:
        self.trainers[name] = trainer
        self.descriptions[name] = description


class Runtime:
    """Everything a run needs from the installed plugins, collected once."""

    def __init__(self, pm: pluggy.PluginManager | None = None) -> None:
        self.pm = pm if pm is not None else make_plugin_manager()

    @property
    def hook(self):
        return self.pm.hook

    @cached_property
    def backends(self) -> BackendRegistry:
        return collect_backends(self.pm)

    @cached_property
    def suites(self) -> dict[str, Suite]:
        found: dict[str, Suite] = {}
        self.pm.hook.halo_register_environments(register=lambda suite: found.setdefault(suite.name, suite))
        return found

    @cached_property
    def trainers(self) -> TrainerRegistry:
        registry = TrainerRegistry()
        self.pm.hook.halo_register_trainers(register=registry.register)
        return registry

    def suite(self, name: str) -> Suite:
        try:
            return self.suites[name]
        except KeyError:
            installed = ", ".join(sorted(self.suites)) or "none"
            raise TaskNotFound(f"no task suite {name!r} is installed (installed: {installed})") from None

    def resolve_task(self, task_id: str, **options: Any) -> tuple[Suite, TaskSpec]:
        """The suite that owns ``task_id`` and its TaskSpec; :class:`TaskNotFound` otherwise.

        ``options`` (``task_registry``, ``task_version``…) reach suites that accept them.
        """
        for suite in self.suites.values():
            if suite.claims(task_id):
                return suite, suite.resolve(task_id, **accepted_options(suite.resolve, options))
        known = [t.id for s in self.suites.values() for t in s.list_tasks()]
        close = difflib.get_close_matches(task_id, known, n=5, cutoff=0.5)
        hint = f"; closest: {', '.join(close)}" if close else "; see `halo tasks`"
        raise TaskNotFound(f"unknown task {task_id!r}{hint}")
