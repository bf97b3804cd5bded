"""The anthropic: backend against a loopback server speaking the Messages API wire format."""

from __future__ import annotations

import base64
import json
import logging
from importlib.metadata import entry_points

import halo_plugin_anthropic.plugin as anthropic_plugin
import pytest
from anth_loopback import AnthropicLoopback, expert_reply, last_user_text, shop_site
from halo_plugin_anthropic import AnthropicBackend
from halo_plugin_anthropic.backend import anthropic_request

from halo_core.backends import BackendConfigError, BackendError, BackendSettings, Message
from halo_plugin_anthropic import PRICES
from halo_core.config import mode_config
from halo_core.loop import run_episode
from halo_core.model import TaskSpec
from halo_core.testing import assert_key_never_leaks, check_backend, make_runtime

KEY = "sk-ant-test-0123456789"
FAST = {"retry_base_s": 0.01}
MODEL = "claude-haiku-4-5-20251001"
TASK = TaskSpec(id="graph.cart", goal="Put the widget in the cart", suite="graph")
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 16


@pytest.fixture(autouse=True)
def _env(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    monkeypatch.delenv("ANTHROPIC_BASE_URL", raising=False)
    monkeypatch.delenv("HALO_PRICES", raising=False)


@pytest.fixture
def server():
    with AnthropicLoopback(lambda body: expert_reply(last_user_text(body)), key=KEY) as srv:
        yield srv


def make(server, model=MODEL, **settings):
    extra = {**FAST, **settings.pop("extra", {})}
    return AnthropicBackend(model, BackendSettings(base_url=server.url, extra=extra, **settings))


def config(**overrides):
    base = dict(max_steps=8, use_screenshot=False, worker_backend=f"anthropic:{MODEL}")
    return mode_config("baseline_worker", env={}, **{**base, **overrides})


def test_entry_point_and_registry():
    assert "anthropic" in {ep.name for ep in entry_points(group="halo")}
    backend = make_runtime(anthropic_plugin).backends.create(f"anthropic:{MODEL}")
    assert isinstance(backend, AnthropicBackend) and backend.name == f"anthropic:{MODEL}"
    assert backend.supports_images and not AnthropicBackend("claude-2.1").supports_images


def test_unknown_prefix_names_installed_prefixes():
    with pytest.raises(BackendConfigError) as info:
        make_runtime(entrypoints=True).backends.create("nope:x")
    assert "anthropic" in str(info.value)


def test_round_trip_wire_format(server):
    backend = make(server, temperature=0.2, seed=3, max_tokens=77)
    messages = [Message("system", "You are a web agent."), Message("system", "Be brief."),
                Message("user", "URL: http://graph.test/home\n[1] link 'Products'", images=(JPEG,)),
                Message("assistant", "hmm"), Message("user", "That reply is not usable."),
                Message("user", "Reply with one valid action only.")]
    completion = backend.complete(messages)
    assert completion.text.endswith("```") and "click('1')" in completion.text
    (request,) = server.requests
    headers, body = request["headers"], request["body"]
    assert request["path"] == "/v1/messages"
    assert headers["x-api-key"] == KEY and headers["anthropic-version"]
    assert body["system"] == "You are a web agent.\n\nBe brief."
    assert body["max_tokens"] == 77 and body["temperature"] == 0.2 and "seed" not in body
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]
    image, text = body["messages"][0]["content"]
    assert image == {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg",
                                                 "data": base64.b64encode(JPEG).decode()}}
    assert text["type"] == "text" and text["text"].startswith("URL:")
    assert [b["text"] for b in body["messages"][2]["content"]] == ["That reply is not usable.",
                                                                   "Reply with one valid action only."]
    u = completion.usage
    assert u.calls == 1 and u.tokens_in == 7 + 5 + 1 + 5 + 6 and u.tokens_out == len(completion.text.split())
    price_in, price_out = PRICES["claude-haiku-4-5"]
    assert u.cost == pytest.approx((u.tokens_in * price_in + u.tokens_out * price_out) / 1e6) and u.cost > 0
    assert completion.model == MODEL


def test_no_images_when_disabled(server):
    make(server, images=False).complete([Message("user", "look", images=(JPEG,))])
    assert [b["type"] for b in server.requests[-1]["body"]["messages"][0]["content"]] == ["text"]


def test_check_backend_and_base_url_from_env(server, monkeypatch):
    check_backend(make(server))
    monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
    backend = make_runtime(anthropic_plugin).backends.create(f"anthropic:{MODEL}", BackendSettings(extra=FAST))
    backend.complete([Message("user", "hi")])
    assert len(server.requests) == 2


def test_full_episode_succeeds(server, monkeypatch, tmp_path):
    monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
    result = run_episode(TASK, config(), shop_site(), make_runtime(anthropic_plugin), data_dir=tmp_path)
    assert result.success and result.terminated_by == "message", result.error
    assert result.steps == 4 and result.usage.calls == 4 and result.usage.cost > 0


def test_429_then_success_and_529_overloaded(server):
    server.push(status=429, headers={"retry-after": "0"})
    server.push(status=529)
    assert make(server, max_retries=2).complete([Message("user", "hi")]).usage.calls == 1
    assert len(server.requests) == 3


def test_persistent_500_fails_the_episode_and_the_next_runs(server, tmp_path):
    runtime = make_runtime(anthropic_plugin)
    server.fail_always = 500
    backend = make(server, max_retries=2)
    with pytest.raises(BackendError, match="after 3 attempts"):
        backend.complete([Message("user", "hi")])
    assert len(server.requests) == 3
    failed = run_episode(TASK, config(), shop_site(), runtime, backends={"worker": backend}, data_dir=tmp_path)
    assert failed.terminated_by == "error" and "500" in failed.error
    server.fail_always = None
    ok = run_episode(TASK, config(), shop_site(), runtime, backends={"worker": backend}, data_dir=tmp_path, attempt=1)
    assert ok.success


def test_timeout_is_retried_then_fails(server):
    server.push(sleep=1.2)
    server.push(sleep=1.2)
    with pytest.raises(BackendError, match="timed out"):
        make(server, timeout_s=0.4, max_retries=1).complete([Message("user", "hi")])
    assert len(server.requests) == 2


def test_garbage_output_reasks_once_then_records_action_error(tmp_path):
    with AnthropicLoopback(lambda body: "Let me think about it.", key=KEY) as srv:
        result = run_episode(TASK, config(max_steps=1), shop_site(), make_runtime(anthropic_plugin),
                             backends={"worker": make(srv)}, data_dir=tmp_path)
        assert len(srv.requests) == 2
        assert srv.requests[1]["body"]["messages"][-2]["role"] == "assistant"
    step = [json.loads(line) for line in next(tmp_path.rglob("*.jsonl")).read_text().splitlines()][1]
    assert result.usage.calls == 2 and step["last_action_error"]


def test_wrong_key_is_a_config_error_without_retry(server, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-wrong-000000")
    with pytest.raises(BackendConfigError) as info:
        make(server, max_retries=3).complete([Message("user", "hi")])
    assert str(info.value).startswith("ANTHROPIC_API_KEY was rejected by 127.0.0.1:") and "(401)" in str(info.value)
    assert len(server.requests) == 1


def test_missing_key_fails_check(monkeypatch, server):
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    backend = make(server)
    with pytest.raises(BackendConfigError, match="ANTHROPIC_API_KEY"):
        backend.check()
    assert server.requests == []


def test_key_canary_never_leaks(monkeypatch, tmp_path, caplog):
    canary = "sk-canary-XXXX"
    monkeypatch.setenv("ANTHROPIC_API_KEY", canary)
    caplog.set_level(logging.DEBUG)
    runtime = make_runtime(anthropic_plugin)

    def run(backend, n):
        result = run_episode(TASK, config(max_steps=1), shop_site(), runtime, backends={"worker": backend},
                             data_dir=tmp_path, attempt=n)
        return result.error + json.dumps(dict(result.info))

    with AnthropicLoopback(lambda body: "nothing", key="sk-ant-other") as wrong, \
            AnthropicLoopback(lambda body: "nothing", key=canary) as srv:
        assert_key_never_leaks(canary, make, wrong, srv, run, lambda: caplog.text, tmp_path)


def test_anthropic_request_shape():
    system, turns = anthropic_request([Message("system", "S"), Message("assistant", "a"), Message("user", "u")],
                                      images=False)
    assert system == "S" and [t["role"] for t in turns] == ["user", "assistant", "user"]
