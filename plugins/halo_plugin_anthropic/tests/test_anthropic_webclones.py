"""End to end: anthropic: backend (loopback Messages API server) driving the real browser on a web-clone site.

The loopback server answers each worker call with the web-clone expert's next action
for the page the browser is on, so the episode must succeed through the real stack:
browser → observation → prompt (with a screenshot) → HTTP → parsing → action → browser.
"""

from __future__ import annotations

import pytest

pytest.importorskip("halo_plugin_webclones.policy")
pytest.importorskip("halo_core.env.browser")

from halo_plugin_webclones.testing import run_backend_through_loopback  # noqa: E402

import halo_plugin_anthropic.plugin as anthropic_plugin  # noqa: E402
from anth_loopback import AnthropicLoopback  # noqa: E402
from halo_plugin_anthropic import AnthropicBackend  # noqa: E402

from halo_core.backends import BackendSettings  # noqa: E402

pytestmark = pytest.mark.slow
KEY = "sk-ant-test-e2e-000000"


def test_webclone_task_through_the_browser(monkeypatch, tmp_path):
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    requests = run_backend_through_loopback(
        AnthropicLoopback, lambda url: AnthropicBackend("claude-haiku-4-5", BackendSettings(base_url=url)),
        anthropic_plugin, "anthropic:claude-haiku-4-5", tmp_path, key=KEY)
    image = requests[0]["body"]["messages"][0]["content"][0]
    assert image["type"] == "image" and image["source"]["type"] == "base64"
    assert requests[0]["body"]["system"].startswith("You are a web agent")
