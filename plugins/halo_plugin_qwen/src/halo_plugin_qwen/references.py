"""Grounded references: the page elements and goal values a step is about, named by number.

Nearly every step of a web task is a lookup: find the element the goal names and emit
*its* id, or copy a piece of the goal into ``fill()``. A small model does not learn that
lookup from a few thousand demonstrations (new seeds change exactly the ids and the text),
so this prompt style does the lookup with a fixed, task-agnostic rule and lets the model
answer with references to its result:

* ``*k`` — the k-th **marked element**. An element is marked when its name shares words
  with the goal; marks are numbered by match strength (``*1`` is the best match), then by
  page order. The page line shows the mark before the id: ``*1 [7] button 'Submit'``.
* ``$k`` — the k-th **goal value**: the goal's quoted phrases, its words holding a digit
  (dates, times, numbers) and its names (capitalised words that do not open a sentence), in
  order of appearance, each followed by the other form the goal asks for (a date in ISO
  form, a 12-hour time in 24-hour form, a phrase in the upper or lower case the goal names)
  (:func:`goal_values`), listed on a line of their own under the goal:
  ``Goal values: $1 "kanesha" | $2 "Wd8b"``.

The model may still write a plain id (``click('12')``) or plain text (``fill('3', 'yes')``):
references are an addition to the action grammar, not a replacement. Its reply stays plain
text (``fill(*2, $1)``), so trl, LoRA adapters, ``local:`` and vLLM serving all work
unchanged; the worker resolves the references against the prompt the model was shown
(:func:`resolve`) before anything reaches the browser, and a reference the prompt does not
define is an unusable reply (asked again once, then ``invalid_output``).

The matching rule (:func:`element_score`), case-insensitive, on the words (letters and digits)
of an element's name and of the goal, without :data:`STOPWORDS`; the points

* +3 when the whole name equals a goal value (``"ok"`` in *Click on the "ok" button*), and
  every word of it counts as a goal word, even a stopword (``button ONE`` in *Click button
  ONE, then click button TWO* ranks with ``TWO``, then by page order);
* +1 per name word that is a goal word;
* +0.5 per other name word of 3+ characters that starts, or is the start of, a goal word of
  3+ characters (partial match: ``Subm`` / ``submit``, ``cats`` / ``cat``);

times the share of the name's words that matched, so a button named ``Close`` outranks a
dialog whose long text starts with "Close". Three more rules cover what names miss:

* **labels:** an element line without a name is scored by the short text just above it
  (a ``StaticText`` of at most :data:`MAX_LABEL_WORDS` words within two lines: the
  ``Username`` over an unnamed textbox);
* **ordinals:** a goal that counts elements of a kind (``the 3rd input textbox``,
  ``the second link``, ``the last button``: an ordinal, then within three words a kind from
  :data:`KIND_ROLES`) gives the element of that place among those of that role
  :data:`ORDINAL_POINTS` points, so it becomes ``*1`` (each place a goal counts: ``the 1st
  radio button … the 2nd textbox`` marks both, in page order);
* **kinds:** an element whose role is a kind the goal names (``into the text field``,
  ``press the button``: a word of :data:`KIND_ROLES`) gets :data:`KIND_POINTS`, so the one
  unnamed textbox of *Enter "x" into the text field* is marked, below every named match.

The previous actions are written with the same references (``0: fill(*1, $1)``), so the
history reads in the words the model answers in.

Everything here is a pure function of the prompt text, so a prompt grounded live and a
prompt grounded at export time (:func:`rewrite_example`) are byte-identical, and grounding
an already grounded prompt changes nothing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

import attrs

from halo_core.api import ACTION_SIGNATURES, QUOTED_TEXT, ActionError, parse_action, unquote

REFERENCE_MODES = ("auto", "on", "off")

#: words too common in instructions to say which element is meant
STOPWORDS = frozenset("""
a an the and or of on in into to for with at by from as is are be it its this that then than
all both each any one your you me my our click select enter type press hit choose find use
""".split())

#: at most this many elements are marked per page
MAX_MARKS = 20
#: the longest text above an unnamed element that is taken as its label
MAX_LABEL_WORDS = 4
#: the points an element gets for being the one a goal's ordinal counts to
ORDINAL_POINTS = 4.0
#: the points an element gets for being of a kind the goal names
KIND_POINTS = 0.5
#: words a goal uses for a kind of element -> the accessibility role it means
KIND_ROLES = {"textbox": "textbox", "textboxes": "textbox", "input": "textbox", "inputs": "textbox",
              "textarea": "textbox", "textareas": "textbox",
              "field": "textbox", "fields": "textbox", "box": "textbox", "button": "button", "buttons": "button",
              "link": "link", "links": "link", "checkbox": "checkbox", "checkboxes": "checkbox", "radio": "radio",
              "tab": "tab", "tabs": "tab", "item": "listitem", "option": "option", "heading": "heading"}
_ORDINAL_WORDS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7,
                  "eighth": 8, "ninth": 9, "tenth": 10, "last": -1}
_ORDINAL = re.compile(r"\b(\d{1,2})(?:st|nd|rd|th)\b|\b(" + "|".join(_ORDINAL_WORDS) + r")\b", re.I)
_LABEL_LINE = re.compile(rf"^[ \t]*(?:StaticText|LabelText|label) (?P<text>{QUOTED_TEXT})\s*$")
#: at most this many goal values are listed
MAX_VALUES = 12

VALUES_PREFIX = "Goal values:"
_GOAL_LINE = re.compile(r"^Goal: (.*)$", re.M)
_QUOTED = re.compile(r"\"([^\"]+)\"|“([^”]+)”|(?<![A-Za-z])'([^']+)'(?![A-Za-z])")
_WORD = re.compile(r"[a-z0-9]+")
#: an element line of the page: indent, optional mark, [bid], role, optional name
_ELEMENT_LINE = re.compile(rf"^(?P<indent>[ \t]*)(?:\*(?P<mark>\d+) )?\[(?P<bid>[^\]\s]+)\] (?P<role>\S+)"
                           rf"(?: (?P<name>{QUOTED_TEXT}))?")
_MARK_LINE = re.compile(r"^[ \t]*\*(\d+) \[([^\]\s]+)\] ", re.M)
_VALUE_ITEM = re.compile(r"\$(\d+) (\"(?:[^\"\\]|\\.)*\")")
_REF = re.compile(r"([*$])(\d+)")


@attrs.frozen
class References:
    """What a grounded prompt defines: ``marks`` {k: bid}, ``values`` {k: text}."""

    marks: dict[str, str] = attrs.field(factory=dict)
    values: dict[str, str] = attrs.field(factory=dict)

    def __bool__(self) -> bool:
        return bool(self.marks or self.values)


# --------------------------------------------------------------------------- the matching rule


def words(text: str) -> list[str]:
    """Lower-case words (letters and digits) of ``text`` without :data:`STOPWORDS`."""
    return [w for w in _WORD.findall(text.lower()) if w not in STOPWORDS]


def goal_values(goal: str) -> list[str]:
    """The goal's values, in order of appearance, duplicates once:

    * each quoted phrase;
    * each word outside quotes that holds a digit (``10/15/2016``, ``5:44``, ``3rd``);
    * each name: a run of capitalised words outside quotes that does not open a sentence
      (``Select Helli from the list``, ``forward that email to Orel``, ``button ONE``);
    * the forms a goal asks for, right after the value they come from: a date ``MM/DD/YYYY``
      also as ``YYYY-MM-DD``, a time followed by AM/PM also in 24-hour form (``9:37 PM`` ->
      ``21:37``), and quoted phrases in upper or lower case when the goal asks for that case.
    """
    found: list[tuple[int, str]] = []
    spans = []
    case = _asked_case(goal)
    for m in _QUOTED.finditer(goal):
        text = next(g for g in m.groups() if g is not None).strip()
        spans.append(m.span())
        if text:
            found.append((m.start(), text))
            if case:
                found.append((m.start() + 1, text.upper() if case == "upper" else text.lower()))
    tokens = [m for m in re.finditer(r"\S+", goal) if not any(a <= m.start() < b for a, b in spans)]
    name: list[str] = []
    name_at = 0
    for i, m in enumerate(tokens):
        raw = m.group()
        token = raw.strip(".,;:!?()[]{}\"'“”")
        opens_sentence = i == 0 or tokens[i - 1].group().rstrip("\"'”)").endswith((".", "!", "?"))
        is_name = (bool(token) and token[0].isupper() and token.isalpha() and not opens_sentence
                   and token not in _NOT_NAMES and not (token in ("AM", "PM") and i and _TIME.fullmatch(
                       tokens[i - 1].group().strip(".,;:!?()"))))
        if is_name:
            name_at = name_at if name else m.start()
            name.append(token)
        if name and (not is_name or raw != token or i == len(tokens) - 1):
            found.append((name_at, " ".join(name)))  # a run ends at a non-name or at punctuation
            name = []
        if token and any(c.isdigit() for c in token):
            found.append((m.start(), token))
            found.extend((m.start() + 1, form) for form in _other_forms(token, tokens[i + 1].group() if i + 1 < len(tokens) else ""))
    out: list[str] = []
    for _pos, text in sorted(found, key=lambda f: f[0]):
        if text not in out and len(out) < MAX_VALUES:
            out.append(text)
    return out


#: capitalised words that are not names
_NOT_NAMES = frozenset({"I"})
_DATE = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})")
_TIME = re.compile(r"(\d{1,2}):(\d{2})")


def _asked_case(goal: str) -> str | None:
    low = goal.lower()
    if re.search(r"\bupper ?case\b", low):
        return "upper"
    if re.search(r"\blower ?case\b", low):
        return "lower"
    return None


def _other_forms(token: str, after: str) -> list[str]:
    """The other forms of a date or a time value (see :func:`goal_values`)."""
    if m := _DATE.fullmatch(token):
        month, day, year = m.groups()
        return [f"{year}-{int(month):02d}-{int(day):02d}"]
    meridiem = after.strip(".,;:!?()").upper()
    if (m := _TIME.fullmatch(token)) and meridiem in ("AM", "PM"):
        hour = int(m.group(1)) % 12 + (12 if meridiem == "PM" else 0)
        return [f"{hour:02d}:{m.group(2)}"]
    return []


def element_score(name: str, goal_words: set[str], values_lower: set[str]) -> float:
    """How strongly an element named ``name`` matches the goal (see the module docstring)."""
    if not name:
        return 0.0
    name_words = words(name)
    if name.strip().lower() in values_lower:  # the whole name matches, stopwords and all ("ONE")
        return 3.0 + max(len(name_words), 1)
    points = 0.0
    hits = 0
    for w in name_words:
        if w in goal_words:
            points += 1.0
            hits += 1
        elif len(w) >= 3 and any(len(g) >= 3 and (g.startswith(w) or w.startswith(g)) for g in goal_words):
            points += 0.5
            hits += 1
    return points * hits / len(name_words) if name_words else points


# --------------------------------------------------------------------------- grounding a prompt


def is_grounded(text: str) -> bool:
    return any(line.startswith(VALUES_PREFIX) for line in text.splitlines()[:3])


def ground_prompt(text: str) -> str:
    """A worker prompt (``Goal: …`` first, the page's element lines below) with the goal's
    values listed under the goal and matching elements marked. Idempotent."""
    if is_grounded(text):
        return text
    goal_match = _GOAL_LINE.search(text)
    if goal_match is None:
        return text
    goal = goal_match.group(1)
    values = goal_values(goal)
    goal_words = set(words(goal))
    values_lower = {v.lower() for v in values}
    lines = text.split("\n")
    kinds = {KIND_ROLES[w] for w in goal_words if w in KIND_ROLES}  # no kind word is a stopword
    elements = [(i, m) for i, line in enumerate(lines)
                if (m := _ELEMENT_LINE.match(line)) is not None and not m.group("mark")]
    counted_lines = set()
    for place, role in ordinal_targets(goal):
        of_role = [i for i, m in elements if m.group("role") == role]
        index = place - 1 if place > 0 else place
        if -len(of_role) <= index < len(of_role):
            counted_lines.add(of_role[index])
    scored = []
    for i, m in elements:
        name = unquote(m.group("name")) or _label_above(lines, i)
        score = (element_score(name, goal_words, values_lower) + (ORDINAL_POINTS if i in counted_lines else 0.0)
                 + (KIND_POINTS if m.group("role") in kinds else 0.0))
        if score > 0:
            scored.append((-score, i, m))
    marks: dict[str, str] = {}
    for k, (_score, i, m) in enumerate(sorted(scored, key=lambda s: (s[0], s[1]))[:MAX_MARKS], 1):
        indent = m.group("indent")
        lines[i] = f"{indent}*{k} {lines[i][len(indent):]}"
        marks[str(k)] = m.group("bid")
    _history_as_references(lines, References(marks, {str(k): v for k, v in enumerate(values, 1)}))
    goal_line = text[:goal_match.end()].count("\n")
    shown = " | ".join(f"${k} {json.dumps(v, ensure_ascii=False)}" for k, v in enumerate(values, 1))
    lines.insert(goal_line + 1, f"{VALUES_PREFIX} {shown or 'none'}")
    return "\n".join(lines)


_HISTORY_LINE = re.compile(r"^(\d+): (.*)$")
_ERROR_TAIL = "  -> error: "


def _history_as_references(lines: list[str], refs: References) -> None:
    """Rewrite, in place, each action under the prompt's ``Previous actions:`` line with the
    references this page defines (:func:`to_references`): ``0: fill('1', 'karrie')`` becomes
    ``0: fill(*1, $1)`` when ``[1]`` is marked ``*1`` and ``karrie`` is ``$1``. The model
    answers in references, so its history reads in them too: "after ``fill(*1, $1)`` comes
    ``fill(*2, $2)``" is a pattern; matching ``'1'`` back to ``[1]`` would be a lookup.
    Only the section outside the page's and errors' fenced blocks counts; an id no longer
    marked, or text that is no goal value, stays as it was."""
    if not refs:
        return
    depth, start = 0, None
    for i, line in enumerate(lines):
        if line.startswith("<untrusted "):
            depth += 1
        elif line == "</untrusted>":
            depth = max(depth - 1, 0)
        elif depth == 0 and line == "Previous actions:":
            start = i + 1
            break
    if start is None:
        return
    for i in range(start, len(lines)):
        m = _HISTORY_LINE.match(lines[i])
        if m is None:
            break
        action, tail = m.group(2), ""
        cut = action.find(_ERROR_TAIL)
        while cut >= 0:  # the error note follows the action; the action's text may hold the same words
            try:
                parse_action(action[:cut])
            except ActionError:
                cut = action.find(_ERROR_TAIL, cut + 1)
                continue
            action, tail = action[:cut], action[cut:]
            break
        written = to_references(action, refs)
        if has_references(written):
            lines[i] = f"{m.group(1)}: {written}{tail}"


def ordinal_targets(goal: str) -> list[tuple[int, str]]:
    """(place, role) for each place the goal counts among elements of a kind, in order:
    ``the 3rd input textbox`` -> [(3, "textbox")], ``the last button`` -> [(-1, "button")],
    ``Check the 1st radio button and enter "-5" into the 2nd textbox`` -> [(1, "radio"), (2, "textbox")]."""
    found = []
    for m in _ORDINAL.finditer(goal):
        place = int(m.group(1)) if m.group(1) else _ORDINAL_WORDS[m.group(2).lower()]
        for word in _WORD.findall(goal[m.end():].lower())[:3]:
            if word in KIND_ROLES and place != 0:
                found.append((place, KIND_ROLES[word]))
                break
    return found


def _label_above(lines: list[str], i: int) -> str:
    """The short text on one of the two lines above line ``i``, or ""."""
    for j in (i - 1, i - 2):
        if j < 0:
            break
        m = _LABEL_LINE.match(lines[j])
        if m is not None:
            label = unquote(m.group("text"))
            return label if len(label.split()) <= MAX_LABEL_WORDS else ""
        if _ELEMENT_LINE.match(lines[j]):
            break
    return ""


def references_in(text: str) -> References:
    """The references a grounded prompt defines (what the model was shown)."""
    marks = {k: bid for k, bid in _MARK_LINE.findall(text)}
    values: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith(VALUES_PREFIX):
            for k, literal in _VALUE_ITEM.findall(line):
                try:
                    values[k] = json.loads(literal)
                except ValueError:
                    continue
            break
    return References(marks, values)


# --------------------------------------------------------------------------- replies


def has_references(text: str) -> bool:
    return any(True for _ in _outside_strings(text))


def _outside_strings(text: str):
    """(start, end, sigil, number) of each reference outside quoted strings."""
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch in "'\"":
            j = i + 1
            while j < n and text[j] != ch:
                j += 2 if text[j] == "\\" else 1
            i = j + 1
            continue
        m = _REF.match(text, i) if ch in "*$" else None
        if m is not None:
            yield m.start(), m.end(), m.group(1), m.group(2)
            i = m.end()
            continue
        i += 1


def resolve(text: str, refs: References) -> str:
    """``text`` with every ``*k``/``$k`` outside strings replaced by the bid or the goal
    value it names; :class:`ActionError` for a reference the prompt does not define."""
    out, done = [], 0
    for start, end, sigil, k in _outside_strings(text):
        table = refs.marks if sigil == "*" else refs.values
        if k not in table:
            what = "marked element" if sigil == "*" else "goal value"
            have = ", ".join(f"{sigil}{x}" for x in table) or "none"
            raise ActionError(f"{sigil}{k} is not a {what} of this page (defined: {have})")
        out.append(text[done:start])
        out.append(repr(table[k]))
        done = end
    if not out:
        return text
    out.append(text[done:])
    return "".join(out)


def to_references(action: str, refs: References) -> str:
    """``action`` (canonical) with each element id that is marked written as its ``*k`` and
    each typed text that is a goal value written as its ``$k``; the rest stays literal."""
    try:
        parsed = parse_action(action)
    except ActionError:
        return action
    kinds = ACTION_SIGNATURES.get(parsed.name, ())
    by_bid = {bid: k for k, bid in sorted(refs.marks.items(), key=lambda kv: int(kv[0]), reverse=True)}
    by_value = {v: k for k, v in sorted(refs.values.items(), key=lambda kv: int(kv[0]), reverse=True)}
    args = []
    for i, value in enumerate(parsed.args):
        kind = kinds[i].rstrip("*") if i < len(kinds) else ""
        if kind == "bid" and str(value) in by_bid:
            args.append(f"*{by_bid[str(value)]}")
        elif kind == "str" and isinstance(value, str) and value in by_value:
            args.append(f"${by_value[value]}")
        else:
            args.append(repr(value) if isinstance(value, str) else str(value))
    return f"{parsed.name}({', '.join(args)})"


# --------------------------------------------------------------------------- the prompt style

REFERENCES_HELP = ("References: *k names the element marked *k on the page (elements that match the goal, "
                   "best match first); $k names goal value $k. Example: fill(*1, $2) or click(*1).")


def ground_messages(messages: Sequence[Any]) -> list[Any]:
    """Chat messages with every user turn grounded and the reference help added to the
    system turn; assistant turns of worked examples rewritten with references. Works on
    :class:`~halo_core.backends.Message` objects and on ``{"role", "content"}`` dicts."""
    out = []
    last_user = ""
    for m in messages:
        role, content = (m["role"], m["content"]) if isinstance(m, dict) else (m.role, m.content)
        if role == "system" and REFERENCES_HELP not in content:
            content = content + "\n" + REFERENCES_HELP
        elif role == "user":
            content = ground_prompt(content)
            last_user = content
        elif role == "assistant" and last_user:
            content = to_references(content, references_in(last_user))
        out.append({**m, "content": content} if isinstance(m, dict) else attrs.evolve(m, content=content))
    return out


def rewrite_example(prompt: list[dict], completion: str | None) -> tuple[list[dict], str | None]:
    """One exported example in this style: the prompt grounded as the live worker grounds it,
    the completion (a canonical action) written with the references that prompt defines."""
    grounded = ground_messages(prompt)
    if completion is None:
        return grounded, None
    return grounded, to_references(completion, references_in(grounded[-1]["content"]))
