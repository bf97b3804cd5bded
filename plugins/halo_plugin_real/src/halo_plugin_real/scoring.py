"""Scoring REAL episodes with agisdk's own :class:`WebCloneEvaluator`.

The evaluator runs exactly as agisdk's harness runs it (``evaluate(env_state,
model_response)`` on the site's ``/finish`` JSON), so a HALO score is the score the
SDK would give the same final state and answer. What the harness does around it is
mirrored too:

* the harness only evaluates an episode once the agent has sent a message
  (``send_msg_to_user``); an episode that ends on ``report_infeasible`` or runs out of
  steps scores 0 without evaluation (``info["reason"]`` says so);
* ``llm_boolean`` evals are graded by an OpenAI model: without ``OPENAI_API_KEY`` the
  result is ``scorable=False`` with the reason, never a silent 0;
* with a leaderboard run id (not ``"0"``) script-evaluated results are submitted to
  REAL's evaluation service like agisdk does (``info["leaderboard_submitted"]``).

The evaluator prints the whole environment state through rich; that output is
captured (and dropped) while it runs.
"""

from __future__ import annotations

import contextlib
import io
import os
import threading
from typing import Any, Mapping

import requests

from halo_core.api import Evaluation, TaskSpec

from .catalog import Layout

__all__ = ["AgisdkScorer", "RAILWAY_API_BASE", "needs_llm", "submit_script_result"]

#: agisdk 0.3.5's evaluation service (``webclones.base.RAILWAY_API_BASE``); ``HALO_REAL_EVAL_BASE`` overrides.
RAILWAY_API_BASE = "https://evaluate-production.up.railway.app/"

_QUIET = threading.Lock()


def needs_llm(task: TaskSpec) -> bool:
    return any(str(e.get("type", "")) == "llm_boolean" for e in task.evals)


def _plain(value: Any) -> Any:
    """Evaluator results as JSON-ready values (tuples -> lists, objects -> str)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


class AgisdkScorer:
    """A :data:`~halo_plugin_real.protocol.Scorer` bound to one task layout."""

    def __init__(self, layout: Layout) -> None:
        self.layout = layout

    def task_config(self, task: TaskSpec):
        """agisdk's TaskConfig for ``task``, reading its JSON from the layout, scripts from the layout."""
        from agisdk.REAL.browsergym.webclones.task_config import TaskConfig

        name = task.id.split(".", 1)[1] if "." in task.id else task.id
        path = self.layout.task_path(name)
        config = TaskConfig(str(path), version=self.layout.version, is_path=True)
        config.eval_scripts_dir = str(self.layout.eval_scripts_dir)
        return config

    def __call__(self, task: TaskSpec, finish: Mapping[str, Any], final_message: str, infeasible: bool) -> Evaluation:
        if infeasible:
            return Evaluation(0.0, False, info={
                "evaluator": "agisdk", "evaluated": False,
                "reason": "the agent reported the task infeasible; agisdk's harness scores that 0 without evaluating"})
        if not final_message:
            return Evaluation(0.0, False, info={
                "evaluator": "agisdk", "evaluated": False,
                "reason": "no final message: agisdk's harness only evaluates once the agent sends one (send_msg_to_user)"})
        if needs_llm(task) and not os.environ.get("OPENAI_API_KEY"):
            return Evaluation(0.0, False, scorable=False, info={
                "evaluator": "agisdk", "evaluated": False,
                "reason": "task has llm_boolean evals, graded by an OpenAI model; OPENAI_API_KEY is not set"})
        try:
            from agisdk.REAL.browsergym.webclones.evaluate import WebCloneEvaluator

            evaluator = WebCloneEvaluator(task_config=self.task_config(task))
            sink = io.StringIO()
            with _QUIET, contextlib.redirect_stdout(sink):
                reward, _done, message, info = evaluator.evaluate(dict(finish), final_message)
        except Exception as exc:  # an LLM eval that failed, a broken task file, ...
            return Evaluation(0.0, False, scorable=False, info={
                "evaluator": "agisdk", "evaluated": False, "reason": f"agisdk evaluator failed: {type(exc).__name__}: {exc}"})
        results = [_plain(r) for r in (info or {}).get("results", [])]
        success = bool(results) and all(bool(r[0]) for r in results)
        return Evaluation(float(reward), success, info={
            "evaluator": "agisdk", "evaluated": True, "message": message, "results": results})


def submit_script_result(run_id: str, task: TaskSpec, env_state: Mapping[str, Any], model_response: str,
                         local_reward: float, timeout: float = 30.0) -> dict[str, Any]:
    """Send a script-evaluated result to REAL's evaluation service, as agisdk's harness does.

    Returns what to merge into the evaluation info (never raises; never sends keys).
    """
    base = os.environ.get("HALO_REAL_EVAL_BASE", RAILWAY_API_BASE)
    evals = [dict(e) for e in task.evals]
    for e in evals:
        if e.get("script") and not e.get("type"):
            e["type"] = "script"
    payload: dict[str, Any] = {"evals": evals, "points": task.points or 0.0}
    scripts = [e["script"] for e in evals if e.get("script")]
    if scripts:
        payload["eval_scripts"] = scripts
    body = {"env_state": dict(env_state), "model_response": model_response or "Done", "task_config": payload,
            "run_id": run_id, "task_id": task.id}
    try:
        response = requests.post(f"{base.rstrip('/')}/evaluate", json=body, timeout=timeout)
    except requests.RequestException as exc:
        return {"leaderboard_submitted": False, "railway_verified": False,
                "leaderboard_error": f"{type(exc).__name__}: {str(exc)[:200]}"}
    if response.status_code != 200:
        return {"leaderboard_submitted": False, "railway_verified": False,
                "leaderboard_error": f"HTTP {response.status_code}: {response.text[:200]}"}
    try:
        result = response.json()
    except ValueError:
        return {"leaderboard_submitted": False, "railway_verified": False, "leaderboard_error": "answer is not JSON"}
    out = {"railway_verified": True, "railway_reward": result.get("reward", 0.0),
           "leaderboard_submitted": bool(result.get("leaderboard_submitted", False))}
    if out["railway_reward"] != local_reward:
        out["leaderboard_warning"] = f"evaluation mismatch: local {local_reward}, REAL {out['railway_reward']}"
    return out
