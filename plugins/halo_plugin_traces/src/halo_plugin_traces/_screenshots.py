"""How a step's screenshot reaches a trace consumer.

The span builder names a screenshot by its path relative to the trajectory folder
(``<task>__attempt_<k>/step_<i>.png``), which no viewer can open: Phoenix's trace page
even fails on it. At export each image message part becomes one of

* ``data-uri`` — ``data:image/png;base64,…``, the bytes inlined, if they are a PNG or
  JPEG of at most ``max_bytes`` (else the image part is left out and
  ``halo.screenshot.omitted`` says why);
* ``file-url`` — ``file:///abs/path.png``, for a viewer on the same machine;
* ``path`` — unchanged (the engine file: a model reading traces needs no pixels);
* ``none`` — the image part left out.

Files are found through :func:`halo_core.trajectory.screenshot_file`, which refuses
paths leading out of the run's folder.
"""

from __future__ import annotations

import base64
import copy
import re
from pathlib import Path
from typing import Any

__all__ = ["SCREENSHOT_MODES", "ScreenshotEncoder"]

SCREENSHOT_MODES = ("data-uri", "file-url", "path", "none")
_IMAGE_URL = re.compile(r"^(llm\.input_messages\.\d+\.message\.contents\.\d+)\.message_content\.image\.image\.url$")
_MIME = ((b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff", "image/jpeg"))


class ScreenshotEncoder:
    """Rewrites the image parts of LLM spans for one export; reads each file once."""

    def __init__(self, how: str = "path", *, max_bytes: int = 256 * 1024) -> None:
        if how not in SCREENSHOT_MODES:
            raise ValueError(f"unknown screenshot mode {how!r}; use one of {', '.join(SCREENSHOT_MODES)}")
        self.how, self.max_bytes = how, int(max_bytes)
        self._cache: dict[Path, tuple[str, str]] = {}
        self.inlined = self.omitted = 0

    def _url(self, folder: Path | None, rel: str) -> tuple[str, str]:
        """(url, why it was left out)."""
        from halo_core.api import screenshot_file

        if folder is None:
            return "", "the trajectory folder is unknown"
        try:
            path = screenshot_file(folder, rel)
        except ValueError as exc:
            return "", str(exc)
        if path in self._cache:
            return self._cache[path]
        if not path.is_file():
            found = ("", f"{rel} does not exist")
        elif self.how == "file-url":
            found = (path.as_uri(), "")
        else:
            data = path.read_bytes()
            mime = next((m for magic, m in _MIME if data.startswith(magic)), "")
            if not mime:
                found = ("", f"{rel} is not a PNG or JPEG")
            elif len(data) > self.max_bytes:
                found = ("", f"{rel} is {len(data)} bytes, over the {self.max_bytes}-byte cap")
            else:
                found = (f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}", "")
        self._cache[path] = found
        return found

    def encode(self, span: dict[str, Any], folder: Path | None) -> dict[str, Any]:
        """``span`` with its image parts rewritten (the same dict when there is nothing to do)."""
        if self.how == "path":
            return span
        keys = [(k, m.group(1)) for k in span["attributes"] for m in [_IMAGE_URL.match(k)] if m]
        if not keys:
            return span
        span = copy.copy(span)
        attrs = span["attributes"] = dict(span["attributes"])
        for key, part in keys:
            url, why = ("", "screenshots were not asked for") if self.how == "none" else self._url(folder, attrs[key])
            if url:
                attrs[key] = url
                self.inlined += 1
                continue
            del attrs[key]
            attrs.pop(f"{part}.message_content.type", None)
            if self.how != "none":
                attrs["halo.screenshot.omitted"] = why
                self.omitted += 1
        return span
