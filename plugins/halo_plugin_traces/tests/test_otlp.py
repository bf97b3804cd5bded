"""``--otlp-endpoint``: the real OTLP/HTTP protobuf POST, received and decoded on loopback."""

from __future__ import annotations

import gzip
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from click.testing import CliRunner

from halo_core.cli import cli

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (  # noqa: E402
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)


@pytest.fixture
def collector():
    received: list[tuple[str, dict, bytes]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if (self.headers.get("Content-Encoding") or "").lower() == "gzip":
                body = gzip.decompress(body)
            received.append((self.path, {k.lower(): v for k, v in self.headers.items()}, body))
            reply = ExportTraceServiceResponse().SerializeToString()
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", received
    server.shutdown()
    server.server_close()


def _value(v):
    kind = v.WhichOneof("value")
    if kind == "array_value":
        return [_value(x) for x in v.array_value.values]
    return getattr(v, kind)


def test_otlp_http_export_matches_the_jsonl(traced_run, secret_env, collector, tmp_path):
    url, received = collector
    out = tmp_path / "spans.jsonl"
    result = CliRunner().invoke(cli, ["traces", "export", str(traced_run["results_dir"]), "--out", str(out),
                                      "--otlp-endpoint", url])
    assert result.exit_code == 0, result.output
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert f"sent {len(lines)} spans" in result.output
    assert received and all(path == "/v1/traces" for path, _, _ in received)
    assert all(h.get("content-type") == "application/x-protobuf" for _, h, _ in received)

    decoded = {}
    for _, _, body in received:
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        for rs in request.resource_spans:
            resource = {a.key: _value(a.value) for a in rs.resource.attributes}
            assert resource["service.name"] == "halo" and resource["openinference.project.name"] == "halo"
            for ss in rs.scope_spans:
                assert ss.scope.name == "halo_plugin_traces"
                for span in ss.spans:
                    decoded[(span.trace_id.hex(), span.span_id.hex())] = span
    assert len(decoded) == len(lines)
    for line in lines:
        span = decoded[(line["trace_id"], line["span_id"])]
        assert span.name == line["name"]
        assert span.parent_span_id.hex() == line["parent_span_id"]
        attrs = {a.key: _value(a.value) for a in span.attributes}
        assert attrs["openinference.span.kind"] == line["attributes"]["openinference.span.kind"]
        assert not [k for k in attrs if k.startswith("inference.")]  # halo-engine's roll-ups stay in its file
        assert attrs["session.id"] == "eval_traces_test"
        if line["attributes"]["openinference.span.kind"] == "LLM":
            assert attrs["llm.model_name"] == line["attributes"]["llm.model_name"]
            image = [v for k, v in attrs.items() if k.endswith("message_content.image.image.url")]
            assert image and all(v.startswith("data:image/png;base64,iVBOR") for v in image)
            assert attrs.get("llm.token_count.prompt") == line["attributes"].get("llm.token_count.prompt")
        if line["status"]["code"] == "STATUS_CODE_ERROR":
            assert span.status.code == 2 and span.status.message == line["status"]["message"]
    assert secret_env.encode() not in b"".join(body for _, _, body in received)


def test_otlp_endpoint_that_refuses_is_a_clear_error(traced_run, tmp_path):
    result = CliRunner().invoke(cli, ["traces", "export", str(traced_run["results_dir"]), "--out",
                                      str(tmp_path / "t.jsonl"), "--otlp-endpoint", "http://127.0.0.1:9",
                                      "--otlp-timeout", "1"])
    assert result.exit_code != 0
    assert "did not accept" in result.output


def test_a_collector_that_is_down_still_leaves_the_out_file(traced_run, tmp_path):
    """The export fails (exit 1, the collector named) but ``--out`` is written whole all the same."""
    out = tmp_path / "t.jsonl"
    result = CliRunner().invoke(cli, ["traces", "export", str(traced_run["results_dir"]), "--out", str(out),
                                      "--otlp-endpoint", "http://127.0.0.1:9", "--otlp-timeout", "1"])
    assert result.exit_code == 1 and "did not accept" in result.output and "written all the same" in result.output
    lines = out.read_text().splitlines()
    assert lines and all(json.loads(line)["trace_id"] for line in lines)
