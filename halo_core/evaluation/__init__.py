"""Evaluation at scale: parallel, resumable runs of many episodes and their metrics.

* :mod:`~halo_core.evaluation.jobs` — :class:`EpisodeJob` (one task × mode × attempt),
  :func:`execute_job` (runs one in the current process, never raises).
* :mod:`~halo_core.evaluation.executors` — where jobs run: :class:`LocalExecutor`
  (worker processes), :class:`RayExecutor`, and :func:`register_executor` for more.
* :mod:`~halo_core.evaluation.metrics` — the runbook's metrics per mode.
* :mod:`~halo_core.evaluation.store` — ``results/<run_id>/`` (run.json, episodes.jsonl, …).
* :mod:`~halo_core.evaluation.runner` — :func:`run_plan`: resume-aware coordination.
* :mod:`~halo_core.evaluation.commands` — ``halo eval``, ``halo rollouts``,
  ``halo verify-exploration`` (a plugin in ``DEFAULT_PLUGINS``; importing registers nothing).
"""

from halo_core.evaluation.executors import (
    Executor,
    LocalExecutor,
    RayExecutor,
    create_executor,
    executor_names,
    register_executor,
)
from halo_core.evaluation.jobs import EpisodeJob, EpisodeOutcome, WorkerState, execute_job, failed_outcome
from halo_core.evaluation.metrics import METRIC_COLUMNS, episode_kind, matrix, summarize
from halo_core.evaluation.runner import RunReport, run_plan
from halo_core.evaluation.store import ResultsStore, read_jsonl

__all__ = [
    "METRIC_COLUMNS", "EpisodeJob", "EpisodeOutcome", "Executor", "LocalExecutor", "RayExecutor", "ResultsStore",
    "RunReport", "WorkerState", "create_executor", "episode_kind", "execute_job", "executor_names", "failed_outcome",
    "matrix", "read_jsonl", "register_executor", "run_plan", "summarize",
]
