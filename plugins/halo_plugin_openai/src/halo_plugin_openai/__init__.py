"""HALO plugin: the ``openai:`` backend (OpenAI chat completions, any OpenAI-compatible server)."""

from halo_plugin_openai.backend import PRICES, OpenAIBackend
from halo_plugin_openai.plugin import DEFAULT_BACKENDS

__all__ = ["DEFAULT_BACKENDS", "PRICES", "OpenAIBackend"]
