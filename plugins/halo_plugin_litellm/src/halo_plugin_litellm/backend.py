"""``litellm:<model>`` — ``litellm.completion(model=<model>)``."""

from __future__ import annotations

import os
from typing import Any, Sequence

from halo_core.api import BackendConfigError, BackendSettings, Message
from halo_core.api import RemoteBackend, chat_request, chat_response, compute_cost, host_of, price_for

#: provider → the variable holding its key (litellm's conventions)
KEY_VARS = {
    "openai": "OPENAI_API_KEY", "text-completion-openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY",
    "azure": "AZURE_API_KEY", "gemini": "GEMINI_API_KEY", "mistral": "MISTRAL_API_KEY", "groq": "GROQ_API_KEY",
    "together_ai": "TOGETHERAI_API_KEY", "openrouter": "OPENROUTER_API_KEY", "deepseek": "DEEPSEEK_API_KEY",
    "fireworks_ai": "FIREWORKS_API_KEY", "cohere": "COHERE_API_KEY", "xai": "XAI_API_KEY",
}


def _litellm():
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # never fetch prices at import
    import litellm

    litellm.suppress_debug_info = True  # no "Give Feedback / Get Help" banners on stdout
    return litellm


class LiteLLMBackend(RemoteBackend):
    prefix = "litellm"
    log_names = ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy", "litellm", "openai", "httpx", "httpcore")

    def __init__(self, model: str, settings: BackendSettings | None = None) -> None:
        settings = settings or BackendSettings()
        self.api_base = settings.base_url or os.environ.get("LITELLM_API_BASE", "").strip() or None
        self.litellm = _litellm()
        try:
            self.provider = self.litellm.get_llm_provider(model)[1]
        except Exception:  # noqa: BLE001 — litellm raises its own BadRequestError for unknown providers
            raise BackendConfigError(f"litellm:{model}: litellm does not know this model's provider; "
                                     "use provider/model, e.g. litellm:openai/gpt-4o-mini") from None
        self.key_var = (settings.extra or {}).get("api_key_env") or KEY_VARS.get(self.provider)
        super().__init__(model, settings)

    def _default_images(self) -> bool:
        try:
            return bool(self.litellm.supports_vision(self.model))
        except Exception:  # noqa: BLE001
            return False

    def _host(self) -> str:
        return host_of(self.api_base) if self.api_base else f"the {self.provider} API"

    def check(self) -> None:
        """The provider's keys are set (litellm.validate_environment; no call is made)."""
        if self.key_var and (self.settings.extra or {}).get("api_key_env"):
            missing = [] if self._key() else [self.key_var]
        else:
            try:
                missing = list(self.litellm.validate_environment(self.model).get("missing_keys") or [])
            except Exception:  # noqa: BLE001
                missing = []
        if missing:
            raise BackendConfigError(f"{self.name}: {', '.join(missing)} {'is' if len(missing) == 1 else 'are'} "
                                     "not set; export it")

    def _request(self, messages: Sequence[Message], options: dict[str, Any]) -> Any:
        kwargs = chat_request(self.model, messages, options)
        kwargs.update(timeout=self.settings.timeout_s, num_retries=0, max_retries=0,
                      drop_params=True)  # a provider without seed support drops it instead of failing
        if self.api_base:
            kwargs["api_base"] = self.api_base
        key = self._key()
        if key:
            kwargs["api_key"] = key
        return self.litellm.completion(**kwargs)

    def _parse(self, response: Any) -> tuple[str, int, int, str]:
        return chat_response(response)

    def _cost(self, tokens_in: int, tokens_out: int) -> float:
        """``HALO_PRICES``/``settings.prices`` first, then litellm's own cost map (the owner of
        its providers' prices), else 0 with one warning."""
        if price_for(self.model, self.prices) is None:
            try:
                a, b = self.litellm.cost_per_token(model=self.model, prompt_tokens=tokens_in,
                                                   completion_tokens=tokens_out)
                return float(a) + float(b)
            except Exception:  # noqa: BLE001 — litellm does not know it either
                pass
        return compute_cost(self.model, tokens_in, tokens_out, self.prices, label=self.name)
