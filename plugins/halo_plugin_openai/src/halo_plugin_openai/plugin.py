"""Entry point ``openai``: registers the ``openai:`` backend prefix."""

from __future__ import annotations

from halo_core import hookimpl


def make_backend(model, settings):
    from halo_plugin_openai.backend import OpenAIBackend

    return OpenAIBackend(model, settings)


@hookimpl
def halo_register_backends(register):
    register("openai", make_backend,
             description="OpenAI chat completions (OPENAI_API_KEY; OPENAI_BASE_URL for compatible servers)",
             requires="openai")
