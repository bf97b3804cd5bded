"""Which pages a task may visit: its own origins over http(s), nothing else.

A task's flow stays on the origin of its ``start_url`` (plus the origins its environment
adds, such as a benchmark site's base URL, plus ``TaskSpec.allowed_origins``). Any other
http(s) origin, and every other scheme (``file:``, ``chrome:``, ``view-source:``, ``data:``,
``javascript:``, ``about:`` pages other than ``about:blank``), is refused. The
environment enforces this three ways, so a refused page's content never reaches an
observation:

* ``goto()`` checks the URL before navigating;
* a context route aborts document requests (links, form posts, popups, frames)
  that leave the allowed origins, before any byte of the page arrives;
* before every observation, an agent tab that still ended up on a refused URL
  (a redirect, a history entry restored from cache) is sent back to its last
  allowed page, or closed when it never had one.

An empty set of origins (a task without a start URL) allows any http(s) page.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import attrs

__all__ = ["NavigationPolicy", "origin_of"]

_DEFAULT_PORTS = {"http": 80, "https": 443}
#: Pages without content that tabs start on; never refused.
BLANK_PAGES = frozenset({"about:blank"})


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of an http(s) URL, lower-cased, default port dropped; ``""`` otherwise."""
    try:
        parts = urlsplit(url.strip())
        scheme = parts.scheme.lower()
        host = parts.hostname
        port = parts.port
    except ValueError:
        return ""
    if scheme not in _DEFAULT_PORTS or not host:
        return ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    if port is None or port == _DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def _shown(url: str, limit: int = 120) -> str:
    """A URL as it may appear in an error line: no control characters, bounded length."""
    text = "".join(ch if ch.isprintable() else f"\\x{ord(ch):02x}" if ord(ch) < 256 else f"\\u{ord(ch):04x}"
                   for ch in url[: limit + 1])
    return text if len(url) <= limit else text[:limit] + "…"


@attrs.frozen
class NavigationPolicy:
    """The origins one task may visit (see the module docstring)."""

    origins: tuple[str, ...] = ()

    @classmethod
    def for_urls(cls, *urls: str, extra: tuple[str, ...] = ()) -> "NavigationPolicy":
        """The policy allowing the origins of ``urls`` (empty ones skipped) and ``extra``.

        Raises ``ValueError`` naming an ``extra`` entry that is not an http(s) origin.
        """
        origins: list[str] = []
        for url in urls:
            origin = origin_of(url) if url else ""
            if origin and origin not in origins:
                origins.append(origin)
        for entry in extra:
            origin = origin_of(str(entry))
            if not origin:
                raise ValueError(f"allowed origin {entry!r} is not an http(s) origin; write it as "
                                 "scheme://host[:port], e.g. 'https://accounts.example.com'")
            if origin not in origins:
                origins.append(origin)
        return cls(tuple(origins))

    def describe(self) -> str:
        if not self.origins:
            return "only http(s) pages are allowed"
        return f"only http(s) pages of {', '.join(self.origins)} are allowed for this task"

    def refusal(self, url: str) -> str:
        """Why navigating to ``url`` is refused, or ``""`` when it is allowed."""
        if url in BLANK_PAGES:
            return ""
        origin = origin_of(url)
        if origin and (not self.origins or origin in self.origins):
            return ""
        return f"navigation to {_shown(url)} refused: {self.describe()}"

    def allows(self, url: str) -> bool:
        return not self.refusal(url)

    def route_pattern(self) -> re.Pattern[str]:
        """A regex matching every URL this policy may refuse (so allowed requests skip Python).

        Both Python and JavaScript read it the same way: a negative look-ahead on the
        allowed origins, each followed by a path, query, fragment or the end.
        """
        if not self.origins:
            return re.compile(r"^(?!https?://)")
        alternatives = "|".join(re.escape(o) for o in self.origins)
        return re.compile(rf"^(?!(?:{alternatives})(?:[/?#]|$))", re.IGNORECASE)
