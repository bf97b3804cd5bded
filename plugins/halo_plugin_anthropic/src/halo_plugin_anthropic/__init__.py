"""HALO plugin: the ``anthropic:`` backend (Claude through the Messages API)."""

from halo_plugin_anthropic.backend import PRICES, AnthropicBackend

__all__ = ["AnthropicBackend", "PRICES"]
