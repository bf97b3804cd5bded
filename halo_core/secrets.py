"""Secrets never reach logs, trajectories, traces, reports or the console.

:func:`env_secrets` names what counts as a secret: the values of ``*_API_KEY``,
``*_TOKEN`` and ``*_SECRET`` environment variables (and ``HF_TOKEN``). Writers call
:func:`redact_known` on every line; model-call error messages go through the stricter
``halo_core.backends_http.redact``, which also masks anything shaped like a key.
The consoles print through :func:`redact_console`: the same known-secret redaction as
files, plus the credentials of URLs (``http://user:pass@host`` → ``http://***@host``),
because a server address with a password in it is printed in errors and plans, and with
control characters escaped (:func:`halo_core.untrusted.escape_controls`), because an echoed
reply may ring the terminal or rewrite what it shows.
Files other than JSONL streams are written through :func:`write_redacted`.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import AnyStr

__all__ = ["env_secrets", "redact", "redact_console", "redact_known", "redact_url_credentials", "write_redacted"]

_KEY_ENV_SUFFIXES = ("_API_KEY", "_TOKEN", "_SECRET")
#: ``scheme://userinfo@``: everything between ``//`` and the last ``@`` before the host ends
_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)[^/\s@?#]+@")


def env_secrets() -> list[str]:
    """Secret values configured in the environment, longest first."""
    found = {v for k, v in os.environ.items() if k.endswith(_KEY_ENV_SUFFIXES) and len(v) >= 6}
    return sorted(found, key=len, reverse=True)


def redact_known(text: AnyStr, secrets: list[str] | None = None, marker: str = "[REDACTED]") -> AnyStr:
    """``text`` with every configured secret value replaced by ``marker`` (fast: plain substring
    checks). ``text`` may be UTF-8 bytes (an encoded line), and is then searched for the encoded secrets."""
    encoded = isinstance(text, bytes)
    for secret in env_secrets() if secrets is None else secrets:
        needle = secret.encode() if encoded else secret
        if needle in text:
            text = text.replace(needle, marker.encode() if encoded else marker)
    return text


def redact_url_credentials(text: str) -> str:
    """``text`` with the user and password of every URL replaced by ``***``."""
    if "@" not in text or "://" not in text:
        return text
    return _URL_USERINFO.sub(lambda m: m.group(1) + "***@", text)


def redact(text: str, secrets: list[str] | None = None) -> str:
    """What files get: every configured secret value replaced with ``[REDACTED]``, and the
    credentials of URLs (``http://user:pass@host``) with ``***``."""
    return redact_url_credentials(redact_known(text, secrets))


def redact_console(text: str, secrets: list[str] | None = None) -> str:
    """What the consoles print: :func:`redact_known`, :func:`redact_url_credentials`, and
    control characters escaped."""
    from halo_core.untrusted import escape_controls

    return escape_controls(redact_url_credentials(redact_known(text, secrets)))


def write_redacted(path: str | os.PathLike, text: str, secrets: list[str] | None = None) -> Path:
    """Write ``text`` to ``path`` with every known secret redacted, whole: a temporary file
    beside it, then ``os.replace``, so a reader never sees half a file. Creates the folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(redact_known(text, secrets), encoding="utf-8")
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path
