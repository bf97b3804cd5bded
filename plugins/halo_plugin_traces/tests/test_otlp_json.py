"""``--format otlp-json``: every line parses with OpenTelemetry's own protobuf definitions."""

from __future__ import annotations

import base64
import json

from click.testing import CliRunner
from google.protobuf.json_format import MessageToDict, Parse
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from halo_core.cli import cli
from halo_plugin_traces import add_feedback, trace_id_for
from halo_plugin_traces._spans import span_id_for

ID_FIELDS = ("traceId", "spanId", "parentSpanId")


def as_proto3_json(node):
    """OTLP/JSON writes ids as hex where protobuf's own JSON mapping expects base64 — the one
    documented deviation; undo it so ``json_format.Parse`` reads the rest strictly."""
    if isinstance(node, dict):
        return {k: base64.b64encode(bytes.fromhex(v)).decode() if k in ID_FIELDS else as_proto3_json(v)
                for k, v in node.items()}
    if isinstance(node, list):
        return [as_proto3_json(v) for v in node]
    return node


def _value(v):
    kind = v.WhichOneof("value")
    return [_value(x) for x in v.array_value.values] if kind == "array_value" else getattr(v, kind)


def test_otlp_json_file_parses_as_export_trace_service_requests(run_copy, secret_env, tmp_path):
    run_dir = run_copy["results_dir"]
    add_feedback(run_dir, task="graph.shop-buy", attempt=0, mode="hierarchy_mgr_gate", text="good recovery",
                 required=["recover from the failed click"])
    out = tmp_path / "traces.otlp.jsonl"
    result = CliRunner().invoke(cli, ["traces", "export", str(run_dir), "--format", "otlp-json", "--out", str(out),
                                      "--project", "shop-evals", "--max-screenshot-kb", "64"])
    assert result.exit_code == 0, result.output
    assert "screenshots inlined" in result.output
    lines = out.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 4  # one request (one trace) a line
    spans = []
    for line in lines:
        raw = json.loads(line)
        request = Parse(json.dumps(as_proto3_json(raw)), ExportTraceServiceRequest())  # strict: unknown fields fail
        assert MessageToDict(request)  # not empty
        for rs in request.resource_spans:
            resource = {a.key: _value(a.value) for a in rs.resource.attributes}
            assert resource["openinference.project.name"] == "shop-evals"
            for ss in rs.scope_spans:
                spans.extend(ss.spans)
    assert len({s.trace_id for s in spans}) == 4
    assert all(len(s.trace_id) == 16 and len(s.span_id) == 8 for s in spans)
    llm = 0
    for span in spans:
        attrs = {a.key: _value(a.value) for a in span.attributes}
        assert not [k for k in attrs if k.startswith(("inference.", "eval.", "guardrail."))]
        assert attrs["session.id"] == "eval_traces_test" and json.loads(attrs["metadata"])["task_id"]
        assert span.end_time_unix_nano >= span.start_time_unix_nano > 0
        if attrs["openinference.span.kind"] == "LLM":
            llm += 1
            assert span.kind == 3  # CLIENT
            assert attrs["llm.input_messages.1.message.role"] == "user"
            assert attrs["llm.output_messages.0.message.content"]
            assert "llm.input_messages" not in attrs
            image = attrs["llm.input_messages.1.message.contents.1.message_content.image.image.url"]
            assert image.startswith("data:image/png;base64,")
            assert base64.b64decode(image.split(",", 1)[1]).startswith(b"\x89PNG")
    assert llm
    trace = trace_id_for("eval_traces_test", "hierarchy_mgr_gate", "graph.shop-buy", 0)
    root = next(s for s in spans if s.trace_id.hex() == trace and not s.parent_span_id)
    assert root.span_id.hex() == span_id_for(trace, "episode")
    [event] = root.events
    notes = {a.key: _value(a.value) for a in event.attributes}
    assert event.name == "halo.feedback" and notes["halo.annotation.annotator_kind"] == "HUMAN"
    assert notes["halo.annotation.required"] == ["recover from the failed click"]
    assert secret_env not in out.read_text()


def test_oversized_screenshots_are_left_out_with_a_reason(traced_run, tmp_path):
    out = tmp_path / "t.otlp.jsonl"
    result = CliRunner().invoke(cli, ["traces", "export", str(traced_run["results_dir"]), "--format", "otlp-json",
                                      "--out", str(out), "--max-screenshot-kb", "0.01"])
    assert result.exit_code == 0, result.output
    assert "left out" in result.output
    text = out.read_text()
    assert "data:image" not in text and "over the 10-byte cap" in text
    as_files = tmp_path / "f.otlp.jsonl"
    CliRunner().invoke(cli, ["traces", "export", str(traced_run["results_dir"]), "--format", "otlp-json",
                             "--out", str(as_files), "--screenshots", "file-url"])
    assert "file:///" in as_files.read_text() and "data:image" not in as_files.read_text()
