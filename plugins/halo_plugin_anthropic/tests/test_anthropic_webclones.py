"""End to end: anthropic: backend (loopback Messages API server) driving the real browser on a web-clone site.

The loopback server answers each worker call with the web-clone expert's next action
for the page the browser is on, so the episode must succeed through the real stack:
browser → observation → prompt (with a screenshot) → HTTP → parsing → action → browser.
"""

from __future__ import annotations

import pytest

pytest.importorskip("halo_plugin_webclones.policy")
pytest.importorskip("halo_core.env.browser")

import halo_plugin_anthropic.plugin as anthropic_plugin  # noqa: E402
from anth_loopback import AnthropicLoopback  # noqa: E402
from halo_plugin_anthropic import AnthropicBackend  # noqa: E402
from halo_plugin_webclones.policy import expert_action  # noqa: E402
from halo_plugin_webclones.suite import WebclonesSuite  # noqa: E402

from halo_core import hookimpl  # noqa: E402
from halo_core.backends import BackendSettings  # noqa: E402
from halo_core.config import mode_config  # noqa: E402
from halo_core.env.protocol import EnvSettings  # noqa: E402
from halo_core.loop import run_episode  # noqa: E402
from halo_core.testing import make_runtime  # noqa: E402

pytestmark = pytest.mark.slow
KEY = "sk-ant-test-e2e-000000"


class Watch:
    """Remembers the episode being decided, so the server can ask the expert about it."""

    episode = None

    @hookimpl(tryfirst=True)
    def halo_decide(self, observation, episode):
        self.episode = episode
        return None


def test_webclone_task_through_the_browser(monkeypatch, tmp_path):
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    suite = WebclonesSuite()
    task = suite.resolve("webclones.mail-8")
    watch = Watch()

    def reply(body):
        ep = watch.episode
        return "Action: " + expert_action(ep.task.id, ep.observations[-1], ep.history, ep.observations)

    env = suite.make_environment(task, EnvSettings(screenshot=True))
    try:
        with AnthropicLoopback(reply, key=KEY) as server:
            backend = AnthropicBackend("claude-haiku-4-5", BackendSettings(base_url=server.url))
            config = mode_config("baseline_worker", env={}, max_steps=10, worker_backend="anthropic:claude-haiku-4-5")
            result = run_episode(task, config, env, make_runtime(anthropic_plugin, watch),
                                 backends={"worker": backend}, data_dir=tmp_path)
            assert result.success, (result.terminated_by, result.error, result.final_message)
            assert result.usage.calls == result.steps == len(server.requests)
            image = server.requests[0]["body"]["messages"][0]["content"][0]
            assert image["type"] == "image" and image["source"]["type"] == "base64"
            assert server.requests[0]["body"]["system"].startswith("You are a web agent")
    finally:
        env.close()
