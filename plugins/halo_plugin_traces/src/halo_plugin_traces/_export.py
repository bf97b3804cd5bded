"""``halo traces export``: finished trajectories → one flat span JSONL file."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterable, Iterator

import attrs

from halo_plugin_traces._convert import EpisodeTraceBuilder
from halo_plugin_traces._feedback import feedback_for, read_feedback
from halo_plugin_traces._rundir import EpisodeFiles, RunDir
from halo_plugin_traces._spans import SpanContext

__all__ = ["ExportResult", "episode_spans", "export_run", "redact_value", "span_line", "write_spans"]


def redact_value(value: Any, secrets: list[str]) -> Any:
    """``value`` with every secret replaced in every string it holds (keys included)."""
    from halo_core.builtins.jsonl_logger import redact

    if not secrets:
        return value
    if isinstance(value, str):
        return redact(value, secrets)
    if isinstance(value, dict):
        return {redact_value(k, secrets): redact_value(v, secrets) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_value(v, secrets) for v in value]
    return value


def current_secrets() -> list[str]:
    from halo_core.secrets import env_secrets

    return env_secrets()


def span_line(span: dict[str, Any], secrets: list[str] | None = None) -> str:
    """One redacted JSONL line (with its newline)."""
    from halo_core.builtins.jsonl_logger import redact

    secrets = current_secrets() if secrets is None else secrets
    text = json.dumps(redact_value(span, secrets), ensure_ascii=False, default=str, separators=(",", ":"))
    return redact(text, secrets) + "\n"  # belt and braces: a secret split across an escape is still caught


def episode_spans(episode: EpisodeFiles, ctx: SpanContext, run_id: str,
                  feedback: Iterable[dict[str, Any]] = ()) -> list[dict[str, Any]]:
    """All spans of one episode, the episode (root) span first."""
    builder = EpisodeTraceBuilder(ctx, mode=episode.mode, run_id=run_id, task_id=episode.task,
                                  attempt=episode.attempt)
    if episode.trajectory is not None:
        builder.trajectory_file = episode.trajectory.name
    spans: list[dict[str, Any]] = []
    for event in episode.events:
        spans.extend(builder.feed(event))
    if not builder.started:  # no trajectory: the episode is known only from episodes.jsonl
        r = episode.record
        builder.feed({"type": "episode_start", "run_id": run_id, "mode": episode.mode, "task_id": episode.task,
                      "attempt_idx": episode.attempt, "timestamp": float(r.get("finished_at") or 0.0)
                      - float(r.get("wall_time_sec") or 0.0)})
        if r:
            spans.extend(builder.feed({"type": "episode_end", "success": r.get("success"), "reward": r.get("reward"),
                                       "total_steps": r.get("steps"), "terminated_by": r.get("terminated_by"),
                                       "error": r.get("error"), "usage": r.get("usage"),
                                       "manager_calls": r.get("manager_calls"), "cache_hits": r.get("cache_hits"),
                                       "final_message": r.get("final_message"),
                                       "timestamp": r.get("finished_at")}))
    spans.extend(builder.finish())
    for record in feedback:
        spans.append(builder.feedback(record))
    spans.sort(key=lambda s: 0 if not s["parent_span_id"] else 1)  # root first; stable otherwise
    return spans


@attrs.define
class ExportResult:
    path: Path | None
    traces: int
    spans: int
    episodes_without_trajectory: list[tuple[str, str, int]]
    otlp_sent: int = 0


def write_spans(spans: Iterable[dict[str, Any]], out: Path) -> int:
    """Write ``spans`` to ``out`` atomically (temp file + rename); returns the count."""
    secrets = current_secrets()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    n = 0
    with tmp.open("w", encoding="utf-8") as fh:
        for span in spans:
            fh.write(span_line(span, secrets))
            n += 1
    tmp.replace(out)
    return n


def iter_run_spans(run: RunDir, ctx: SpanContext) -> Iterator[list[dict[str, Any]]]:
    """The spans of ``run``, one episode (one trace) at a time, so big runs never sit in memory whole."""
    feedback = read_feedback(run.path)
    for ep in run.episodes():
        yield episode_spans(ep, ctx, run.run_id, feedback_for(feedback, ep.task, ep.mode, ep.attempt))


def export_run(run_dir: str | os.PathLike, out: str | os.PathLike | None = None, *, project: str = "halo",
               environment: str | None = None, otlp_endpoint: str | None = None,
               data_dir: str | os.PathLike | None = None, write: bool = True,
               otlp_timeout: float = 10.0) -> ExportResult:
    """Export every episode of ``run_dir`` as spans to ``out`` (default ``RUN_DIR/traces.jsonl``)
    and, when ``otlp_endpoint`` is given, to an OTLP/HTTP collector."""
    run = RunDir(run_dir, data_dir=data_dir)
    ctx = SpanContext(project=project, environment=environment)
    secrets = current_secrets()
    path = (Path(out) if out else run.path / "traces.jsonl") if write else None
    sender = None
    if otlp_endpoint:
        from halo_plugin_traces._otlp import OtlpSender

        sender = OtlpSender(otlp_endpoint, timeout=otlp_timeout)
    traces = count = sent = 0
    tmp = None
    fh = None
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        fh = tmp.open("w", encoding="utf-8")
    try:
        for spans in iter_run_spans(run, ctx):
            traces += 1
            count += len(spans)
            if fh is not None:
                fh.write("".join(span_line(s, secrets) for s in spans))
            if sender is not None:
                sent += sender.send([redact_value(s, secrets) for s in spans])
    except BaseException:
        if fh is not None:
            fh.close()
            tmp.unlink(missing_ok=True)
        raise
    finally:
        if sender is not None:
            sender.close()
    if fh is not None:
        fh.close()
        tmp.replace(path)
    missing = [ep.key for ep in run.episodes() if ep.trajectory is None]
    return ExportResult(path=path, traces=traces, spans=count, episodes_without_trajectory=missing, otlp_sent=sent)
