"""Send exported spans to an OTLP/HTTP collector through the OpenTelemetry SDK.

Optional: needs the ``[otlp]`` extra (``opentelemetry-sdk`` and
``opentelemetry-exporter-otlp-proto-http``). The spans keep the ids and times of
the JSONL export, so the collector and the file agree span for span.
"""

from __future__ import annotations

from typing import Any, Iterable

from halo_plugin_traces._spans import parse_rfc3339_ns

__all__ = ["OtlpSender", "OtlpUnavailable", "send_otlp", "traces_url"]


class OtlpUnavailable(RuntimeError):
    """The OpenTelemetry SDK or its OTLP/HTTP exporter is not installed, or the export failed."""


def traces_url(endpoint: str) -> str:
    """``http://host:4318`` → ``http://host:4318/v1/traces`` (a full ``/v1/traces`` URL is kept)."""
    endpoint = endpoint.rstrip("/")
    return endpoint if endpoint.endswith("/v1/traces") else endpoint + "/v1/traces"


class OtlpSender:
    """One OTLP/HTTP exporter for a whole export; :meth:`send` a batch of flat span dicts at a time."""

    def __init__(self, endpoint: str, *, timeout: float = 10.0, batch: int = 512) -> None:
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
            from opentelemetry.sdk.resources import Resource
            from opentelemetry.sdk.trace import ReadableSpan
            from opentelemetry.sdk.trace.export import SpanExportResult
            from opentelemetry.sdk.util.instrumentation import InstrumentationScope
            from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags
        except ImportError as exc:
            raise OtlpUnavailable("OTLP export needs the [otlp] extra: pip install 'halo-plugin-traces[otlp]' "
                                  f"({exc})") from None
        self._t = dict(Resource=Resource, ReadableSpan=ReadableSpan, InstrumentationScope=InstrumentationScope,
                       SpanContext=SpanContext, Status=Status, StatusCode=StatusCode, TraceFlags=TraceFlags)
        self._kinds = {"SPAN_KIND_CLIENT": SpanKind.CLIENT, "SPAN_KIND_SERVER": SpanKind.SERVER,
                       "SPAN_KIND_PRODUCER": SpanKind.PRODUCER, "SPAN_KIND_CONSUMER": SpanKind.CONSUMER,
                       "SPAN_KIND_INTERNAL": SpanKind.INTERNAL}
        self._codes = {"STATUS_CODE_OK": StatusCode.OK, "STATUS_CODE_ERROR": StatusCode.ERROR}
        self._success = SpanExportResult.SUCCESS
        self._resources: dict[tuple, Any] = {}
        self._scopes: dict[tuple, Any] = {}
        self.endpoint = traces_url(endpoint)
        self.batch = batch
        self.sent = 0
        self._exporter = OTLPSpanExporter(endpoint=self.endpoint, timeout=timeout)

    def _convert(self, s: dict[str, Any]) -> Any:
        t = self._t
        flags = t["TraceFlags"](t["TraceFlags"].SAMPLED)
        trace_id = int(s["trace_id"], 16)
        ctx = t["SpanContext"](trace_id=trace_id, span_id=int(s["span_id"], 16), is_remote=False, trace_flags=flags)
        parent = None
        if s.get("parent_span_id"):
            parent = t["SpanContext"](trace_id=trace_id, span_id=int(s["parent_span_id"], 16), is_remote=False,
                                      trace_flags=flags)
        res_attrs = s["resource"]["attributes"]
        rkey = tuple(sorted(res_attrs.items()))
        if rkey not in self._resources:
            self._resources[rkey] = t["Resource"](dict(res_attrs))
        skey = (s["scope"]["name"], s["scope"].get("version", ""))
        if skey not in self._scopes:
            self._scopes[skey] = t["InstrumentationScope"](*skey)
        code = self._codes.get(s["status"]["code"], t["StatusCode"].UNSET)
        status = (t["Status"](code, s["status"].get("message") or None) if code is t["StatusCode"].ERROR
                  else t["Status"](code))
        attributes = {k: v for k, v in s["attributes"].items() if v is not None}
        return t["ReadableSpan"](name=s["name"], context=ctx, parent=parent, resource=self._resources[rkey],
                                 attributes=attributes, kind=self._kinds.get(s["kind"]), status=status,
                                 start_time=parse_rfc3339_ns(s["start_time"]),
                                 end_time=parse_rfc3339_ns(s["end_time"]), instrumentation_scope=self._scopes[skey])

    def send(self, spans: Iterable[dict[str, Any]]) -> int:
        """Export ``spans``; raises :class:`OtlpUnavailable` when the collector does not accept them."""
        converted = [self._convert(s) for s in spans]
        for i in range(0, len(converted), self.batch):
            chunk = converted[i:i + self.batch]
            if self._exporter.export(chunk) is not self._success:
                raise OtlpUnavailable(f"the OTLP collector at {self.endpoint} did not accept {len(chunk)} spans")
            self.sent += len(chunk)
        return len(converted)

    def close(self) -> None:
        self._exporter.shutdown()


def send_otlp(spans: Iterable[dict[str, Any]], endpoint: str, *, timeout: float = 10.0) -> int:
    """Export ``spans`` (flat span dicts) to ``endpoint`` in one go; returns how many were accepted."""
    sender = OtlpSender(endpoint, timeout=timeout)
    try:
        return sender.send(spans)
    finally:
        sender.close()
