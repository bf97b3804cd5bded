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

HALO's own additions:

``policy``
    The policy that decided (``worker`` is the model; ``expert``, … are plugins).
``manager_call_rate``
    manager calls / steps, over valid episodes.
``model_calls_per_task``, ``tokens_in_per_task``, ``tokens_out_per_task``, ``cost_per_task``
    Model usage per episode, averaged over *all* episodes, errors included
    (a failed episode still spent its calls).
``tasks`` / ``tasks_solved``
    Distinct tasks, and distinct tasks solved in at least one attempt (pass@k).

Plugins add columns (``halo_register_metrics``), computed over the valid episodes'
records, whose ``counters`` hold what the plugins counted (e.g. cache hits); they
follow the core columns in the tables.
"""

from __future__ import annotations

import csv
import io
import statistics
from pathlib import Path
from typing import Any, Iterable, Mapping

from halo_core.evaluation.jobs import ERROR_ENDINGS, result_fields
from halo_core.model import EpisodeResult

__all__ = ["METRIC_COLUMNS", "describe_config", "episode_kind", "matrix", "matrix_csv", "matrix_markdown",
           "metric_columns", "summarize"]

#: The core's columns; plugin columns (:func:`metric_columns`) follow them.
METRIC_COLUMNS: tuple[str, ...] = (
    "mode", "policy", "episodes", "valid_tasks", "init_or_agent_errors", "unscorable", "successes", "failures",
    "success_rate", "median_steps", "median_wall_time", "manager_call_rate", "model_calls_per_task",
    "tokens_in_per_task", "tokens_out_per_task", "cost_per_task", "tasks", "tasks_solved",
)
_RATES = {"success_rate", "manager_call_rate"}


def metric_columns(runtime=None) -> tuple[Any, ...]:
    """The plugins' :class:`~halo_core.runtime.MetricColumn` objects (none without a runtime)."""
    if runtime is None:
        return ()
    return tuple(runtime.metrics.columns.values())


def describe_config(config: Mapping[str, Any] | Any) -> str:
    """One line saying who decides in a mode: the policy, and the models only when a model decides."""
    c = config if isinstance(config, Mapping) else config.to_dict()
    policy = c.get("policy", "worker")
    manager = f", manager {c.get('manager_backend')}" if c.get("use_manager") and c.get("manager_backend") else ""
    if policy == "worker":
        return f"policy worker: model {c.get('worker_backend')}{manager}"
    return f"policy {policy} (no worker model){manager}"


def _as_record(item: Mapping[str, Any] | EpisodeResult) -> Mapping[str, Any]:
    if isinstance(item, EpisodeResult):
        return {"task": item.task_id, **result_fields(item)}
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


def summarize(items: Iterable[Mapping[str, Any] | EpisodeResult], mode: str = "", *,
              columns: Iterable[Any] = (), policy: str | None = None) -> dict[str, Any]:
    """The metrics of one group of episodes (usually one mode). See the module docstring.

    ``columns``: plugin :class:`~halo_core.runtime.MetricColumn` objects, each computed over
    the valid episodes' records (a column that raises is left empty, not fatal).
    """
    records = [_as_record(i) for i in items]
    kinds = [episode_kind(r) for r in records]
    valid = [r for r, k in zip(records, kinds) if k in ("success", "failure")]
    successes = kinds.count("success")
    steps = sum(int(r.get("steps", 0)) for r in valid)
    n = len(records)
    usage = [r.get("usage") or {} for r in records]
    if policy is None:
        policy = ", ".join(sorted({str(r.get("policy")) for r in records if r.get("policy")}))
    row = {
        "mode": mode,
        "policy": policy,
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
        "model_calls_per_task": _ratio(sum(int(u.get("calls", 0)) for u in usage), n),
        "tokens_in_per_task": _ratio(sum(int(u.get("tokens_in", 0)) for u in usage), n),
        "tokens_out_per_task": _ratio(sum(int(u.get("tokens_out", 0)) for u in usage), n),
        "cost_per_task": _ratio(sum(float(u.get("cost", 0.0)) for u in usage), n),
        "tasks": len({r.get("task") for r in records}),
        "tasks_solved": len({r.get("task") for r, k in zip(records, kinds) if k == "success"}),
    }
    for column in columns:
        try:
            row[column.name] = column.compute(list(valid))
        except Exception:  # noqa: BLE001 - one plugin's broken column must not lose the run's table
            row[column.name] = None
    return row


def matrix(records: Iterable[Mapping[str, Any]], modes: Iterable[str] | Mapping[str, Any] = (), *,
           columns: Iterable[Any] = ()) -> list[dict[str, Any]]:
    """One :func:`summarize` row per mode: ``modes`` first, in order, then any others seen.

    ``modes`` may map names to config dicts (a plan's ``modes``): rows then name each
    mode's policy and carry its ``description`` even before an episode finished.
    """
    columns = tuple(columns)
    configs = modes if isinstance(modes, Mapping) else {}
    by_mode: dict[str, list[Mapping[str, Any]]] = {m: [] for m in modes}
    for r in records:
        by_mode.setdefault(str(r.get("mode", "")), []).append(r)
    rows = []
    for mode, rs in by_mode.items():
        config = configs.get(mode)
        row = summarize(rs, mode, columns=columns, policy=config.get("policy") if config else None)
        if config:
            row["description"] = describe_config(config)
        rows.append(row)
    return rows


def table_columns(columns: Iterable[Any] = ()) -> tuple[str, ...]:
    """The core columns, then the plugins' (by name)."""
    return METRIC_COLUMNS + tuple(c.name for c in columns if c.name not in METRIC_COLUMNS)


def _fmt(column: str, value: Any, percent: Iterable[str] = ()) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        if column in _RATES or column in percent:
            return f"{value:.3f}"
        if column == "cost_per_task":
            return f"{value:.4f}"
        return f"{value:.2f}" if value != int(value) else str(int(value))
    return str(value)


def matrix_csv(rows: list[dict[str, Any]], columns: Iterable[Any] = ()) -> str:
    names = table_columns(columns)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(names), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in names})
    return out.getvalue()


def matrix_markdown(rows: list[dict[str, Any]], *, title: str = "", columns: Iterable[Any] = ()) -> str:
    columns = tuple(columns)
    names = table_columns(columns)
    percent = {c.name for c in columns if c.percent}
    lines = [f"# {title}", ""] if title else []
    lines.append("| " + " | ".join(names) + " |")
    lines.append("|" + "|".join("---" if c in ("mode", "policy") else "---:" for c in names) + "|")
    for row in rows:
        lines.append("| " + " | ".join(_fmt(c, row.get(c), percent) for c in names) + " |")
    lines += ["", "valid_tasks excludes init/agent errors and unscorable episodes; success_rate = successes / "
              "valid_tasks; medians over valid episodes; usage columns are means over all episodes. "
              "Empty cell: not defined (no denominator).", ""]
    described = [row for row in rows if row.get("description")]
    if described:
        lines += ["Modes:", ""] + [f"- {row['mode']}: {row['description']}" for row in described] + [""]
    explained = [c for c in columns if c.description]
    if explained:
        lines += ["Plugin columns:", ""] + [f"- {c.name} ({c.plugin or 'plugin'}): {c.description}"
                                           for c in explained] + [""]
    return "\n".join(lines)


def write_matrix(rows: list[dict[str, Any]], directory: Path, *, title: str = "",
                 columns: Iterable[Any] = ()) -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    csv_path, md_path = directory / "matrix.csv", directory / "matrix.md"
    _atomic_write(csv_path, matrix_csv(rows, columns))
    _atomic_write(md_path, matrix_markdown(rows, title=title, columns=columns))
    return csv_path, md_path


def _atomic_write(path: Path, text: str) -> None:
    from halo_core.evaluation.store import atomic_write_text

    atomic_write_text(path, text)
