"""End to end: the anthropic: backend against the loopback Messages API server finishes a
web-clone task in the real browser (``run_backend_through_loopback``); images go as base64 blocks."""

from __future__ import annotations

import pytest

pytest.importorskip("halo_plugin_webclones.policy")

from halo_plugin_webclones.testing import run_backend_through_loopback  # noqa: E402

import halo_plugin_anthropic.plugin as anthropic_plugin  # noqa: E402
from anth_loopback import AnthropicLoopback  # noqa: E402
from halo_plugin_anthropic import AnthropicBackend  # noqa: E402

from halo_core.backends import BackendSettings  # noqa: E402

pytestmark = pytest.mark.slow


def test_webclone_task_through_the_browser(tmp_path):
    requests = run_backend_through_loopback(
        AnthropicLoopback, lambda url: AnthropicBackend("claude-haiku-4-5", BackendSettings(base_url=url)),
        anthropic_plugin, "anthropic:claude-haiku-4-5", tmp_path, key_env="ANTHROPIC_API_KEY",
        key="sk-ant-test-e2e-000000")
    image = requests[0]["body"]["messages"][0]["content"][0]
    assert image["type"] == "image" and image["source"]["type"] == "base64"
    assert requests[0]["body"]["system"].startswith("You are a web agent")
