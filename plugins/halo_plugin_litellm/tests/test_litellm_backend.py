"""The litellm: backend, pointed at a loopback OpenAI-compatible server through api_base."""

from __future__ import annotations

import json
import logging
import warnings
from importlib.metadata import entry_points

import halo_plugin_litellm.plugin as litellm_plugin
import pytest
from halo_plugin_litellm import LiteLLMBackend
from llm_loopback import LiteLLMLoopback, expert_reply, last_user_text, shop_site

from halo_core.backends import BackendConfigError, BackendError, BackendSettings, Message
from halo_core.backends_http import PriceWarning
from halo_core.config import mode_config
from halo_core.loop import run_episode
from halo_core.model import TaskSpec
from halo_core.testing import assert_key_never_leaks, check_backend, make_runtime

KEY = "sk-test-litellm-0123"
FAST = {"retry_base_s": 0.01}
MODEL = "openai/gpt-4o-mini"
TASK = TaskSpec(id="graph.cart", goal="Put the widget in the cart", suite="graph")


@pytest.fixture(autouse=True)
def _env(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    for var in ("OPENAI_BASE_URL", "OPENAI_API_BASE", "LITELLM_API_BASE", "HALO_PRICES"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def server():
    with LiteLLMLoopback(lambda body: expert_reply(last_user_text(body)), key=KEY) as srv:
        yield srv


def make(server, model=MODEL, **settings):
    extra = {**FAST, **settings.pop("extra", {})}
    return LiteLLMBackend(model, BackendSettings(base_url=server.url, extra=extra, **settings))


def config(**overrides):
    base = dict(max_steps=8, use_screenshot=False, worker_backend=f"litellm:{MODEL}")
    return mode_config("baseline_worker", env={}, **{**base, **overrides})


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
    completion = make(server, temperature=0.5, seed=11, max_tokens=40).complete(
        [Message("system", "sys"), Message("user", "URL: http://graph.test/home\n[1] link 'Products'")])
    assert completion.text.endswith("click('1')")
    (request,) = server.requests
    assert request["path"] == "/v1/chat/completions"
    assert request["headers"]["authorization"] == f"Bearer {KEY}"
    body = request["body"]
    assert body["model"] == "gpt-4o-mini" and body["temperature"] == 0.5 and body["seed"] == 11
    assert body["max_tokens"] == 40 and body["messages"][0] == {"role": "system", "content": "sys"}
    u = completion.usage
    assert u.calls == 1 and u.tokens_in == 6 and u.tokens_out == len(completion.text.split())
    import litellm  # the provider's prices are litellm's own cost map's

    price_in, price_out = litellm.cost_per_token(model=MODEL, prompt_tokens=6, completion_tokens=u.tokens_out)
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
    monkeypatch.setenv("LITELLM_API_BASE", server.url)
    result = run_episode(TASK, config(), shop_site(), make_runtime(litellm_plugin), data_dir=tmp_path)
    assert result.success and result.terminated_by == "message", result.error
    assert result.steps == 4 and result.usage.calls == 4


def test_429_then_success(server):
    server.push(status=429, headers={"Retry-After": "0"})
    assert make(server, max_retries=2).complete([Message("user", "hi")]).usage.calls == 1
    assert len(server.requests) == 2


def test_persistent_500_fails_the_episode_and_the_next_runs(server, tmp_path):
    runtime = make_runtime(litellm_plugin)
    server.fail_always = 500
    backend = make(server, max_retries=2)
    with pytest.raises(BackendError, match="after 3 attempts"):
        backend.complete([Message("user", "hi")])
    assert len(server.requests) == 3
    failed = run_episode(TASK, config(), shop_site(), runtime, backends={"worker": backend}, data_dir=tmp_path)
    assert failed.terminated_by == "error" and failed.error
    server.fail_always = None
    assert run_episode(TASK, config(), shop_site(), runtime, backends={"worker": backend}, data_dir=tmp_path,
                       attempt=1).success


def test_timeout_is_retried_then_fails(server):
    server.push(sleep=1.2)
    server.push(sleep=1.2)
    with pytest.raises(BackendError, match="timed out"):
        make(server, timeout_s=0.4, max_retries=1).complete([Message("user", "hi")])
    assert len(server.requests) == 2


def test_garbage_output_reasks_once(tmp_path):
    with LiteLLMLoopback(lambda body: "Hmm.", key=KEY) as srv:
        result = run_episode(TASK, config(max_steps=1), shop_site(), make_runtime(litellm_plugin),
                             backends={"worker": make(srv)}, data_dir=tmp_path)
        assert len(srv.requests) == 2
    step = [json.loads(line) for line in next(tmp_path.rglob("*.jsonl")).read_text().splitlines()][1]
    assert step["last_action_error"] and result.usage.calls == 2


def test_wrong_key_and_missing_key(server, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-wrong-000000000")
    with pytest.raises(BackendConfigError) as info:
        make(server, max_retries=3).complete([Message("user", "hi")])
    assert str(info.value).startswith("OPENAI_API_KEY was rejected by 127.0.0.1:") and "(401)" in str(info.value)
    assert len(server.requests) == 1
    monkeypatch.delenv("OPENAI_API_KEY")
    with pytest.raises(BackendConfigError, match="OPENAI_API_KEY"):
        make_runtime(litellm_plugin).backends.create(f"litellm:{MODEL}").check()
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with pytest.raises(BackendConfigError, match="ANTHROPIC_API_KEY"):
        LiteLLMBackend("anthropic/claude-3-5-haiku-latest").check()


def test_key_canary_never_leaks(monkeypatch, tmp_path, caplog):
    canary = "sk-canary-XXXX"
    monkeypatch.setenv("OPENAI_API_KEY", canary)
    caplog.set_level(logging.DEBUG)
    runtime = make_runtime(litellm_plugin)

    def run(backend, n):
        result = run_episode(TASK, config(max_steps=1), shop_site(), runtime, backends={"worker": backend},
                             data_dir=tmp_path, attempt=n)
        return result.error + json.dumps(dict(result.info))

    with LiteLLMLoopback(lambda body: "nothing", key="sk-other-000") as wrong, \
            LiteLLMLoopback(lambda body: "nothing", key=canary) as srv:
        assert_key_never_leaks(canary, make, wrong, srv, run, lambda: caplog.text, tmp_path)
