"""Macros and the JSON file that holds them."""

from __future__ import annotations

import json
import os
import re
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any, Mapping

import attrs

from halo_plugin_macros._binding import bind

FORMAT_VERSION = 1
_SLOT = re.compile(r"\{(s\d+)\}")


@attrs.frozen
class MacroStep:
    """One generalised step: ``verb`` on the element (``role``, ``name``), where ``name``
    and ``value`` may hold ``{sN}`` slot placeholders."""

    verb: str
    role: str
    name: str
    value: str | None = None

    def render(self, bindings: Mapping[str, str]) -> tuple[str, str | None]:
        sub = lambda text: _SLOT.sub(lambda m: bindings[m.group(1)], text)  # noqa: E731
        return sub(self.name), (sub(self.value) if self.value is not None else None)


@attrs.frozen
class Slot:
    """A parameter: bound from the goal by ``variants`` (regexes), or a ``constant``."""

    variants: tuple[str, ...] = ()
    constant: str | None = None
    examples: tuple[str, ...] = ()


@attrs.frozen
class Macro:
    id: str
    site: str
    steps: tuple[MacroStep, ...]
    slots: Mapping[str, Slot]
    page_types: tuple[str, ...]
    paths: tuple[str, ...]
    support: int
    provenance: tuple[Mapping[str, Any], ...] = ()
    #: per step, the URL paths (ids masked) it was recorded on; () for libraries mined before
    step_paths: tuple[tuple[str, ...], ...] = ()

    def bind(self, goal: str) -> dict[str, str] | None:
        """Slot values for ``goal``, or None when any slot does not bind."""
        out: dict[str, str] = {}
        for name, slot in self.slots.items():
            value = slot.constant if slot.constant is not None else bind(goal, slot.variants)
            if value is None or not str(value).strip():
                return None  # an empty slot would replay from a wrong state (an empty search)
            out[name] = value
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "site": self.site, "support": self.support,
            "steps": [attrs.asdict(s) for s in self.steps],
            "slots": {k: {"variants": list(v.variants), "constant": v.constant, "examples": list(v.examples)}
                      for k, v in self.slots.items()},
            "precondition": {"page_types": list(self.page_types), "paths": list(self.paths),
                             **({"step_paths": [list(p) for p in self.step_paths]} if self.step_paths else {})},
            "provenance": [dict(p) for p in self.provenance],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Macro:
        """The macro of a library entry; raises ``ValueError`` for an entry that could replay
        from a wrong state: no steps, a step placeholder with no slot, per-step preconditions
        that do not match its steps."""
        steps = tuple(MacroStep(**s) for s in d["steps"])
        slots = {k: Slot(tuple(v.get("variants", ())), v.get("constant"), tuple(v.get("examples", ())))
                 for k, v in d.get("slots", {}).items()}
        step_paths = tuple(tuple(str(p) for p in paths) for paths in d["precondition"].get("step_paths") or ())
        if not steps:
            raise ValueError("a macro without steps")
        used = {m for s in steps for text in (s.name, s.value or "") for m in _SLOT.findall(text)}
        if used - set(slots):
            raise ValueError(f"steps use slot(s) {sorted(used - set(slots))} the macro does not define")
        if step_paths and (len(step_paths) != len(steps) or not all(step_paths)):
            raise ValueError("per-step preconditions do not match the steps")
        return cls(
            id=d["id"], site=d["site"], support=int(d["support"]), steps=steps, slots=slots,
            page_types=tuple(d["precondition"]["page_types"]), paths=tuple(d["precondition"]["paths"]),
            provenance=tuple(d.get("provenance", ())), step_paths=step_paths,
        )

    def describe(self) -> str:
        parts = []
        for s in self.steps:
            text = f"{s.verb} {s.role} {s.name!r}"
            if s.value is not None:
                text += f" = {s.value!r}"
            parts.append(text)
        return " → ".join(parts)


def save_macros(macros: list[Macro], path: str | os.PathLike) -> Path:
    """Write atomically (temp file + rename), so running agents never read half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"version": FORMAT_VERSION, "macros": [m.to_dict() for m in macros]}
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2, ensure_ascii=False)
    os.replace(tmp, path)
    return path


class MacroLibraryError(ValueError):
    """A macro library that cannot be read; the message names the file and the fix."""


_CACHE: dict[str, tuple[float, list[Macro]]] = {}


def _parse(path: Path) -> list[Macro]:
    """The good macros of ``path``; damaged entries are skipped with a warning, an unreadable file raises."""
    fix = f"delete it, or rebuild it with `halo macros mine --out {path}`"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise MacroLibraryError(f"{path} is damaged ({type(exc).__name__}: {exc}); {fix}") from None
    entries = data.get("macros") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise MacroLibraryError(f"{path} is damaged (no list of macros); {fix}")
    macros, bad = [], 0
    for entry in entries:
        try:
            macros.append(Macro.from_dict(entry))
        except (AttributeError, KeyError, TypeError, ValueError):
            bad += 1
    if bad:
        warnings.warn(f"{path}: {bad} damaged macro(s) skipped, {len(macros)} kept; {fix}", UserWarning,
                      stacklevel=3)
    return macros


def load_macros(path: str | os.PathLike, *, strict: bool = False) -> list[Macro]:
    """The macros in ``path`` ([] if there is no file); re-read only when the file changes.

    A file that is not a macro library at all raises :class:`MacroLibraryError` when
    ``strict`` (the ``halo macros`` commands); episodes (not strict) move it aside as
    ``macros.json.corrupt-<time>`` with a warning and go on without macros — the bytes are
    kept for inspection, and one damaged file cannot fail every episode of a run.
    """
    path = Path(path)
    try:
        mtime = path.stat().st_mtime_ns
    except FileNotFoundError:
        return []
    key = str(path.resolve())
    cached = _CACHE.get(key)
    if cached and cached[0] == mtime:
        return cached[1]
    try:
        macros = _parse(path)
    except MacroLibraryError as exc:
        if strict:
            raise
        aside = path.with_name(f"{path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}")
        try:
            os.replace(path, aside)
        except FileNotFoundError:
            return load_macros(path)  # another process moved it aside (and maybe replaced it) first
        except OSError:
            aside = None
        warnings.warn(f"{exc}" + (f"; moved aside to {aside.name}" if aside else ""), UserWarning, stacklevel=2)
        return []
    _CACHE[key] = (mtime, macros)
    return macros
