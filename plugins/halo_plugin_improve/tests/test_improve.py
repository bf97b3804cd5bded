"""``halo improve``: context → analysis (a model on loopback) → a validated handoff; ``--loop``."""

from __future__ import annotations

import json
import re

from click.testing import CliRunner

from halo_core.cli import cli
from halo_core.loopback import OpenAICompatibleLoopback, last_user_text
from halo_plugin_traces import add_feedback

from halo_plugin_improve._handoff import SECTIONS


def handoff(trace: str, *, drop: str = "", cite: str = "") -> dict:
    changes = [
        {"title": "Re-ask instead of no-op on a missing element", "part": "decision layers", "impact": "medium",
         "confidence": "high", "effort": "low", "evidence": [cite or f"trace {trace}: step 1 noop()"],
         "validation": "eval graph.shop-price/actions_avoid passes", "rationale": "wasted steps"},
        {"title": "Tell the worker to read prices before answering", "part": "prompts", "impact": "high",
         "confidence": "high", "effort": "low", "evidence": [cite or "episode graph.shop-price#0 answered 41"],
         "validation": "answer_contains 42 passes", "rationale": "it guessed"},
        {"title": "Gate answers of retrieval tasks", "part": "manager gate", "impact": "high", "confidence": "low",
         "effort": "high", "evidence": [cite or f"trace {trace}"], "validation": "no answer_excludes failures"},
    ]
    data = {"summary": "The agent guesses prices.", "changes": changes,
            "diagnosis": "It answers before it reads.", "recommendations": {"prompts": ["read first"]},
            "insights": {"traces": ["one no-op step"], "human feedback": ["wrong price"]}}
    data.pop(drop, None)
    return data


def analyst(judge=None, **kw):
    def reply(body: dict) -> str:
        text = last_user_text(body)
        if "You review one episode" in json.dumps(body):
            return judge(body)
        trace = re.search(r"trace ([0-9a-f]{32}) — episode graph\.shop-price", text).group(1)
        return "Here is my analysis:\n```json\n" + json.dumps(handoff(trace, **kw)) + "\n```"
    return reply


def test_improve_writes_a_ranked_evidence_backed_handoff(runs, price_feedback, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-loopback-key")
    add_feedback(runs["bad"], **price_feedback)
    with OpenAICompatibleLoopback(analyst()) as server:
        result = CliRunner().invoke(cli, ["improve", str(runs["bad"]), "--backend", "openai:analyst",
                                          "--base-url", server.url])
    assert result.exit_code == 0, result.output
    prompt = json.dumps(server.requests[0]["body"])
    assert "Answered 41 without reading the price list" in prompt  # human feedback in the context
    assert "worker_backend" in prompt  # the harness configuration too
    text = (runs["bad"] / "improvement_handoff.md").read_text()
    at = [text.index(f"\n## {s}\n") for s in SECTIONS]
    assert at == sorted(at)
    block = json.loads(text.split("```json", 1)[1].split("```", 1)[0])
    # ranked by impact and confidence, then effort: the prompt change (high/high/low) comes first
    assert [c["title"] for c in block["changes"]][0] == "Tell the worker to read prices before answering"
    assert [c["rank"] for c in block["changes"]] == [1, 2, 3]
    assert "| 1 | Tell the worker to read prices before answering | prompts | high | high | low |" in text
    assert "### manager gate" in text and "### model feedback" in text
    traces = [json.loads(line) for line in (runs["bad"] / "improve" / "traces.jsonl").read_text().splitlines()]
    harness = [s for s in traces if s["name"] == "harness.config"]
    assert len(harness) == 1 and "baseline_worker" in harness[0]["attributes"]["halo.harness.modes"]


def test_improve_refuses_an_answer_missing_a_section_or_evidence(runs, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-loopback-key")
    for kw, why in (({"drop": "diagnosis"}, "lacks section(s): Diagnosis"),
                    ({"cite": "the logs"}, "names no trace, episode, eval or feedback of this run")):
        with OpenAICompatibleLoopback(analyst(**kw)) as server:
            result = CliRunner().invoke(cli, ["improve", str(runs["bad"]), "--backend", "openai:analyst",
                                              "--base-url", server.url])
        assert result.exit_code == 1 and why in result.output, result.output
        assert not (runs["bad"] / "improvement_handoff.md").exists()
        assert (runs["bad"] / "improve" / "analysis_raw.txt").exists()


def test_improve_loop_judges_generates_gates_and_hands_off(runs, judge_reply, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-loopback-key")
    with OpenAICompatibleLoopback(analyst(judge_reply)) as server:
        result = CliRunner().invoke(cli, ["improve", str(runs["bad"]), "--loop", "--judge", "openai:judge",
                                          "--backend", "openai:analyst", "--base-url", server.url])
    assert result.exit_code == 0, result.output
    for stage in ("[1/5] judge", "[2/5] generate", "[3/5] gate", "[4/5] analysis", "[5/5] handoff"):
        assert stage in result.output
    assert (runs["bad"] / "evals.yaml").exists() and (runs["bad"] / "evals" / "junit.xml").exists()
    context = json.loads((runs["bad"] / "improve" / "context.json").read_text())
    assert context["gate"]["failed"] >= 1  # the model's feedback became evals the bad run fails
    assert "Eval gate" in json.dumps(server.requests[-1]["body"])
    assert (runs["bad"] / "improvement_handoff.md").exists()
