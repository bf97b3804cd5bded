"""The openai: backend against a loopback server speaking the OpenAI wire format."""

from __future__ import annotations

import base64
import json
import logging
import time
import traceback
import warnings
from importlib.metadata import entry_points

import halo_plugin_openai.plugin as openai_plugin
import pytest
from halo_plugin_openai import OpenAIBackend
from oai_loopback import OpenAILoopback, shop_site

from halo_core.backends import BackendConfigError, BackendError, BackendSettings, Message
from halo_core.backends_http import PriceWarning
from halo_plugin_openai import PRICES
from halo_core.loop import run_episode
from halo_core.loopback import (CART_TASK, FAST, LoopbackBackendCase, check_chat_completions_round_trip,
                                check_full_episode, check_persistent_500, check_rejected_key_is_a_config_error,
                                check_retried_until_answered, check_timeout_is_retried_then_fails,
                                check_unusable_output_is_asked_again_once)
from halo_core.testing import check_backend, make_runtime, within

KEY = "sk-test-0123456789"
CASE = LoopbackBackendCase(OpenAIBackend, OpenAILoopback, openai_plugin, "openai", "gpt-4o-mini", KEY,
                           "OPENAI_API_KEY")
make, config = CASE.make, CASE.config
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16


_isolated, server = CASE.fixtures("OPENAI_BASE_URL")


# --------------------------------------------------------------------------- registration


def test_entry_point_and_registry():
    assert "openai" in {ep.name for ep in entry_points(group="halo")}
    runtime = make_runtime(openai_plugin)
    assert "openai" in runtime.backends.factories
    backend = runtime.backends.create("openai:gpt-4o-mini")
    assert isinstance(backend, OpenAIBackend) and backend.name == "openai:gpt-4o-mini"


def test_unknown_prefix_names_installed_prefixes():
    runtime = make_runtime(entrypoints=True)
    with pytest.raises(BackendConfigError) as info:
        runtime.backends.create("nope:x")
    assert "openai" in str(info.value) and "nope" in str(info.value)


# --------------------------------------------------------------------------- wire format


def test_round_trip_wire_format_and_usage(server):
    # custom servers get max_tokens (the check asserts it)
    backend, completion, _body = check_chat_completions_round_trip(CASE, server, "gpt-4o-mini")
    u = completion.usage
    assert u.calls == 1 and u.tokens_in == 2 + 5 and u.tokens_out == len(completion.text.split())
    price_in, price_out = PRICES["gpt-4o-mini"]
    assert u.cost == pytest.approx((u.tokens_in * price_in + u.tokens_out * price_out) / 1e6)
    assert u.latency_ms > 0
    # per-call overrides win over settings
    backend.complete([Message("user", "x")], temperature=0.0, seed=1, max_tokens=9)
    assert server.requests[-1]["body"]["temperature"] == 0.0 and server.requests[-1]["body"]["max_tokens"] == 9


def test_default_server_uses_max_completion_tokens(server):
    backend = OpenAIBackend("gpt-4o", BackendSettings(extra=FAST))
    assert backend._host() == "api.openai.com" and not backend.custom_server
    backend = make(server, extra={"max_tokens_param": "max_completion_tokens"})
    backend.complete([Message("user", "hi")])
    assert server.requests[-1]["body"]["max_completion_tokens"] == 256


def test_check_backend_conformance(server):
    check_backend(make(server))


def test_base_url_from_environment(server, monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", server.url)
    backend = make_runtime(openai_plugin).backends.create("openai:gpt-4o-mini", BackendSettings(extra=FAST))
    assert backend.complete([Message("user", "hi")]).usage.calls == 1
    assert len(server.requests) == 1


def test_images_sent_only_to_vision_models_when_enabled(server):
    messages = [Message("user", "look", images=(PNG,))]
    vision = make(server, model="gpt-4o")
    assert vision.supports_images
    vision.complete(messages)
    parts = server.requests[-1]["body"]["messages"][0]["content"]
    assert parts[0] == {"type": "text", "text": "look"}
    assert parts[1]["image_url"]["url"] == "data:image/png;base64," + base64.b64encode(PNG).decode()
    for backend in (make(server, model="gpt-4o", images=False), make(server, model="my-text-model"),
                    make(server, model="gpt-4o", extra={"supports_images": False})):
        assert not backend.supports_images
        backend.complete(messages)
        assert server.requests[-1]["body"]["messages"][0]["content"] == "look"
    assert make(server, model="llava", extra={"supports_images": True}).supports_images


# --------------------------------------------------------------------------- episodes


def test_full_episode_succeeds(server, monkeypatch, tmp_path):
    assert check_full_episode(CASE, server, monkeypatch, "OPENAI_BASE_URL", tmp_path).usage.cost > 0
    assert [json.loads(line)["type"] for line in next(tmp_path.rglob("*.jsonl")).read_text().splitlines()] == \
        ["episode_start"] + ["step"] * 4 + ["episode_end"]


# --------------------------------------------------------------------------- faults


def test_429_with_retry_after_then_success(server):
    completion = check_retried_until_answered(CASE, server, prompt="URL: http://graph.test/cart")
    assert "send_msg_to_user" in completion.text


def test_retry_after_is_honoured(server, monkeypatch):
    slept = []
    monkeypatch.setattr(time, "sleep", lambda s: slept.append(s))
    server.push(status=503, headers={"Retry-After": "3"})
    server.push(status=429, headers={"retry-after-ms": "250"})
    make(server, max_retries=3).complete([Message("user", "hi")])
    assert slept == [3.0, 0.25] and len(server.requests) == 3


def test_persistent_500_raises_after_max_retries(server):
    server.fail_always = 500
    with pytest.raises(BackendError) as info:
        make(server, max_retries=2).complete([Message("user", "hi")])
    assert len(server.requests) == 3
    message = str(info.value)
    assert "\n" not in message and "500" in message and "3 attempts" in message
    assert not isinstance(info.value, BackendConfigError)


def test_500_ends_the_episode_and_the_next_one_runs(server, tmp_path):
    check_persistent_500(CASE, server, tmp_path)


def test_timeout_is_retried_then_fails(server):
    check_timeout_is_retried_then_fails(CASE, server)


def test_timeout_then_success(server):
    timeout = within(1.0)  # the answered retry must fit in it on a busy machine too
    server.push(sleep=3 * timeout)
    assert make(server, timeout_s=timeout, max_retries=1).complete([Message("user", "hi")]).usage.calls == 1
    assert len(server.requests) == 2


def test_connection_refused_is_retried_then_fails():
    with OpenAILoopback(lambda body: "x") as dead:
        url = dead.url
    backend = OpenAIBackend("gpt-4o-mini", BackendSettings(base_url=url, max_retries=1, extra=FAST))
    with pytest.raises(BackendError, match="connection failed"):
        backend.complete([Message("user", "hi")])


def test_client_error_is_not_retried(server):
    server.push(status=400)
    with pytest.raises(BackendError, match="400"):
        make(server, max_retries=3).complete([Message("user", "hi")])
    assert len(server.requests) == 1


def test_garbage_output_reasks_once_then_records_action_error(tmp_path):
    requests, step = check_unusable_output_is_asked_again_once(CASE, tmp_path)
    second = requests[1]["body"]["messages"]
    assert second[-2] == {"role": "assistant", "content": "I am not sure what to do here."}
    assert "not usable" in second[-1]["content"]
    assert "parse_error" in step["decision_meta"]


def test_wrong_key_is_a_config_error_without_retry(server, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-wrong-key-000000")
    make(server).check()  # a set key passes check() without a call
    assert server.requests == []
    error = check_rejected_key_is_a_config_error(CASE, server, monkeypatch, "sk-wrong-key-000000")
    assert str(error) == f"OPENAI_API_KEY was rejected by 127.0.0.1:{server.server.port} (401)"


def test_missing_key_fails_check(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY")
    backend = make_runtime(openai_plugin).backends.create("openai:gpt-4o-mini")
    with pytest.raises(BackendConfigError, match="OPENAI_API_KEY"):
        backend.check()
    with pytest.raises(BackendConfigError, match="OPENAI_API_KEY"):
        backend.complete([Message("user", "hi")])


def test_missing_key_is_fine_for_a_custom_server(server, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY")
    server.key = None
    backend = make(server)
    backend.check()
    assert server.requests == [] and backend.complete([Message("user", "hi")]).usage.calls == 1
    assert server.requests[0]["headers"]["authorization"] == "Bearer EMPTY"


def test_key_canary_never_leaks(monkeypatch, tmp_path, caplog, capsys):
    canary = "sk-canary-XXXX"
    monkeypatch.setenv("OPENAI_API_KEY", canary)
    caplog.set_level(logging.DEBUG)
    runtime = make_runtime(openai_plugin)
    texts = []
    with OpenAILoopback(lambda body: "no action here", key="sk-the-real-one") as wrong, \
            OpenAILoopback(lambda body: "no action here", key=canary) as srv:
        def attempt(backend, n=0):
            try:
                backend.complete([Message("user", "hi")])
            except BackendError as exc:
                texts.append(str(exc))
                texts.append("".join(traceback.format_exception(exc)))
            result = run_episode(CART_TASK, config(max_steps=2), shop_site(), runtime, backends={"worker": backend},
                                 data_dir=tmp_path, attempt=n)
            texts.append(result.error + json.dumps(dict(result.info)))

        attempt(make(wrong), 0)                                  # 401 (the server echoes the key)
        srv.fail_always = 500
        attempt(make(srv, max_retries=1), 1)                     # persistent 500 echoing the key
        srv.fail_always = None
        for _ in range(4):
            srv.push(status=429, headers={"Retry-After": "0"})
        attempt(make(srv, max_retries=1), 2)                     # rate limited
        for _ in range(4):
            srv.push(status=400)
        attempt(make(srv, max_retries=1), 3)                     # bad request echoing the key
        for _ in range(4):
            srv.push(sleep=0.6)
        attempt(make(srv, max_retries=1, timeout_s=0.3), 4)     # timeouts
        attempt(make(srv), 5)                                    # garbage output
    attempt(OpenAIBackend("gpt-4o-mini", BackendSettings(base_url=srv.url, max_retries=1, extra=FAST)), 6)  # refused
    assert len(texts) >= 7 * 2
    for text in texts:
        assert canary not in text
    assert canary not in caplog.text
    captured = capsys.readouterr()
    assert canary not in captured.out and canary not in captured.err
    assert any("retry" in r.getMessage() for r in caplog.records)  # the retries were logged
    files = list(tmp_path.rglob("*.jsonl"))
    assert len(files) == 7
    for path in files:
        assert canary not in path.read_text()


# --------------------------------------------------------------------------- prices


def test_prices_from_settings_file_and_unknown_models(server, monkeypatch, tmp_path):
    backend = make(server, model="gpt-4o-2024-08-06")  # longest prefix: gpt-4o
    u = backend.complete([Message("user", "one two three")]).usage
    assert u.cost == pytest.approx((u.tokens_in * 2.5 + u.tokens_out * 10) / 1e6)
    table = tmp_path / "prices.json"
    table.write_text(json.dumps({"gpt-4o": [1000000, 0], "house-model": {"input": 2000000, "output": 0}}))
    monkeypatch.setenv("HALO_PRICES", str(table))
    assert make(server, model="gpt-4o").complete([Message("user", "a b")]).usage.cost == pytest.approx(2.0)
    assert make(server, model="house-model").complete([Message("user", "a b")]).usage.cost == pytest.approx(4.0)
    settings_price = make(server, model="gpt-4o", prices={"gpt-4o": (0.0, 1e6)})
    u = settings_price.complete([Message("user", "a b")]).usage
    assert u.cost == pytest.approx(u.tokens_out)
    monkeypatch.setenv("HALO_PRICES", str(tmp_path / "missing.json"))
    with pytest.raises(BackendConfigError, match="HALO_PRICES"):
        make(server)
    monkeypatch.delenv("HALO_PRICES")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        unknown = make(server, model="mystery-model-1")
        costs = [unknown.complete([Message("user", "hi")]).usage.cost for _ in range(3)]
    assert costs == [0.0, 0.0, 0.0]
    assert len([w for w in caught if issubclass(w.category, PriceWarning)]) == 1
