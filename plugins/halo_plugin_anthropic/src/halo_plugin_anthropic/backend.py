"""``anthropic:<model>`` — Claude through the Messages API with the official ``anthropic`` client."""

from __future__ import annotations

import base64
import os
import re
from typing import Any, Sequence

from halo_core.api import BackendConfigError, BackendSettings, Message
from halo_core.api import RemoteBackend, image_mime, response_field as field, host_of

DEFAULT_BASE_URL = "https://api.anthropic.com"
#: Claude 3 and later read images; claude-2 and claude-instant do not
TEXT_ONLY = re.compile(r"^claude-(?:2|instant)", re.I)


def anthropic_request(messages: Sequence[Message], *, images: bool) -> tuple[str, list[dict[str, Any]]]:
    """(system, messages) for the Anthropic Messages API.

    System messages are joined into ``system``; consecutive turns of one role are
    merged (the API wants user/assistant alternation); images become base64 image blocks.
    """
    system = "\n\n".join(m.content for m in messages if m.role == "system")
    turns: list[dict[str, Any]] = []
    for m in messages:
        if m.role == "system":
            continue
        role = "assistant" if m.role == "assistant" else "user"
        blocks: list[dict[str, Any]] = []
        if images and m.images:
            for img in m.images:
                blocks.append({"type": "image", "source": {"type": "base64", "media_type": image_mime(img),
                                                           "data": base64.b64encode(img).decode("ascii")}})
        blocks.append({"type": "text", "text": m.content or "."})
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})
    if not turns or turns[0]["role"] != "user":
        turns.insert(0, {"role": "user", "content": [{"type": "text", "text": "."}]})
    return system, turns

#: $ per 1M tokens (input, output), Anthropic's list prices. Longest matching prefix wins
#: ("claude-3-5-haiku-20241022" is "claude-3-5-haiku").
PRICES: dict[str, tuple[float, float]] = {
    "claude-3-5-sonnet": (3.00, 15.00),
    "claude-3-5-haiku": (0.80, 4.00),
    "claude-3-7-sonnet": (3.00, 15.00),
    "claude-3-haiku": (0.25, 1.25),
    "claude-3-opus": (15.00, 75.00),
    "claude-sonnet-4": (3.00, 15.00),
    "claude-haiku-4-5": (1.00, 5.00),
    "claude-opus-4-5": (5.00, 25.00),
    "claude-opus-4": (15.00, 75.00),
}


class AnthropicBackend(RemoteBackend):
    prefix = "anthropic"
    log_names = ("anthropic", "httpx", "httpx2", "httpcore")
    key_var = "ANTHROPIC_API_KEY"
    default_prices = PRICES

    def __init__(self, model: str, settings: BackendSettings | None = None) -> None:
        settings = settings or BackendSettings()
        self.base_url = settings.base_url or os.environ.get("ANTHROPIC_BASE_URL", "").strip() or None
        self.key_var = (settings.extra or {}).get("api_key_env", type(self).key_var)
        super().__init__(model, settings)
        self._client = None

    def _default_images(self) -> bool:
        return not TEXT_ONLY.match(self.model)

    def _host(self) -> str:
        return host_of(self.base_url or DEFAULT_BASE_URL)

    def check(self) -> None:
        if self._key() is None:
            raise BackendConfigError(f"{self.name}: {self.key_var} is not set; export it")

    def client(self):
        if self._client is None:
            self.check()
            import anthropic

            # the documented x-api-key header, whichever header this client version prefers
            headers = {"x-api-key": self._key(), "Authorization": anthropic.Omit()}
            self._client = anthropic.Anthropic(api_key=self._key(), base_url=self.base_url or DEFAULT_BASE_URL,
                                               timeout=self.settings.timeout_s, max_retries=0,
                                               default_headers=headers)
        return self._client

    def _request(self, messages: Sequence[Message], options: dict[str, Any]) -> Any:
        client = self.client()
        system, turns = anthropic_request(messages, images=options["images"])
        # temperature through extra_body: recent clients dropped the typed parameter, the API still takes it
        kwargs: dict[str, Any] = {"model": self.model, "max_tokens": options["max_tokens"], "messages": turns,
                                  "extra_body": {"temperature": options["temperature"]}}
        if system:
            kwargs["system"] = system
        return client.messages.create(**kwargs)

    def _parse(self, response: Any) -> tuple[str, int, int, str]:
        blocks = field(response, "content", default=[])
        text = "".join(field(b, "text", default="") for b in blocks if field(b, "type") == "text")
        tokens_in = sum(int(field(response, "usage", name, default=0) or 0) for name in
                        ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens"))
        return text, tokens_in, int(field(response, "usage", "output_tokens", default=0)), field(response, "model")
