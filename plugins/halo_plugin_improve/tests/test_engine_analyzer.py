"""``halo improve --engine-url``: halo-engine 0.3.5 (its own venv) reads the run's traces with its
own tools, through a Responses API server on loopback, and its ``final_answer`` becomes the handoff.

Slow: the engine's venv is made on first use (``bench/bench_trace_engine.py``), and the
engine spends ~20 s trying to set up its optional code sandbox.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from halo_core.cli import cli
from halo_plugin_traces import add_feedback

BENCH = Path(__file__).resolve().parents[3] / "bench" / "bench_trace_engine.py"


def _engine_python() -> Path:
    spec = importlib.util.spec_from_file_location("bench_trace_engine", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    given = os.environ.get("HALO_ENGINE_PYTHON")
    return Path(given) if given else bench.engine_python(bench.DEFAULT_VENV, None)[0]


@pytest.mark.slow
def test_halo_engine_analysis_through_the_responses_api(runs, price_feedback, responses_server, monkeypatch):
    python = _engine_python()
    add_feedback(runs["bad"], **price_feedback)
    seen: dict = {}

    def answer(body: dict) -> list:
        text = json.dumps(body["input"], ensure_ascii=False)
        outputs = [i for i in body["input"] if isinstance(i, dict) and i.get("type") == "function_call_output"]
        trace = re.search(r"- ([0-9a-f]{32}) — graph\.shop-price#0", text).group(1)
        if not outputs:  # first turn: read the failing episode's trace with the engine's own tool
            seen["tools"] = sorted(t.get("name", "") for t in body.get("tools") or [])
            return [{"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "view_trace",
                     "status": "completed", "arguments": json.dumps({"trace_id": trace})}]
        seen["tool_output"] = outputs[0]["output"]
        handoff = {
            "summary": "The agent guesses prices.", "diagnosis": "It answers before reading the price page.",
            "changes": [{"title": t, "part": p, "impact": "high", "confidence": "medium", "effort": "low",
                         "evidence": [f"trace {trace}"], "validation": "the suite's answer_contains eval passes"}
                        for t, p in (("Read before answering", "prompts"), ("Re-ask on missing elements",
                                     "decision layers"), ("Gate retrieval answers", "manager gate"))],
            "recommendations": {"prompts": ["tell the worker to open the price list"]},
            "insights": {"traces": ["a no-op step after a missing element"]}}
        return [{"type": "function_call", "id": "fc_2", "call_id": "call_2", "name": "final_answer",
                 "status": "completed", "arguments": json.dumps({"answer": json.dumps(handoff)})}]

    with responses_server(answer) as server:
        result = CliRunner().invoke(cli, ["improve", str(runs["bad"]), "--engine-url", server.url,
                                          "--engine-model", "analyst-model", "--engine-python", str(python)])
    assert result.exit_code == 0, result.output
    assert {"view_trace", "final_answer", "get_dataset_overview"} <= set(seen["tools"])
    assert "llm.worker" in seen["tool_output"] and "noop" in seen["tool_output"]  # the engine read HALO's trace
    assert all(r["path"] == "/v1/responses" and r["body"]["model"] == "analyst-model" for r in server.requests)
    text = (runs["bad"] / "improvement_handoff.md").read_text()
    assert "halo-engine (analyst-model" in text and "## Machine-readable" in text
