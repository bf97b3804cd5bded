"""``halo evals run SUITE --run RUN_DIR``: every eval over the run's episodes of its task.

An eval passes when every episode of its task passes it; it is ``skipped`` when the run
has no episode of that task, or when it is a ``rubric`` and no grader model was given
(``--grader prefix:model``). The gate fails (exit 1) when any eval fails or errors;
``--strict`` fails on skipped evals too. Results go to JUnit XML (one ``testcase`` per
eval, failures naming the episodes and steps) and JSON.

The grader reads the episode and the criterion (feedback text) as fenced, untrusted data;
its ``reason`` is capped (:data:`MAX_REASON`), and both result files are written through
:func:`halo_core.secrets.write_redacted` with control characters escaped, so a grader that
echoes a key or a page's bytes cannot put them in a file a CI system or a person reads.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable, Iterable
from xml.etree import ElementTree as ET

import attrs

from halo_core.api import UNTRUSTED_RULE, cap, escape_controls, fence, write_redacted

from halo_plugin_improve._episodes import EpisodeView
from halo_plugin_improve._jsonreply import ReplyError, json_object
from halo_plugin_improve._suite import EvalCase, EvalSuite

__all__ = ["EvalOutcome", "GateResult", "check_episode", "run_suite", "write_json", "write_junit"]

GRADER_SYSTEM = """You grade one episode of a browser agent against one criterion.
Answer with ONE JSON object and nothing else: {"pass": true or false, "reason": "one sentence"}.
""" + UNTRUSTED_RULE
#: the most characters of a grader's reason kept in the results
MAX_REASON = 500


def _contains(haystack: str, needle: str) -> bool:
    return needle.strip().lower() in haystack.lower()


def _action_matches(action: str, pattern: str) -> bool:
    if "(" in pattern:  # a whole call, quotes normalized
        return _contains(action.replace('"', "'"), pattern.replace('"', "'"))
    return action.split("(", 1)[0].strip().lower() == pattern.strip().lower()


def check_episode(case: EvalCase, ep: EpisodeView) -> tuple[bool, str]:
    """(passed, why) of a deterministic eval on one episode."""
    k, v = case.kind, case.value
    pages = [f"{u} {t}" for u, t in zip(ep.urls, ep.titles)] or list(ep.urls)
    if k == "answer_contains":
        return _contains(ep.answer, v), f"answer {ep.answer!r}"
    if k == "answer_excludes":
        return not _contains(ep.answer, v), f"answer {ep.answer!r}"
    if k == "actions_avoid":
        hits = [f"step {i}: {a}" for i, a in enumerate(ep.actions) if _action_matches(a, v)]
        return not hits, "; ".join(hits) or "no matching action"
    if k == "actions_include":
        hits = [f"step {i}: {a}" for i, a in enumerate(ep.actions) if _action_matches(a, v)]
        return bool(hits), "; ".join(hits) or f"no action matches {v}"
    if k == "max_steps":
        return ep.steps <= int(v), f"{ep.steps} steps"
    if k == "visits":
        hits = [f"step {i}: {p.strip()}" for i, p in enumerate(pages) if _contains(p, v)]
        return bool(hits), hits[0] if hits else f"no page holds {v!r}"
    if k == "avoids_visit":
        hits = [f"step {i}: {p.strip()}" for i, p in enumerate(pages) if _contains(p, v)]
        return not hits, "; ".join(hits) or "not visited"
    if k == "ends_on":
        last = pages[-1].strip() if pages else ""
        return bool(last) and _contains(last, v), f"last page {last!r}"
    if k == "task_success":
        return ep.success, f"success={ep.success} (ended by {ep.terminated_by})"
    raise ValueError(f"{k} is not a deterministic eval")


@attrs.define
class EvalOutcome:
    case: EvalCase
    status: str  # pass | fail | skipped | error
    details: list[str] = attrs.field(factory=list)
    episodes: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.case.id, "task": self.case.task, "kind": self.case.kind, "status": self.status,
                "description": self.case.description, "episodes": self.episodes, "details": self.details,
                "sources": [dict(s) for s in self.case.sources], "seconds": round(self.seconds, 4)}


@attrs.define
class GateResult:
    suite: EvalSuite
    run_id: str
    outcomes: list[EvalOutcome]

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    def passed(self, strict: bool = False) -> bool:
        bad = ("fail", "error", "skipped") if strict else ("fail", "error")
        return not any(o.status in bad for o in self.outcomes)

    def to_dict(self) -> dict[str, Any]:
        return {"suite": self.suite.name, "suite_version": self.suite.version, "run_id": self.run_id,
                "passed": self.count("pass"), "failed": self.count("fail"), "skipped": self.count("skipped"),
                "errors": self.count("error"), "evals": [o.to_dict() for o in self.outcomes]}


def _grade(case: EvalCase, ep: EpisodeView, grader: Any) -> tuple[bool, str]:
    from halo_core.api import Message

    messages = [Message("system", GRADER_SYSTEM),
                Message("user", f"Criterion (from feedback):\n{fence(case.value, 'feedback')}\n\n"
                                f"Episode (from the trajectory):\n{fence(ep.transcript(), 'trace')}")]
    reply = grader.complete(messages, temperature=0.0, max_tokens=256).text
    obj = json_object(reply)
    if not isinstance(obj.get("pass"), bool):
        raise ReplyError('the grade has no boolean "pass"')
    return obj["pass"], cap(" ".join(str(obj.get("reason") or "").split()), MAX_REASON)


def run_suite(suite: EvalSuite, episodes: Iterable[EpisodeView], *, run_id: str = "", grader: Any = None,
              progress: Callable[[EvalOutcome], None] = lambda _: None) -> GateResult:
    """Run every eval of ``suite`` over ``episodes``."""
    from halo_core.api import BackendError

    eps = list(episodes)
    outcomes = []
    for case in suite.evals:
        t0 = time.perf_counter()
        mine = [e for e in eps if e.task == case.task]
        outcome = EvalOutcome(case, "pass", episodes=len(mine))
        if not mine:
            outcome.status, outcome.details = "skipped", [f"the run has no episode of task {case.task}"]
        elif case.kind == "rubric" and grader is None:
            outcome.status, outcome.details = "skipped", ["model-graded: pass --grader prefix:model to run it"]
        else:
            for ep in mine:
                try:
                    ok, why = _grade(case, ep, grader) if case.kind == "rubric" else check_episode(case, ep)
                except (BackendError, ReplyError) as exc:
                    outcome.status = "error"
                    outcome.details.append(f"{ep.key}: grader failed: {cap(str(exc), MAX_REASON)}")
                    continue
                if not ok:
                    outcome.status = "fail" if outcome.status != "error" else "error"
                outcome.details.append(f"{ep.key}: {'pass' if ok else 'FAIL'}: {why}")
        outcome.seconds = time.perf_counter() - t0
        outcomes.append(outcome)
        progress(outcome)
    return GateResult(suite=suite, run_id=run_id, outcomes=outcomes)


def write_junit(result: GateResult, path: str | Path) -> Path:
    """JUnit XML: one ``testsuite`` (the eval suite), one ``testcase`` per eval; secrets
    redacted, control characters (which XML 1.0 cannot hold) escaped."""
    total = sum(o.seconds for o in result.outcomes)
    suites = ET.Element("testsuites", name="halo-evals", tests=str(len(result.outcomes)),
                        failures=str(result.count("fail")), errors=str(result.count("error")),
                        skipped=str(result.count("skipped")), time=f"{total:.4f}")
    ts = ET.SubElement(suites, "testsuite", name=f"{result.suite.name} v{result.suite.version}",
                       tests=str(len(result.outcomes)), failures=str(result.count("fail")),
                       errors=str(result.count("error")), skipped=str(result.count("skipped")), time=f"{total:.4f}")
    props = ET.SubElement(ts, "properties")
    ET.SubElement(props, "property", name="run_id", value=result.run_id)
    for o in result.outcomes:
        tc = ET.SubElement(ts, "testcase", classname=f"halo.evals.{o.case.task}", name=f"{o.case.id} ({o.case.kind})",
                           time=f"{o.seconds:.4f}")
        text = escape_controls("\n".join([o.case.description, *o.details,
                                          *[f"from {s.get('source')} feedback {s.get('feedback_id')}: {s.get('item')}"
                                            for s in o.case.sources]]))
        if o.status in ("fail", "error"):
            tag = "failure" if o.status == "fail" else "error"
            first = next((d for d in o.details if "FAIL" in d or "failed" in d), o.case.description)
            ET.SubElement(tc, tag, message=escape_controls(first[:300]), type=o.case.kind).text = text
        elif o.status == "skipped":
            ET.SubElement(tc, "skipped", message=escape_controls(o.details[0] if o.details else "skipped"))
        else:
            ET.SubElement(tc, "system-out").text = text
    xml = ET.tostring(suites, encoding="unicode")
    return write_redacted(path, "<?xml version='1.0' encoding='utf-8'?>\n" + xml + "\n")


def write_json(result: GateResult, path: str | Path) -> Path:
    """The results as JSON, secrets redacted."""
    return write_redacted(path, json.dumps(result.to_dict(), indent=2, ensure_ascii=False) + "\n")
