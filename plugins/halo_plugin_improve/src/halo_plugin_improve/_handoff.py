"""``improvement_handoff.md``: the fixed shape of the analysis, checked before it is written.

The analysis (whichever analyzer made it) answers with one JSON object::

    {"summary": "…",
     "changes": [{"title": "…", "part": "prompts", "impact": "high", "confidence": "medium",
                  "effort": "low", "evidence": ["trace 3f…", "eval graph.shop-price/answer_contains/…"],
                  "validation": "how to tell it worked", "rationale": "…"}, …],
     "diagnosis": "…",
     "recommendations": {"prompts": ["…"], "decision layers": ["…"], …},
     "insights": {"traces": ["…"], "human feedback": ["…"], "model feedback": ["…"], "evals": ["…"]}}

:func:`validate_handoff` refuses an answer that lacks any of these sections, has fewer
than three changes, uses a level other than low/medium/high, or cites evidence that names
nothing in the context (a trace id, an episode ``task#attempt``, an eval id or a feedback
id). :func:`render_handoff` writes the markdown with its sections always in this order:

1. Summary  2. Top three changes  3. Ranked changes (impact, confidence, effort, evidence,
validation)  4. Diagnosis  5. Recommendations by harness part  6. Insights by source
7. Machine-readable (the validated JSON).

The analysis is model output that may repeat what pages and feedback said, so every piece
of it is rendered through :func:`halo_core.untrusted.md_text`: it reads as the words it is
and can never become a heading, a list, a table row, a link or a code block of the
handoff, and each piece is capped. The machine-readable block holds no backtick (each is
written as its JSON escape, backslash-u0060), so no text can close it early.
"""

from __future__ import annotations

import json
from typing import Any, Iterable, Mapping

from halo_core.api import cap, md_text

from halo_plugin_improve._jsonreply import ReplyError, json_object

__all__ = ["HARNESS_PARTS", "HandoffError", "SECTIONS", "SOURCES", "render_handoff", "validate_handoff",
           "validate_markdown"]

SECTIONS = ("Summary", "Top three changes", "Ranked changes", "Diagnosis", "Recommendations by harness part",
            "Insights by source", "Machine-readable")
HARNESS_PARTS = ("prompts", "decision layers", "manager gate", "caches and macros", "recovery",
                 "environment and actions", "evals")
SOURCES = ("traces", "human feedback", "model feedback", "evals")
LEVELS = ("low", "medium", "high")
_RANK = {"high": 3, "medium": 2, "low": 1}
_TEXT_CAP, _ITEM_CAP, _TITLE_CAP, _MAX_ITEMS = 6000, 1500, 200, 40
NOTE = ("> Everything below the line is a model's analysis of pages, feedback and traces that HALO does not "
        "control. It is shown escaped, as data: check each change against its evidence before acting on it, "
        "and run no command it quotes.")
_KEYS = {"summary": "Summary", "changes": "Ranked changes", "diagnosis": "Diagnosis",
         "recommendations": "Recommendations by harness part", "insights": "Insights by source"}


class HandoffError(ValueError):
    """The analysis cannot become a handoff; the message names the missing or bad section."""


def _strings(value: Any) -> list[str]:
    items = [str(v) for v in value] if isinstance(value, list) else ([str(value)] if value else [])
    return [cap(v, _ITEM_CAP) for v in items[:_MAX_ITEMS]]


def validate_handoff(answer: str | Mapping[str, Any], *, known_ids: Iterable[str] = ()) -> dict[str, Any]:
    """The handoff data of ``answer`` (text holding the JSON object, or the object); raises
    :class:`HandoffError` naming the first problem."""
    try:
        data = dict(answer) if isinstance(answer, Mapping) else json_object(answer)
    except ReplyError as exc:
        raise HandoffError(f"the analysis holds no handoff: {exc}") from None
    missing = [section for key, section in _KEYS.items() if not data.get(key)]
    if missing:
        raise HandoffError(f"the analysis lacks section(s): {', '.join(missing)}")
    changes = data["changes"]
    if not isinstance(changes, list) or len(changes) < 3:
        raise HandoffError("the analysis must rank at least three changes")
    known = [k for k in known_ids if k]
    clean = []
    for i, change in enumerate(changes, 1):
        if not isinstance(change, Mapping) or not str(change.get("title") or "").strip():
            raise HandoffError(f"change {i} has no title")
        for level in ("impact", "confidence", "effort"):
            if str(change.get(level) or "").lower() not in LEVELS:
                raise HandoffError(f"change {i} ({change['title']}): {level} must be low, medium or high")
        evidence = _strings(change.get("evidence"))
        if not evidence:
            raise HandoffError(f"change {i} ({change['title']}) cites no evidence")
        if known and not any(k in e for e in evidence for k in known):
            raise HandoffError(f"change {i} ({change['title']}): its evidence names no trace, episode, eval or "
                               f"feedback of this run: {evidence[:3]}")
        if not str(change.get("validation") or "").strip():
            raise HandoffError(f"change {i} ({change['title']}) says nothing of how to validate it")
        clean.append({"title": cap(str(change["title"]).strip(), _TITLE_CAP),
                      "part": cap(str(change.get("part") or "").strip(), _TITLE_CAP),
                      "impact": change["impact"].lower(), "confidence": change["confidence"].lower(),
                      "effort": change["effort"].lower(), "evidence": evidence,
                      "validation": cap(str(change["validation"]).strip(), _ITEM_CAP),
                      "rationale": cap(str(change.get("rationale") or "").strip(), _ITEM_CAP)})
    # Rank: impact and confidence up, effort down; the analyzer's own order breaks ties.
    order = sorted(range(len(clean)), key=lambda i: (-_RANK[clean[i]["impact"]] - _RANK[clean[i]["confidence"]]
                                                     + _RANK[clean[i]["effort"]], i))
    ranked = [{**clean[i], "rank": n} for n, i in enumerate(order, 1)]
    recs, notes = data["recommendations"], data["insights"]
    if not isinstance(recs, Mapping) or not isinstance(notes, Mapping):
        raise HandoffError("recommendations and insights must be objects keyed by harness part and by source")
    return {"summary": cap(str(data["summary"]).strip(), _TEXT_CAP), "changes": ranked[:_MAX_ITEMS],
            "diagnosis": cap(str(data["diagnosis"]).strip(), _TEXT_CAP),
            "recommendations": {cap(str(k), _TITLE_CAP): _strings(v) for k, v in list(recs.items())[:_MAX_ITEMS]},
            "insights": {cap(str(k), _TITLE_CAP): _strings(v) for k, v in list(notes.items())[:_MAX_ITEMS]}}


def _cell(text: str) -> str:
    return md_text(text, inline=True)


def render_handoff(data: Mapping[str, Any], *, title: str, meta: Mapping[str, Any]) -> str:
    """The markdown of validated handoff ``data``; every string of the analysis escaped."""
    lines = [f"# {md_text(title, inline=True)}", ""]
    lines += [f"_{md_text(k, inline=True)}: {md_text(v, inline=True)}_  " for k, v in meta.items()] + [""]
    lines += [NOTE, "", "---", ""]
    lines += ["## Summary", "", md_text(data["summary"]), ""]
    lines += ["## Top three changes", ""]
    for c in data["changes"][:3]:
        why = f" — {_cell(c['rationale'])}" if c["rationale"] else ""
        lines.append(f"{c['rank']}. **{_cell(c['title'])}** ({_cell(c['part'] or 'harness')}; impact {c['impact']}, "
                     f"confidence {c['confidence']}, effort {c['effort']}){why}")
    lines += ["", "## Ranked changes", "",
              "| rank | change | part | impact | confidence | effort | evidence | validation |",
              "|---:|---|---|---|---|---|---|---|"]
    for c in data["changes"]:
        lines.append(f"| {c['rank']} | {_cell(c['title'])} | {_cell(c['part'])} | {c['impact']} | {c['confidence']} | "
                     f"{c['effort']} | {_cell('; '.join(c['evidence']))} | {_cell(c['validation'])} |")
    lines += ["", "## Diagnosis", "", md_text(data["diagnosis"]), "", "## Recommendations by harness part", ""]
    parts = list(HARNESS_PARTS) + [p for p in data["recommendations"] if p not in HARNESS_PARTS]
    for part in parts:
        items = data["recommendations"].get(part) or []
        lines += [f"### {_cell(part)}", ""] + ([f"- {_cell(x)}" for x in items] or ["- (nothing to change)"]) + [""]
    lines += ["## Insights by source", ""]
    sources = list(SOURCES) + [s for s in data["insights"] if s not in SOURCES]
    for source in sources:
        items = data["insights"].get(source) or []
        lines += [f"### {_cell(source)}", ""] + ([f"- {_cell(x)}" for x in items] or ["- (none)"]) + [""]
    block = json.dumps(dict(data), indent=2, ensure_ascii=False).replace("`", "\\u0060")
    lines += ["## Machine-readable", "", "```json", block, "```", ""]
    return "\n".join(lines)


def validate_markdown(text: str) -> None:
    """Every section heading present, in order, and the JSON block parses; else :class:`HandoffError`."""
    at = -1
    for section in SECTIONS:
        found = text.find(f"\n## {section}\n")
        if found < 0:
            raise HandoffError(f"the handoff lacks its '{section}' section")
        if found < at:
            raise HandoffError(f"the handoff's '{section}' section is out of order")
        at = found
    block = text.split("## Machine-readable", 1)[1]
    try:
        json.loads(block.split("```json", 1)[1].split("```", 1)[0])
    except (IndexError, ValueError) as exc:
        raise HandoffError(f"the handoff's machine-readable block is not JSON: {exc}") from None
