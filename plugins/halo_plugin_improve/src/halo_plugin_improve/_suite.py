"""Eval suites generated from feedback: the file format and the rules that make checks.

A suite is one YAML (or JSON, by extension) file::

    halo_eval_suite: 1            # the file format
    name: shop-evals
    version: 2                    # bumped each time regeneration changes the evals
    generated_at: 2026-12-01T11:00:00Z
    generated_from: {run_id: …, run_dir: …, feedback: 5}
    evals:
      - id: graph.shop-price/answer_contains/3f2a91c0
        task: graph.shop-price
        kind: answer_contains
        value: "42"
        description: the final answer contains "42"
        sources:                  # the feedback each eval came from
          - {feedback_id: …, source: human, field: required, item: answer contains "42"}

Each feedback item (a ``required`` or ``prohibited`` string of a person's or a model's
feedback) becomes the first deterministic check its wording fits, else a model-graded
``rubric``. The wordings (case-insensitive, ``"X"`` a double-quoted string):

=====================================  ==========================  ==========================
wording                                 required →                  prohibited →
=====================================  ==========================  ==========================
``answer [contains] "X"``, ``say "X"``  ``answer_contains X``       ``answer_excludes X``
``mention/paste "X"``                   ``answer_contains X``       ``answer_excludes X``
``within/at most N steps``              ``max_steps N``             —
``more than N steps``                   —                           ``max_steps N``
``action X`` / ``X(…)``                 ``actions_include X``       ``actions_avoid X``
``visit/open/reach/go to "X"``          ``visits X`` (URL/title)    ``avoids_visit X``
``end/finish on "X"``                   ``ends_on X`` (final page)  —
``succeed`` / ``complete the task``     ``task_success`` (the       —
                                        site-state check)
anything else                           ``rubric`` (model-graded)   ``rubric``
=====================================  ==========================  ==========================
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from pathlib import Path
from typing import Any, Iterable, Mapping

import attrs

__all__ = ["DETERMINISTIC_KINDS", "KINDS", "EvalCase", "EvalSuite", "SuiteError", "checks_from_item",
           "generate_suite", "load_suite", "write_suite"]

FORMAT = 1
DETERMINISTIC_KINDS = ("answer_contains", "answer_excludes", "actions_avoid", "actions_include", "max_steps",
                       "visits", "avoids_visit", "ends_on", "task_success")
KINDS = DETERMINISTIC_KINDS + ("rubric",)
_PARAM = {"answer_contains": "value", "answer_excludes": "value", "actions_avoid": "value",
          "actions_include": "value", "max_steps": "n", "visits": "value", "avoids_visit": "value",
          "ends_on": "value", "task_success": None, "rubric": "criterion"}


class SuiteError(ValueError):
    """A suite file that cannot be used; the message names the file and the problem."""


@attrs.frozen
class EvalCase:
    id: str
    task: str
    kind: str
    value: Any = None
    description: str = ""
    sources: tuple[Mapping[str, Any], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "task": self.task, "kind": self.kind}
        param = _PARAM[self.kind]
        if param:
            out[param] = self.value
        out["description"] = self.description
        out["sources"] = [dict(s) for s in self.sources]
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], where: str) -> EvalCase:
        kind = d.get("kind")
        if kind not in KINDS:
            raise SuiteError(f"{where}: unknown eval kind {kind!r} (known: {', '.join(KINDS)})")
        param = _PARAM[kind]
        value = d.get(param) if param else None
        if param and (value is None or value == ""):
            raise SuiteError(f"{where}: eval {d.get('id')!r} of kind {kind} needs {param!r}")
        if kind == "max_steps" and not isinstance(value, int):
            raise SuiteError(f"{where}: eval {d.get('id')!r}: n must be an integer")
        if not d.get("id") or not d.get("task"):
            raise SuiteError(f"{where}: every eval needs an id and a task")
        return cls(id=str(d["id"]), task=str(d["task"]), kind=str(kind), value=value,
                   description=str(d.get("description") or ""), sources=tuple(d.get("sources") or ()))


@attrs.frozen
class EvalSuite:
    name: str
    version: int
    evals: tuple[EvalCase, ...]
    generated_at: str = ""
    generated_from: Mapping[str, Any] = attrs.field(factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"halo_eval_suite": FORMAT, "name": self.name, "version": self.version,
                "generated_at": self.generated_at, "generated_from": dict(self.generated_from),
                "evals": [e.to_dict() for e in self.evals]}


# --------------------------------------------------------------------------- wording → checks

_Q = r'"([^"]+)"'
_RULES: list[tuple[re.Pattern[str], str, str | None]] = [  # (pattern, kind if required, kind if prohibited)
    (re.compile(r"\b(?:within|at most|no more than|in)\s+(\d+)\s+steps?\b", re.I), "max_steps", None),
    (re.compile(r"\bmore than\s+(\d+)\s+steps?\b", re.I), None, "max_steps"),
    (re.compile(r"\b(?:end|finish|stop)s?\s+on\s+(?:the\s+)?(?:page\s+)?" + _Q, re.I), "ends_on", None),
    (re.compile(r"\b(?:visit|open|reach|go to|navigate to)s?\s+(?:the\s+)?(?:page\s+)?" + _Q, re.I),
     "visits", "avoids_visit"),
    (re.compile(r"\b(?:answer|reply|respond|say|mention|paste|message)s?\b[^\"]*" + _Q, re.I),
     "answer_contains", "answer_excludes"),
    (re.compile(r"\baction\s+([A-Za-z_]+(?:\([^)]*\))?)", re.I), "actions_include", "actions_avoid"),
    (re.compile(r"\b((?:click|fill|goto|select_option|press|scroll|report_infeasible|send_msg_to_user)"
                r"\([^)]*\))", re.I), "actions_include", "actions_avoid"),
    (re.compile(r"\b(?:answer|reply)\s+(-?\d[\d.,]*)\b", re.I), "answer_contains", "answer_excludes"),
    (re.compile(r"^\s*(?:succeed|complete the task|solve the task|task success)\b", re.I), "task_success", None),
]


def checks_from_item(item: str, *, prohibited: bool) -> tuple[str, Any]:
    """``(kind, value)`` for one feedback item; ``("rubric", criterion)`` when no wording fits."""
    for pattern, if_required, if_prohibited in _RULES:
        kind = if_prohibited if prohibited else if_required
        if kind is None:
            continue
        m = pattern.search(item)
        if not m:
            continue
        if kind == "task_success":
            return kind, None
        value = m.group(1)
        return kind, int(value) if kind == "max_steps" else value
    return "rubric", f"The agent must not: {item}" if prohibited else f"The agent must: {item}"


def _describe(kind: str, value: Any) -> str:
    return {"answer_contains": f'the final answer contains "{value}"',
            "answer_excludes": f'the final answer does not contain "{value}"',
            "actions_avoid": f"no action matches {value}", "actions_include": f"some action matches {value}",
            "max_steps": f"the episode ends within {value} steps", "visits": f'a page whose URL or title holds "{value}" is visited',
            "avoids_visit": f'no page whose URL or title holds "{value}" is visited',
            "ends_on": f'the episode ends on a page whose URL or title holds "{value}"',
            "task_success": "the task's own check of the site's final state passes",
            "rubric": str(value)}[kind]


def _eval_id(task: str, kind: str, value: Any) -> str:
    digest = hashlib.sha256(json.dumps([task, kind, value], default=str).encode()).hexdigest()[:8]
    return f"{task}/{kind}/{digest}"


def generate_suite(feedback: Iterable[Mapping[str, Any]], *, name: str, run_id: str = "", run_dir: str = "",
                   previous: EvalSuite | None = None, sources: Iterable[str] = ("human", "model")) -> EvalSuite:
    """The suite the ``feedback`` records imply; ``previous`` (the file being regenerated)
    gives the version, bumped when the evals differ."""
    wanted = tuple(sources)
    cases: dict[str, dict[str, Any]] = {}
    used = 0
    for record in feedback:
        source = str(record.get("source") or "human")
        if not source.startswith(wanted):
            continue
        used += 1
        task = str(record.get("task") or "")
        for field, prohibited in (("required", False), ("prohibited", True)):
            for item in record.get(field) or ():
                kind, value = checks_from_item(str(item), prohibited=prohibited)
                eid = _eval_id(task, kind, value)
                case = cases.setdefault(eid, {"id": eid, "task": task, "kind": kind, "value": value,
                                              "description": _describe(kind, value), "sources": []})
                case["sources"].append({"feedback_id": str(record.get("id") or ""), "source": source,
                                        "field": field, "item": str(item),
                                        "episode": f"{task}#{record.get('attempt', 0)} ({record.get('mode') or ''})"})
    evals = tuple(EvalCase(id=c["id"], task=c["task"], kind=c["kind"], value=c["value"], description=c["description"],
                           sources=tuple(c["sources"])) for c in sorted(cases.values(), key=lambda c: c["id"]))
    version = 1
    if previous is not None:
        same = [e.to_dict() for e in previous.evals] == [e.to_dict() for e in evals]
        version = previous.version if same else previous.version + 1
    return EvalSuite(name=name, version=version, evals=evals,
                     generated_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                     generated_from={"run_id": run_id, "run_dir": run_dir, "feedback": used})


# --------------------------------------------------------------------------- files


def write_suite(suite: EvalSuite, path: str | Path) -> Path:
    """Write ``suite`` as YAML (or JSON for a ``.json`` path), atomically."""
    import yaml

    path = Path(path)
    data = suite.to_dict()
    text = (json.dumps(data, indent=2, ensure_ascii=False) + "\n" if path.suffix == ".json"
            else yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100))
    from halo_core.api import write_redacted

    return write_redacted(path, text)


def load_suite(path: str | Path) -> EvalSuite:
    """Read and check a suite file; raises :class:`SuiteError` naming the problem."""
    import yaml

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except OSError as exc:
        raise SuiteError(f"{path}: cannot read the suite ({exc.strerror})") from None
    except (ValueError, yaml.YAMLError) as exc:
        raise SuiteError(f"{path}: not valid {'JSON' if path.suffix == '.json' else 'YAML'}: "
                         f"{str(exc).splitlines()[0]}") from None
    if not isinstance(data, dict) or data.get("halo_eval_suite") != FORMAT:
        raise SuiteError(f"{path}: not a HALO eval suite (expected 'halo_eval_suite: {FORMAT}'; "
                         "make one with `halo evals generate`)")
    evals = data.get("evals")
    if not isinstance(evals, list):
        raise SuiteError(f"{path}: 'evals' must be a list")
    cases = tuple(EvalCase.from_dict(d if isinstance(d, dict) else {}, f"{path}: evals[{i}]")
                  for i, d in enumerate(evals))
    ids = [c.id for c in cases]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise SuiteError(f"{path}: eval ids repeat: {', '.join(dupes)}")
    return EvalSuite(name=str(data.get("name") or path.stem), version=int(data.get("version") or 1), evals=cases,
                     generated_at=str(data.get("generated_at") or ""),
                     generated_from=dict(data.get("generated_from") or {}))
