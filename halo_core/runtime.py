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
from halo_core.registries import collect


def accepted_options(fn: Callable[..., Any], options: dict[str, Any]) -> dict[str, Any]:
    """The non-None ``options`` that ``fn`` accepts by keyword.

    Suites that do not know an option simply do not get it: ``--task-registry`` pins
    one benchmark's task list and means nothing to a suite without one.
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
    """Names plugins declared (decision sources, policies), with a description and the plugin.

    A name has one owner. Where the registry is ``shareable`` (policies), a name declared
    with ``shared=True`` by any of its declarers may be declared by several plugins — each
    answers to it for what it knows (every suite's ``expert``) — and all of them are kept.
    """

    kind: str
    shareable: bool = False
    entries: dict[str, tuple[str, str]] = attrs.field(factory=dict)  # name -> (description, first plugin)
    declarers: dict[str, list[str]] = attrs.field(factory=dict)  # name -> every plugin that declared it
    shared: set[str] = attrs.field(factory=set)
    _current_plugin: str = ""

    def register(self, name: str, description: str = "", *, shared: bool = False) -> None:
        if not isinstance(name, str) or not name.replace("_", "").replace("-", "").isalnum():
            raise ValueError(f"{self.kind} name {name!r} must use letters, digits, - and _ only")
        if shared and not self.shareable:
            raise ValueError(f"{self.kind} {name!r}: a {self.kind} name cannot be shared")
        if name in self.entries:
            if not (shared or name in self.shared):
                from halo_core.registries import DuplicateNameError

                raise DuplicateNameError(self.kind, name, self.entries[name][1], self._current_plugin)
        else:
            self.entries[name] = (description, self._current_plugin)
        self.declarers.setdefault(name, []).append(self._current_plugin)
        if shared:
            self.shared.add(name)

    def __contains__(self, name: object) -> bool:
        return name in self.entries

    def names(self) -> list[str]:
        return list(self.entries)

    def description(self, name: str) -> str:
        return self.entries.get(name, ("", ""))[0]

    def plugins(self, name: str) -> list[str]:
        """Every plugin that declared ``name`` (more than one only for a shared name)."""
        return list(self.declarers.get(name, ()))

    def unknown_message(self, name: str) -> str:
        close = difflib.get_close_matches(str(name), self.names(), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        return (f"unknown {self.kind} {name!r}{hint} (installed: {', '.join(self.names()) or 'none'})")


@attrs.define
class SuiteRegistry:
    """Task suites by name, with the plugin that registered each."""

    suites: dict[str, Suite] = attrs.field(factory=dict)
    plugins: dict[str, str] = attrs.field(factory=dict)
    _current_plugin: str = ""

    def register(self, suite: Suite) -> None:
        if suite.name in self.suites:
            from halo_core.registries import DuplicateNameError

            raise DuplicateNameError("task suite", suite.name, self.plugins[suite.name], self._current_plugin)
        self.suites[suite.name] = suite
        self.plugins[suite.name] = self._current_plugin


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
        from halo_core.evaluation.metrics import METRIC_COLUMNS
        from halo_core.registries import DuplicateNameError

        if column in METRIC_COLUMNS:  # the core computes these; a plugin's would overwrite them
            raise DuplicateNameError("metric column", column, "halo-core (a core column)", self._current_plugin)
        if column in self.columns:
            raise DuplicateNameError("metric column", column, self.columns[column].plugin, self._current_plugin)
        self.columns[column] = MetricColumn(column, compute, description, percent, self._current_plugin)


@attrs.define
class TrainerRegistry:
    trainers: dict[str, Callable[..., Any]] = attrs.field(factory=dict)
    descriptions: dict[str, str] = attrs.field(factory=dict)
    plugins: dict[str, str] = attrs.field(factory=dict)
    _current_plugin: str = ""

    def register(self, name: str, trainer: Callable[..., Any], *, description: str = "") -> None:
        if name in self.trainers:
            from halo_core.registries import DuplicateNameError

            raise DuplicateNameError("trainer", name, self.plugins[name], self._current_plugin)
        self.trainers[name] = trainer
        self.descriptions[name] = description
        self.plugins[name] = self._current_plugin


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
        return self.suite_registry.suites

    @cached_property
    def suite_registry(self) -> SuiteRegistry:
        """The suites with the plugin that registered each, in the order pluggy calls them."""
        registry = SuiteRegistry()
        return collect(self.pm, "halo_register_environments", registry, registry.register, order="call")

    @cached_property
    def options(self):
        """Every configuration option the plugins declared (``halo_addoption``)."""
        from halo_core.options import OptionRegistry

        registry = OptionRegistry()
        return collect(self.pm, "halo_addoption", registry, registry.register)

    @cached_property
    def modes(self):
        """Mode presets from every plugin (``halo_register_modes``)."""
        from halo_core.options import ModeRegistry

        registry = ModeRegistry()
        return collect(self.pm, "halo_register_modes", registry, registry.register)

    @cached_property
    def default_backends(self) -> dict[str, str | None]:
        """role (``worker``, ``manager``) → the ``prefix:model`` a config that names none uses,
        or None: the first answer to ``halo_default_backend`` (see ``docs/hooks.md``)."""
        return {role: self.hook.halo_default_backend(role=role) for role in ("worker", "manager")}

    @cached_property
    def decision_sources(self) -> NameRegistry:
        registry = NameRegistry("decision source")
        return collect(self.pm, "halo_register_decision_sources", registry, registry.register)

    @cached_property
    def policies(self) -> NameRegistry:
        registry = NameRegistry("policy", shareable=True)
        return collect(self.pm, "halo_register_policies", registry, registry.register)

    @cached_property
    def metrics(self) -> MetricRegistry:
        registry = MetricRegistry()
        return collect(self.pm, "halo_register_metrics", registry, registry.register)

    @cached_property
    def trainers(self) -> TrainerRegistry:
        registry = TrainerRegistry()
        return collect(self.pm, "halo_register_trainers", registry, registry.register)

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
