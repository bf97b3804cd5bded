"""End to end: the openai: backend, served by the loopback chat-completions server, drives the
real browser through a web-clone task (``run_backend_through_loopback``)."""

from __future__ import annotations

import pytest

pytest.importorskip("halo_plugin_webclones.policy")

from halo_plugin_webclones.testing import run_backend_through_loopback  # noqa: E402

import halo_plugin_openai.plugin as openai_plugin  # noqa: E402
from halo_plugin_openai import OpenAIBackend  # noqa: E402
from oai_loopback import OpenAILoopback  # noqa: E402

from halo_core.backends import BackendSettings  # noqa: E402
from halo_core.loopback import chat_screenshot_url  # noqa: E402

pytestmark = pytest.mark.slow


def test_webclone_task_through_the_browser(tmp_path):
    requests = run_backend_through_loopback(
        OpenAILoopback, lambda url: OpenAIBackend("gpt-4o-mini", BackendSettings(base_url=url)),
        openai_plugin, "openai:gpt-4o-mini", tmp_path, key_env="OPENAI_API_KEY")
    assert chat_screenshot_url(requests[0]).startswith("data:image/")
