"""Coordinating a run: plan → pending jobs → executor → results files → metrics.

The coordinator (this process) is the only writer of ``results/<run_id>/``; every
finished episode is appended as it arrives, so a run killed at any moment can be
resumed with nothing lost and nothing run twice.
"""

from __future__ import annotations

import re
from typing import Any, Callable, Mapping

from rich.console import Console

from halo_core.evaluation.executors import create_executor
from halo_core.evaluation.jobs import EpisodeJob, EpisodeOutcome
from halo_core.evaluation.metrics import episode_kind, matrix, metric_columns, write_matrix
from halo_core.evaluation.plan import configs_from_plan, make_jobs, resolve_plan_tasks
from halo_core.evaluation.progress import RunProgress
from halo_core.evaluation.store import DISK_FULL_ERRNOS, ResultsStore, episode_key

__all__ = ["RunReport", "RunStopped", "pending_jobs", "run_plan"]

#: how a worker reports that it could not write (its trajectory, a cache): ENOSPC, EDQUOT, EFBIG
_DISK_FULL_TEXT = re.compile(r"\[Errno (28|122|27)\]|No space left on device|Disk quota exceeded|File too large")


class RunStopped(RuntimeError):
    """The run cannot go on (a full disk): every episode finished before is saved, the one
    that hit the problem is not recorded, and ``--resume`` continues once it is fixed."""


def _disk_full(record: Mapping[str, Any]) -> str:
    """The error text of an episode that ended because a write failed for lack of room ('' otherwise)."""
    texts = [str(record.get("error") or ""), *map(str, record.get("plugin_errors") or ())]
    return next((t for t in texts if _DISK_FULL_TEXT.search(t)), "")


class RunReport:
    """What a finished (or interrupted) run produced."""

    def __init__(self, plan: Mapping[str, Any], records: list[dict[str, Any]], ran: int, skipped: int,
                 columns: tuple[Any, ...] = ()) -> None:
        self.plan, self.records, self.ran, self.skipped = plan, records, ran, skipped
        self.columns = columns  # the plugins' metric columns

    @property
    def rows(self) -> list[dict[str, Any]]:
        return matrix(self.records, self.plan.get("modes", {}), columns=self.columns)

    @property
    def errors(self) -> int:
        """Episodes of this run that ended in ``init_error`` or ``error``."""
        return sum(episode_kind(r) == "error" for r in self.records)


def pending_jobs(plan: Mapping[str, Any], runtime, store: ResultsStore, *, debug: bool = False,
                 retry_errors: bool = False) -> tuple[list[EpisodeJob], list[dict[str, Any]]]:
    """The plan's jobs that have no line in ``episodes.jsonl`` yet, and the finished records.

    A trajectory file without its episode line is not "finished": its job runs again
    and the logger overwrites the file.
    """
    configs = configs_from_plan(plan, runtime)
    jobs = make_jobs(plan, resolve_plan_tasks(runtime, plan), configs, debug=debug)
    wanted = {job.key for job in jobs}
    finished = [r for r in store.episodes() if episode_key(r) in wanted]
    if retry_errors:
        again = [episode_key(r) for r in finished if episode_kind(r) == "error"]
        store.drop_episodes(again)
        finished = [r for r in finished if episode_kind(r) != "error"]
    done = {episode_key(r) for r in finished}
    return [job for job in jobs if job.key not in done], finished


def run_plan(plan: Mapping[str, Any], runtime, store: ResultsStore, *, executor: str = "local",
             workers: int | None = None, address: str | None = None, debug: bool = False,
             retry_errors: bool = False, console: Console | None = None, live: bool | None = None,
             on_record: Callable[[EpisodeJob, dict[str, Any]], None] | None = None,
             executor_options: Mapping[str, Any] | None = None) -> RunReport:
    """Run what is missing of ``plan`` and write every result as it arrives."""
    jobs, finished = pending_jobs(plan, runtime, store, debug=debug, retry_errors=retry_errors)
    records = list(finished)
    total = len(jobs) + len(finished)
    columns = metric_columns(runtime)
    if not jobs:
        _finish(plan, store, records, columns)
        return RunReport(plan, records, 0, len(finished), columns)
    runner = create_executor(executor, workers=workers, address=address, **dict(executor_options or {}))
    kinds = [episode_kind(r) for r in finished]

    def on_result(job: EpisodeJob, outcome: EpisodeOutcome) -> None:
        record = outcome.record
        full = _disk_full(record)
        if full:  # every later episode would fail the same way: stop, and leave this one to --resume
            raise RunStopped(f"episode {job.task.id} {job.config.mode} #{job.attempt} could not write: {full}")
        try:
            store.append_episode(record)
            if outcome.is_error:
                store.append_error({"task": job.task.id, "mode": job.config.mode, "attempt": job.attempt,
                                    "terminated_by": record.get("terminated_by"), "error": record.get("error", ""),
                                    "traceback": outcome.traceback, "trajectory": record.get("trajectory")})
            records.append(record)
            if on_record is not None:
                on_record(job, record)
        except OSError as exc:
            if exc.errno in DISK_FULL_ERRNOS:
                raise RunStopped(f"cannot write {exc.filename or store.dir}: {exc.strerror or exc}") from None
            raise
        progress.update(record)

    progress = RunProgress(total, done=len(finished), successes=kinds.count("success"), errors=kinds.count("error"),
                           console=console, live=live)
    try:
        with progress:
            runner.map(jobs, on_result)
    except BaseException:
        try:  # the matrix of what finished; on a full disk this may fail too, and must not hide why the run stopped
            _finish(plan, store, records, columns)
        except OSError:
            pass
        raise
    else:
        try:
            _finish(plan, store, records, columns)
        except OSError as exc:
            if exc.errno in DISK_FULL_ERRNOS:
                raise RunStopped(f"cannot write the matrix in {store.dir}: {exc.strerror or exc}") from None
            raise
    finally:
        store.close()
    return RunReport(plan, records, len(jobs), len(finished), columns)


def _finish(plan: Mapping[str, Any], store: ResultsStore, records: list[dict[str, Any]],
            columns: tuple[Any, ...] = ()) -> None:
    if plan.get("kind", "eval") == "eval":
        write_matrix(matrix(records, plan.get("modes", {}), columns=columns), store.dir,
                     title=f"HALO eval {plan['run_id']}", columns=columns)
