"""Options and mode presets that plugins declare.

A plugin declares the configuration it reads through ``halo_addoption`` (pytest's
``addoption`` is the model) and the named presets it contributes through
``halo_register_modes``. The core's :class:`~halo_core.config.AgentConfig` holds only
what the loop itself uses; every declared option lives in ``config.options`` and is
read with ``config.get(name)``.

An option has a name, a type, a default and a help text; the registry validates
values once, when a config is built, with one message naming key, value and what is
allowed.
"""

from __future__ import annotations

import difflib
from typing import Any, Callable, Mapping

import attrs

from halo_core.registries import DuplicateNameError

__all__ = ["DuplicateOptionError", "ModePreset", "ModeRegistry", "Option", "OptionError", "OptionRegistry",
           "parse_assignment", "parse_text"]

_TYPES = (bool, int, float, str)
#: names no option may have: ``AgentConfig.options`` itself and ``replace``'s ``runtime``
RESERVED_NAMES = frozenset({"options", "runtime"})


class OptionError(ValueError):
    """An option declared wrongly by a plugin, or given a value it does not allow."""


class DuplicateOptionError(OptionError, DuplicateNameError):
    """An option or mode name that two plugins registered."""


@attrs.frozen
class Option:
    """One configuration option a plugin reads.

    ``flag`` adds a command-line flag (``--cache-scope``) to every command that runs an
    agent; every option can also be set with ``--set name=value`` and in experiments
    files. ``aliases`` are older names accepted in experiments files.
    """

    name: str
    type: type = str
    default: Any = None
    help: str = ""
    choices: tuple[Any, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    nullable: bool = False
    flag: str | None = None
    aliases: tuple[str, ...] = ()
    plugin: str = ""
    #: a further rule: True when a value of the right type is allowed (``expects`` says which)
    check: Callable[[Any], bool] | None = attrs.field(default=None, eq=False, repr=False)
    #: what values are allowed, in words, when ``check`` makes the type's own words too wide
    expects: str = ""

    def expected(self) -> str:
        """The allowed values in words, as error messages name them."""
        if self.expects:
            return self.expects
        if self.choices:
            return f"one of {', '.join(map(str, self.choices))}"
        kind = {bool: "true or false", int: "a whole number", float: "a number"}.get(self.type, "a string")
        if self.type in (int, float) and (self.minimum is not None or self.maximum is not None):
            lo = "-inf" if self.minimum is None else self.minimum
            hi = "inf" if self.maximum is None else self.maximum
            kind += f" in [{lo}, {hi}]"
        return kind

    def convert(self, value: Any, *, text: bool = False) -> Any:
        """``value`` checked against this option; with ``text`` a string from a command
        line is parsed first (``--set use_vac=true``)."""
        if value is None:
            if self.nullable:
                return None
            raise OptionError(self._bad(value))
        if text and isinstance(value, str) and self.type is not str:
            value = parse_text(value, self.type)
        if self.type is bool:
            ok = isinstance(value, bool)
        elif self.type is int:
            ok = not isinstance(value, bool) and isinstance(value, int)
        elif self.type is float:
            ok = not isinstance(value, bool) and isinstance(value, (int, float))
            value = float(value) if ok else value
        else:
            ok = isinstance(value, str) and "\x00" not in value
        ok = ok and (not self.choices or value in self.choices)
        ok = ok and not (self.minimum is not None and value < self.minimum
                         or self.maximum is not None and value > self.maximum)
        if not ok or (self.check is not None and not self.check(value)):
            raise OptionError(self._bad(value))
        return value

    def _bad(self, value: Any) -> str:
        return f"{self.name}={value!r} is not allowed: expected {self.expected()}"


def parse_text(text: str, kind: type) -> Any:
    """``text`` from a command line as a ``kind`` value where it reads as one, else unchanged
    (the option's check then names what is allowed)."""
    lowered = text.strip().lower()
    if kind is bool:
        if lowered in ("true", "1", "yes", "on"):
            return True
        if lowered in ("false", "0", "no", "off"):
            return False
        return text
    try:
        return kind(text.strip())
    except ValueError:
        return text


def parse_assignment(text: str) -> tuple[str, str]:
    """``name=value`` from ``--set``; one clear error otherwise."""
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise OptionError(f"--set {text!r} is not of the form name=value (e.g. --set cache_scope=site)")
    return name.strip(), value


@attrs.define
class OptionRegistry:
    """Every option the installed plugins declared, by name."""

    options: dict[str, Option] = attrs.field(factory=dict)
    _current_plugin: str = ""

    def register(self, name: str, *, type: type = str, default: Any = None, help: str = "",
                 choices: tuple[Any, ...] | list[Any] = (), minimum: float | None = None,
                 maximum: float | None = None, nullable: bool = False, flag: str | None = None,
                 aliases: tuple[str, ...] | list[str] = (), check: Callable[[Any], bool] | None = None,
                 expects: str = "") -> Option:
        """Declare an option (the callback handed to ``halo_addoption``)."""
        if not name.isidentifier():
            raise OptionError(f"option name {name!r} must be a Python identifier (letters, digits, _)")
        if name in RESERVED_NAMES:
            raise OptionError(f"option name {name!r} is reserved (AgentConfig uses it)")
        if type not in _TYPES:
            raise OptionError(f"option {name!r}: type must be one of bool, int, float, str")
        if name in self.options:
            raise DuplicateOptionError("option", name, self.options[name].plugin, self._current_plugin)
        option = Option(name=name, type=type, default=default, help=help, choices=tuple(choices),
                        minimum=minimum, maximum=maximum, nullable=nullable or default is None, flag=flag,
                        aliases=tuple(aliases), plugin=self._current_plugin, check=check, expects=expects)
        if default is not None:
            option.convert(default)
        self.options[name] = option
        return option

    def canonical(self, name: str) -> str | None:
        if name in self.options:
            return name
        for option in self.options.values():
            if name in option.aliases:
                return option.name
        return None

    def defaults(self) -> dict[str, Any]:
        return {name: option.default for name, option in self.options.items()}

    def convert(self, name: str, value: Any, *, text: bool = False) -> Any:
        return self.options[name].convert(value, text=text)

    def unknown_message(self, name: str, core_keys: tuple[str, ...] = ()) -> str:
        known = sorted(set(core_keys) | set(self.options))
        close = difflib.get_close_matches(name, known, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        return (f"unknown config key {name!r}{hint} (allowed: {', '.join(known)}; "
                "a plugin that is not installed may declare it)")


@attrs.frozen
class ModePreset:
    """A named agent mode: option values on top of a base mode."""

    name: str
    description: str = ""
    base: tuple[str, ...] = ()  # the first installed one is used
    values: Mapping[str, Any] = attrs.field(factory=dict)
    worker_from_env: bool = False  # HALO_WORKER_BACKEND (prefix only) / HALO_WORKER_MODEL apply
    plugin: str = ""


@attrs.define
class ModeRegistry:
    """Mode presets, assembled from every plugin's registrations."""

    presets: dict[str, ModePreset] = attrs.field(factory=dict)
    extensions: dict[str, list[dict[str, Any]]] = attrs.field(factory=dict)
    _current_plugin: str = ""

    def register(self, name: str, *, description: str = "", base: str | tuple[str, ...] | list[str] = (),
                 extend: bool = False, worker_from_env: bool = False, **values: Any) -> None:
        """Add a preset, or with ``extend=True`` add values to a preset another plugin made
        (applied only where that preset exists)."""
        if extend:
            self.extensions.setdefault(name, []).append(dict(values))
            return
        if name in self.presets:
            raise DuplicateOptionError("mode", name, self.presets[name].plugin, self._current_plugin)
        bases = (base,) if isinstance(base, str) else tuple(base)
        self.presets[name] = ModePreset(name=name, description=description, base=bases, values=dict(values),
                                        worker_from_env=worker_from_env, plugin=self._current_plugin)

    def names(self) -> list[str]:
        """Mode names, simplest first (by how many bases a mode stands on)."""
        order = list(self.presets)
        return sorted(order, key=lambda n: (self._depth(n, ()), order.index(n)))

    def _depth(self, name: str, seen: tuple[str, ...]) -> int:
        preset = self.presets.get(name)
        if preset is None or name in seen:
            return 0
        base = next((b for b in preset.base if b in self.presets), None)
        return 0 if base is None else 1 + self._depth(base, seen + (name,))

    def resolve(self, name: str, _seen: tuple[str, ...] = ()) -> tuple[dict[str, Any], ModePreset]:
        """The mode's values (its base's, then its own, then extensions) and its preset."""
        if name not in self.presets:
            close = difflib.get_close_matches(name, list(self.presets), n=3)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise OptionError(f"mode={name!r} is not allowed{hint}: expected one of {', '.join(self.names())}")
        if name in _seen:
            raise OptionError(f"mode {name!r} is its own base ({' -> '.join(_seen + (name,))})")
        preset = self.presets[name]
        values: dict[str, Any] = {}
        for base in preset.base:
            if base in self.presets:
                values.update(self.resolve(base, _seen + (name,))[0])
                break
        values.update(preset.values)
        for extra in self.extensions.get(name, ()):
            values.update(extra)
        return values, preset

