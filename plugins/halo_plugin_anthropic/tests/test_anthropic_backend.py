"""The anthropic: backend against a loopback server speaking the Messages API wire format."""

from __future__ import annotations

import base64
import logging
from importlib.metadata import entry_points

import halo_plugin_anthropic.plugin as anthropic_plugin
import pytest
from anth_loopback import AnthropicLoopback, expert_reply, last_user_text
from halo_plugin_anthropic import AnthropicBackend
from halo_plugin_anthropic.backend import anthropic_request

from halo_core.backends import BackendConfigError, BackendSettings, Message
from halo_plugin_anthropic import PRICES
from halo_core.loopback import (FAST, LoopbackBackendCase, check_full_episode, check_key_never_leaks,
                                check_persistent_500, check_rejected_key_is_a_config_error,
                                check_retried_until_answered,
                                check_timeout_is_retried_then_fails, check_unusable_output_is_asked_again_once)
from halo_core.testing import check_backend, make_runtime

KEY = "sk-ant-test-0123456789"
MODEL = "claude-haiku-4-5-20251001"
CASE = LoopbackBackendCase(AnthropicBackend, AnthropicLoopback, anthropic_plugin, "anthropic", MODEL, KEY,
                           "ANTHROPIC_API_KEY", reply=lambda body: expert_reply(last_user_text(body)))
make, config = CASE.make, CASE.config
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 16


_isolated, server = CASE.fixtures("ANTHROPIC_BASE_URL")


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
    assert check_full_episode(CASE, server, monkeypatch, "ANTHROPIC_BASE_URL", tmp_path).usage.cost > 0


def test_429_then_success_and_529_overloaded(server):
    check_retried_until_answered(CASE, server, 529)


def test_persistent_500_fails_the_episode_and_the_next_runs(server, tmp_path):
    check_persistent_500(CASE, server, tmp_path)


def test_timeout_is_retried_then_fails(server):
    check_timeout_is_retried_then_fails(CASE, server)


def test_garbage_output_reasks_once_then_records_action_error(tmp_path):
    requests, _step = check_unusable_output_is_asked_again_once(CASE, tmp_path, "Let me think about it.")
    assert requests[1]["body"]["messages"][-2]["role"] == "assistant"


def test_wrong_key_is_a_config_error_without_retry(server, monkeypatch):
    check_rejected_key_is_a_config_error(CASE, server, monkeypatch, "sk-ant-wrong-000000")


def test_missing_key_fails_check(monkeypatch, server):
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    backend = make(server)
    with pytest.raises(BackendConfigError, match="ANTHROPIC_API_KEY"):
        backend.check()
    assert server.requests == []


def test_key_canary_never_leaks(monkeypatch, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    check_key_never_leaks(CASE, monkeypatch, tmp_path, lambda: caplog.text)


def test_anthropic_request_shape():
    system, turns = anthropic_request([Message("system", "S"), Message("assistant", "a"), Message("user", "u")],
                                      images=False)
    assert system == "S" and [t["role"] for t in turns] == ["user", "assistant", "user"]
