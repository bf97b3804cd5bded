"""Observation summarizer: AXTree → compact text, actionable elements, page type, fingerprint.

Registered ``trylast`` so a plugin can supply its own observation first.
"""

from __future__ import annotations

import hashlib
import re
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
VOLATILE_TOKEN = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{16,}|\d{7,}", re.I)

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
    path = VOLATILE_TOKEN.sub("*", parts.path.rstrip("/") or "/")
    query = sorted((k, VOLATILE_TOKEN.sub("*", v)) for k, v in parse_qsl(parts.query, keep_blank_values=True)
                   if not VOLATILE_PARAMS.match(k))
    return f"{parts.hostname or ''}{path}" + (f"?{urlencode(query)}" if query else "")


def classify_page(url: str, headings: list[str]) -> str:
    path = urlsplit(url).path
    text = " ".join(headings[:3])
    for page_type, pattern in PAGE_TYPES:
        if pattern.search(path) or pattern.search(text):
            return page_type
    return "home" if path in ("", "/") else "page"


def fingerprint_state(url: str, page_type: str, elements: tuple[Element, ...], error: bool) -> str:
    """A stable id for "the same situation": same page kind, same controls, same fill state.

    Bids, volatile ids and session parameters are left out, so the same state in
    another run or session has the same fingerprint.
    """
    h = hashlib.blake2b(digest_size=10)
    h.update(f"{normalize_url(url)}|{page_type}|{int(error)}".encode())
    for element in elements:
        props = element.props
        flags = ("v" if element.value else "") + ("c" if props.get("checked") else "") + ("d" if props.get("disabled") else "")
        h.update(f"\x1f{element.role}\x1e{VOLATILE_TOKEN.sub('*', element.name)}\x1e{flags}".encode())
    return h.hexdigest()


def summarize(raw: RawObservation) -> Observation:
    lines: list[str] = []
    elements: list[Element] = []
    headings: list[str] = []
    append = lines.append
    for node in raw.axtree:
        role = node.role
        if role in _SKIP_ROLES and not node.bid:
            continue
        indent = "  " * min(node.depth, 12)
        if node.bid:
            element = Element(node.bid, role, node.name, node.value, node.props)
            elements.append(element)
            append(indent + element.describe())
        elif role == "StaticText":
            if node.name:
                append(f"{indent}{node.name}")
        else:
            if role == "heading" and node.name:
                headings.append(node.name)
            append(f"{indent}{role} {node.name!r}" if node.name else f"{indent}{role}")
    text = "\n".join(lines)
    page_type = classify_page(raw.url, headings)
    elements_t = tuple(elements)
    observation = Observation(
        url=raw.url,
        title=raw.title,
        text=text,
        elements=elements_t,
        page_type=page_type,
        fingerprint=fingerprint_state(raw.url, page_type, elements_t, bool(raw.last_action_error)),
        last_action=raw.last_action,
        last_action_error=raw.last_action_error,
        screenshot=raw.screenshot,
    )
    observation.annotations["obs_hash"] = hashlib.blake2b(text.encode(), digest_size=8).hexdigest()
    return observation


@hookimpl(trylast=True)
def halo_observe(raw, episode):
    return summarize(raw)
