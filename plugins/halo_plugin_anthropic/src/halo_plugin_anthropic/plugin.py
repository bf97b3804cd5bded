"""Entry point ``anthropic``: registers the ``anthropic:`` backend prefix."""

from __future__ import annotations

from halo_core import hookimpl


def make_backend(model, settings):
    from halo_plugin_anthropic.backend import AnthropicBackend

    return AnthropicBackend(model, settings)


@hookimpl
def halo_register_backends(register):
    register("anthropic", make_backend,
             description="Claude through the Anthropic Messages API (ANTHROPIC_API_KEY; ANTHROPIC_BASE_URL)",
             requires="anthropic")
