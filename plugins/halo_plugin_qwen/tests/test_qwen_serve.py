"""vllm: against the real ``transformers serve`` (OpenAI-compatible), serving a tiny Qwen2.

The server starts once per module, offline, on a free loopback port. It serves the
base model by absolute path and a LoRA "adapter" by name: the merged base+adapter is
saved as ``<server cwd>/qwen_bc``, so ``model="qwen_bc"`` selects it as
``vllm serve --lora-modules qwen_bc=<path>`` would. Which ``model`` each request carried
is read from the requests themselves (a recording proxy in front of the server) and from
the ``model`` the server answers with — never from the server's log.
"""

from __future__ import annotations

import json

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

import halo_plugin_qwen.plugin as qwen_plugin  # noqa: E402
from halo_plugin_qwen.serve import TransformersServe  # noqa: E402
from halo_plugin_qwen.tiny import build_tiny_qwen, make_tiny_lora  # noqa: E402
from halo_plugin_qwen.vllm import VLLMBackend  # noqa: E402

from halo_core.backends import BackendSettings, Message  # noqa: E402
from halo_core.config import mode_config  # noqa: E402
from halo_core.loop import run_episode  # noqa: E402
from halo_core.model import TaskSpec  # noqa: E402
from halo_core.testing import GraphEnvironment, Page, check_backend, make_runtime  # noqa: E402

pytestmark = pytest.mark.slow

CORPUS = ["Goal: open the cart. click('12') fill('3', 'pot') send_msg_to_user('Done')"] * 4
TASK = TaskSpec(id="graph.one", goal="Open the products page", suite="graph")


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    root = tmp_path_factory.mktemp("serve")
    base = build_tiny_qwen(root / "base", CORPUS)
    adapter = make_tiny_lora(base, root / "adapter", seed=1)
    cwd = root / "cwd"
    merged = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base), adapter).merge_and_unload()
    merged.save_pretrained(cwd / "qwen_bc")
    AutoTokenizer.from_pretrained(adapter).save_pretrained(cwd / "qwen_bc")
    with TransformersServe(cwd) as server:
        yield server, base


@pytest.fixture(autouse=True)
def _env(monkeypatch, served):
    server, _ = served
    monkeypatch.setenv("HALO_VLLM_URL", server.url)
    monkeypatch.delenv("HALO_VLLM_API_KEY", raising=False)


def test_round_trip_with_usage(served):
    server, base = served
    backend = VLLMBackend(str(base), BackendSettings(max_tokens=8, seed=0))
    backend.check()  # transformers serve's /v1/models fails offline; the server still counts as up
    completion = backend.complete([Message("system", "s"), Message("user", "Goal: say hi")])
    u = completion.usage
    assert u.calls == 1 and u.tokens_in > 0 and 0 < u.tokens_out <= 8 and u.cost == 0
    assert completion.model.startswith(str(base))
    assert server.received_models()[-1] == str(base)
    check_backend(backend)


def test_lora_name_routing(served):
    server, base = served
    before = len(server.received_models())
    completion = VLLMBackend("qwen_bc", BackendSettings(max_tokens=8)).complete([Message("user", "Goal: x")])
    assert completion.model.split("@")[0] == "qwen_bc" and completion.usage.calls == 1
    assert server.received_models()[before:] == ["qwen_bc"]


def test_worker_handles_a_model_that_writes_no_action(served, tmp_path):
    server, _ = served
    site = GraphEnvironment({"home": Page("Home", [("link", "Products", "products")]),
                             "products": Page("Products", [])}, goal_page="products")
    config = mode_config("qwen_worker_bc", env={}, max_steps=1, use_screenshot=False, use_vac=False,
                         use_macros=False, use_manager=False, max_tokens=12, worker_temperature=1.0, seed=0)
    before = len(server.received_models())
    result = run_episode(TASK, config, site, make_runtime(qwen_plugin), data_dir=tmp_path)
    assert result.terminated_by == "max_steps" and result.steps == 1, result.error
    assert result.usage.calls == 2 and server.received_models()[before:] == ["qwen_bc", "qwen_bc"]
    step = [json.loads(line) for line in next(tmp_path.rglob("*.jsonl")).read_text().splitlines()][1]
    assert step["decision_meta"]["parse_error"]
    assert step["last_action_error"] or step["action"] == "noop()"
