"""``halo feedback judge`` against an OpenAI-compatible server on loopback."""

from __future__ import annotations

import json

from click.testing import CliRunner

from halo_core.cli import cli
from halo_core.loopback import OpenAICompatibleLoopback
from halo_plugin_traces import read_feedback

from halo_plugin_improve._judge import validate_judgement
from halo_plugin_improve._jsonreply import ReplyError


def test_judge_stores_validated_model_feedback_beside_human_feedback(runs, judge_reply, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-loopback-key")
    run = runs["bad"]
    CliRunner().invoke(cli, ["feedback", "add", str(run), "--task", "graph.shop-price", "--text", "wrong price",
                             "--required", 'answer "42"'])
    with OpenAICompatibleLoopback(judge_reply, key="sk-loopback-key") as server:
        result = CliRunner().invoke(cli, ["feedback", "judge", str(run), "--backend", "openai:judge-small",
                                          "--base-url", server.url])
    assert result.exit_code == 0, result.output
    assert "judged 2 of 2 episodes" in result.output
    assert len(server.requests) == 3  # one re-ask for the reply without JSON
    assert "Goal: What is the price" in json.dumps(server.requests[0]["body"])
    records = read_feedback(run)
    assert [r["source"] for r in records] == ["human", "model:openai:judge-small", "model:openai:judge-small"]
    price = records[1]
    assert price["task"] == "graph.shop-price" and price["verdict"] == "fail"
    assert price["failure_modes"] == ["guessing: answered without evidence"]
    assert price["prohibited"] == ['answer contains "41"', "click('99')"]
    assert records[2]["task"] == "graph.shop-buy" and records[2]["required"] == ["succeed"]


def test_judge_reports_episodes_without_a_valid_judgement(runs, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-loopback-key")
    with OpenAICompatibleLoopback(lambda body: '{"verdict": "maybe"}') as server:
        result = CliRunner().invoke(cli, ["feedback", "judge", str(runs["good"]), "--backend", "openai:j",
                                          "--base-url", server.url])
    assert result.exit_code == 1
    assert '"verdict" must be "pass" or "fail"' in result.output
    assert read_feedback(runs["good"]) == []


def test_validate_judgement_names_the_problem():
    ok = validate_judgement({"verdict": "pass", "summary": " fine ", "observations": ["a"]})
    assert ok["summary"] == "fine" and ok["prohibited"] == []
    for bad, why in (({"verdict": "pass"}, "summary"), ({"verdict": "pass", "summary": "x", "required": "y"},
                                                         '"required" must be a list')):
        try:
            validate_judgement(bad)
        except ReplyError as exc:
            assert why in str(exc)
        else:
            raise AssertionError("accepted an invalid judgement")
