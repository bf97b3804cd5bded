"""Evaluation metrics, per agent mode.

The runbook's definitions, applied to episodes (one task × mode × attempt each):

``episodes``
    Episodes that finished (any outcome).
``valid_tasks``
    Episodes that ran without an init or agent error *and* could be scored.
``init_or_agent_errors``
    Episodes that ended with ``terminated_by`` ``init_error`` or ``error``
    (environment failed to start, browser died, a plugin or model call failed,
    the worker process crashed).
``unscorable``
    Episodes that ran without error but whose environment could not score them
    (``EpisodeResult.scorable`` false). Reported on their own: neither a success,
    a failure, nor an error.
``successes`` / ``failures``
    Valid episodes with reward > 0 / reward = 0.
``success_rate``
    successes / valid_tasks (empty when there are no valid episodes).
``median_steps`` / ``median_wall_time``
    Medians over all valid episodes (successes and failures alike).

HALO's own additions, over valid episodes unless said otherwise:

``manager_call_rate``
    manager calls / steps.
``cache_hit_rate``
    VAC hits / VAC lookups (hits + misses): how often the cache answered when it
    was asked. Empty when the cache was never consulted.
``cache_hits_per_step``
    VAC hits / steps: the share of all steps the cache decided.
``macro_steps``
    Total steps replayed by macro skills.
``model_calls_per_task``, ``tokens_in_per_task``, ``tokens_out_per_task``, ``cost_per_task``
    Model usage per episode, averaged over *all* episodes, errors included
    (a failed episode still spent its calls).
``tasks`` / ``tasks_solved``
    Distinct tasks, and distinct tasks solved in at least one attempt (pass@k).
"""

from __future__ import annotations

import csv
import io
import statistics
from pathlib import Path
from typing import Any, Iterable, Mapping

import attrs

from halo_core.evaluation.jobs import ERROR_ENDINGS
from halo_core.model import EpisodeResult

__all__ = ["METRIC_COLUMNS", "episode_kind", "matrix", "matrix_csv", "matrix_markdown", "summarize"]

METRIC_COLUMNS: tuple[str, ...] = (
    "mode", "episodes", "valid_tasks", "init_or_agent_errors", "unscorable", "successes", "failures",
    "success_rate", "median_steps", "median_wall_time", "manager_call_rate", "cache_hit_rate",
    "cache_hits_per_step", "macro_steps", "model_calls_per_task", "tokens_in_per_task", "tokens_out_per_task",
    "cost_per_task", "tasks", "tasks_solved",
)


def _as_record(item: Mapping[str, Any] | EpisodeResult) -> Mapping[str, Any]:
    if isinstance(item, EpisodeResult):
        return {
            "task": item.task_id, "reward": item.reward, "steps": item.steps, "wall_time_sec": item.wall_time_sec,
            "terminated_by": item.terminated_by, "scorable": item.scorable, "usage": attrs.asdict(item.usage),
            "manager_calls": item.manager_calls, "cache_hits": item.cache_hits, "cache_misses": item.cache_misses,
            "macro_steps": item.macro_steps,
        }
    return item


def episode_kind(item: Mapping[str, Any] | EpisodeResult) -> str:
    """``error``, ``unscorable``, ``success`` or ``failure``."""
    r = _as_record(item)
    if r.get("terminated_by") in ERROR_ENDINGS:
        return "error"
    if not r.get("scorable", True):
        return "unscorable"
    return "success" if float(r.get("reward", 0.0)) > 0 else "failure"


def _ratio(num: float, den: float) -> float | None:
    return num / den if den else None


def summarize(items: Iterable[Mapping[str, Any] | EpisodeResult], mode: str = "") -> dict[str, Any]:
    """The metrics of one group of episodes (usually one mode). See the module docstring."""
    records = [_as_record(i) for i in items]
    kinds = [episode_kind(r) for r in records]
    valid = [r for r, k in zip(records, kinds) if k in ("success", "failure")]
    successes = kinds.count("success")
    steps = sum(int(r.get("steps", 0)) for r in valid)
    hits = sum(int(r.get("cache_hits", 0)) for r in valid)
    lookups = hits + sum(int(r.get("cache_misses", 0)) for r in valid)
    n = len(records)
    usage = [r.get("usage") or {} for r in records]
    return {
        "mode": mode,
        "episodes": n,
        "valid_tasks": len(valid),
        "init_or_agent_errors": kinds.count("error"),
        "unscorable": kinds.count("unscorable"),
        "successes": successes,
        "failures": kinds.count("failure"),
        "success_rate": _ratio(successes, len(valid)),
        "median_steps": statistics.median(int(r.get("steps", 0)) for r in valid) if valid else None,
        "median_wall_time": statistics.median(float(r.get("wall_time_sec", 0.0)) for r in valid) if valid else None,
        "manager_call_rate": _ratio(sum(int(r.get("manager_calls", 0)) for r in valid), steps),
        "cache_hit_rate": _ratio(hits, lookups),
        "cache_hits_per_step": _ratio(hits, steps),
        "macro_steps": sum(int(r.get("macro_steps", 0)) for r in valid),
        "model_calls_per_task": _ratio(sum(int(u.get("calls", 0)) for u in usage), n),
        "tokens_in_per_task": _ratio(sum(int(u.get("tokens_in", 0)) for u in usage), n),
        "tokens_out_per_task": _ratio(sum(int(u.get("tokens_out", 0)) for u in usage), n),
        "cost_per_task": _ratio(sum(float(u.get("cost", 0.0)) for u in usage), n),
        "tasks": len({r.get("task") for r in records}),
        "tasks_solved": len({r.get("task") for r, k in zip(records, kinds) if k == "success"}),
    }


def matrix(records: Iterable[Mapping[str, Any]], modes: Iterable[str] = ()) -> list[dict[str, Any]]:
    """One :func:`summarize` row per mode: ``modes`` first, in order, then any others seen."""
    by_mode: dict[str, list[Mapping[str, Any]]] = {m: [] for m in modes}
    for r in records:
        by_mode.setdefault(str(r.get("mode", "")), []).append(r)
    return [summarize(rs, mode) for mode, rs in by_mode.items()]


def _fmt(column: str, value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        if column in ("success_rate", "manager_call_rate", "cache_hit_rate", "cache_hits_per_step"):
            return f"{value:.3f}"
        if column == "cost_per_task":
            return f"{value:.4f}"
        return f"{value:.2f}" if value != int(value) else str(int(value))
    return str(value)


def matrix_csv(rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(METRIC_COLUMNS), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in METRIC_COLUMNS})
    return out.getvalue()


def matrix_markdown(rows: list[dict[str, Any]], *, title: str = "") -> str:
    lines = [f"# {title}", ""] if title else []
    lines.append("| " + " | ".join(METRIC_COLUMNS) + " |")
    lines.append("|" + "|".join("---" if c == "mode" else "---:" for c in METRIC_COLUMNS) + "|")
    for row in rows:
        lines.append("| " + " | ".join(_fmt(c, row.get(c)) for c in METRIC_COLUMNS) + " |")
    lines += ["", "valid_tasks excludes init/agent errors and unscorable episodes; success_rate = successes / "
              "valid_tasks; medians over valid episodes; cache_hit_rate = VAC hits / VAC lookups; "
              "usage columns are means over all episodes. Empty cell: not defined (no denominator).", ""]
    return "\n".join(lines)


def write_matrix(rows: list[dict[str, Any]], directory: Path, *, title: str = "") -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    csv_path, md_path = directory / "matrix.csv", directory / "matrix.md"
    _atomic_write(csv_path, matrix_csv(rows))
    _atomic_write(md_path, matrix_markdown(rows, title=title))
    return csv_path, md_path


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
