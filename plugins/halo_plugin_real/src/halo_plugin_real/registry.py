"""Task registry snapshots: pin the REAL task list (and each task's content) to a JSON file.

A snapshot records the agisdk version, when it was made, and per task its id, site,
goal, website URL, eval scripts and a sha256 over the task's canonical JSON plus the
text of its eval scripts. A suite pinned to a snapshot lists exactly the snapshot's
tasks; a task whose current content hashes differently (the SDK changed it) is
refused by default (see :data:`MISMATCH_ENV`).

Which snapshot is used, first match wins:

1. an explicit ``task_registry=`` (``--task-registry FILE``; ``"none"`` turns pinning off);
2. the suite's constructor argument ``RealSuite(registry=...)``;
3. ``$HALO_TASK_REGISTRY`` (a path, or ``none``/empty to turn pinning off);
4. ``configs/real_v2_task_registry.json`` in the current directory, when it exists.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Iterable, Mapping

import attrs

from halo_core.api import TaskNotFound

from .catalog import Layout, agisdk_version, task_hash, to_spec

__all__ = [
    "DEFAULT_REGISTRY_PATH", "REGISTRY_ENV", "MISMATCH_ENV", "FORMAT", "Registry", "RegistryError",
    "TaskRegistryMismatch", "build_snapshot", "write_snapshot", "load_registry", "registry_path_from",
]

FORMAT = "halo-real-task-registry/1"
DEFAULT_REGISTRY_PATH = Path("configs") / "real_v2_task_registry.json"
REGISTRY_ENV = "HALO_TASK_REGISTRY"
#: ``error`` (default): a task that changed since the snapshot is refused; ``warn``: it runs, with a warning.
MISMATCH_ENV = "HALO_TASK_REGISTRY_MISMATCH"
_OFF = {"", "none", "off", "0", "false"}


class RegistryError(TaskNotFound):
    """A registry file that cannot be used (missing, not JSON, wrong format).

    A :class:`TaskNotFound` so every command shows it as one line and exits non-zero.
    """


class TaskRegistryMismatch(TaskNotFound):
    """A pinned task whose content is no longer what the snapshot recorded."""


@attrs.frozen
class Registry:
    path: str
    agisdk_version: str
    created_at: str
    task_version: str
    hashes: Mapping[str, str]  # id -> sha256, in snapshot order
    entries: Mapping[str, Mapping[str, Any]] = attrs.field(eq=False, repr=False)

    @property
    def ids(self) -> list[str]:
        return list(self.hashes)

    def describe(self) -> str:
        return f"{self.path} ({len(self.hashes)} tasks, agisdk {self.agisdk_version or '?'}, {self.created_at})"


def build_snapshot(layout: Layout, names: Iterable[str] | None = None) -> dict[str, Any]:
    """The snapshot document for ``layout`` (every task, or ``names``)."""
    names = list(names) if names is not None else layout.names()
    tasks = []
    sites: dict[str, int] = {}
    for name in names:
        raw = layout.load(name)
        spec = to_spec(raw, layout.version, name)
        sites[spec.site] = sites.get(spec.site, 0) + 1
        tasks.append({
            "id": spec.id,
            "site": spec.site,
            "sha256": task_hash(raw, layout),
            "goal": spec.goal,
            "start_url": spec.start_url,
            "challengeType": spec.challenge_type,
            "possible": spec.possible,
            "difficulty": spec.difficulty,
            "points": spec.points,
            "eval_types": sorted({str(e.get("type") or ("script" if e.get("script") else "")) for e in spec.evals}),
            "eval_scripts": [str(e["script"]) for e in spec.evals if e.get("script")],
        })
    return {
        "format": FORMAT,
        "suite": "real",
        "task_version": layout.version,
        "source": "agisdk" if layout.source == "agisdk" else str(layout.root),
        "agisdk_version": agisdk_version(),
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "hash": "sha256 of canonical task JSON (sorted keys, compact) + each eval script's name and text",
        "total": len(tasks),
        "sites": dict(sorted(sites.items())),
        "tasks": tasks,
    }


def write_snapshot(layout: Layout, out: str | os.PathLike) -> dict[str, Any]:
    doc = build_snapshot(layout)
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(path)
    return doc


_CACHE: dict[tuple[str, int], Registry] = {}


def load_registry(path: str | os.PathLike) -> Registry:
    p = Path(path)
    try:
        stat = p.stat()
    except OSError:
        raise RegistryError(f"task registry {str(p)!r} does not exist (make one with "
                            f"`halo tasks snapshot --suite real --out {p}`)") from None
    key = (str(p.resolve()), stat.st_mtime_ns)
    if key in _CACHE:
        return _CACHE[key]
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RegistryError(f"task registry {str(p)!r} is not readable JSON: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("tasks"), list):
        raise RegistryError(f"task registry {str(p)!r} has no 'tasks' list (format {FORMAT})")
    if doc.get("format") not in (None, FORMAT):
        raise RegistryError(f"task registry {str(p)!r} has format {doc.get('format')!r}; expected {FORMAT}")
    hashes: dict[str, str] = {}
    entries: dict[str, Mapping[str, Any]] = {}
    for entry in doc["tasks"]:
        if not isinstance(entry, dict) or not entry.get("id") or not entry.get("sha256"):
            raise RegistryError(f"task registry {str(p)!r} has an entry without id/sha256: {str(entry)[:80]}")
        hashes[str(entry["id"])] = str(entry["sha256"])
        entries[str(entry["id"])] = entry
    registry = Registry(path=str(p), agisdk_version=str(doc.get("agisdk_version", "")),
                        created_at=str(doc.get("created_at", "")), task_version=str(doc.get("task_version", "v2")),
                        hashes=hashes, entries=entries)
    _CACHE[key] = registry
    return registry


def registry_path_from(explicit: Any = None, configured: Any = None) -> str | None:
    """Which registry file applies (see the module docstring); None means "not pinned"."""
    for value in (explicit, configured):
        if value is not None:
            text = str(value).strip()
            return None if text.lower() in _OFF else text
    env = os.environ.get(REGISTRY_ENV)
    if env is not None:
        return None if env.strip().lower() in _OFF else env.strip()
    if DEFAULT_REGISTRY_PATH.is_file():
        return str(DEFAULT_REGISTRY_PATH)
    return None


def mismatch_policy() -> str:
    value = os.environ.get(MISMATCH_ENV, "error").strip().lower()
    return "warn" if value in ("warn", "warning", "allow") else "error"
