"""REAL Bench task discovery straight from the installed ``agisdk``.

The tasks are the JSON files of agisdk's ``REAL/browsergym/webclones/<version>/tasks``
directory (the same listing agisdk's ``task_config.TASKS_BY_VERSION`` is built from),
their eval scripts live next to them in ``eval_scripts``. The directory is found
without importing agisdk (that import pulls in gymnasium, playwright, openai, … and
takes seconds), so ``halo tasks`` stays fast.

A *layout* is any directory shaped like agisdk's version directory
(``tasks/*.json`` + ``eval_scripts/*.py``); :class:`~halo_plugin_real.suite.RealSuite`
can be pointed at one to run REAL-format tasks that are not part of agisdk.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Mapping

import attrs

from halo_core.api import TaskSpec

__all__ = [
    "SUPPORTED_VERSION", "Layout", "agisdk_version", "agisdk_layout", "natural_key", "task_hash",
    "canonical_json", "to_spec", "site_of",
]

SUPPORTED_VERSION = "v2"
SUITE_NAME = "real"

_NUM = re.compile(r"(\d+)")


def natural_key(name: str) -> tuple:
    """``omnizon-2`` sorts before ``omnizon-10``."""
    return tuple(int(p) if p.isdigit() else p for p in _NUM.split(name))


def agisdk_version() -> str:
    try:
        return importlib.metadata.version("agisdk")
    except importlib.metadata.PackageNotFoundError:
        return ""


def _agisdk_root() -> Path:
    spec = importlib.util.find_spec("agisdk")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("agisdk is not installed: pip install 'halo-plugin-real[agisdk]'")
    return Path(list(spec.submodule_search_locations)[0])


def site_of(name: str) -> str:
    """``gomail-12`` -> ``gomail`` (the part before the trailing number)."""
    match = re.match(r"^(.*?)-(\d+)$", name)
    return match.group(1) if match else name


def canonical_json(data: Any) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@attrs.frozen
class Layout:
    """A task directory in agisdk's version layout: ``tasks/*.json`` + ``eval_scripts/*.py``."""

    root: Path
    version: str = SUPPORTED_VERSION
    source: str = "agisdk"  # "agisdk" or "local"

    @property
    def tasks_dir(self) -> Path:
        return self.root / "tasks"

    @property
    def eval_scripts_dir(self) -> Path:
        return self.root / "eval_scripts"

    def names(self) -> list[str]:
        """Task names (``dashdish-1``), naturally sorted."""
        if not self.tasks_dir.is_dir():
            raise FileNotFoundError(f"no task directory at {self.tasks_dir}")
        return sorted((p.stem for p in self.tasks_dir.glob("*.json")), key=natural_key)

    def task_path(self, name: str) -> Path:
        return self.tasks_dir / f"{name}.json"

    def load(self, name: str) -> dict:
        return _load_json(str(self.task_path(name)), self.task_path(name).stat().st_mtime_ns)

    def script_text(self, script: str) -> str | None:
        """An eval script's text (this layout first, then agisdk's own scripts, as the evaluator searches)."""
        for directory in (self.eval_scripts_dir, agisdk_layout(self.version).eval_scripts_dir):
            path = directory / script
            if path.is_file():
                return path.read_text(encoding="utf-8")
        return None


@lru_cache(maxsize=4)
def agisdk_layout(version: str = SUPPORTED_VERSION) -> Layout:
    root = _agisdk_root() / "REAL" / "browsergym" / "webclones" / version
    if not root.is_dir():
        raise FileNotFoundError(f"agisdk {agisdk_version() or '?'} has no task version {version!r} ({root})")
    return Layout(root=root, version=version, source="agisdk")


@lru_cache(maxsize=1024)
def _load_json(path: str, _mtime: int) -> dict:
    with open(path, encoding="utf-8") as fh:
        data = json.load(fh)
    if not isinstance(data, dict):
        raise ValueError(f"{path} is not a task JSON object")
    return data


def task_hash(raw: Mapping[str, Any], layout: Layout) -> str:
    """sha256 over the task's canonical JSON and the text of each of its eval scripts."""
    h = hashlib.sha256()
    h.update(canonical_json(raw).encode("utf-8"))
    for ev in raw.get("evals") or ():
        script = ev.get("script") if isinstance(ev, Mapping) else None
        if script:
            text = layout.script_text(str(script))
            h.update(b"\0script:" + str(script).encode("utf-8") + b"\0")
            h.update((text if text is not None else "<missing>").encode("utf-8"))
    return h.hexdigest()


def to_spec(raw: Mapping[str, Any], version: str = SUPPORTED_VERSION, name: str | None = None) -> TaskSpec:
    """A TaskSpec for one task JSON; ``name`` is the file stem (agisdk's task name wins over the JSON's id)."""
    website = raw.get("website") or {}
    name = str(name or raw.get("id", ""))
    config = raw.get("config") or {}
    return TaskSpec(
        id=f"{version}.{name}",
        goal=str(raw.get("goal", "")),
        suite=SUITE_NAME,
        site=str(website.get("id") or site_of(name)),
        start_url=str(website.get("url") or ""),
        challenge_type=str(raw.get("challengeType", "action")),
        possible=bool(raw.get("possible", True)),
        difficulty=str(raw.get("difficulty", "")),
        split=str(config.get("split", "")) if isinstance(config, Mapping) else "",
        points=float(raw.get("points", 1) or 0),
        evals=tuple(dict(e) for e in raw.get("evals") or ()),
        raw=dict(raw),
    )


def iter_specs(layout: Layout, names: Iterable[str]) -> list[TaskSpec]:
    return [to_spec(layout.load(n), layout.version, n) for n in names]
