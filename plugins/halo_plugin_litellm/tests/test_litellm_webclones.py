"""End to end: the litellm: backend, its api_base pointed at the loopback OpenAI-compatible
server, completes a web-clone task in the real browser (``run_backend_through_loopback``)."""

from __future__ import annotations

import pytest

pytest.importorskip("halo_plugin_webclones.policy")

from halo_plugin_webclones.testing import run_backend_through_loopback  # noqa: E402

import halo_plugin_litellm.plugin as litellm_plugin  # noqa: E402
from halo_plugin_litellm import LiteLLMBackend  # noqa: E402
from llm_loopback import LiteLLMLoopback  # noqa: E402

from halo_core.backends import BackendSettings  # noqa: E402
from halo_core.loopback import chat_screenshot_url  # noqa: E402

pytestmark = pytest.mark.slow


def test_webclone_task_through_the_browser(tmp_path):
    requests = run_backend_through_loopback(
        LiteLLMLoopback, lambda url: LiteLLMBackend("openai/gpt-4o-mini", BackendSettings(base_url=url)),
        litellm_plugin, "litellm:openai/gpt-4o-mini", tmp_path, key_env="OPENAI_API_KEY")
    assert chat_screenshot_url(requests[0]).startswith("data:image/")
