"""End to end: litellm: backend (api_base → loopback OpenAI-compatible server) driving the real
browser on a web-clone site.

The loopback server answers each worker call with the web-clone expert's next action
for the page the browser is on, so the episode must succeed through the real stack:
browser → observation → prompt (with a screenshot) → HTTP → parsing → action → browser.
"""

from __future__ import annotations

import pytest

pytest.importorskip("halo_plugin_webclones.policy")
pytest.importorskip("halo_core.env.browser")

from halo_plugin_webclones.testing import run_backend_through_loopback  # noqa: E402

import halo_plugin_litellm.plugin as litellm_plugin  # noqa: E402
from halo_plugin_litellm import LiteLLMBackend  # noqa: E402
from llm_loopback import LiteLLMLoopback  # noqa: E402

from halo_core.backends import BackendSettings  # noqa: E402

pytestmark = pytest.mark.slow
KEY = "sk-test-e2e-000000"


def test_webclone_task_through_the_browser(monkeypatch, tmp_path):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    requests = run_backend_through_loopback(
        LiteLLMLoopback, lambda url: LiteLLMBackend("openai/gpt-4o-mini", BackendSettings(base_url=url)), litellm_plugin,
        "litellm:openai/gpt-4o-mini", tmp_path, key=KEY)
    content = requests[0]["body"]["messages"][1]["content"]
    assert isinstance(content, list) and content[1]["image_url"]["url"].startswith("data:image/")
