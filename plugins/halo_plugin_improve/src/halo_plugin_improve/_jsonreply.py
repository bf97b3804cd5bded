"""Reading a JSON object out of a model's reply: the first ``{…}`` block, code fences allowed.
Parsed as data (``json.loads``), never evaluated."""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["ReplyError", "json_object"]

_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.S)


class ReplyError(ValueError):
    """A reply that holds no valid JSON object of the expected shape."""


def json_object(text: str) -> dict[str, Any]:
    """The JSON object in ``text``; raises :class:`ReplyError` saying why there is none."""
    candidates = [m.group(1) for m in _FENCE.finditer(text)] + [text]
    for candidate in candidates:
        start = candidate.find("{")
        while start != -1:
            try:
                obj, _ = json.JSONDecoder().raw_decode(candidate[start:])
            except ValueError:
                start = candidate.find("{", start + 1)
                continue
            if isinstance(obj, dict):
                return obj
            start = candidate.find("{", start + 1)
    raise ReplyError("the reply holds no JSON object")
