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
class NameRegistry:
    """Names plugins declared (decision sources, policies), with a description and the plugin."""

    kind: str
    entries: dict[str, tuple[str, str]] = attrs.field(factory=dict)  # name -> (description, plugin)
    _current_plugin: str = ""

    def register(self, name: str, description: str = "") -> None:
        if not isinstance(name, str) or not name.replace("_", "").replace("-", "").isalnum():
            raise ValueError(f"{self.kind} name {name!r} must use letters, digits, - and _ only")
        self.entries.setdefault(name, (description, self._current_plugin))

    def __contains__(self, name: object) -> bool:
        return name in self.entries

    def names(self) -> list[str]:
        return list(self.entries)

    def description(self, name: str) -> str:
        return self.entries.get(name, ("", ""))[0]

    def unknown_message(self, name: str) -> str:
        close = difflib.get_close_matches(str(name), self.names(), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        return (f"unknown {self.kind} {name!r}{hint} (installed: {', '.join(self.names()) or 'none'})")


@attrs.frozen
class MetricColumn:
    name: str
    compute: Callable[[list], Any]
    description: str = ""
    percent: bool = False
    plugin: str = ""


@attrs.define
class MetricRegistry:
    columns: dict[str, MetricColumn] = attrs.field(factory=dict)
    _current_plugin: str = ""

    def register(self, column: str, compute: Callable[[list], Any], *, description: str = "",
                 percent: bool = False) -> None:
        self.columns[column] = MetricColumn(column, compute, description, percent, self._current_plugin)


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
    def options(self):
        """Every configuration option the plugins declared (``halo_addoption``)."""
        from halo_core.options import OptionRegistry, collect

        registry = OptionRegistry()
        return collect(self.pm, "halo_addoption", registry, registry.register)

    @cached_property
    def modes(self):
        """Mode presets from every plugin (``halo_register_modes``)."""
        from halo_core.options import ModeRegistry, collect

        registry = ModeRegistry()
        return collect(self.pm, "halo_register_modes", registry, registry.register)

    @cached_property
    def decision_sources(self) -> NameRegistry:
        from halo_core.options import collect

        registry = NameRegistry("decision source")
        return collect(self.pm, "halo_register_decision_sources", registry, registry.register)

    @cached_property
    def policies(self) -> NameRegistry:
        from halo_core.options import collect

        registry = NameRegistry("policy")
        return collect(self.pm, "halo_register_policies", registry, registry.register)

    @cached_property
    def metrics(self) -> MetricRegistry:
        from halo_core.options import collect

        registry = MetricRegistry()
        return collect(self.pm, "halo_register_metrics", registry, registry.register)

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


_DEFAULT: dict[tuple[str | None, str | None], Runtime] = {}


def default_runtime() -> Runtime:
    """The process's runtime for the installed plugins (one per plugin-selection setting),
    used where no runtime is passed in (``mode_config(...)`` in a script)."""
    import os

    key = (os.environ.get("HALO_LOAD_PLUGINS"), os.environ.get("HALO_DISABLE_PLUGINS"))
    if key not in _DEFAULT:
        _DEFAULT[key] = Runtime()
    return _DEFAULT[key]
