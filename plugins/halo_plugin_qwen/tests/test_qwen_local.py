"""local: backend, the tiny Qwen builder, and the Qwen output parsing."""

from __future__ import annotations

import json
import time

import halo_plugin_qwen.plugin as qwen_plugin
import pytest
from halo_plugin_qwen.local import LocalBackend, resolve_spec
from halo_plugin_qwen.parsing import clean_qwen_text, extract_qwen_action
from halo_plugin_qwen.tiny import build_tiny_qwen, make_tiny_lora

from halo_core.actions import ActionError
from halo_core.backends import BackendConfigError, BackendSettings, Message
from halo_core.config import mode_config
from halo_core.loop import run_episode
from halo_core.model import TaskSpec
from halo_core.testing import GraphEnvironment, Page, check_backend, make_runtime, within

CORPUS = ["Goal: open the cart. click('12') fill('3', 'pot') send_msg_to_user('Done')"] * 4
TASK = TaskSpec(id="graph.one", goal="Open the products page", suite="graph")


def site() -> GraphEnvironment:
    return GraphEnvironment({"home": Page("Home", [("link", "Products", "products")]),
                             "products": Page("Products", [])}, goal_page="products")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    base = build_tiny_qwen(root / "base", CORPUS, seed=0)
    adapter = make_tiny_lora(base, root / "adapter", seed=1)
    return base, adapter


# --------------------------------------------------------------------------- parsing


def test_extract_qwen_action_strips_thinking_and_markup():
    assert extract_qwen_action("<think>maybe click('1')?</think>\nclick('7')<|im_end|>junk") == "click('7')"
    assert extract_qwen_action("I should look.\n</think>\n\nfill('3', 'pot')<|im_end|>") == "fill('3', 'pot')"
    assert extract_qwen_action("<|im_start|>assistant\nsend_msg_to_user('Done')<|im_end|>\n<|endoftext|>") == \
        "send_msg_to_user('Done')"
    # cut off while thinking: the last action it was writing
    assert extract_qwen_action("<think>first scroll(0, 200)\nthen click('4')") == "click('4')"
    with pytest.raises(ActionError):
        extract_qwen_action("<think>hmm</think>no idea<|im_end|>")
    assert clean_qwen_text("<think>a</think> hello <|im_end|> after") == "hello"


def test_registration_and_unknown_prefix():
    runtime = make_runtime(qwen_plugin)
    assert {"vllm", "local"} <= set(runtime.backends.factories)
    with pytest.raises(BackendConfigError) as info:
        make_runtime(entrypoints=True).backends.create("nope:x")
    assert "local" in str(info.value) and "vllm" in str(info.value)


# --------------------------------------------------------------------------- tiny model


def test_build_tiny_qwen_loads_offline_and_is_fast(tmp_path, tiny):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    started = time.monotonic()
    out = build_tiny_qwen(tmp_path / "again", CORPUS, vocab_size=400, hidden_size=32, layers=1, heads=2, seed=3)
    assert time.monotonic() - started < within(10)
    tokenizer = AutoTokenizer.from_pretrained(out)
    model = AutoModelForCausalLM.from_pretrained(out)
    assert model.config.model_type == "qwen2" and model.config.num_hidden_layers == 1
    assert model.config.vocab_size == len(tokenizer) <= 400
    for token in ("<|im_start|>", "<|im_end|>", "<|endoftext|>"):
        assert tokenizer.convert_tokens_to_ids(token) is not None
        assert tokenizer.convert_tokens_to_ids(token) != tokenizer.unk_token_id
    assert tokenizer.eos_token == "<|im_end|>" and tokenizer.pad_token == "<|endoftext|>"
    text = tokenizer.apply_chat_template([{"role": "system", "content": "s"}, {"role": "user", "content": "u"}],
                                         tokenize=False, add_generation_prompt=True)
    assert text == "<|im_start|>system\ns<|im_end|>\n<|im_start|>user\nu<|im_end|>\n<|im_start|>assistant\n"
    assert tokenizer.decode(tokenizer("click('12')")["input_ids"]) == "click('12')"
    # seeded: same arguments, same weights
    again = AutoModelForCausalLM.from_pretrained(build_tiny_qwen(tmp_path / "third", CORPUS, vocab_size=400,
                                                                 hidden_size=32, layers=1, heads=2, seed=3))
    assert all((a == b).all() for a, b in zip(model.parameters(), again.parameters()))


# --------------------------------------------------------------------------- local backend


def test_resolve_spec(tiny):
    base, adapter = tiny
    assert resolve_spec(str(base)) == (str(base), None)
    assert resolve_spec(str(adapter)) == (str(base), str(adapter))
    assert resolve_spec(f"{base}+{adapter}") == (str(base), str(adapter))
    assert resolve_spec("Qwen/Qwen2.5-3B-Instruct") == ("Qwen/Qwen2.5-3B-Instruct", None)


def test_local_adapter_runs_a_worker_step(tiny, tmp_path):
    _, adapter = tiny
    runtime = make_runtime(qwen_plugin)
    backend = runtime.backends.create(f"local:{adapter}", BackendSettings(max_tokens=16))
    assert backend.name == f"local:{adapter}" and backend.supports_images is False
    backend.check()
    config = mode_config("baseline_worker", env={}, max_steps=1, use_screenshot=False,
                         worker_backend=f"local:{adapter}", max_tokens=16, worker_decoding="free")
    result = run_episode(TASK, config, site(), runtime, data_dir=tmp_path)
    assert result.steps == 1 and result.terminated_by == "max_steps", result.error
    # a random model decoding freely writes no action: the worker asked twice and recorded the failure
    assert result.usage.calls == 2 and result.usage.tokens_in > 0 and result.usage.cost == 0
    step = [json.loads(line) for line in next(tmp_path.rglob("*.jsonl")).read_text().splitlines()][1]
    assert step["decision_meta"]["parse_error"] and step["decision_meta"]["model"] == f"local:{adapter}"
    assert step["last_action_error"] or step["action"] == "noop()"


def test_local_check_backend_greedy_and_seeded_sampling(tiny):
    base, adapter = tiny
    for spec in (str(base), f"{base}+{adapter}"):
        check_backend(LocalBackend(spec, BackendSettings(max_tokens=8)))
    greedy = LocalBackend(str(adapter), BackendSettings(max_tokens=12))
    messages = [Message("system", "s"), Message("user", "Goal: say hi")]
    first = greedy.complete(messages)
    assert greedy.complete(messages).text == first.text
    assert first.usage.tokens_out <= 12 and first.usage.latency_ms > 0
    sampled = LocalBackend(str(adapter), BackendSettings(max_tokens=12, temperature=1.0, seed=5))
    a, b = sampled.complete(messages), sampled.complete(messages)
    assert a.raw["text"] == b.raw["text"]  # same seed, same sample
    assert sampled.complete(messages, seed=6).raw["text"] != a.raw["text"] or a.usage.tokens_out <= 1


def test_local_adapter_changes_the_model(tiny):
    import torch

    base, adapter = tiny
    plain_model, tokenizer = LocalBackend(str(base)).load()
    tuned_model, _ = LocalBackend(str(adapter)).load()
    unmerged_model, _ = LocalBackend(str(adapter), BackendSettings(extra={"merge_lora": False})).load()
    ids = tokenizer("Goal: open the cart", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        plain, tuned, unmerged = (m(ids).logits for m in (plain_model, tuned_model, unmerged_model))
    assert not torch.allclose(plain, tuned, atol=1e-3)
    assert torch.allclose(tuned, unmerged, atol=1e-4)


def test_local_dtype_and_int8_settings(tiny, monkeypatch):
    """``dtype`` and ``quantize`` (settings or ``HALO_LOCAL_*``): bfloat16 weights; int8
    dynamic linear layers with the LM head left in float; both still answer; bad values
    are one clear error."""
    import torch

    base, adapter = tiny
    messages = [Message("system", "s"), Message("user", "Goal: say hi")]
    bf16 = LocalBackend(f"{base}+{adapter}", BackendSettings(max_tokens=6, extra={"dtype": "bfloat16"}))
    model, _ = bf16.load()
    assert next(model.parameters()).dtype == torch.bfloat16 and bf16.complete(messages).usage.tokens_out >= 1
    monkeypatch.setenv("HALO_LOCAL_QUANTIZE", "int8")
    int8 = LocalBackend(f"{base}+{adapter}", BackendSettings(max_tokens=6))
    model, _ = int8.load()
    quantized = [n for n, m in model.named_modules() if type(m).__name__ == "Linear" and "quantized" in type(m).__module__]
    assert any("q_proj" in n for n in quantized) and any("down_proj" in n for n in quantized)
    assert isinstance(model.get_output_embeddings(), torch.nn.Linear)
    assert not any(n.endswith("lm_head") for n in quantized)
    assert int8.complete(messages).usage.tokens_out >= 1
    monkeypatch.setenv("HALO_LOCAL_QUANTIZE", "int4")
    with pytest.raises(BackendConfigError, match="quantize 'int4' is not known"):
        LocalBackend(str(base)).load()
    monkeypatch.delenv("HALO_LOCAL_QUANTIZE")
    with pytest.raises(BackendConfigError, match="not a torch dtype"):
        LocalBackend(str(base), BackendSettings(extra={"dtype": "float7"})).load()


def test_local_missing_paths_fail_check(tmp_path):
    with pytest.raises(BackendConfigError, match="does not exist"):
        LocalBackend(str(tmp_path / "nothing-here") + "/").check()
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "adapter_config.json").write_text("{}")
    with pytest.raises(BackendConfigError, match="base_model_name_or_path"):
        LocalBackend(str(tmp_path / "broken"))


def test_prompt_hook_adds_a_worked_example_for_the_local_model(tiny, tmp_path):
    """A third-party plugin changes the worker prompt through ``halo_build_messages`` — no
    private imports — and the local model receives the example (more prompt tokens)."""
    from halo_core import hookimpl
    from halo_core.prompts import worker_messages

    _, adapter = tiny
    seen = []

    class WorkedExample:
        @hookimpl
        def halo_build_messages(self, role, observation, episode):
            if role != "worker" or not episode.config.worker_backend.startswith("local:"):
                return None
            messages = worker_messages(episode.task.goal, observation, episode.history)
            example = [Message("user", "Goal: open the cart\nPage:\n[12] link 'Cart'\nNext action:"),
                       Message("assistant", "click('12')")]
            seen.append(messages[:1] + example + messages[1:])
            return seen[-1]

    config = mode_config("baseline_worker", env={}, max_steps=1, use_screenshot=False,
                         worker_backend=f"local:{adapter}", max_tokens=4)
    plain = run_episode(TASK, config, site(), make_runtime(qwen_plugin), data_dir=tmp_path / "plain")
    shown = run_episode(TASK, config, site(), make_runtime(qwen_plugin, WorkedExample()), data_dir=tmp_path / "ex")
    assert seen and [m.role for m in seen[0]] == ["system", "user", "assistant", "user"]
    assert plain.usage.calls == shown.usage.calls
    # each call carried the example's tokens as well
    assert shown.usage.tokens_in > plain.usage.tokens_in


def test_torch_threads_follow_the_env_then_the_machine(monkeypatch):
    """HALO_TORCH_THREADS wins; unset, a machine busier than its cores gets one thread and
    an idle one keeps torch's default."""
    import os

    import torch

    from halo_plugin_qwen import local

    before = torch.get_num_threads()
    try:
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
        monkeypatch.setenv("HALO_TORCH_THREADS", "2")
        assert local.set_torch_threads() == 2
        monkeypatch.delenv("HALO_TORCH_THREADS")
        monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {0, 1})
        monkeypatch.setattr(os, "getloadavg", lambda: (7.5, 7.0, 6.0))
        assert local.set_torch_threads() == 1
        torch.set_num_threads(2)
        monkeypatch.setattr(os, "getloadavg", lambda: (0.3, 0.2, 0.1))
        assert local.set_torch_threads() == 2  # left as it was
    finally:
        torch.set_num_threads(before)
