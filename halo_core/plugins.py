"""The plugin manager: built-ins first, then the ``halo`` entry points, one at a time.

Environment variables:

``HALO_LOAD_PLUGINS``
    comma-separated entry-point names; only these third-party plugins load
    (an empty string loads none).
``HALO_DISABLE_PLUGINS``
    comma-separated plugin names (built-in or entry point) not to register.
``HALO_TRACE_PLUGINS``
    when set, every hook call (its implementations in call order) and its result are
    printed to stderr.

A hook implementation whose name matches no hook (``halo_decid``) is a mistake, not
silence: that plugin fails to load, with the closest hook's name in the message.
"""

from __future__ import annotations

import difflib
import importlib
import os
import sys
import warnings
from importlib.metadata import entry_points
from typing import Any

import pluggy

from halo_core import hookspecs
from halo_core.registries import plugin_name

#: Built-in behaviour, registered exactly like third-party plugins (name, module).
DEFAULT_PLUGINS: tuple[tuple[str, str], ...] = (
    ("core_options", "halo_core.builtins.core_options"),
    ("summarizer", "halo_core.builtins.summarizer"),
    ("verifier", "halo_core.builtins.verifier"),
    ("loop_detector", "halo_core.builtins.loop_detector"),
    ("recovery", "halo_core.builtins.recovery"),
    ("worker", "halo_core.builtins.worker"),
    ("manager_gate", "halo_core.builtins.manager"),
    ("commit_guard", "halo_core.builtins.commit_guard"),
    ("jsonl_logger", "halo_core.builtins.jsonl_logger"),
    # the core's commands: plugins through halo_register_commands, like any third party's
    ("cli_plugins", "halo_core.commands.plugins"),
    ("cli_config", "halo_core.commands.config"),
    ("cli_tasks", "halo_core.commands.tasks"),
    ("cli_run", "halo_core.commands.run"),
    ("cli_eval", "halo_core.evaluation.commands"),
    ("cli_export", "halo_core.commands.export"),
    ("cli_doctor", "halo_core.commands.doctor"),
)


class PluginLoadWarning(UserWarning):
    """A plugin failed to load; the others still work."""


class PluginError(pluggy.PluginValidationError):
    """A plugin that implements a hook HALO does not have (usually a misspelled name)."""


def unknown_hooks(pm: pluggy.PluginManager, plugin: Any) -> list[str]:
    """One message per hook implementation of ``plugin`` that matches no hookspec."""
    specs = [name for name in dir(pm.hook) if name.startswith("halo_")
             and getattr(getattr(pm.hook, name), "spec", None) is not None]
    messages = []
    for caller in pm.get_hookcallers(plugin) or []:
        if caller.spec is not None:
            continue
        if all(impl.optionalhook for impl in caller.get_hookimpls() if impl.plugin is plugin):
            continue
        close = difflib.get_close_matches(caller.name, specs, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]}?" if close else " (see docs/hooks.md for the hooks)"
        messages.append(f"{caller.name} is not a HALO hook{hint}")
    return messages


def _register_checked(pm: pluggy.PluginManager, plugin: Any, name: str | None = None) -> None:
    """Register ``plugin``; unregister it again and raise :class:`PluginError` if it
    implements a hook that does not exist."""
    pm.register(plugin, name=name)
    problems = unknown_hooks(pm, plugin)
    if problems:
        label = name or getattr(plugin, "__name__", None) or type(plugin).__name__
        pm.unregister(plugin)
        raise PluginError(plugin, f"plugin {label!r}: {'; '.join(problems)}")


def _names(var: str) -> set[str] | None:
    value = os.environ.get(var)
    if value is None:
        return None
    return {name.strip() for name in value.split(",") if name.strip()}


def make_plugin_manager(*, load_entrypoints: bool = True, extra: tuple[Any, ...] = ()) -> pluggy.PluginManager:
    """Build a manager with the hookspecs, the built-ins and the installed plugins.

    A plugin that fails to import is named in a :class:`PluginLoadWarning` and skipped.
    ``extra`` objects are registered last (used by tests and embedding code); one that
    implements a hook HALO does not have raises :class:`PluginError`. An entry-point
    plugin with such a hook is skipped with a warning, like one that fails to import.
    """
    pm = pluggy.PluginManager("halo")
    pm.add_hookspecs(hookspecs)
    disabled = _names("HALO_DISABLE_PLUGINS") or set()
    for name, module_name in DEFAULT_PLUGINS:
        if name in disabled:
            continue
        _register_checked(pm, importlib.import_module(module_name), name=name)
    if load_entrypoints:
        _load_entrypoints(pm, disabled)
    for plugin in extra:
        _register_checked(pm, plugin)  # embedding code and tests hear about their mistake at once
    pm.check_pending()  # nothing registered implements a hook without a spec
    if os.environ.get("HALO_TRACE_PLUGINS"):
        _trace(pm)
    return pm


def _load_entrypoints(pm: pluggy.PluginManager, disabled: set[str]) -> None:
    allowed = _names("HALO_LOAD_PLUGINS")
    for ep in sorted(entry_points(group="halo"), key=lambda e: e.name):
        if ep.name in disabled or (allowed is not None and ep.name not in allowed):
            continue
        if pm.get_plugin(ep.name) is not None:
            continue
        try:
            plugin = ep.load()
            _register_checked(pm, plugin, name=ep.name)
        except Exception as exc:  # one broken plugin must not take the tool down
            message = (f"plugin {ep.name!r} ({ep.value}) failed to load and is skipped: "
                       f"{type(exc).__name__}: {exc}")
            failed_plugins(pm)[ep.name] = message
            warnings.warn(message, PluginLoadWarning, stacklevel=2)
            continue
        dist = getattr(ep, "dist", None)
        if dist is not None:
            pm._halo_dists = getattr(pm, "_halo_dists", {})  # type: ignore[attr-defined]
            pm._halo_dists[ep.name] = (dist.name, dist.version)  # type: ignore[attr-defined]


def failed_plugins(pm: pluggy.PluginManager) -> dict[str, str]:
    """Entry-point plugins that failed to load on this manager: name -> message."""
    if not hasattr(pm, "_halo_failed"):
        pm._halo_failed = {}  # type: ignore[attr-defined]
    return pm._halo_failed  # type: ignore[attr-defined]


def call_order(hook_impls) -> list[Any]:
    """Hook implementations in the order pluggy calls them: wrappers first, then
    tryfirst … trylast (pluggy stores them the other way round)."""
    return list(reversed(list(hook_impls)))


def impl_markers(impl) -> list[str]:
    """``wrapper``, ``tryfirst``, ``trylast`` … as set on one hook implementation."""
    marks = [m for m in ("wrapper", "hookwrapper", "tryfirst", "trylast", "optionalhook") if getattr(impl, m, False)]
    return marks


def hook_implementations(pm: pluggy.PluginManager, hook_name: str) -> list[dict[str, Any]]:
    """The implementations of one hook in call order: plugin, function and markers."""
    caller = getattr(pm.hook, hook_name, None)
    if caller is None:
        specs = [n for n in dir(pm.hook) if n.startswith("halo_")]
        close = difflib.get_close_matches(hook_name, specs, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise KeyError(f"no hook {hook_name!r}{hint}")
    rows = []
    for position, impl in enumerate(call_order(caller.get_hookimpls()), 1):
        function = impl.function
        rows.append({"position": position, "plugin": plugin_name(impl),
                     "function": f"{getattr(function, '__module__', '')}.{getattr(function, '__qualname__', '')}",
                     "markers": impl_markers(impl)})
    return rows


def _trace(pm: pluggy.PluginManager) -> None:
    def before(hook_name, hook_impls, kwargs):
        names = [plugin_name(impl) + "".join(f"[{m}]" for m in impl_markers(impl)) for impl in call_order(hook_impls)]
        print(f"[halo trace] {hook_name} -> {' > '.join(names) or '(no implementations)'}", file=sys.stderr)

    def after(outcome, hook_name, hook_impls, kwargs):
        exc = outcome.exception
        shown = f"raised {exc!r}" if exc else f"returned {_short(outcome.get_result())}"
        print(f"[halo trace] {hook_name} {shown}", file=sys.stderr)

    pm.add_hookcall_monitoring(before, after)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) < 160 else text[:157] + "..."


def describe_plugins(pm: pluggy.PluginManager, *, include_builtins: bool = True) -> list[dict[str, Any]]:
    """Name, distribution, version and hooks of each registered plugin."""
    from halo_core import __version__

    builtins = {name for name, _ in DEFAULT_PLUGINS}
    dists = getattr(pm, "_halo_dists", {})
    rows = []
    for name, plugin in sorted(pm.list_name_plugin(), key=lambda item: (item[0] not in builtins, item[0])):
        if name is None:
            continue
        is_builtin = name in builtins
        if is_builtin and not include_builtins:
            continue
        dist, version = ("halo-core", __version__) if is_builtin else dists.get(name, ("", ""))
        hooks = sorted(h.name for h in (pm.get_hookcallers(plugin) or []))
        rows.append({"name": name, "distribution": dist, "version": version, "builtin": is_builtin, "hooks": hooks})
    return rows
