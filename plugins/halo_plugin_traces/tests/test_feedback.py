"""``halo feedback add``: atomic lines in RUN_DIR/feedback.jsonl, exported as annotations of the episode span."""

from __future__ import annotations

import json
import multiprocessing as mp

from click.testing import CliRunner

from halo_core.cli import cli
from halo_plugin_traces import add_feedback, export_run, read_feedback, trace_id_for


def test_feedback_add_and_export(run_copy, secret_env, tmp_path):
    run_dir = run_copy["results_dir"]
    result = CliRunner().invoke(cli, [
        "feedback", "add", str(run_dir), "--task", "graph.shop-price", "--attempt", "0", "--mode", "baseline_worker",
        "--text", f"Read the price off the price list; never paste {secret_env}",
        "--required", "open the price list", "--required", "answer 42", "--prohibited", "guess",
        "--author", "reviewer"])
    assert result.exit_code == 0, result.output
    records = read_feedback(run_dir)
    assert len(records) == 1
    r = records[0]
    assert r["required"] == ["open the price list", "answer 42"] and r["prohibited"] == ["guess"]
    assert secret_env not in (run_dir / "feedback.jsonl").read_text()  # redacted at write time

    listing = CliRunner().invoke(cli, ["feedback", "list", str(run_dir)])
    assert "graph.shop-price#0 (baseline_worker)" in listing.output and "must not: guess" in listing.output

    result = export_run(run_dir, tmp_path / "t.jsonl")
    spans = [json.loads(x) for x in result.path.read_text().splitlines()]
    # feedback is an annotation of the episode span, not a span stretching the trace to its own time
    assert not [s for s in spans if s["name"] == "feedback"]
    assert result.annotations == 1 and result.annotations_path == tmp_path / "t.annotations.jsonl"
    [note] = [json.loads(x) for x in result.annotations_path.read_text().splitlines()]
    trace = trace_id_for("eval_traces_test", "baseline_worker", "graph.shop-price", 0)
    root = next(s for s in spans if s["trace_id"] == trace and not s["parent_span_id"])
    assert note["span_id"] == root["span_id"] and note["trace_id"] == trace
    assert note["name"] == "human_feedback" and note["annotator_kind"] == "HUMAN"
    assert note["identifier"] == r["id"]
    assert note["metadata"]["required"] == ["open the price list", "answer 42"]
    # rules for next time are no verdict: without one (or judged failure modes) the label is a note
    assert note["metadata"]["prohibited"] == ["guess"] and note["result"]["label"] == "note"
    assert note["metadata"]["author"] == "reviewer"
    assert note["result"]["explanation"].startswith("Read the price") and "[REDACTED]" in note["result"]["explanation"]
    assert max(s["end_time"] for s in spans if s["trace_id"] == trace) == root["end_time"]


def test_feedback_needs_a_known_episode_and_a_mode_when_ambiguous(run_copy):
    run_dir = str(run_copy["results_dir"])
    unknown = CliRunner().invoke(cli, ["feedback", "add", run_dir, "--task", "graph.nope", "--text", "x"])
    assert unknown.exit_code != 0 and "no episode for task 'graph.nope'" in unknown.output
    ambiguous = CliRunner().invoke(cli, ["feedback", "add", run_dir, "--task", "graph.shop-buy", "--text", "x"])
    assert ambiguous.exit_code != 0 and "--mode" in ambiguous.output
    assert read_feedback(run_dir) == []
    # a trajectories folder has one mode: no --mode needed
    folder = str(run_copy["traj_dirs"]["hierarchy_mgr_gate"])
    ok = CliRunner().invoke(cli, ["feedback", "add", folder, "--task", "graph.shop-buy", "--text", "good recovery"])
    assert ok.exit_code == 0, ok.output
    assert read_feedback(folder)[0]["mode"] == "hierarchy_mgr_gate"


def _writer(args):
    run_dir, n, worker = args
    for i in range(n):
        add_feedback(run_dir, task="graph.shop-buy", attempt=0, mode="baseline_worker",
                     text=f"w{worker}-{i} " + "x" * 3000, required=[f"r{i}"] * 5)


def test_concurrent_writers_leave_whole_lines(tmp_path):
    with mp.get_context("fork").Pool(4) as pool:
        pool.map(_writer, [(str(tmp_path), 50, w) for w in range(4)])
    lines = (tmp_path / "feedback.jsonl").read_text().splitlines()
    assert len(lines) == 200
    assert all(json.loads(line)["text"].startswith("w") for line in lines)
