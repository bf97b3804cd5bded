"""One span: OpenInference attributes on OTLP's span fields, and the two files made of it.

A span is a dict with OTLP's top-level fields (ids as lowercase hex, RFC 3339
timestamps with nanoseconds, ``STATUS_CODE_*`` / ``SPAN_KIND_*`` enums as strings), a
resource and scope block, and flat ``attributes`` that hold only OpenInference keys
(``openinference.span.kind``, ``llm.*``, ``tool.*``, ``retrieval.*``, ``input.*``,
``output.*``, ``session.id``, ``metadata``, ``tag.tags``) and HALO's own keys under
``halo.``. No attribute is ever null: OTLP has no null value and its JSON parser
rejects one.

Two encodings are written from it:

* the *engine file* (:func:`engine_record`): the span as one JSONL line plus the
  ``inference.*`` roll-up keys that halo-engine's ``TraceIndexBuilder`` indexes (model,
  tokens, agent, project). These keys are derived here from the OpenInference ones
  and appear only in that file, never on OTLP.
* OTLP/JSON (:mod:`halo_plugin_traces._otlp_json`), and OTLP/HTTP protobuf
  (:mod:`halo_plugin_traces._otlp`), which carry the span as it is.

Ids are derived from the episode's identity and the span's path inside it (never
random), so exporting the same trajectory twice, or streaming it live and exporting
it later, gives byte-identical spans.
"""

from __future__ import annotations

import hashlib
import json
import os
from datetime import datetime, timezone
from typing import Any, Mapping

__all__ = ["EXPORT_SCHEMA_VERSION", "SpanContext", "engine_record", "make_span", "rfc3339_ns", "span_id_for",
           "trace_id_for"]

#: Same value as the ``inference.export.schema_version`` HALO engine's own exporter writes.
EXPORT_SCHEMA_VERSION = 1

OTEL_KIND_BY_OPENINFERENCE = {"LLM": "SPAN_KIND_CLIENT"}


def _hex(text: str, chars: int) -> str:
    value = hashlib.sha256(text.encode("utf-8")).hexdigest()[:chars]
    # An all-zero id is invalid in OTLP; vanishingly unlikely, but never emit one.
    return value if value.strip("0") else "1".rjust(chars, "0")


def trace_id_for(run_id: str, mode: str, task_id: str, attempt: int) -> str:
    """The 32-hex trace id of one episode (one trace per task × mode × attempt of a run)."""
    return _hex(f"halo-trace|{run_id}|{mode}|{task_id}|{attempt}", 32)


def span_id_for(trace_id: str, path: str) -> str:
    """The 16-hex id of the span at ``path`` (e.g. ``step/3/tool``) inside a trace."""
    return _hex(f"halo-span|{trace_id}|{path}", 16)


def rfc3339_ns(ns: int) -> str:
    """``2024-05-01T12:00:00.123456789Z`` from nanoseconds since the epoch."""
    seconds, frac = divmod(int(ns), 1_000_000_000)
    stamp = datetime.fromtimestamp(seconds, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{frac:09d}Z"


def seconds_to_ns(seconds: float) -> int:
    return int(round(float(seconds) * 1e9))


class SpanContext:
    """What every span of one export shares: resource, scope and project."""

    def __init__(self, *, project: str = "halo", service_name: str = "halo", service_version: str = "",
                 environment: str | None = None, scope_version: str = "") -> None:
        from halo_plugin_traces import __version__

        if not service_version:
            try:
                from halo_core import __version__ as core_version
            except ImportError:  # pragma: no cover - halo-core is a dependency
                core_version = ""
            service_version = core_version
        self.project = project
        self.resource = {
            "openinference.project.name": project,
            "service.name": service_name,
            "service.version": service_version,
            "deployment.environment": environment or os.environ.get("HALO_TRACES_ENVIRONMENT", "local"),
        }
        self.scope = {"name": "halo_plugin_traces", "version": scope_version or __version__}


def _clean(value: Any) -> Any:
    """Attribute values are OTLP scalars or homogeneous lists of scalars; ``None`` and empty
    lists are dropped (returned as None); anything else becomes JSON text."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, (list, tuple)):
        items = [v for v in value if v is not None]
        if not items:
            return None
        if all(isinstance(v, (str, bool, int, float)) for v in items) and len({type(v) for v in items}) == 1:
            return items
    return json.dumps(value, ensure_ascii=False, default=str, sort_keys=True)


def make_span(ctx: SpanContext, *, trace_id: str, path: str, parent_path: str | None, name: str,
              kind: str, start_ns: int, end_ns: int, attributes: Mapping[str, Any],
              status: str = "OK", status_message: str = "",
              context: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """One span. ``kind`` is the OpenInference span kind (AGENT, CHAIN, LLM, TOOL, …);
    ``context`` holds the attributes every span of the episode carries (``session.id``,
    ``metadata``, ``tag.tags``), as OpenInference's context attributes do."""
    attrs: dict[str, Any] = {"openinference.span.kind": kind}
    for key, value in {**(context or {}), **attributes}.items():
        cleaned = _clean(value)
        if cleaned is not None:
            attrs[key] = cleaned
    end_ns = max(int(end_ns), int(start_ns))
    return {
        "trace_id": trace_id,
        "span_id": span_id_for(trace_id, path),
        "parent_span_id": span_id_for(trace_id, parent_path) if parent_path is not None else "",
        "trace_state": "",
        "name": name,
        "kind": OTEL_KIND_BY_OPENINFERENCE.get(kind, "SPAN_KIND_INTERNAL"),
        "start_time": rfc3339_ns(start_ns),
        "end_time": rfc3339_ns(end_ns),
        "status": {"code": f"STATUS_CODE_{status}", "message": status_message if status == "ERROR" else ""},
        "resource": {"attributes": dict(ctx.resource)},
        "scope": dict(ctx.scope),
        "attributes": attrs,
    }


def engine_record(span: Mapping[str, Any]) -> dict[str, Any]:
    """``span`` with the ``inference.*`` roll-up keys halo-engine indexes, derived from its
    OpenInference attributes (never sent over OTLP)."""
    a = span["attributes"]
    try:
        meta = json.loads(a.get("metadata") or "{}")
    except ValueError:
        meta = {}
    derived = {
        "inference.export.schema_version": EXPORT_SCHEMA_VERSION,
        "inference.project_id": span["resource"]["attributes"].get("openinference.project.name"),
        "inference.observation_kind": a.get("openinference.span.kind"),
        "inference.llm.provider": a.get("llm.provider"),
        "inference.llm.model_name": a.get("llm.model_name"),
        "inference.llm.input_tokens": a.get("llm.token_count.prompt"),
        "inference.llm.output_tokens": a.get("llm.token_count.completion"),
        "inference.llm.cost.total": a.get("llm.cost.total"),
        "inference.session_id": a.get("session.id"),
        "inference.agent_name": meta.get("agent") if isinstance(meta, dict) else None,
    }
    return {**span, "attributes": {**a, **{k: v for k, v in derived.items() if v is not None}}}


def parse_rfc3339_ns(text: str) -> int:
    """Nanoseconds since the epoch from :func:`rfc3339_ns` output."""
    stamp, _, frac = text.rstrip("Z").partition(".")
    seconds = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc).timestamp()
    return int(seconds) * 1_000_000_000 + int((frac or "0").ljust(9, "0")[:9])
