"""The recording proxy the serve tests read requests from (fast: a loopback stub upstream)."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from halo_plugin_qwen.serve import RecordingProxy, free_port


class _Upstream(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _answer(self, status: int, payload: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Upstream", "stub")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self):
        self._answer(404, b'{"error": "no models offline"}')

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self._answer(200, json.dumps({"model": body["model"] + "@main", "auth": self.headers.get("Authorization")})
                     .encode())

    def log_message(self, *args):
        pass


@pytest.fixture
def upstream():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Upstream)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def _post(url, payload):
    request = urllib.request.Request(url, data=json.dumps(payload).encode(), method="POST",
                                     headers={"Content-Type": "application/json", "Authorization": "Bearer k"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, dict(response.headers), json.loads(response.read())


def test_proxy_records_requests_and_relays_responses(upstream):
    proxy = RecordingProxy(upstream).start()
    try:
        base = f"http://127.0.0.1:{proxy.port}/v1"
        status, headers, answer = _post(f"{base}/chat/completions", {"model": "qwen_bc", "messages": []})
        assert status == 200 and headers["X-Upstream"] == "stub"
        assert answer == {"model": "qwen_bc@main", "auth": "Bearer k"}  # body and headers reach upstream
        _post(f"{base}/chat/completions", {"model": "/abs/base", "messages": []})
        _post(f"{base}/completions", {"model": "other"})
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(f"{base}/models", timeout=10)
        assert err.value.code == 404 and b"offline" in err.value.read()  # error statuses pass through as they are
        err.value.close()
        assert [b["model"] for b in proxy.json_bodies("/chat/completions")] == ["qwen_bc", "/abs/base"]
        assert [(m, p) for m, p, _ in proxy.requests] == [
            ("POST", "/v1/chat/completions"), ("POST", "/v1/chat/completions"), ("POST", "/v1/completions"),
            ("GET", "/v1/models")]
    finally:
        proxy.stop()


def test_proxy_answers_502_when_upstream_is_down():
    proxy = RecordingProxy(free_port()).start()
    try:
        with pytest.raises(urllib.error.HTTPError) as err:
            _post(f"http://127.0.0.1:{proxy.port}/v1/chat/completions", {"model": "m"})
        assert err.value.code == 502
        err.value.close()
        assert [b["model"] for b in proxy.json_bodies("/chat/completions")] == ["m"]
    finally:
        proxy.stop()
