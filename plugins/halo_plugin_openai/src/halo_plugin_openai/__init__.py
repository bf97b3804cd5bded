"""HALO plugin: the ``openai:`` backend (OpenAI chat completions, any OpenAI-compatible server)."""

from halo_plugin_openai.backend import OpenAIBackend

__all__ = ["OpenAIBackend"]
