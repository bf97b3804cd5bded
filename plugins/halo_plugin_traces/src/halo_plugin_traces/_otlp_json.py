"""Spans → OTLP/JSON (``ExportTraceServiceRequest``), the encoding OTLP/HTTP JSON and the
OTLP file exporter use: protobuf's JSON mapping with lowerCamelCase names, 64-bit
integers as strings, enums as integers and — OTLP's one deviation from protobuf's
mapping — trace and span ids as hex, not base64.

``halo traces export --format otlp-json`` writes one request per line (one trace per
line), so a collector's file receiver or ``google.protobuf.json_format`` reads the file
line by line. Annotations (feedback) ride as events of the span they annotate.
"""

from __future__ import annotations

import json
from typing import Any, Iterable, Mapping

from halo_plugin_traces._spans import parse_rfc3339_ns

__all__ = ["KIND_NUMBERS", "STATUS_NUMBERS", "any_value", "otlp_json_request"]

KIND_NUMBERS = {"SPAN_KIND_UNSPECIFIED": 0, "SPAN_KIND_INTERNAL": 1, "SPAN_KIND_SERVER": 2, "SPAN_KIND_CLIENT": 3,
                "SPAN_KIND_PRODUCER": 4, "SPAN_KIND_CONSUMER": 5}
STATUS_NUMBERS = {"STATUS_CODE_UNSET": 0, "STATUS_CODE_OK": 1, "STATUS_CODE_ERROR": 2}


def any_value(value: Any) -> dict[str, Any]:
    """An OTLP ``AnyValue`` in JSON. ``bool`` is tested before ``int`` (it is one in Python)."""
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    if isinstance(value, (list, tuple)):
        return {"arrayValue": {"values": [any_value(v) for v in value]}}
    if isinstance(value, Mapping):
        return {"kvlistValue": {"values": _attributes(value)}}
    return {"stringValue": str(value)}


def _attributes(attrs: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [{"key": k, "value": any_value(v)} for k, v in attrs.items() if v is not None]


def _event(annotation: Mapping[str, Any]) -> dict[str, Any]:
    result = annotation.get("result") or {}
    meta = annotation.get("metadata") or {}
    attrs = {"halo.annotation.name": annotation.get("name"),
             "halo.annotation.annotator_kind": annotation.get("annotator_kind"),
             "halo.annotation.identifier": annotation.get("identifier") or None,
             "halo.annotation.label": result.get("label"), "halo.annotation.score": result.get("score"),
             "halo.annotation.explanation": result.get("explanation") or None}
    for key, value in meta.items():
        if isinstance(value, (str, int, float, bool)) or (isinstance(value, list) and value
                                                           and all(isinstance(v, str) for v in value)):
            attrs[f"halo.annotation.{key}"] = value
    return {"timeUnixNano": str(int(float(annotation.get("timestamp") or 0.0) * 1e9)), "name": "halo.feedback",
            "attributes": _attributes(attrs)}


def _span(s: Mapping[str, Any], events: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "traceId": s["trace_id"], "spanId": s["span_id"], "name": s["name"],
        "kind": KIND_NUMBERS.get(s["kind"], 1),
        "startTimeUnixNano": str(parse_rfc3339_ns(s["start_time"])),
        "endTimeUnixNano": str(parse_rfc3339_ns(s["end_time"])),
        "attributes": _attributes(s["attributes"]),
        "status": {"code": STATUS_NUMBERS.get(s["status"]["code"], 0)},
    }
    if s.get("parent_span_id"):
        out["parentSpanId"] = s["parent_span_id"]
    if s.get("trace_state"):
        out["traceState"] = s["trace_state"]
    if s["status"].get("message"):
        out["status"]["message"] = s["status"]["message"]
    if events:
        out["events"] = events
    return out


def otlp_json_request(spans: Iterable[Mapping[str, Any]],
                      annotations: Iterable[Mapping[str, Any]] = ()) -> dict[str, Any]:
    """One ``ExportTraceServiceRequest`` for ``spans``, grouped by resource and scope."""
    events: dict[str, list[dict[str, Any]]] = {}
    for a in annotations:
        events.setdefault(str(a["span_id"]), []).append(_event(a))
    groups: dict[str, dict[str, Any]] = {}
    for s in spans:
        rkey = json.dumps(s["resource"]["attributes"], sort_keys=True)
        skey = json.dumps(s["scope"], sort_keys=True)
        resource = groups.setdefault(rkey, {"resource": {"attributes": _attributes(s["resource"]["attributes"])},
                                            "scopes": {}})
        scope = resource["scopes"].setdefault(skey, {"scope": {k: v for k, v in s["scope"].items() if v},
                                                     "spans": []})
        scope["spans"].append(_span(s, events.get(s["span_id"], [])))
    return {"resourceSpans": [{"resource": g["resource"], "scopeSpans": list(g["scopes"].values())}
                              for g in groups.values()]}
