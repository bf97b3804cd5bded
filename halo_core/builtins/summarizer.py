"""Observation summarizer: AXTree → compact text, actionable elements, page type, fingerprint.

Registered ``trylast`` so a plugin can supply its own observation first.
"""

from __future__ import annotations

import hashlib
import re
from typing import Iterable
from urllib.parse import parse_qsl, urlencode, urlsplit

from halo_core import hookimpl
from halo_core.model import Element, Observation, RawObservation

#: Query parameters that carry sessions, tracking or cache-busting, never state.
VOLATILE_PARAMS = re.compile(
    r"^(?:utm_.*|session(?:_?id)?|sid|sessid|phpsessid|jsessionid|token|csrf.*|xsrf.*|_|ts|timestamp|"
    r"nonce|cb|cachebust|gclid|fbclid|ref|run_id|latency)$",
    re.I,
)
#: Path or value pieces that are ids rather than meaning: UUIDs, long hex, long digit runs.
_ID_CANDIDATE = re.compile(r"[0-9a-fA-F][0-9a-fA-F-]{6,}")  # cheap to scan; the callback decides
_ID_EXACT = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{16,}|\d{7,}", re.I)


def _mask_id(match: re.Match) -> str:
    return _ID_EXACT.sub("*", match.group(0))


def mask_ids(text: str) -> str:
    """Replace UUIDs, long hex and long digit runs with ``*`` (two-stage: a cheap scan,
    then an exact check on the few candidates, so long texts stay fast)."""
    return _ID_CANDIDATE.sub(_mask_id, text)


# Page types in priority order: the first whose pattern matches URL or headings wins.
PAGE_TYPES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("confirmation", re.compile(r"confirm(ation|ed)|thank you|order placed|receipt", re.I)),
    ("payment", re.compile(r"payment|billing|card number", re.I)),
    ("checkout", re.compile(r"checkout", re.I)),
    ("cart", re.compile(r"\bcart\b|basket|bag\b", re.I)),
    ("login", re.compile(r"log ?in|sign ?in|password", re.I)),
    ("compose", re.compile(r"compose|new message|reply|forward|send email", re.I)),
    ("search", re.compile(r"search|results", re.I)),
    ("detail", re.compile(r"/(product|item|p|email|message|event|listing)s?/", re.I)),
    ("form", re.compile(r"/(new|edit|create)\b", re.I)),
)

_SKIP_ROLES = frozenset({"none", "generic", "presentation", "LineBreak", "InlineTextBox", "ignored"})


def normalize_url(url: str) -> str:
    """Scheme-less host + path + sorted, non-volatile query; ids collapsed."""
    parts = urlsplit(url)
    path = mask_ids(parts.path.rstrip("/") or "/")
    query = sorted((k, mask_ids(v)) for k, v in parse_qsl(parts.query, keep_blank_values=True)
                   if not VOLATILE_PARAMS.match(k))
    return f"{parts.hostname or ''}{path}" + (f"?{urlencode(query)}" if query else "")


def classify_page(url: str, headings: list[str]) -> str:
    path = urlsplit(url).path
    text = " ".join(headings[:3])
    for page_type, pattern in PAGE_TYPES:
        if pattern.search(path) or pattern.search(text):
            return page_type
    return "home" if path in ("", "/") else "page"


def fingerprint_state(url: str, page_type: str, elements: Iterable[Element], error: bool) -> str:
    """A stable id for "the same situation": same page kind, same controls, same values.

    Bids, volatile ids and session parameters are left out, so the same state in
    another run or session has the same fingerprint.
    """
    return _fingerprint(url, page_type, "\x1f".join(e.key() for e in elements), error)


def _fingerprint(url: str, page_type: str, element_keys: str, error: bool) -> str:
    # one regex pass and one hash over the joined keys: per-element work stays in C
    blob = f"{normalize_url(url)}|{page_type}|{int(error)}|{mask_ids(element_keys)}"
    return hashlib.blake2b(blob.encode(), digest_size=10).hexdigest()


_INDENT = tuple("  " * i for i in range(13))


def summarize(raw: RawObservation) -> Observation:
    """One pass over the AXTree: text lines, elements, headings; then page type and fingerprint."""
    lines: list[str] = []
    keys: list[str] = []
    elements: list[Element] = []
    headings: list[str] = []
    described: list[str] = []
    skip = _SKIP_ROLES
    for node in raw.axtree:
        depth = node.depth
        indent = _INDENT[depth] if depth < 12 else _INDENT[12]
        bid = node.bid
        if bid:
            key = node.key()
            line = f"[{bid}] {key}"
            elements.append(node)
            keys.append(key)
            described.append(line)
            lines.append(indent + line)
            continue
        role = node.role
        if role == "StaticText":
            if node.name:
                lines.append(indent + node.name)
        elif role not in skip:
            if role == "heading" and node.name:
                headings.append(node.name)
            lines.append(f"{indent}{role} {node.name!r}" if node.name else indent + role)
    text = "\n".join(lines)
    page_type = classify_page(raw.url, headings)
    elements_t = tuple(elements)
    observation = Observation(
        url=raw.url,
        title=raw.title,
        text=text,
        elements=elements_t,
        page_type=page_type,
        fingerprint=_fingerprint(raw.url, page_type, "\x1f".join(keys), bool(raw.last_action_error)),
        last_action=raw.last_action,
        last_action_error=raw.last_action_error,
        screenshot=raw.screenshot,
    )
    observation.annotations["obs_hash"] = hashlib.blake2b(text.encode(), digest_size=8).hexdigest()
    observation.annotations["actionable_elements"] = described
    return observation


@hookimpl(trylast=True)
def halo_observe(raw, episode):
    return summarize(raw)
