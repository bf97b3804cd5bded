"""Secrets never reach logs, trajectories, traces or reports.

:func:`env_secrets` names what counts as a secret: the values of ``*_API_KEY``,
``*_TOKEN`` and ``*_SECRET`` environment variables (and ``HF_TOKEN``). Writers call
:func:`redact_known` on every line; model-call error messages go through the stricter
``halo_core.backends_http.redact``, which also masks anything shaped like a key.
"""

from __future__ import annotations

import os

_KEY_ENV_SUFFIXES = ("_API_KEY", "_TOKEN", "_SECRET")


def env_secrets() -> list[str]:
    """Secret values configured in the environment, longest first."""
    found = {v for k, v in os.environ.items() if k.endswith(_KEY_ENV_SUFFIXES) and len(v) >= 6}
    return sorted(found, key=len, reverse=True)


def redact_known(text: str, secrets: list[str] | None = None, marker: str = "[REDACTED]") -> str:
    """``text`` with every configured secret value replaced by ``marker`` (fast: plain substring checks)."""
    for secret in env_secrets() if secrets is None else secrets:
        if secret in text:
            text = text.replace(secret, marker)
    return text
