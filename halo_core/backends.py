"""Model backends: the protocol, and choosing one by a ``prefix:model`` string.

Backends come from plugins (``halo_register_backends``). The worker and manager
only ever call :meth:`Backend.complete`.

Per-call options (as llm's ``Model.Options``): a backend that takes options beyond
temperature, seed and max_tokens declares them as an attrs class in its ``Options``
attribute, and ``complete(messages, options={...})`` receives them for that call alone —
a model shared by many episodes is never set up per episode. Plugins supply them per
decision through ``halo_call_options``; the worker passes a backend only the options it
declares (:func:`options_for`), and none at all to a backend that declares none, so
backends written before options keep working. A backend given an option it does not
declare refuses it (:func:`parse_options`).
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Mapping, Protocol, Sequence, runtime_checkable

import attrs

from halo_core.model import Usage

class BackendError(RuntimeError):
    """A model call failed for good (after retries); the episode records it."""


class BackendConfigError(BackendError):
    """A backend cannot be used as configured (unknown prefix, missing key)."""


@attrs.frozen
class Message:
    role: str  # system | user | assistant
    content: str
    images: tuple[bytes, ...] = attrs.field(default=(), repr=False)


@attrs.frozen
class Completion:
    text: str
    usage: Usage = Usage()
    model: str = ""
    raw: Any = attrs.field(default=None, repr=False, eq=False)


@attrs.frozen
class BackendSettings:
    """Options common to every backend; each backend reads what applies to it."""

    temperature: float = 0.0
    seed: int | None = None
    max_tokens: int = 256
    timeout_s: float = 60.0
    max_retries: int = 4
    base_url: str | None = None
    images: bool = True
    prices: dict[str, tuple[float, float]] = attrs.field(factory=dict)  # model -> $/1M in, out
    extra: dict[str, Any] = attrs.field(factory=dict)


@runtime_checkable
class Backend(Protocol):
    name: str  # e.g. "openai:gpt-4o-mini"
    supports_images: bool

    def complete(self, messages: Sequence[Message], *, temperature: float | None = None,
                 seed: int | None = None, max_tokens: int | None = None,
                 options: Mapping[str, Any] | None = None) -> Completion:
        """One model call. ``options``: values of the fields of the backend's ``Options``
        class, for this call only (a backend without ``Options`` may omit the parameter)."""

    def check(self) -> None:
        """Raise :class:`BackendConfigError` naming what is missing (e.g. the API key
        variable) before any task starts. Must not spend tokens if avoidable."""


BackendFactory = Callable[[str, BackendSettings], Backend]


def declared_options(backend) -> frozenset[str]:
    """The names of the per-call options ``backend`` declares: the fields of its ``Options``
    attrs class; none for a backend without one."""
    options = getattr(backend, "Options", None)
    if options is None or not attrs.has(options):
        return frozenset()
    return frozenset(f.name for f in attrs.fields(options))


def options_for(backend, requested: Iterable[Mapping[str, Any] | None]) -> dict[str, Any]:
    """The options ``requested`` (``halo_call_options`` results, first one wins on a clash)
    that ``backend`` declares; an option it does not declare is left out."""
    declared = declared_options(backend)
    merged: dict[str, Any] = {}
    for options in requested:
        for name, value in (options or {}).items():
            if name in declared:
                merged.setdefault(name, value)
    return merged


def parse_options(backend, options: Mapping[str, Any] | None):
    """``backend.Options`` built from ``options`` (its defaults for None); an option the
    backend does not declare is refused with :class:`BackendConfigError` naming it."""
    declared = declared_options(backend)
    unknown = sorted(set(options or {}) - declared)
    if unknown:
        raise BackendConfigError(f"{getattr(backend, 'name', type(backend).__name__)} takes no option "
                                 f"{', '.join(map(repr, unknown))} (it declares: {', '.join(sorted(declared)) or 'none'})")
    if not declared:
        return None
    return backend.Options(**dict(options or {}))


@attrs.define
class BackendRegistry:
    factories: dict[str, BackendFactory] = attrs.field(factory=dict)
    descriptions: dict[str, str] = attrs.field(factory=dict)
    requirements: dict[str, str] = attrs.field(factory=dict)  # prefix -> what it needs (a key, a server)
    plugins: dict[str, str] = attrs.field(factory=dict)  # prefix -> registering plugin
    _current_plugin: str = ""

    def register(self, prefix: str, factory: BackendFactory, *, description: str = "", requires: str = "") -> None:
        if prefix in self.factories:
            from halo_core.registries import DuplicateNameError

            raise DuplicateNameError("backend prefix", prefix, self.plugins.get(prefix, ""), self._current_plugin)
        self.factories[prefix] = factory
        self.descriptions[prefix] = description
        self.requirements[prefix] = requires
        self.plugins[prefix] = self._current_plugin

    def describe(self) -> list[dict[str, str]]:
        """Prefix, description, requirements and plugin of every registered backend."""
        return [{"prefix": p, "description": self.descriptions.get(p, ""), "requires": self.requirements.get(p, ""),
                 "plugin": self.plugins.get(p, "")} for p in sorted(self.factories)]

    def create(self, spec: str, settings: BackendSettings | None = None) -> Backend:
        prefix, sep, model = spec.partition(":")
        if not sep or not prefix or not model:
            raise BackendConfigError(
                f"backend {spec!r} is not of the form prefix:model (a prefix from halo backends, then the model's name)"
            )
        factory = self.factories.get(prefix)
        if factory is None:
            installed = ", ".join(sorted(self.factories)) or "none"
            raise BackendConfigError(
                f"no backend {prefix!r} is installed (installed: {installed}); "
                f"install the plugin that provides it (see `halo backends`)"
            )
        return factory(model, settings or BackendSettings())


def collect_backends(pm) -> BackendRegistry:
    from halo_core.registries import collect

    registry = BackendRegistry()
    return collect(pm, "halo_register_backends", registry, registry.register)
