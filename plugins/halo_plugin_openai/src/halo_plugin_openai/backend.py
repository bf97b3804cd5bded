"""``openai:<model>`` — chat completions through the official ``openai`` client."""

from __future__ import annotations

import os
import re
from typing import Any, Sequence

from halo_core.api import BackendConfigError, BackendSettings, Message
from halo_core.api import RemoteBackend, chat_request, chat_response, host_of

DEFAULT_BASE_URL = "https://api.openai.com/v1"
#: models that accept image input
VISION_MODELS = re.compile(
    r"^(?:openai/)?(?:gpt-4o|chatgpt-4o|gpt-4\.1|gpt-4-turbo|gpt-4-vision|gpt-4\.5|gpt-5|o1|o3|o4)", re.I)

#: $ per 1M tokens (input, output), OpenAI's list prices. Longest matching prefix wins
#: ("gpt-4o-mini-2024-07-18" is "gpt-4o-mini").
PRICES: dict[str, tuple[float, float]] = {
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.00),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4-turbo": (10.00, 30.00),
    "gpt-3.5-turbo": (0.50, 1.50),
    "o4-mini": (1.10, 4.40),
    "o3-mini": (1.10, 4.40),
    "o3": (2.00, 8.00),
}


class OpenAIBackend(RemoteBackend):
    """OpenAI chat completions; ``settings.base_url`` / ``OPENAI_BASE_URL`` for other servers."""

    prefix = "openai"
    log_names = ("openai", "httpx", "httpcore")
    key_var = "OPENAI_API_KEY"
    default_prices = PRICES

    def __init__(self, model: str, settings: BackendSettings | None = None) -> None:
        settings = settings or BackendSettings()
        self.base_url = (settings.base_url or os.environ.get("OPENAI_BASE_URL", "").strip() or None)
        self.key_var = (settings.extra or {}).get("api_key_env", type(self).key_var)
        super().__init__(model, settings)
        self._client = None

    @property
    def custom_server(self) -> bool:
        return self.base_url is not None and host_of(self.base_url) != host_of(DEFAULT_BASE_URL)

    def _default_images(self) -> bool:
        return bool(VISION_MODELS.match(self.model))

    def _host(self) -> str:
        return host_of(self.base_url or DEFAULT_BASE_URL)

    def check(self) -> None:
        """The key is set (not validated: that would spend a call), unless a custom server is used."""
        if self._key() is None and not self.custom_server:
            raise BackendConfigError(f"{self.name}: {self.key_var} is not set; export it "
                                     "(or set OPENAI_BASE_URL for a server that needs no key)")

    def client(self):
        if self._client is None:
            self.check()
            import openai

            self._client = openai.OpenAI(api_key=self._key() or "EMPTY", base_url=self.base_url or DEFAULT_BASE_URL,
                                         timeout=self.settings.timeout_s, max_retries=0)
        return self._client

    def _request(self, messages: Sequence[Message], options: dict[str, Any]) -> Any:
        client = self.client()
        param = (self.settings.extra or {}).get("max_tokens_param") or \
            ("max_tokens" if self.custom_server else "max_completion_tokens")
        return client.chat.completions.create(**chat_request(self.model, messages, options, max_tokens_param=param))

    def _parse(self, response: Any) -> tuple[str, int, int, str]:
        return chat_response(response)
