"""``vllm:<model>`` — a vLLM (or any OpenAI-compatible) server at ``HALO_VLLM_URL``.

``<model>`` is what the server serves: the base model id, or the name of a LoRA adapter
given to ``vllm serve <base> --enable-lora --lora-modules <name>=<path>``. The name is
sent as the request's ``model``; vLLM routes it to that adapter.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
import warnings
from typing import Any, Sequence

import attrs

from halo_core.api import BackendConfigError, BackendSettings, Message
from halo_core.api import RemoteBackend, chat_request, chat_response, host_of, one_line
from halo_plugin_qwen.parsing import clean_qwen_text

DEFAULT_URL = "http://localhost:8000/v1"


@attrs.frozen
class VLLMOptions:
    """Per-call options of ``vllm:``."""

    #: stop at the first newline (the few-shot worker prompt's contract is one line)
    one_line: bool = False


class VLLMBackend(RemoteBackend):
    prefix = "vllm"
    key_var = "HALO_VLLM_API_KEY"
    free = True  # self-hosted: $0 unless settings.prices / HALO_PRICES say otherwise
    log_names = ("openai", "httpx", "httpcore")
    #: the per-call options this backend declares
    Options = VLLMOptions

    def __init__(self, model: str, settings: BackendSettings | None = None) -> None:
        settings = settings or BackendSettings()
        self.base_url = (settings.base_url or os.environ.get("HALO_VLLM_URL", "").strip() or DEFAULT_URL).rstrip("/")
        super().__init__(model, settings)
        self._client = None

    def _host(self) -> str:
        return host_of(self.base_url)

    def _key(self) -> str:
        return os.environ.get(self.key_var, "").strip() or "EMPTY"

    def check(self) -> None:
        """The server answers ``GET /models`` (no tokens spent); warns if it does not list the model."""
        from urllib.parse import urlsplit

        parts = urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise BackendConfigError(
                f"{self.name}: the server address {self.base_url!r} (HALO_VLLM_URL or --base-url) is not an http(s) "
                f"URL; set it like {DEFAULT_URL}")
        request = urllib.request.Request(f"{self.base_url}/models",
                                         headers={"Authorization": f"Bearer {self._key()}"})
        try:
            with urllib.request.urlopen(request, timeout=min(10.0, self.settings.timeout_s)) as response:
                listing = json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            status = exc.code
            exc.close()
            if status in (401, 403):
                raise BackendConfigError(f"{self.key_var} was rejected by {self._host()} ({status})") from None
            return  # a server without /models is still usable
        except (OSError, ValueError) as exc:
            reason = one_line(getattr(exc, "reason", exc), 120, secrets=self._secrets())
            raise BackendConfigError(
                f"{self.name}: no server answers at {self.base_url} (HALO_VLLM_URL): {reason}; start one with "
                f"`vllm serve <base-model> --enable-lora --lora-modules {self.model}=<adapter-dir>`") from None
        served = [str(m.get("id")) for m in listing.get("data", []) if isinstance(m, dict)]
        if served and self.model not in served:
            warnings.warn(f"{self.name}: {self._host()} does not list {self.model!r} (serves: {', '.join(served[:8])})",
                          stacklevel=2)

    def client(self):
        if self._client is None:
            import openai

            self._client = openai.OpenAI(api_key=self._key(), base_url=self.base_url,
                                         timeout=self.settings.timeout_s, max_retries=0)
        return self._client

    def _request(self, messages: Sequence[Message], options: dict[str, Any]) -> Any:
        kwargs = chat_request(self.model, messages, options)
        if options["call"].one_line:
            kwargs["stop"] = ["\n"]
        return self.client().chat.completions.create(**kwargs)

    def _parse(self, response: Any) -> tuple[str, int, int, str]:
        raw, tokens_in, tokens_out, model = chat_response(response)
        text = clean_qwen_text(raw) if (self.settings.extra or {}).get("strip_thinking", True) else raw
        return text, tokens_in, tokens_out, model
