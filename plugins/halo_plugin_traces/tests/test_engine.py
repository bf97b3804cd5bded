"""The export is read by halo-engine's own trace store (index, overview, view, render).

halo-engine pins versions HALO cannot share, so it lives in its own venv, made by
``bench/bench_trace_engine.py`` (default ``/tmp/halo-engine-venv``; or point
``HALO_ENGINE_PYTHON`` at any python that imports ``engine.traces``). Without one,
the test makes it first (from PyPI), which is why it is marked slow.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
from pathlib import Path

import pytest

from halo_plugin_traces import add_feedback, export_run

REPO = Path(__file__).resolve().parents[3]
BENCH = REPO / "bench" / "bench_trace_engine.py"


def _engine_python() -> Path | None:
    candidates = [os.environ.get("HALO_ENGINE_PYTHON", ""), "/tmp/halo-engine-venv/bin/python"]
    for c in candidates:
        if c and Path(c).exists():
            probe = subprocess.run([c, "-c", "import engine.traces.trace_store"], capture_output=True)
            if probe.returncode == 0:
                return Path(c)
    return None


def _bench():
    spec = importlib.util.spec_from_file_location("bench_trace_engine", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_halo_engine_indexes_views_and_renders_the_export(run_copy, secret_env, tmp_path):
    bench = _bench()
    python = _engine_python() or bench.engine_python(bench.DEFAULT_VENV, None)[0]
    add_feedback(run_copy["results_dir"], task="graph.shop-buy", attempt=0, mode="hierarchy_mgr_gate",
                 text="good recovery after the bad click", required=["recover"])
    result = export_run(run_copy["results_dir"], tmp_path / "traces.jsonl")
    expect = bench.expectations(run_copy["results_dir"], result.path)
    shown = bench.drive_engine(python, result.path, expect)
    assert all(shown["checks"].values()), shown["checks"]
    ov = shown["overview"]
    assert ov["total_traces"] == 4 and ov["total_spans"] == result.spans
    assert ov["service_names"] == ["halo"]
    assert set(ov["model_names"]) == {"worker-small", "manager-large"}
    assert set(ov["agent_names"]) == {"halo/hierarchy_mgr_gate", "halo/baseline_worker"}
    assert shown["count_by_agent"] == {"halo/baseline_worker": 2, "halo/hierarchy_mgr_gate": 2}
    assert shown["count_regex_manager_gate"] == 1
    spans = [json.loads(line) for line in result.path.read_text().splitlines()]
    failed_tools = {s["name"] for s in spans if s["status"]["code"] == "STATUS_CODE_ERROR"
                    and s["attributes"]["openinference.span.kind"] == "TOOL"}
    # every span with an error: failed tool calls and the root spans of failed episodes
    failed = {s["name"] for s in spans if s["status"]["code"] == "STATUS_CODE_ERROR"}
    assert failed_tools and any(name.startswith("episode ") for name in failed)
    assert {g["span_name"] for g in shown["error_taxonomy"]} == failed
    assert "feedback" not in shown["view"]["names"]  # feedback is an annotation, not a span
    assert "name=llm.manager kind=SPAN_KIND_CLIENT" in shown["render"]
    assert Path(shown["index_path"]).exists()
