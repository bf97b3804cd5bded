"""Entry point ``litellm``: registers the ``litellm:`` backend prefix."""

from __future__ import annotations

from halo_core import hookimpl


def make_backend(model, settings):
    from halo_plugin_litellm.backend import LiteLLMBackend

    return LiteLLMBackend(model, settings)


@hookimpl
def halo_register_backends(register):
    register("litellm", make_backend, description="any provider through litellm.completion(model=...)",
             requires="litellm")
