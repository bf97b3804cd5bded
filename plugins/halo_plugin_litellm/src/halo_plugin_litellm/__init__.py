"""HALO plugin: the ``litellm:`` backend (``litellm.completion``)."""

from halo_plugin_litellm.backend import LiteLLMBackend

__all__ = ["LiteLLMBackend"]
