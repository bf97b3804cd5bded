"""``halo feedback judge``: a model reviews each episode and gives structured feedback.

The model sees a compact transcript of one episode (goal, every step's page, action and
error, the ending) and answers with one JSON object::

    {"verdict": "pass" | "fail",
     "summary": "one or two sentences",
     "observations": ["what happened that matters"],
     "failure_modes": ["short-name: what went wrong"],
     "required": ["something the agent must do on this task"],
     "prohibited": ["something the agent must not do"]}

The reply is validated (:func:`validate_judgement`); an invalid one is asked again once
with the problem named, and an episode whose second reply is still invalid is reported,
not stored. The transcript reaches the model fenced as untrusted data
(:func:`halo_core.untrusted.fence`). Valid judgements go to ``feedback.jsonl`` beside human feedback, with
``source = "model:<backend>"``, so every later step can tell the two apart.
"""

from __future__ import annotations

import json
from typing import Any, Callable, Iterable

import attrs

from halo_core.api import UNTRUSTED_RULE, fence

from halo_plugin_improve._episodes import EpisodeView
from halo_plugin_improve._jsonreply import ReplyError, json_object

__all__ = ["JUDGE_SYSTEM", "JudgeResult", "judge_episodes", "validate_judgement"]

JUDGE_SYSTEM = """You review one episode of a browser agent that tries to complete a web task.
Judge whether the agent did the task well and explain what a developer should learn from it.
Answer with ONE JSON object and nothing else, with exactly these keys:
  "verdict": "pass" or "fail"
  "summary": one or two sentences
  "observations": list of short strings (what happened that matters)
  "failure_modes": list of short strings, each "name: what went wrong" (empty when it passed)
  "required": list of things the agent must do on this task (e.g. "answer contains \\"42\\"")
  "prohibited": list of things the agent must not do (e.g. "action report_infeasible")
Quote exact strings the answer must or must not contain with double quotes.
""" + UNTRUSTED_RULE

_LIST_KEYS = ("observations", "failure_modes", "required", "prohibited")
_MAX_ITEMS, _MAX_CHARS = 12, 600


def validate_judgement(obj: Any) -> dict[str, Any]:
    """The judgement with only its known keys; raises :class:`ReplyError` naming the first problem."""
    if not isinstance(obj, dict):
        raise ReplyError("the judgement is not a JSON object")
    if obj.get("verdict") not in ("pass", "fail"):
        raise ReplyError(f'"verdict" must be "pass" or "fail", not {obj.get("verdict")!r}')
    summary = obj.get("summary")
    if not isinstance(summary, str) or not summary.strip():
        raise ReplyError('"summary" must be a non-empty string')
    out: dict[str, Any] = {"verdict": obj["verdict"], "summary": summary.strip()[:_MAX_CHARS]}
    for key in _LIST_KEYS:
        value = obj.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ReplyError(f'"{key}" must be a list of strings')
        out[key] = [v.strip()[:_MAX_CHARS] for v in value if v.strip()][:_MAX_ITEMS]
    return out


@attrs.define
class JudgeResult:
    stored: list[dict[str, Any]] = attrs.field(factory=list)
    invalid: list[tuple[str, str]] = attrs.field(factory=list)  # (episode, why)
    calls: int = 0
    tokens_in: int = 0
    tokens_out: int = 0


def judge_episodes(episodes: Iterable[EpisodeView], backend: Any, *, store: Callable[..., dict[str, Any]],
                   source: str, progress: Callable[[str], None] = lambda _: None) -> JudgeResult:
    """Ask ``backend`` about each episode and ``store(...)`` each valid judgement."""
    from halo_core.api import BackendError, Message

    result = JudgeResult()
    for ep in episodes:
        messages = [Message("system", JUDGE_SYSTEM),
                    Message("user", "The episode (from its trajectory):\n" + fence(ep.transcript(), "trace"))]
        judgement, why = None, ""
        for _ in range(2):
            try:
                completion = backend.complete(messages, temperature=0.0, max_tokens=1024)
            except BackendError as exc:
                why = f"model call failed: {exc}"
                break
            result.calls += 1
            result.tokens_in += completion.usage.tokens_in
            result.tokens_out += completion.usage.tokens_out
            try:
                judgement = validate_judgement(json_object(completion.text))
                break
            except ReplyError as exc:
                why = str(exc)
                messages += [Message("assistant", completion.text),
                             Message("user", f"That reply is not valid: {why}. Answer again with the JSON object only.")]
        if judgement is None:
            result.invalid.append((ep.key, why))
            progress(f"{ep.key}: no valid judgement ({why})")
            continue
        record = store(task=ep.task, attempt=ep.attempt, mode=ep.mode, text=judgement["summary"],
                       required=judgement["required"], prohibited=judgement["prohibited"], author=source,
                       source=source, verdict=judgement["verdict"], observations=judgement["observations"],
                       failure_modes=judgement["failure_modes"])
        result.stored.append(record)
        progress(f"{ep.key}: {judgement['verdict']} — {judgement['summary'][:100]}")
    return result


def example_judgement() -> str:
    """A valid reply, for documentation and tests."""
    return json.dumps({"verdict": "fail", "summary": "Answered without reading the price.",
                       "observations": ["never opened the price list"], "failure_modes": ["guessing: answered 41"],
                       "required": ['answer contains "42"'], "prohibited": ['answer contains "41"']})
