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

import halo_plugin_qwen.plugin as qwen_plugin  # noqa: E402
from halo_plugin_webclones.policy import expert_action  # noqa: E402
from halo_plugin_webclones.suite import WebclonesSuite  # noqa: E402
from vllm_loopback import VLLMLoopback  # noqa: E402

from halo_core import hookimpl  # noqa: E402
from halo_core.config import mode_config  # noqa: E402
from halo_core.env.protocol import EnvSettings  # noqa: E402
from halo_core.loop import run_episode  # noqa: E402
from halo_core.testing import make_runtime  # noqa: E402

pytestmark = pytest.mark.slow
KEY = "vllm-key-e2e"


class Watch:
    """Remembers the episode being decided, so the server can ask the expert about it."""

    episode = None

    @hookimpl(tryfirst=True)
    def halo_decide(self, observation, episode):
        self.episode = episode
        return None


def test_webclone_task_through_the_browser(monkeypatch, tmp_path):
    monkeypatch.setenv("HALO_VLLM_API_KEY", KEY)
    suite = WebclonesSuite()
    task = suite.resolve("webclones.mail-8")
    watch = Watch()

    def reply(body):
        ep = watch.episode
        action = expert_action(ep.task.id, ep.observations[-1], ep.history, ep.observations)
        return f"<think>following the plan</think>{action}<|im_end|>"

    env = suite.make_environment(task, EnvSettings(screenshot=True))
    try:
        with VLLMLoopback(reply, key=KEY) as server:
            monkeypatch.setenv("HALO_VLLM_URL", server.url)
            config = mode_config("qwen_worker_bc", env={}, max_steps=10, use_vac=False, use_macros=False,
                                 use_manager=False)
            result = run_episode(task, config, env, make_runtime(qwen_plugin, watch), data_dir=tmp_path)
            assert result.success, (result.terminated_by, result.error, result.final_message)
            assert result.usage.calls == result.steps == len(server.requests)
            assert {r["body"]["model"] for r in server.requests} == {"qwen_bc"}
            assert isinstance(server.requests[0]["body"]["messages"][1]["content"], str)  # text-only
    finally:
        env.close()
