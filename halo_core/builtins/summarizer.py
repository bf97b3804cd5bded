"""Observation summarizer: AXTree → compact text, actionable elements, page type, fingerprint.

Registered ``trylast`` so a plugin can supply its own observation first.

The text is read by a model next to HALO's own prompt, so page-provided text must not
be able to pass for HALO's lines. Only elements render as ``[bid] role 'name'``
(bids come from the environment and must look like bids); text renders as
``StaticText 'quoted'`` and every name as a Python literal, so a page's newlines,
``[13] textbox …`` or ``Next action:`` stay inside quotes on a line of their own.
The text is capped at ``HALO_MAX_OBS_CHARS`` characters (default 20,000); a cut (here,
or the environment's cap on accessibility nodes) is recorded in
``annotations["truncated"]`` and said in a last line.
"""

from __future__ import annotations

import hashlib
import os
import re
import zlib
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


# bytes.translate table: hex digits and '-' -> 'h', everything else -> '.'
_HEX_TABLE = bytes(ord("h") if chr(i) in "0123456789abcdefABCDEF-" else ord(".") for i in range(256))


def mask_ids(text: str) -> str:
    """Replace UUIDs, long hex and long digit runs with ``*``.

    Three stages so long texts stay fast: a C-speed scan for any run of 7 hex-like
    characters (most pages have none), a regex for candidates, an exact check on each.
    """
    if b"hhhhhhh" not in text.encode("utf-8", "surrogatepass").translate(_HEX_TABLE):
        return text
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

#: Default cap on an observation's text, in characters (``HALO_MAX_OBS_CHARS`` overrides).
MAX_OBS_CHARS = 20_000
#: What an environment-provided bid may look like; anything else is not shown as an element.
_SAFE_BID = re.compile(r"[A-Za-z0-9_.-]{1,32}\Z")
#: Role of the node a browser environment appends when it cut the tree (see ``flatten_axtree``).
TRUNCATED_ROLE = "truncated"
# Kept free under the cap for the line that says the text was cut.
_NOTE_ROOM = 160


#: Bids already found safe (most pages reuse the same bids step after step); bounded.
_SAFE_SEEN: set[str] = set()


def _safe_bid(bid: str) -> bool:
    if _SAFE_BID.match(bid) is None:
        return False
    if len(_SAFE_SEEN) > 100_000:
        _SAFE_SEEN.clear()
    _SAFE_SEEN.add(bid)
    return True


def max_obs_chars() -> int:
    """The text cap: ``HALO_MAX_OBS_CHARS`` or :data:`MAX_OBS_CHARS`."""
    raw = os.environ.get("HALO_MAX_OBS_CHARS", "")
    if not raw:
        return MAX_OBS_CHARS
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 100:
        raise ValueError(f"HALO_MAX_OBS_CHARS={raw!r} must be a whole number of characters >= 100 "
                         f"(default {MAX_OBS_CHARS}); unset it for the default")
    return value


def summarize(raw: RawObservation) -> Observation:
    """One pass over the AXTree: text lines, elements, headings; then page type and fingerprint.

    This runs every step on trees of thousands of nodes, so the loop is kept flat: local
    names, no per-node calls in the common case (see bench/bench_overhead.py).
    """
    lines: list[str] = []
    keys: list[str] = []
    described: list[str] = []
    elements: list[Element] = []
    bids: list[str] = []
    headings: list[str] = []
    add_line, add_key, add_described = lines.append, keys.append, described.append
    add_element, add_bid = elements.append, bids.append
    indents, skip, safe_seen = _INDENT, _SKIP_ROLES, _SAFE_SEEN
    budget = max_obs_chars()
    room = budget - _NOTE_ROOM  # characters left for lines (and their newlines)
    truncated: dict = {}
    shown = 0
    axtree = raw.axtree
    for node in axtree:
        depth = node.depth
        indent = indents[depth] if depth < 12 else indents[12]
        bid = node.bid
        element = bool(bid) and (bid in safe_seen or _safe_bid(bid))
        if element:
            if node.value or node.props:
                key = node.key()
            else:
                key = f"{node.role} {node.name!r}" if node.name else node.role
            shown_as = f"[{bid}] {key}"
            line = indent + shown_as
        else:
            role = node.role
            name = node.name
            if role == "StaticText":
                if not name:
                    shown += 1
                    continue
                line = f"{indent}StaticText {name!r}"
            elif role == TRUNCATED_ROLE:
                truncated["nodes"] = dict(node.props)
                continue
            elif role in skip:
                shown += 1
                continue
            elif name:
                line = f"{indent}{role} {name!r}"
            else:
                line = indent + role
        size = len(line)
        if size >= room:
            if not element and node.name and room > 80:
                # one huge text: show its start, quoted like the rest
                cut = node.name[: room - len(indent) - 60]
                add_line(f"{indent}{node.role} {cut!r}…")
                shown += 1
            truncated["chars"] = {"max_chars": budget, "nodes_shown": shown, "nodes_total": len(axtree)}
            break
        room -= size + 1
        shown += 1
        add_line(line)
        if element:
            add_element(node)
            add_bid(bid)
            add_key(key)
            add_described(shown_as)
        elif role == "heading" and name:
            headings.append(name)
    if axtree and axtree[-1].role == TRUNCATED_ROLE and "nodes" not in truncated:
        truncated["nodes"] = dict(axtree[-1].props)  # the environment's marker comes last
    if truncated:
        why = []
        if "chars" in truncated:
            why.append(f"text cut at {budget} characters after {shown} of {len(axtree)} nodes")
        if "nodes" in truncated:
            why.append(f"page cut at {truncated['nodes'].get('max_nodes')} accessibility nodes")
        lines.append(f"(observation truncated: {'; '.join(why)})")
    text = "\n".join(lines)
    page_type = classify_page(raw.url, headings)
    observation = Observation(
        url=raw.url,
        title=raw.title,
        text=text,
        elements=tuple(elements),
        page_type=page_type,
        fingerprint=_fingerprint(raw.url, page_type, "\x1f".join(keys), bool(raw.last_action_error)),
        last_action=raw.last_action,
        last_action_error=raw.last_action_error,
        screenshot=raw.screenshot,
        valid_bids=frozenset(bids),
        info=raw.info,
    )
    observation.annotations["obs_hash"] = f"{zlib.crc32(text.encode()):08x}"  # identity of the text, not security
    observation.annotations["actionable_elements"] = described
    observation.annotations["bids"] = bids
    if truncated:
        observation.annotations["truncated"] = truncated
    return observation


@hookimpl(trylast=True)
def halo_observe(raw, episode):
    return summarize(raw)
