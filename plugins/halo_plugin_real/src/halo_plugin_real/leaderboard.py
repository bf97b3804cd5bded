"""REAL leaderboard run ids, obtained the way agisdk obtains them.

agisdk 0.3.5 (``webclones.base.get_run_id_from_api``) calls
``GET {REAL_API_BASE or https://www.realevals.ai}/api/runKey?api_key=…&model_name=…&run_name=…``
and reads ``newRunId`` from the JSON answer. This does the same, but raises a
:class:`LeaderboardError` that never contains the key instead of logging and
returning None.

A run id is then given to runs as ``RUNID=<id>`` (agisdk's own variable, which the
``real`` suite honours when no run id was chosen) or the core's run-id option.
"""

from __future__ import annotations

import os
import urllib.parse

import requests

__all__ = ["DEFAULT_API_BASE", "LeaderboardError", "get_leaderboard_run_id"]

DEFAULT_API_BASE = "https://www.realevals.ai"


class LeaderboardError(RuntimeError):
    """No run id could be obtained; the message never includes the API key."""


def _redact(text: str, secret: str) -> str:
    if secret:
        text = text.replace(secret, "***").replace(urllib.parse.quote(secret, safe=""), "***")
    return text


def get_leaderboard_run_id(api_key: str, model_name: str, run_name: str, *, timeout: float = 10.0) -> str:
    """A new leaderboard run id for ``model_name``/``run_name`` (``REAL_API_BASE`` honoured)."""
    if not api_key:
        raise LeaderboardError("no REAL API key: set REAL_API_KEY (from realevals.ai)")
    if not model_name or not run_name:
        raise LeaderboardError("a model name and a run name are both required")
    base = os.getenv("REAL_API_BASE", DEFAULT_API_BASE).rstrip("/")
    # same parameters as agisdk (it leaves the key unencoded; encoding is equivalent for real keys)
    url = (f"{base}/api/runKey?api_key={urllib.parse.quote(api_key, safe='')}"
           f"&model_name={urllib.parse.quote(model_name)}&run_name={urllib.parse.quote(run_name)}")
    try:
        response = requests.get(url, timeout=timeout)
    except requests.RequestException as exc:
        raise LeaderboardError(f"cannot reach {base}: {_redact(type(exc).__name__ + ': ' + str(exc), api_key)[:300]}") from None
    if response.status_code != 200:
        raise LeaderboardError(f"{base}/api/runKey answered HTTP {response.status_code}: "
                               f"{_redact(response.text, api_key)[:200]}")
    try:
        data = response.json()
    except ValueError:
        raise LeaderboardError(f"{base}/api/runKey did not answer JSON") from None
    run_id = data.get("newRunId") if isinstance(data, dict) else None
    if not run_id:
        raise LeaderboardError(f"{base}/api/runKey answer has no newRunId: {_redact(str(data), api_key)[:200]}")
    return str(run_id)
