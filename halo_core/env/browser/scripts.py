"""The JavaScript the environment runs in pages, read once from this package's ``.js`` files.

Each file starts with ``//`` comment lines saying what it does and how it is called;
they are stripped so the evaluated source stays exactly the code.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["FRAMES", "MARK_BIDS", "POPUP_MARKER", "PROBE_TARGET", "RENUMBER_BIDS", "SELECT_OPTION", "SETTLE",
           "load_script"]

_HERE = Path(__file__).parent


def load_script(name: str) -> str:
    """The source of ``name`` (a file of this package) without its leading ``//`` comment lines."""
    lines = (_HERE / name).read_text(encoding="utf-8").splitlines(keepends=True)
    start = 0
    while start < len(lines) and lines[start].startswith("//"):
        start += 1
    return "".join(lines[start:])


#: Gives actionable elements a ``data-halo-bid``; returns focus, title and scroll (an expression).
MARK_BIDS = load_script("mark_bids.js")
#: ``([quiet, cap]) => Promise<bool>``: resolves when the DOM has been quiet for ``quiet`` ms.
SETTLE = load_script("settle.js")
#: ``() => true``: forget the page's bids, so the next observation numbers elements from 1 again.
RENUMBER_BIDS = load_script("renumber_bids.js")
#: ``() => Promise``: two animation frames.
FRAMES = load_script("frames.js")
#: ``(bid, mode) => {...}``: probe and prepare a direct click/fill.
PROBE_TARGET = load_script("probe_target.js")
#: ``(el, wanted) => {index, options}``: the option of a ``<select>`` the agent means.
SELECT_OPTION = load_script("select_option.js")
#: Init script marking pages that open windows or tabs.
POPUP_MARKER = load_script("popup_marker.js")
