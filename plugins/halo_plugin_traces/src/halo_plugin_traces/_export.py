"""``halo traces export``: finished trajectories → a trace file, and optionally a collector.

Formats (``--format``):

``engine`` (default, ``RUN_DIR/traces.jsonl``)
    one span a line with the ``inference.*`` roll-up keys halo-engine indexes
    (:func:`~halo_plugin_traces._spans.engine_record`); screenshots stay paths.
``otlp-json`` (``RUN_DIR/traces.otlp.jsonl``)
    one OTLP/JSON ``ExportTraceServiceRequest`` a line (one trace a line), OpenInference
    attributes only; screenshots as size-capped data URIs by default.

Feedback becomes annotations (``<out>.annotations.jsonl`` beside the file, span events in
OTLP/JSON, Phoenix's span annotations with ``--phoenix-url``), never spans.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Iterable, Iterator

import attrs

from halo_plugin_traces._annotations import feedback_annotation
from halo_plugin_traces._convert import EpisodeTraceBuilder
from halo_plugin_traces._feedback import feedback_for, read_feedback
from halo_plugin_traces._otlp_json import otlp_json_request
from halo_plugin_traces._rundir import EpisodeFiles, RunDir
from halo_plugin_traces._screenshots import ScreenshotEncoder
from halo_plugin_traces._spans import SpanContext, engine_record

__all__ = ["FORMATS", "ExportResult", "episode_spans", "export_run", "redact_value", "span_line", "write_spans"]

FORMATS = ("engine", "otlp-json")
DEFAULT_NAMES = {"engine": "traces.jsonl", "otlp-json": "traces.otlp.jsonl"}


def redact_value(value: Any, secrets: list[str]) -> Any:
    """``value`` with every secret replaced in every string it holds (keys included)."""
    from halo_core.api import redact

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
    from halo_core.api import env_secrets

    return env_secrets()


def json_line(obj: Any, secrets: list[str] | None = None) -> str:
    """One redacted JSON line (with its newline)."""
    from halo_core.api import redact

    secrets = current_secrets() if secrets is None else secrets
    text = json.dumps(redact_value(obj, secrets), ensure_ascii=False, default=str, separators=(",", ":"))
    return redact(text, secrets) + "\n"  # belt and braces: a secret split across an escape is still caught


def span_line(span: dict[str, Any], secrets: list[str] | None = None) -> str:
    """One redacted line of the engine file (with its newline)."""
    return json_line(engine_record(span), secrets)


def episode_spans(episode: EpisodeFiles, ctx: SpanContext, run_id: str) -> list[dict[str, Any]]:
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
    spans.sort(key=lambda s: 0 if not s["parent_span_id"] else 1)  # root first; stable otherwise
    return spans


@attrs.define
class ExportResult:
    path: Path | None
    traces: int
    spans: int
    episodes_without_trajectory: list[tuple[str, str, int]]
    otlp_sent: int = 0
    annotations: int = 0
    annotations_path: Path | None = None
    screenshots_inlined: int = 0
    screenshots_omitted: int = 0


def write_spans(spans: Iterable[dict[str, Any]], out: Path) -> int:
    """Write ``spans`` to ``out`` as an engine file, atomically (temp file + rename); returns the count."""
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


def iter_run_spans(run: RunDir, ctx: SpanContext) -> Iterator[tuple[EpisodeFiles, list[dict[str, Any]],
                                                                    list[dict[str, Any]]]]:
    """(episode, spans, annotations) of ``run``, one episode (one trace) at a time, so big runs
    never sit in memory whole."""
    feedback = read_feedback(run.path)
    for ep in run.episodes():
        notes = [feedback_annotation(r, run_id=run.run_id, mode=ep.mode, task=ep.task, attempt=ep.attempt)
                 for r in feedback_for(feedback, ep.task, ep.mode, ep.attempt)]
        yield ep, episode_spans(ep, ctx, run.run_id), notes


def phoenix_annotation(a: dict[str, Any]) -> dict[str, Any]:
    """An annotation as Phoenix's ``POST /v1/span_annotations`` takes it."""
    return {k: a[k] for k in ("span_id", "name", "annotator_kind", "result", "metadata", "identifier") if a.get(k)}


def post_annotations(base_url: str, annotations: list[dict[str, Any]], *, timeout: float = 10.0,
                     retry_s: float = 30.0) -> int:
    """Send annotations to a Phoenix server's REST API; returns how many it accepted."""
    from halo_plugin_traces._otlp import OtlpUnavailable

    if not annotations:
        return 0
    url = base_url.rstrip("/") + "/v1/span_annotations?sync=true"
    body = json.dumps({"data": [phoenix_annotation(a) for a in annotations]}).encode("utf-8")
    # Phoenix ingests OTLP spans asynchronously: annotations sent right after the spans may
    # name spans it has not stored yet (404 "do not exist"), so that answer is retried briefly
    deadline = time.monotonic() + retry_s
    while True:
        request = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as reply:
                reply.read()
            return len(annotations)
        except (urllib.error.URLError, OSError) as exc:
            detail = exc.read().decode("utf-8", "replace")[:300] if isinstance(exc, urllib.error.HTTPError) else ""
            if getattr(exc, "code", None) == 404 and "not exist" in detail and time.monotonic() < deadline:
                time.sleep(0.5)
                continue
            raise OtlpUnavailable(f"Phoenix at {base_url} refused the span annotations: {exc} {detail}".strip()) from None


def export_run(run_dir: str | os.PathLike, out: str | os.PathLike | None = None, *, project: str = "halo",
               environment: str | None = None, otlp_endpoint: str | None = None,
               data_dir: str | os.PathLike | None = None, write: bool = True,
               otlp_timeout: float = 10.0, fmt: str = "engine", screenshots: str | None = None,
               max_screenshot_kb: float = 256.0, phoenix_url: str | None = None) -> ExportResult:
    """Export every episode of ``run_dir`` as spans to ``out`` (default ``RUN_DIR/traces.jsonl``,
    or ``traces.otlp.jsonl`` for ``fmt="otlp-json"``) and, when asked, to an OTLP/HTTP
    collector (``otlp_endpoint``) or a Phoenix server (``phoenix_url``: spans over OTLP/HTTP,
    feedback as span annotations).

    ``screenshots`` is ``data-uri``, ``file-url``, ``path`` or ``none``; by default the engine
    file keeps paths and OTLP outputs inline data URIs of at most ``max_screenshot_kb``."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown trace format {fmt!r}; use one of {', '.join(FORMATS)}")
    run = RunDir(run_dir, data_dir=data_dir)
    ctx = SpanContext(project=project, environment=environment)
    secrets = current_secrets()
    cap = int(max_screenshot_kb * 1024)
    file_shots = ScreenshotEncoder(screenshots or ("path" if fmt == "engine" else "data-uri"), max_bytes=cap)
    wire_shots = ScreenshotEncoder(screenshots or "data-uri", max_bytes=cap)
    path = (Path(out) if out else run.path / DEFAULT_NAMES[fmt]) if write else None
    endpoint = otlp_endpoint or (phoenix_url.rstrip("/") + "/v1/traces" if phoenix_url else None)
    from halo_plugin_traces._otlp import OtlpSender, OtlpUnavailable

    sender = OtlpSender(endpoint, timeout=otlp_timeout) if endpoint else None
    traces = count = sent = 0
    send_error: Exception | None = None
    notes: list[dict[str, Any]] = []
    tmp = fh = None
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        fh = tmp.open("w", encoding="utf-8")
    try:
        for ep, spans, annotations in iter_run_spans(run, ctx):
            traces += 1
            count += len(spans)
            notes.extend(annotations)
            folder = ep.screenshot_dir
            if fh is not None:
                shown = [file_shots.encode(s, folder) for s in spans]
                if fmt == "engine":
                    fh.write("".join(span_line(s, secrets) for s in shown))
                else:
                    fh.write(json_line(otlp_json_request(shown, annotations), secrets))
            if sender is not None and send_error is None:
                try:
                    sent += sender.send([redact_value(wire_shots.encode(s, folder), secrets) for s in spans])
                except OtlpUnavailable as exc:  # the collector is down: the file is still written whole
                    send_error = exc
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
    notes_path = None
    if notes and path is not None:
        stem = path.name[:-len(".jsonl")] if path.name.endswith(".jsonl") else path.stem
        notes_path = path.with_name(f"{stem}.annotations.jsonl")
        notes_path.write_text("".join(json_line(a, secrets) for a in notes), encoding="utf-8")
    if send_error is not None:
        kept = f"; {path} was written all the same — send it later" if path is not None else ""
        raise OtlpUnavailable(f"{send_error}{kept}") from None
    if phoenix_url:
        post_annotations(phoenix_url, [redact_value(a, secrets) for a in notes], timeout=otlp_timeout)
    missing = [ep.key for ep in run.episodes() if ep.trajectory is None]
    shots = file_shots if path is not None else wire_shots
    return ExportResult(path=path, traces=traces, spans=count, episodes_without_trajectory=missing, otlp_sent=sent,
                        annotations=len(notes), annotations_path=notes_path, screenshots_inlined=shots.inlined,
                        screenshots_omitted=shots.omitted)
