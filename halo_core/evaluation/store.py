"""The results folder of one run: ``results/<run_id>/``.

``run.json``
    The plan (kind, tasks, configs per mode, options); written once, atomically,
    before any episode starts, so ``--resume`` can rebuild the run.
``episodes.jsonl``
    One line per finished episode. Only the coordinator writes it, one whole line
    per ``os.write`` on an ``O_APPEND`` descriptor: a kill leaves whole lines.
``errors.jsonl``
    task, mode, attempt, error and traceback of each errored episode.
``matrix.csv`` / ``matrix.md``
    Metrics per mode (:mod:`halo_core.evaluation.metrics`).

Reading is tolerant: a truncated or unparsable line (which single-write appends
should never leave) is dropped with a warning and the file is rewritten without it
before anything is appended.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any, Iterable

from halo_core.builtins.jsonl_logger import redact

__all__ = ["JsonlAppender", "ResultsStore", "read_jsonl"]


class ResultsWarning(UserWarning):
    """Something in a results folder was damaged and has been repaired."""


def read_jsonl(path: Path, *, repair: bool = False) -> list[dict[str, Any]]:
    """The JSON objects in ``path``; damaged lines are skipped with a warning
    (and removed from the file when ``repair``)."""
    if not path.exists():
        return []
    data = path.read_bytes()
    good: list[bytes] = []
    records: list[dict[str, Any]] = []
    damaged = 0
    lines = data.split(b"\n")
    tail = lines.pop()  # b"" when the file ends with a newline
    for raw in lines:
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except ValueError:
            damaged += 1
            continue
        if isinstance(obj, dict):
            records.append(obj)
            good.append(raw)
        else:
            damaged += 1
    if tail.strip():
        damaged += 1
        warnings.warn(f"{path}: the last line is truncated ({len(tail)} bytes, no newline); it is ignored",
                      ResultsWarning, stacklevel=2)
    elif damaged:
        warnings.warn(f"{path}: {damaged} unreadable line(s) ignored", ResultsWarning, stacklevel=2)
    if damaged and repair:
        tmp = path.with_name(f".{path.name}.repair")
        tmp.write_bytes(b"".join(line + b"\n" for line in good))
        tmp.replace(path)
    return records


class JsonlAppender:
    """Appends one JSON object per ``os.write`` to a file opened with ``O_APPEND``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def append(self, record: dict[str, Any]) -> None:
        data = (redact(json.dumps(record, ensure_ascii=False, default=str)) + "\n").encode()
        written = os.write(self._fd, data)
        if written != len(data):  # only on a full disk; say so rather than leave half a line unnoticed
            raise OSError(f"short write to {self.path}: {written} of {len(data)} bytes")

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


class ResultsStore:
    """Reads and writes ``results/<run_id>/``."""

    def __init__(self, results_dir: str | os.PathLike, run_id: str) -> None:
        self.run_id = run_id
        self.dir = Path(results_dir) / run_id
        self._appenders: dict[str, JsonlAppender] = {}

    @property
    def plan_path(self) -> Path:
        return self.dir / "run.json"

    @property
    def episodes_path(self) -> Path:
        return self.dir / "episodes.jsonl"

    @property
    def errors_path(self) -> Path:
        return self.dir / "errors.jsonl"

    def exists(self) -> bool:
        return self.plan_path.exists()

    def write_plan(self, plan: dict[str, Any]) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        tmp = self.plan_path.with_name(".run.json.tmp")
        tmp.write_text(json.dumps(plan, indent=2, default=str), encoding="utf-8")
        tmp.replace(self.plan_path)

    def read_plan(self) -> dict[str, Any]:
        return json.loads(self.plan_path.read_text(encoding="utf-8"))

    def episodes(self, *, repair: bool = True) -> list[dict[str, Any]]:
        """Finished episodes; for a repeated (task, mode, attempt) the last line wins."""
        latest: dict[tuple, dict[str, Any]] = {}
        for record in read_jsonl(self.episodes_path, repair=repair):
            latest[episode_key(record)] = record
        return list(latest.values())

    def drop_episodes(self, keys: Iterable[tuple]) -> None:
        """Rewrite ``episodes.jsonl`` without the given (task, mode, attempt) keys (for ``--retry-errors``)."""
        drop = set(keys)
        if not drop or not self.episodes_path.exists():
            return
        kept = [r for r in read_jsonl(self.episodes_path, repair=True) if episode_key(r) not in drop]
        tmp = self.episodes_path.with_name(".episodes.jsonl.tmp")
        tmp.write_text("".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in kept), encoding="utf-8")
        tmp.replace(self.episodes_path)

    def appender(self, name: str) -> JsonlAppender:
        if name not in self._appenders:
            read_jsonl(self.dir / name, repair=True)  # never append after a torn line
            self._appenders[name] = JsonlAppender(self.dir / name)
        return self._appenders[name]

    def append_episode(self, record: dict[str, Any]) -> None:
        self.appender("episodes.jsonl").append(record)

    def append_error(self, record: dict[str, Any]) -> None:
        self.appender("errors.jsonl").append(record)

    def close(self) -> None:
        for appender in self._appenders.values():
            appender.close()
        self._appenders.clear()


def episode_key(record: dict[str, Any]) -> tuple[str, str, int]:
    return (str(record.get("task")), str(record.get("mode")), int(record.get("attempt", 0)))
