"""Registry hooks: called through pluggy, each registration credited to its plugin, one name rule.

A plugin registers backends, suites, options, modes, policies, decision sources, metric
columns and trainers by calling the ``register`` callback its ``halo_register_*`` hook (or
``halo_addoption``) gets. :func:`collect` calls that hook through the plugin manager like
every other hook, so ``HALO_TRACE_PLUGINS`` prints it and a ``wrapper=True``
implementation wraps it; the callback finds the implementation that called it on the call
stack, so every registry knows which plugin registered what.

The rule (pytest's ``addoption`` rule): a name has one owner. A second registration of a
taken name raises :class:`DuplicateNameError` naming the kind, the name and both plugins,
when the registry is built. To replace another plugin's backend or suite, disable that
plugin (``HALO_DISABLE_PLUGINS=name``) and register your own. The one exception is a
policy name declared ``shared=True`` (see ``halo_register_policies``): several plugins may
answer to it, and every one of them is recorded.
"""

from __future__ import annotations

import sys
import types
from typing import Any, Callable

__all__ = ["DuplicateNameError", "collect"]


class DuplicateNameError(ValueError):
    """A name registered by two plugins (or twice by one): both are named in the message."""

    def __init__(self, kind: str, name: str, first: str, second: str) -> None:
        self.kind, self.name, self.first, self.second = kind, name, first, second
        super().__init__(f"{kind} {name!r} is registered twice: by {first} and by {second}; a name has one "
                         f"owner (to replace one, disable its plugin with HALO_DISABLE_PLUGINS)")


def _code(function: Any) -> types.CodeType | None:
    return getattr(getattr(function, "__func__", function), "__code__", None)


def calling_implementation(impls: list[Any], frame: types.FrameType | None) -> Any:
    """The hook implementation among ``impls`` whose function is running at or above ``frame``
    (a plugin may register from a helper it calls); None when none is."""
    by_code: dict[types.CodeType, list[Any]] = {}
    for impl in impls:
        code = _code(impl.function)
        if code is not None:
            by_code.setdefault(code, []).append(impl)
    while frame is not None:
        candidates = by_code.get(frame.f_code)
        if candidates:
            if len(candidates) > 1:  # the same method of two instances of one plugin class
                this = frame.f_locals.get("self")
                for impl in candidates:
                    if getattr(impl.function, "__self__", None) is this:
                        return impl
            return candidates[0]
        frame = frame.f_back
    return None


def plugin_name(impl: Any) -> str:
    """The name a registry records for ``impl``'s plugin: its registered name, or for an
    object registered without one (pluggy then names it by ``id``) its class."""
    if impl is None:
        return ""
    name = impl.plugin_name
    if name == str(id(impl.plugin)):
        kind = type(impl.plugin)
        return f"{kind.__module__}.{kind.__qualname__}"
    return name


def plugin_label(pm: Any, impl: Any) -> str:
    """``impl``'s plugin as an error message names it: its name with its distribution (an
    installed plugin), ``halo-core`` (a built-in) or its module (anything else)."""
    from halo_core.plugins import DEFAULT_PLUGINS

    if impl is None:
        return "code outside any hook"
    name = plugin_name(impl)
    dist = getattr(pm, "_halo_dists", {}).get(impl.plugin_name)
    if dist is not None:
        return f"plugin {name!r} (distribution {dist[0]} {dist[1]})"
    if impl.plugin_name in {n for n, _ in DEFAULT_PLUGINS}:
        return f"plugin {name!r} (halo-core built-in)"
    module = getattr(impl.plugin, "__name__", None) if isinstance(impl.plugin, types.ModuleType) else None
    module = module or type(impl.plugin).__module__
    if name == module:
        return f"plugin module {module!r}"
    return f"plugin {name!r}" if name.startswith(f"{module}.") else f"plugin {name!r} (module {module})"


def _label(labels: dict[str, str], name: str) -> str:
    if name in labels:
        return labels[name]
    if " " in name:  # already a description ("halo-core (a core column)")
        return name
    return f"plugin {name!r}" if name else "code outside any hook"


def collect(pm: Any, hook_name: str, registry: Any, callback: Callable[..., Any], *,
            order: str = "registration") -> Any:
    """Call the registry hook ``hook_name`` through pluggy and hand every registration to
    ``callback`` with ``registry._current_plugin`` set to the plugin that made it.

    ``order="registration"`` applies registrations plugin by plugin in the order the plugins
    were registered (built-ins first, then installed plugins), so listings keep that order;
    ``order="call"`` keeps pluggy's call order. A :class:`DuplicateNameError` raised by the
    registry is raised again with both plugins' distributions or modules.
    """
    hook = getattr(pm.hook, hook_name)
    impls = hook.get_hookimpls()
    calls: list[tuple[Any, tuple, dict]] = []

    def register(*args: Any, **kwargs: Any) -> None:
        calls.append((calling_implementation(impls, sys._getframe(1)), args, kwargs))

    hook(register=register)
    if order == "registration":
        rank = {id(impl): i for i, impl in enumerate(impls)}
        calls.sort(key=lambda call: rank.get(id(call[0]), len(impls)))
    labels = {plugin_name(impl): plugin_label(pm, impl) for impl in impls}
    try:
        for impl, args, kwargs in calls:
            registry._current_plugin = plugin_name(impl)
            try:
                callback(*args, **kwargs)
            except DuplicateNameError as exc:
                raise type(exc)(exc.kind, exc.name, _label(labels, exc.first), _label(labels, exc.second)) from None
    finally:
        registry._current_plugin = ""
    return registry
