"""The shared OpenAI-compatible loopback server, under this suite's name."""

from halo_core.loopback import OpenAICompatibleLoopback as LiteLLMLoopback  # noqa: F401
from halo_core.loopback import expert_reply, last_user_text, shop_site  # noqa: F401
