"""vllm: backend against a loopback OpenAI-compatible server (the fast half; see test_qwen_serve)."""

from __future__ import annotations

import warnings

import halo_plugin_qwen.plugin as qwen_plugin
import pytest
from halo_plugin_qwen.vllm import DEFAULT_URL, VLLMBackend
from vllm_loopback import VLLMLoopback, expert_reply, last_user_text, shop_site

from halo_core.backends import BackendConfigError, BackendError, BackendSettings, Message
from halo_core.config import mode_config
from halo_core.loop import run_episode
from halo_core.model import TaskSpec
from halo_core.testing import check_backend, make_runtime

TASK = TaskSpec(id="graph.cart", goal="Put the widget in the cart", suite="graph")
FAST = {"retry_base_s": 0.01}


@pytest.fixture(autouse=True)
def _env(monkeypatch):
    for var in ("HALO_VLLM_URL", "HALO_VLLM_API_KEY", "HALO_PRICES"):
        monkeypatch.delenv(var, raising=False)


def qwen_style(body):
    """A Qwen3-ish reply: a thought, the action, the end-of-turn token."""
    return f"<think>I look at the page.</think>\n{expert_reply(last_user_text(body)).splitlines()[-1]}<|im_end|>"


def test_defaults():
    backend = make_runtime(qwen_plugin).backends.create("vllm:qwen_bc")
    assert backend.base_url == DEFAULT_URL and backend.name == "vllm:qwen_bc"
    assert backend.supports_images is False and backend._key() == "EMPTY"


def test_adapter_name_is_sent_as_model_and_episode_succeeds(monkeypatch, tmp_path):
    with VLLMLoopback(qwen_style) as server:
        monkeypatch.setenv("HALO_VLLM_URL", server.url)
        config = mode_config("qwen_worker_bc", env={}, max_steps=8, use_screenshot=False, use_vac=False,
                             use_macros=False, use_manager=False)
        assert config.worker_backend == "vllm:qwen_bc"
        result = run_episode(TASK, config, shop_site(), make_runtime(qwen_plugin), data_dir=tmp_path)
        assert result.success, result.error
        assert {r["body"]["model"] for r in server.requests} == {"qwen_bc"}
        assert all(r["headers"]["authorization"] == "Bearer EMPTY" for r in server.requests)
        assert result.usage.calls == 4 and result.usage.tokens_in > 0 and result.usage.cost == 0


def test_wire_format_key_and_thinking_stripped(monkeypatch):
    monkeypatch.setenv("HALO_VLLM_API_KEY", "vllm-secret-123")
    with VLLMLoopback(qwen_style, key="vllm-secret-123") as server:
        backend = VLLMBackend("Qwen/Qwen2.5-3B-Instruct", BackendSettings(base_url=server.url, seed=4,
                                                                          temperature=0.7, max_tokens=33))
        completion = backend.complete([Message("user", "URL: http://graph.test/cart")])
        assert completion.text == "send_msg_to_user('Added the widget to the cart')"
        body = server.requests[0]["body"]
        assert body["model"] == "Qwen/Qwen2.5-3B-Instruct" and body["seed"] == 4
        assert body["temperature"] == 0.7 and body["max_tokens"] == 33
        raw = VLLMBackend("m", BackendSettings(base_url=server.url, extra={"strip_thinking": False}))
        assert raw.complete([Message("user", "x")]).text.startswith("<think>")
        check_backend(backend)


def test_check_reports_a_missing_server_and_a_rejected_key(monkeypatch):
    with VLLMLoopback(qwen_style) as dead:
        url = dead.url
    monkeypatch.setenv("HALO_VLLM_URL", url)
    with pytest.raises(BackendConfigError, match="HALO_VLLM_URL"):
        VLLMBackend("qwen_bc").check()
    with VLLMLoopback(qwen_style, key="right-key-000") as server:
        monkeypatch.setenv("HALO_VLLM_URL", server.url)
        with pytest.raises(BackendConfigError, match=r"HALO_VLLM_API_KEY was rejected by 127\.0\.0\.1:\d+ \(401\)"):
            VLLMBackend("qwen_bc", BackendSettings(max_retries=3)).complete([Message("user", "x")])
        assert len(server.requests) == 1


def test_check_lists_models(monkeypatch):
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Models(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            data = json.dumps({"object": "list", "data": [{"id": "Qwen/Qwen2.5-3B-Instruct"}, {"id": "qwen_bc"}]})
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data.encode())

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Models)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("HALO_VLLM_URL", f"http://127.0.0.1:{httpd.server_address[1]}/v1")
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            VLLMBackend("qwen_bc").check()
        with pytest.warns(UserWarning, match="qwen_dpo"):
            VLLMBackend("qwen_dpo").check()
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_retries_then_error(monkeypatch):
    with VLLMLoopback(qwen_style) as server:
        server.push(status=503, headers={"Retry-After": "0"})
        backend = VLLMBackend("qwen_bc", BackendSettings(base_url=server.url, max_retries=1, extra=FAST))
        assert backend.complete([Message("user", "x")]).usage.calls == 1
        server.fail_always = 500
        with pytest.raises(BackendError, match="after 2 attempts"):
            backend.complete([Message("user", "x")])


@pytest.mark.parametrize("url", ["notaurl", "localhost:8000/v1", "ftp://host/v1", "http://"])
def test_a_server_address_that_is_no_url_is_one_named_error(monkeypatch, url):
    """``HALO_VLLM_URL=notaurl`` is a configuration mistake named with the fix, not a traceback."""
    monkeypatch.setenv("HALO_VLLM_URL", url)
    with pytest.raises(BackendConfigError, match=r"is not an http\(s\) URL; set it like http://localhost:8000/v1"):
        VLLMBackend("qwen_bc").check()
