"""openai: with base_url against the real ``transformers serve`` serving a tiny Qwen2 (slow)."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
pytest.importorskip("halo_plugin_qwen.serve", reason="halo-plugin-qwen builds the tiny model and runs the server")

import halo_plugin_openai.plugin as openai_plugin  # noqa: E402
from halo_plugin_openai import OpenAIBackend  # noqa: E402
from halo_plugin_qwen.serve import TransformersServe  # noqa: E402
from halo_plugin_qwen.tiny import build_tiny_qwen  # noqa: E402

from halo_core.backends import BackendSettings, Message  # noqa: E402
from halo_core.config import mode_config  # noqa: E402
from halo_core.loop import run_episode  # noqa: E402
from halo_core.model import TaskSpec  # noqa: E402
from halo_core.testing import GraphEnvironment, Page, check_backend, make_runtime  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore:no price known")]
TASK = TaskSpec(id="graph.one", goal="Open the products page", suite="graph")


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    root = tmp_path_factory.mktemp("serve")
    base = build_tiny_qwen(root / "tiny", ["Goal: click('1') send_msg_to_user('Done')"] * 4)
    with TransformersServe(root) as server:
        yield server, base


@pytest.fixture(autouse=True)
def _env(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)  # a custom server needs no key
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)


def test_chat_completion_round_trip_with_usage(served):
    server, base = served
    backend = OpenAIBackend(str(base), BackendSettings(base_url=server.url, max_tokens=8, seed=1))
    backend.check()
    completion = backend.complete([Message("system", "s"), Message("user", "Goal: say hi")])
    assert completion.usage.calls == 1 and completion.usage.tokens_in > 0 and 0 < completion.usage.tokens_out <= 8
    assert completion.model.split("@")[0] == str(base)
    assert server.received_models()[-1] == str(base)
    check_backend(backend)


def test_worker_reasks_then_records_the_error(served, monkeypatch, tmp_path):
    server, base = served
    monkeypatch.setenv("OPENAI_BASE_URL", server.url)
    site = GraphEnvironment({"home": Page("Home", [("link", "Products", "products")]),
                             "products": Page("Products", [])}, goal_page="products")
    config = mode_config("baseline_worker", env={}, max_steps=1, use_screenshot=False, worker_backend=f"openai:{base}",
                         max_tokens=12, worker_temperature=1.0, seed=0)
    result = run_episode(TASK, config, site, make_runtime(openai_plugin), data_dir=tmp_path)
    assert result.steps == 1 and result.terminated_by == "max_steps", result.error
    assert result.usage.calls == 2
    step = [json.loads(line) for line in next(tmp_path.rglob("*.jsonl")).read_text().splitlines()][1]
    assert step["decision_meta"]["parse_error"] and (step["last_action_error"] or step["action"] == "noop()")
