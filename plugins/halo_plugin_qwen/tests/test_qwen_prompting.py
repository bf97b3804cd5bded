"""Worker prompts for small instruct models, and the output contract with a real model reply."""

from __future__ import annotations

import json

import halo_plugin_qwen.plugin as qwen_plugin
import pytest
from halo_plugin_qwen.gguf_import import IMPORT_INFO
from halo_plugin_qwen.local import LocalBackend, LocalOptions, first_line
from halo_plugin_qwen.prompting import FEWSHOT_SYSTEM, prompt_style
from halo_plugin_qwen.tiny import build_tiny_qwen
from halo_plugin_qwen.vllm import VLLMBackend
from vllm_loopback import VLLMLoopback

from halo_core.actions import extract_action
from halo_core.backends import BackendSettings, Message
from halo_core.config import mode_config
from halo_core.loop import run_episode
from halo_core.model import TaskSpec
from halo_core.prompts import WORKER_SYSTEM
from halo_core.testing import GraphEnvironment, Page, make_runtime

TASK = TaskSpec(id="graph.one", goal="Open the products page", suite="graph")


class RecordingEnvironment:
    """A GraphEnvironment that remembers every action sent to it."""

    def __init__(self) -> None:
        self.inner = GraphEnvironment({"home": Page("Home", [("link", "Products", "products")]),
                                       "products": Page("Products", [])}, goal_page="products")
        self.sent: list[str] = []

    def reset(self, task):
        return self.inner.reset(task)

    def step(self, action):
        self.sent.append(action)
        return self.inner.step(action)

    def evaluate(self, *args):
        return self.inner.evaluate(*args)

    def close(self):
        self.inner.close()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return build_tiny_qwen(tmp_path_factory.mktemp("tiny") / "base", ["Goal: Page: Next action:"] * 2, seed=0)


def _config(model, **options):
    runtime = make_runtime(qwen_plugin)
    return runtime, mode_config("baseline_worker", env={}, runtime=runtime, worker_backend=f"local:{model}",
                                max_steps=2, use_recovery=False, max_tokens=24, **options)


@pytest.mark.parametrize("style", ["default", "fewshot"])
def test_garbage_from_a_real_model_is_recorded_and_never_sent(tiny, tmp_path, style):
    runtime, config = _config(tiny, worker_prompt=style, worker_decoding="free")
    env = RecordingEnvironment()
    steps = []
    result = run_episode(TASK, config, env, runtime, data_dir=tmp_path, on_step=lambda record, after: steps.append(record))
    assert result.counters == {"worker_steps": 2, "invalid_outputs": 2}, result
    assert env.sent == []  # random weights write no valid action: nothing reaches the environment
    for record in steps:
        meta = record.decision.meta
        assert "invalid_output" in meta and meta["parse_error"]  # the reply (maybe empty) and why
        assert meta["worker_usage"]["calls"] == 2  # asked once more before giving up
    events = [json.loads(line) for line in result_path(tmp_path).read_text().splitlines()]
    assert "nothing was sent to the browser" in events[2]["last_action_error"]
    prompt = steps[0].decision.meta["prompt"]
    assert prompt.startswith("Goal: Open the products page") and "[1] link 'Products'" in prompt
    if style == "fewshot":
        # one line at most: the local backend stopped at the first newline
        assert all("\n" not in record.decision.meta["invalid_output"].strip() for record in steps)


def result_path(data_dir):
    return next(data_dir.glob("trajectories/baseline_worker/*/graph.one__attempt_0.jsonl"))


def test_fewshot_messages_carry_the_contract_and_examples(tiny, tmp_path):
    runtime, config = _config(tiny, worker_prompt="fewshot")
    seen = []

    calls = []

    class Capture:
        name, supports_images = "capture", False
        Options = LocalOptions

        def complete(self, messages, **kwargs):
            from halo_core.backends import Completion

            seen.append(list(messages))
            calls.append(kwargs.get("options"))
            return Completion("click('1')\n")

    capture = Capture()
    run_episode(TASK, config, RecordingEnvironment(), runtime, data_dir=tmp_path, backends={"worker": capture})
    messages = seen[0]
    assert messages[0] == Message("system", FEWSHOT_SYSTEM)
    assert [m.role for m in messages[1:]] == ["user", "assistant"] * ((len(messages) - 2) // 2) + ["user"]
    assert len(messages) >= 4
    for example in messages[2:-1:2]:  # every worked answer is one valid action
        assert extract_action(example.content) == example.content
    assert messages[-1].content.startswith("Goal: Open the products page")
    assert calls[0]["one_line"] is True  # the prompt's one-line contract reaches the backend's call


def test_auto_picks_fewshot_for_small_instruct_models(tmp_path, tiny):
    from halo_core.config import build_config

    auto = build_config(runtime=make_runtime(qwen_plugin), mode="x")
    assert auto.get("worker_prompt") == "auto"
    assert prompt_style(auto, LocalBackend(str(tmp_path / "SmolLM2-135M-Instruct"))) == "fewshot"
    assert prompt_style(auto, VLLMBackend("HuggingFaceTB/SmolLM2-360M-Instruct")) == "fewshot"
    assert prompt_style(auto, VLLMBackend("Qwen/Qwen2.5-3B-Instruct")) == "default"
    assert prompt_style(auto, LocalBackend(str(tiny))) == "default"
    imported = tmp_path / "imported"
    imported.mkdir()
    (imported / IMPORT_INFO).write_text(json.dumps({"worker_prompt": "fewshot"}))
    assert prompt_style(auto, LocalBackend(str(imported))) == "fewshot"
    # a LoRA adapter was trained on exported steps, which carry the default prompt
    assert prompt_style(auto, LocalBackend(f"{tmp_path / 'SmolLM2-135M-Instruct'}+{tiny}")) == "default"
    forced = build_config(runtime=make_runtime(qwen_plugin), mode="x", worker_prompt="fewshot")
    assert prompt_style(forced, VLLMBackend("Qwen/Qwen2.5-3B-Instruct")) == "fewshot"


def test_default_prompt_is_unchanged_for_other_models(tiny, tmp_path):
    runtime, config = _config(tiny)
    seen = []

    class Capture:
        name, supports_images = "capture", False

        def complete(self, messages, **options):
            from halo_core.backends import Completion

            seen.append(list(messages))
            return Completion("click('1')")

    run_episode(TASK, config, RecordingEnvironment(), runtime, data_dir=tmp_path, backends={"worker": Capture()})
    assert seen[0][0] == Message("system", WORKER_SYSTEM) and len(seen[0]) == 2


def test_first_line():
    assert first_line("\n  click('3')\nBecause the link") == "click('3')"
    assert first_line("click('3')") == "click('3')"


def test_one_line_option_stops_at_the_end_of_the_first_line(tiny):
    from halo_plugin_qwen.engine import DecodeEngine, Request
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny)
    engine = DecodeEngine(AutoModelForCausalLM.from_pretrained(tiny), tokenizer)
    newline = tokenizer("\n", add_special_tokens=False)["input_ids"][0]
    prompt = tokenizer("Goal: x\nNext action:", add_special_tokens=False)["input_ids"]

    def forced(*tokens):
        class Force:  # the model writes exactly ``tokens``, then anything
            def __call__(self, generated, scores):
                n = generated.shape[1]
                if n < len(tokens):
                    scores[:] = float("-inf")
                    scores[0, tokens[n]] = 0.0
                return scores
        return Force()

    click = tokenizer("click('3')", add_special_tokens=False)["input_ids"]
    lead = Request(prompt, 20, one_line=True, processor=forced(newline, *click, newline))
    free = Request(prompt, 20, one_line=False, processor=forced(newline, *click, newline))
    engine.generate([lead, free])
    assert lead.out == [newline, *click, newline]  # a leading newline is not the end of a line
    assert len(free.out) == 20


def test_vllm_one_line_sends_a_stop_sequence():
    with VLLMLoopback(lambda body: "click('3')") as server:
        backend = VLLMBackend("SmolLM2-135M-Instruct", BackendSettings(base_url=server.url, max_retries=0))
        backend.complete([Message("user", "hi")])
        backend.complete([Message("user", "hi")], options={"one_line": True})
    assert "stop" not in server.requests[0]["body"] and server.requests[1]["body"]["stop"] == ["\n"]
