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

``.lock``
    Held (``fcntl.flock``) by the one process writing the run, for its whole life, with
    its pid inside: a second ``halo eval --resume`` of the same run is refused instead of
    running every missing episode twice.

Reading is tolerant: a truncated or unparsable line (which single-write appends
should never leave) is skipped with a warning; before anything is appended the file is
rewritten without it and the bad bytes are kept in ``<name>.damaged`` beside it.
Every file a reader may open while a run goes on (``run.json``, the matrix files,
summaries) is written whole: a temporary file, then ``os.replace``.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any, Iterable

from halo_core.jsonl import encode_line, write_whole

__all__ = ["DISK_FULL_ERRNOS", "JsonlAppender", "ResultsStore", "RunBusy", "StoreError", "atomic_write_text",
           "read_jsonl"]

#: write errors that mean "no room": the run stops cleanly instead of failing every episode
DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


class StoreError(ValueError):
    """A results folder that cannot be used as it is; the message names the file and the fix."""


class RunBusy(StoreError):
    """Another live process is writing this run."""


def atomic_write_text(path: str | os.PathLike, text: str | bytes) -> Path:
    """Write ``path`` whole: a temporary file beside it (unique per writer), then ``os.replace``.

    A reader sees the old file or the new one, never half of either; a failed write
    (a full disk) leaves the old file and no temporary behind.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(text if isinstance(text, bytes) else text.encode("utf-8"))
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path


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
    kept_in = f" (kept in {path.name}.damaged)" if repair else ""
    if tail.strip():
        damaged += 1
        warnings.warn(f"{path}: the last line is truncated ({len(tail)} bytes, no newline); it is ignored{kept_in}",
                      ResultsWarning, stacklevel=2)
    elif damaged:
        warnings.warn(f"{path}: {damaged} unreadable line(s) ignored{kept_in}", ResultsWarning, stacklevel=2)
    if damaged and repair:
        kept = set(good)
        bad = [raw for raw in lines if raw.strip() and raw not in kept] + ([tail] if tail.strip() else [])
        with open(path.with_name(path.name + ".damaged"), "ab") as fh:  # kept, never silently lost
            fh.write(b"".join(line + b"\n" for line in bad))
        atomic_write_text(path, b"".join(line + b"\n" for line in good))
    return records


class JsonlAppender:
    """Appends one JSON object per ``os.write`` to a file opened with ``O_APPEND``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def append(self, record: dict[str, Any]) -> None:
        write_whole(self._fd, encode_line(record), self.path)

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
        self._lock_fd = -1

    @property
    def plan_path(self) -> Path:
        return self.dir / "run.json"

    @property
    def episodes_path(self) -> Path:
        return self.dir / "episodes.jsonl"

    @property
    def errors_path(self) -> Path:
        return self.dir / "errors.jsonl"

    @property
    def lock_path(self) -> Path:
        return self.dir / ".lock"

    def exists(self) -> bool:
        return self.plan_path.exists()

    def lock(self) -> None:
        """Become the one writer of this run for the rest of this process's life.

        ``flock`` is released by the kernel when the process ends, however it ends, so a
        killed run never leaves a stale lock. Raises :class:`RunBusy` naming the holder.
        """
        if self._lock_fd >= 0:
            return
        fd = -1
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "another process"
                holder = f"pid {holder}" if holder.isdigit() else holder
                raise RunBusy(f"run {self.run_id} is being written by {holder}; wait for it or pick another --run-id") \
                    from None
            pid = f"{os.getpid()}\n".encode()
            os.pwrite(fd, pid, 0)  # before truncating: a full disk leaves the old holder's pid, not nothing
            os.ftruncate(fd, len(pid))
        except OSError as exc:  # a full disk (ENOSPC, EDQUOT), a read-only or vanished folder
            if fd >= 0:
                os.close(fd)
            raise StoreError(f"cannot take the lock of run {self.run_id} ({self.lock_path}): "
                             f"{exc.strerror or exc}; free space there or pass another --results-dir "
                             "(nothing of the run was changed)") from None
        except RunBusy:
            os.close(fd)
            raise
        self._lock_fd = fd

    def unlock(self) -> None:
        if self._lock_fd >= 0:
            os.close(self._lock_fd)  # closing the descriptor releases the flock
            self._lock_fd = -1

    def write_plan(self, plan: dict[str, Any]) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.plan_path, json.dumps(plan, indent=2, default=str))

    def read_plan(self) -> dict[str, Any]:
        """The plan, checked for the keys ``--resume`` needs (:class:`StoreError` naming the file otherwise)."""
        fix = ("it is the plan of the run and cannot be rebuilt; restore it from a backup, or start a new run "
               "(the finished episodes stay in episodes.jsonl)")
        try:
            plan = json.loads(self.plan_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise StoreError(f"{self.plan_path} does not exist") from None
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise StoreError(f"{self.plan_path} is damaged ({type(exc).__name__}: {exc}); {fix}") from None
        problem = _plan_problem(plan)
        if problem:
            raise StoreError(f"{self.plan_path} is damaged ({problem}); {fix}")
        return plan

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
        atomic_write_text(self.episodes_path, b"".join(encode_line(r) for r in kept))

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


def _plan_problem(plan: Any) -> str:
    """What makes ``plan`` unusable for ``--resume`` ('' when nothing)."""
    if not isinstance(plan, dict):
        return f"a {type(plan).__name__}, not an object"
    for key, kind in (("run_id", str), ("tasks", list), ("modes", dict), ("options", dict)):
        if not isinstance(plan.get(key), kind):
            return f"{key!r} is missing or not a {kind.__name__}"
    if not all(isinstance(t, dict) and isinstance(t.get("id"), str) for t in plan["tasks"]):
        return "a task entry has no 'id'"
    if not all(isinstance(v, dict) for v in plan["modes"].values()):
        return "a mode entry is not an object"
    return ""


def episode_key(record: dict[str, Any]) -> tuple[str, str, int]:
    try:
        attempt = int(record.get("attempt", 0))
    except (TypeError, ValueError):
        attempt = -1  # a line damaged in place: its own key, never a finished real episode
    return (str(record.get("task")), str(record.get("mode")), attempt)
