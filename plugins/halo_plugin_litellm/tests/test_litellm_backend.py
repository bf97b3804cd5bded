"""The litellm: backend, pointed at a loopback OpenAI-compatible server through api_base."""

from __future__ import annotations

import logging
import warnings
from importlib.metadata import entry_points

import halo_plugin_litellm.plugin as litellm_plugin
import pytest
from halo_plugin_litellm import LiteLLMBackend
from llm_loopback import LiteLLMLoopback

from halo_core.backends import BackendConfigError, Message
from halo_core.backends_http import PriceWarning
from halo_core.loopback import (LoopbackBackendCase, check_chat_completions_round_trip, check_full_episode,
                                check_key_never_leaks, check_persistent_500, check_rejected_key_is_a_config_error,
                                check_retried_until_answered, check_timeout_is_retried_then_fails,
                                check_unusable_output_is_asked_again_once)
from halo_core.testing import check_backend, make_runtime

KEY = "sk-test-litellm-0123"
MODEL = "openai/gpt-4o-mini"
CASE = LoopbackBackendCase(LiteLLMBackend, LiteLLMLoopback, litellm_plugin, "litellm", MODEL, KEY, "OPENAI_API_KEY")
make, config = CASE.make, CASE.config


_isolated, server = CASE.fixtures("OPENAI_BASE_URL", "OPENAI_API_BASE", "LITELLM_API_BASE")


def test_entry_point_registry_and_unknown_prefix():
    assert "litellm" in {ep.name for ep in entry_points(group="halo")}
    backend = make_runtime(litellm_plugin).backends.create(f"litellm:{MODEL}")
    assert isinstance(backend, LiteLLMBackend) and backend.name == f"litellm:{MODEL}"
    assert backend.supports_images  # litellm knows gpt-4o-mini reads images
    with pytest.raises(BackendConfigError, match="litellm"):
        make_runtime(entrypoints=True).backends.create("nope:x")
    with pytest.raises(BackendConfigError, match="provider"):
        LiteLLMBackend("no-such-provider-model-xyz")


def test_round_trip_wire_format(server):
    _backend, completion, _body = check_chat_completions_round_trip(CASE, server, "gpt-4o-mini")  # provider stripped
    u = completion.usage
    assert u.calls == 1 and u.tokens_in == 2 + 5 and u.tokens_out == len(completion.text.split())
    import litellm  # the provider's prices are litellm's own cost map's

    price_in, price_out = litellm.cost_per_token(model=MODEL, prompt_tokens=7, completion_tokens=u.tokens_out)
    assert u.cost == pytest.approx(price_in + price_out) and u.cost > 0
    check_backend(make(server))


def test_prices_fall_back_to_litellm_then_zero(server):
    # a dated model name, known to litellm's bundled cost map
    u = make(server, model="openai/gpt-3.5-turbo-0125").complete([Message("user", "a b c")]).usage
    assert u.cost > 0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        unknown = make(server, model="openai/house-model-7")
        assert [unknown.complete([Message("user", "x")]).usage.cost for _ in range(2)] == [0.0, 0.0]
    assert len([w for w in caught if issubclass(w.category, PriceWarning)]) == 1


def test_full_episode_succeeds(server, monkeypatch, tmp_path):
    check_full_episode(CASE, server, monkeypatch, "LITELLM_API_BASE", tmp_path)


def test_429_then_success(server):
    check_retried_until_answered(CASE, server)


def test_persistent_500_fails_the_episode_and_the_next_runs(server, tmp_path):
    check_persistent_500(CASE, server, tmp_path)


def test_timeout_is_retried_then_fails(server):
    check_timeout_is_retried_then_fails(CASE, server)


def test_garbage_output_reasks_once(tmp_path):
    check_unusable_output_is_asked_again_once(CASE, tmp_path, "Hmm.")


def test_wrong_key_and_missing_key(server, monkeypatch):
    check_rejected_key_is_a_config_error(CASE, server, monkeypatch, "sk-wrong-000000000")
    monkeypatch.delenv("OPENAI_API_KEY")
    with pytest.raises(BackendConfigError, match="OPENAI_API_KEY"):
        make_runtime(litellm_plugin).backends.create(f"litellm:{MODEL}").check()
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with pytest.raises(BackendConfigError, match="ANTHROPIC_API_KEY"):
        LiteLLMBackend("anthropic/claude-3-5-haiku-latest").check()


def test_key_canary_never_leaks(monkeypatch, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    check_key_never_leaks(CASE, monkeypatch, tmp_path, lambda: caplog.text)

