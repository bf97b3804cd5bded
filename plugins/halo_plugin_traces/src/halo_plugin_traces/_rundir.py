"""Finding a run's episodes on disk.

A ``RUN_DIR`` is either

* a results folder (``results/<run_id>/`` with ``run.json`` and/or ``episodes.jsonl``):
  trajectories are found through each episode's ``trajectory`` path, then under
  ``<data_dir>/trajectories/*/<run_id>/`` (``data_dir`` from ``run.json``, tried
  relative to the working directory and to the results folder's project root); or
* a trajectories folder (``data/trajectories/<mode>/<run_id>/``) holding
  ``<task>__attempt_<k>.jsonl`` files directly.

Trajectories are read through :mod:`halo_core.trajectory`, leniently: a damaged line is
skipped and counted (``EpisodeFiles.bad_lines``) so a report still shows the rest.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any, Iterator

import attrs

from halo_core.api import TRAJECTORY_GLOB, RecordedEpisode, TrajectoryError, read_trajectory, result_fields

__all__ = ["EpisodeFiles", "RunDir", "read_events"]


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """JSON objects of ``path``; a torn or unparsable line is skipped, and the skipped lines
    are counted and said in one warning naming the file (never dropped without a word)."""
    if not path.exists():
        return []
    out = []
    damaged: list[int] = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            damaged.append(lineno)
            continue
        if isinstance(obj, dict):
            out.append(obj)
        else:
            damaged.append(lineno)
    if damaged:
        shown = ", ".join(map(str, damaged[:5])) + (", …" if len(damaged) > 5 else "")
        warnings.warn(f"{path}: {len(damaged)} damaged line(s) skipped (line {shown}); {len(out)} record(s) used",
                      UserWarning, stacklevel=2)
    return out


def _read(path: Path) -> RecordedEpisode | None:
    try:
        return read_trajectory(path, skip_bad_lines=True)
    except (OSError, TrajectoryError):
        return None  # gone, or not a trajectory (no episode_start)


def read_events(path: Path) -> list[dict[str, Any]]:
    """The events of one trajectory file, as logged (damaged lines skipped)."""
    recorded = _read(path)
    return recorded.raw_events() if recorded is not None else []


@attrs.define
class EpisodeFiles:
    """One episode: its trajectory (if found) and its ``episodes.jsonl`` record (if any)."""

    task: str
    mode: str
    attempt: int
    trajectory: Path | None = None
    record: dict[str, Any] = attrs.field(factory=dict)
    _recorded: RecordedEpisode | None = attrs.field(default=None, init=False)
    _loaded: bool = attrs.field(default=False, init=False)

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.task, self.mode, self.attempt)

    @property
    def recorded(self) -> RecordedEpisode | None:
        """The trajectory, read; None when there is none or it is not a trajectory."""
        if not self._loaded:
            self._recorded = _read(self.trajectory) if self.trajectory else None
            self._loaded = True
        return self._recorded

    def use(self, trajectory: Path, recorded: RecordedEpisode | None) -> None:
        """Attach a trajectory already read."""
        self.trajectory, self._recorded, self._loaded = trajectory, recorded, True

    @property
    def events(self) -> list[dict[str, Any]]:
        """The trajectory's events as logged (for converters of live ``halo_log`` events)."""
        return self.recorded.raw_events() if self.recorded is not None else []

    @property
    def bad_lines(self) -> int:
        return self.recorded.bad_lines if self.recorded is not None else 0

    @property
    def screenshot_dir(self) -> Path | None:
        """Screenshot paths in step events are relative to the trajectory's folder."""
        return self.trajectory.parent if self.trajectory else None

    def summary(self) -> dict[str, Any]:
        """The episode's result: its ``episodes.jsonl`` record, else its ``episode_end`` event."""
        if self.record:
            return dict(self.record)
        recorded = self.recorded
        end = recorded.end if recorded is not None else None
        if end is None:
            steps = len(recorded.steps) if recorded is not None else 0
            return {"task": self.task, "mode": self.mode, "attempt": self.attempt, "success": False, "reward": 0.0,
                    "steps": steps, "terminated_by": "unfinished", "usage": {}, "error": ""}
        counters = {name: end.counter(name) for name in ("cache_hits", "cache_misses", "macro_steps")}
        counters.update(end.counters)
        return {"task": self.task, "mode": self.mode, "attempt": self.attempt, **result_fields(end.result()),
                **counters, "counters": counters}


def _identity(path: Path, recorded: RecordedEpisode | None) -> tuple[str, str, int, str]:
    """(task, mode, attempt, run_id) of a trajectory file, from its ``episode_start``, else its path."""
    task, _, attempt = path.stem.rpartition("__attempt_")
    mode, run_id = path.parent.parent.name, path.parent.name
    if recorded is not None:
        start = recorded.start
        return start.task_id or task, start.mode or mode, start.attempt, start.run_id or run_id
    try:
        return task, mode, int(attempt), run_id
    except ValueError:
        return task, mode, 0, run_id


class RunDir:
    """A run's folder, results or trajectories; see the module docstring."""

    def __init__(self, path: str | os.PathLike, *, data_dir: str | os.PathLike | None = None) -> None:
        self.path = Path(path)
        if not self.path.is_dir():
            raise FileNotFoundError(f"{self.path} is not a folder")
        self.extra_data_dir = Path(data_dir) if data_dir else None
        self.is_results = (self.path / "episodes.jsonl").exists() or (self.path / "run.json").exists()
        self.plan: dict[str, Any] = {}
        if (self.path / "run.json").exists():
            try:
                self.plan = json.loads((self.path / "run.json").read_text(encoding="utf-8"))
            except ValueError:
                warnings.warn(f"{self.path / 'run.json'} is not valid JSON; ignored", stacklevel=2)
        self.run_id = str(self.plan.get("run_id") or self.path.name)
        self._episodes: list[EpisodeFiles] | None = None

    @property
    def feedback_path(self) -> Path:
        return self.path / "feedback.jsonl"

    @property
    def records(self) -> list[dict[str, Any]]:
        """``episodes.jsonl``, the last line winning for a repeated (task, mode, attempt)."""
        latest: dict[tuple, dict[str, Any]] = {}
        for r in read_jsonl(self.path / "episodes.jsonl"):
            latest[(str(r.get("task")), str(r.get("mode")), int(r.get("attempt", 0) or 0))] = r
        return list(latest.values())

    def modes(self) -> list[str]:
        """Modes in plan order, then any others seen."""
        order = list((self.plan.get("modes") or {}).keys())
        for ep in self.episodes():
            if ep.mode not in order:
                order.append(ep.mode)
        return order

    def _data_dirs(self) -> Iterator[Path]:
        if self.extra_data_dir is not None:
            yield self.extra_data_dir
        data_dir = Path(str((self.plan.get("options") or {}).get("data_dir") or "data"))
        if data_dir.is_absolute():
            yield data_dir
        else:
            yield Path.cwd() / data_dir
            # results/<run_id>/ → the project root is two levels up
            yield self.path.resolve().parent.parent / data_dir

    def _trajectory_files(self) -> list[Path]:
        if not self.is_results:
            return sorted(self.path.glob(TRAJECTORY_GLOB))
        found: list[Path] = []
        seen: set[Path] = set()
        for data_dir in self._data_dirs():
            for folder in sorted((data_dir / "trajectories").glob(f"*/{self.run_id}")):
                for f in sorted(folder.glob(TRAJECTORY_GLOB)):
                    if f.resolve() not in seen:
                        seen.add(f.resolve())
                        found.append(f)
        return found

    def _resolve(self, recorded: str) -> Path | None:
        if not recorded:
            return None
        p = Path(recorded)
        candidates = [p] if p.is_absolute() else [Path.cwd() / p, self.path.resolve().parent.parent / p]
        if self.extra_data_dir is not None and not p.is_absolute() and "trajectories" in p.parts:
            tail = p.parts[p.parts.index("trajectories"):]
            candidates.append(self.extra_data_dir.joinpath(*tail))
        return next((c for c in candidates if c.exists()), None)

    def episodes(self) -> list[EpisodeFiles]:
        """Every episode of the run: results records first (in file order), then trajectories without one."""
        if self._episodes is not None:
            return self._episodes
        by_key: dict[tuple[str, str, int], EpisodeFiles] = {}
        for r in self.records:
            ep = EpisodeFiles(task=str(r.get("task")), mode=str(r.get("mode")), attempt=int(r.get("attempt", 0) or 0),
                              trajectory=self._resolve(str(r.get("trajectory") or "")), record=r)
            by_key[ep.key] = ep
        for f in self._trajectory_files():
            recorded = _read(f)
            task, mode, attempt, run_id = _identity(f, recorded)
            key = (task, mode, attempt)
            if key in by_key:
                if by_key[key].trajectory is None:
                    by_key[key].use(f, recorded)
            else:
                by_key[key] = EpisodeFiles(task=task, mode=mode, attempt=attempt)
                by_key[key].use(f, recorded)
                if not self.is_results and run_id:
                    self.run_id = run_id
        self._episodes = list(by_key.values())
        return self._episodes

    def find(self, task: str, attempt: int, mode: str | None = None) -> list[EpisodeFiles]:
        return [e for e in self.episodes()
                if e.task == task and e.attempt == attempt and (mode is None or e.mode == mode)]
