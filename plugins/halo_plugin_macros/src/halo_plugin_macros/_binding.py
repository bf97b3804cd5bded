"""Binding a macro's value slots from the goal text.

The rule (also in README.md). When a macro is mined, each typed or selected value is
looked up in the goal of the episode it came from. If it is there, the goal's words
around it become a *variant*: a regular expression made of

* the left context: the tokens just before the value, back to (and including) at least
  one literal word and at least two tokens; other values of the same episode that sit
  in that context become wildcards of their shape, and digit runs become ``\\d+``;
* a capture of the value's *shape*: e-mail, time, date, card number, number, or text.
  Text written In Title Case in the goal captures a run of capitalised or numeric
  words; other text captures lazily, without clause punctuation the value did not have;
* the right context: the single next token (a literal word, a punctuation mark, another
  value's wildcard, or the end of the goal).

At replay the variants of a slot are tried in order on the new goal; the first that
matches binds the slot. A slot no variant matches leaves the macro unbound and it does
not start. Values that were not in any supporting goal but were the same in every one
of them are constants (e.g. a fixed sort order); anything else makes a window
unminable.
"""

from __future__ import annotations

import re
from typing import Iterable

SHAPES: tuple[tuple[str, str], ...] = (
    ("email", r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"),
    ("time", r"\d{1,2}:\d{2}"),
    ("date", r"\d{4}-\d{2}-\d{2}|\d{1,2}/\d{1,4}(?:/\d{2,4})?"),
    ("card", r"\d{4}(?: \d{4}){3}"),
    ("number", r"\d+(?:\.\d+)?"),
)
_SHAPE_RE = {name: re.compile(rf"(?:{pattern})\Z") for name, pattern in SHAPES}
_CLAUSE_PUNCT = ",.;:!?()\"'\n"
_TITLE_RUN = r"[A-Z0-9][\w'&-]*(?:[ ][A-Z0-9][\w'&-]*)*"
_TOKEN = re.compile(r"\w+|\s+|[^\w\s]")


def shape_of(value: str) -> str:
    for name, pattern in _SHAPE_RE.items():
        if pattern.match(value):
            return name
    return "text"


def _is_title(text: str) -> bool:
    words = text.split()
    return bool(words) and all(w[0].isupper() or w[0].isdigit() for w in words)


def _text_class(value: str) -> str:
    banned = "".join(c for c in _CLAUSE_PUNCT if c not in value)
    return "[^" + re.escape(banned) + "]" if banned else "."


def capture_pattern(value: str, in_goal: str) -> str:
    shape = shape_of(value)
    if shape != "text":
        return dict(SHAPES)[shape]
    if _is_title(in_goal):
        return _TITLE_RUN
    return _text_class(value) + "+?"


def _literal(token: str) -> str:
    if token.isspace():
        return r"\s+"
    if token.isdigit():
        return r"\d+"
    return re.escape(token)


def find_values(goal: str, values: Iterable[str]) -> dict[str, tuple[int, int]]:
    """First occurrence of each value in the goal (case-insensitive), longest values first,
    never overlapping; numbers must stand alone, text may end inside a word ("mat" in "mats")."""
    spans: dict[str, tuple[int, int]] = {}
    taken: list[tuple[int, int]] = []
    lowered = goal.lower()
    for value in sorted({v for v in values if v and v.strip()}, key=len, reverse=True):
        tail = r"(?!\w)" if shape_of(value) != "text" or len(value) < 4 else ""
        for m in re.finditer(r"(?<!\w)" + re.escape(value.lower()) + tail, lowered):
            if not any(m.start() < b and a < m.end() for a, b in taken):
                spans[value] = (m.start(), m.end())
                taken.append(spans[value])
                break
    return spans


def _tokens(goal: str, spans: dict[str, tuple[int, int]]) -> list[tuple[str, str | None]]:
    """The goal as (text, value-or-None) tokens; each found value is one token."""
    out: list[tuple[str, str | None]] = []
    starts = {a: (b, v) for v, (a, b) in spans.items()}
    i = 0
    while i < len(goal):
        if i in starts:
            end, value = starts[i]
            out.append((goal[i:end], value))
            i = end
            continue
        nxt = min([a for a in starts if a > i], default=len(goal))
        out.extend((m.group(0), None) for m in _TOKEN.finditer(goal[i:nxt]))
        i = nxt
    return out


def goal_variant(goal: str, value: str, all_values: Iterable[str]) -> str | None:
    """The regex (one named group ``v``) that finds ``value`` in ``goal`` by its context,
    or None when the value is not in the goal."""
    spans = find_values(goal, list(all_values) + [value])
    if value not in spans:
        return None
    tokens = _tokens(goal, spans)
    idx = next(i for i, (_t, v) in enumerate(tokens) if v == value)

    def piece(text: str, val: str | None) -> str:
        if val is None:
            return _literal(text)
        return "(?:" + capture_pattern(val, text) + ")"

    left: list[str] = []
    words = literal_words = 0
    j = idx - 1
    while j >= 0 and (words < 2 or literal_words < 1) and len(left) < 8:
        text, val = tokens[j]
        left.insert(0, piece(text, val))
        if val is not None:
            words += 1
        elif text[0].isalnum() or text[0] == "_":
            words += 1
            literal_words += 1
        j -= 1
    prefix = "".join(left)
    if j < 0:
        prefix = "^" + prefix
    elif prefix and (left[0][0].isalnum() or left[0].startswith("\\d")):
        prefix = r"(?<!\w)" + prefix
    right_i = idx + 1
    while right_i < len(tokens) and tokens[right_i][0].isspace():
        right_i += 1
    own = tokens[idx][0]
    capture = capture_pattern(value, own)
    if right_i >= len(tokens):
        suffix = r"\s*$"
    else:
        text, val = tokens[right_i]
        gap = r"\s+" if right_i > idx + 1 else ""
        if val is not None:
            suffix = gap + piece(text, val)
        elif capture == _TITLE_RUN and text[0].isalnum():
            suffix = ""  # a title-case run ends by itself; the next word need not match
        else:
            suffix = gap + _literal(text)
    return prefix + "(?P<v>" + capture + ")" + (f"(?={suffix})" if suffix else "")


def bind(goal: str, variants: Iterable[str]) -> str | None:
    """The value of a slot in ``goal``: the first variant that matches, else None."""
    # case-sensitive first (title-case captures rely on it), then ignoring case
    for flags in (0, re.I):
        for pattern in variants:
            m = re.search(pattern, goal, flags=flags)
            if m and m.group("v").strip():
                return m.group("v").strip()
    return None
