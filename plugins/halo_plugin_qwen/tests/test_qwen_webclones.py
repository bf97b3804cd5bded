"""End to end: vllm: backend (HALO_VLLM_URL → loopback OpenAI-compatible server, LoRA name)
driving the real browser on a web-clone site.

The loopback server answers each worker call with the web-clone expert's next action
for the page the browser is on, so the episode must succeed through the real stack:
browser → observation → prompt (with a screenshot) → HTTP → parsing → action → browser.
"""

from __future__ import annotations

import pytest

pytest.importorskip("halo_plugin_webclones.policy")
pytest.importorskip("halo_core.env.browser")

from halo_plugin_webclones.testing import ExpertOracle, run_oracle_episode  # noqa: E402

import halo_plugin_qwen.plugin as qwen_plugin  # noqa: E402
from vllm_loopback import VLLMLoopback  # noqa: E402


pytestmark = pytest.mark.slow
KEY = "vllm-key-e2e"


def test_webclone_task_through_the_browser(monkeypatch, tmp_path):
    monkeypatch.setenv("HALO_VLLM_API_KEY", KEY)
    oracle = ExpertOracle()
    reply = lambda body: f"<think>following the plan</think>{oracle.next_action()}<|im_end|>"  # noqa: E731
    with VLLMLoopback(reply, key=KEY) as server:
        monkeypatch.setenv("HALO_VLLM_URL", server.url)
        result = run_oracle_episode(oracle, "webclones.mail-8", tmp_path, plugins=(qwen_plugin,),
                                    mode="qwen_worker_bc", use_vac=False, use_macros=False, use_manager=False)
        assert result.success, (result.terminated_by, result.error, result.final_message)
        assert result.usage.calls == result.steps == len(server.requests)
        assert {r["body"]["model"] for r in server.requests} == {"qwen_bc"}
        assert isinstance(server.requests[0]["body"]["messages"][1]["content"], str)  # text-only
