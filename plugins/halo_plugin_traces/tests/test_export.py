"""Trace export: shape, ids, tree, determinism, live streaming, redaction."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

from click.testing import CliRunner

from halo_core.cli import cli
from halo_plugin_traces import RunDir, export_run, trace_id_for

HEX32, HEX16 = re.compile(r"^[0-9a-f]{32}$"), re.compile(r"^[0-9a-f]{16}$")
RFC3339_NS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$")
PROJECTIONS = ("inference.export.schema_version", "inference.project_id", "inference.observation_kind",
               "inference.session_id", "inference.agent_name")
LLM_PROJECTIONS = ("inference.llm.model_name", "inference.llm.input_tokens", "inference.llm.output_tokens",
                   "inference.llm.cost.total")
# OpenInference's own attribute names; HALO's live under "halo.", halo-engine's roll-ups under "inference.".
OPENINFERENCE_PREFIXES = ("openinference.span.kind", "llm.", "tool.", "retrieval.", "input.", "output.",
                          "session.id", "metadata", "tag.tags", "agent.name")


def load(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_cli_export_writes_openinference_otlp_spans(traced_run, secret_env, tmp_path):
    out = tmp_path / "spans.jsonl"
    result = CliRunner().invoke(cli, ["traces", "export", str(traced_run["results_dir"]), "--out", str(out),
                                      "--project", "shop-evals"])
    assert result.exit_code == 0, result.output
    assert "4 traces" in result.output
    spans = load(out)
    assert spans
    for s in spans:
        assert set(s) >= {"trace_id", "span_id", "parent_span_id", "trace_state", "name", "kind", "start_time",
                          "end_time", "status", "resource", "scope", "attributes"}
        assert HEX32.match(s["trace_id"]) and HEX16.match(s["span_id"])
        assert s["parent_span_id"] == "" or HEX16.match(s["parent_span_id"])
        assert RFC3339_NS.match(s["start_time"]) and RFC3339_NS.match(s["end_time"])
        assert s["start_time"] <= s["end_time"]
        assert s["status"]["code"] in ("STATUS_CODE_OK", "STATUS_CODE_ERROR", "STATUS_CODE_UNSET")
        assert s["kind"].startswith("SPAN_KIND_")
        assert set(s["resource"]["attributes"]) >= {"service.name", "service.version", "deployment.environment"}
        assert s["scope"]["name"] == "halo_plugin_traces" and s["scope"]["version"]
        a = s["attributes"]
        assert all(k in a for k in PROJECTIONS)
        assert all(k.startswith(("halo.", "inference.") + OPENINFERENCE_PREFIXES) for k in a), sorted(a)
        assert None not in a.values()
        assert "llm.input_messages" not in a and "llm.output_messages" not in a  # flattened keys only
        if a["openinference.span.kind"] == "LLM":
            assert all(k in a for k in LLM_PROJECTIONS)
        assert s["resource"]["attributes"]["openinference.project.name"] == "shop-evals"
        assert a["session.id"] == "eval_traces_test"
        meta = json.loads(a["metadata"])
        assert meta["run_id"] == "eval_traces_test" and meta["agent"] == a["inference.agent_name"]
        assert f"mode:{meta['mode']}" in a["tag.tags"]
        assert a["inference.observation_kind"] == a["openinference.span.kind"]
        assert a["inference.project_id"] == "shop-evals"
        assert a["inference.session_id"] == "eval_traces_test"
        assert a["inference.agent_name"].startswith("halo/")
    kinds = Counter(s["attributes"]["openinference.span.kind"] for s in spans)
    assert {"AGENT", "CHAIN", "LLM", "TOOL", "GUARDRAIL", "EVALUATOR"} <= set(kinds)
    assert kinds["AGENT"] == 4


def test_tree_is_one_rooted_trace_per_episode(traced_run, secret_env, tmp_path):
    spans = load(export_run(traced_run["results_dir"], tmp_path / "t.jsonl").path)
    by_trace: dict[str, list[dict]] = {}
    for s in spans:
        by_trace.setdefault(s["trace_id"], []).append(s)
    assert len(by_trace) == 4
    for trace_id, group in by_trace.items():
        ids = {s["span_id"] for s in group}
        assert len(ids) == len(group), "span ids are unique within a trace"
        roots = [s for s in group if not s["parent_span_id"]]
        assert len(roots) == 1 and roots[0]["name"].startswith("episode ")
        assert all(s["parent_span_id"] in ids for s in group if s["parent_span_id"])
        root = roots[0]["attributes"]
        assert trace_id == trace_id_for("eval_traces_test", root["halo.mode"], root["halo.task_id"], 0)


def test_steps_llm_tool_and_manager_spans(traced_run, secret_env, tmp_path):
    spans = load(export_run(traced_run["results_dir"], tmp_path / "t.jsonl").path)
    trace = trace_id_for("eval_traces_test", "hierarchy_mgr_gate", "graph.shop-buy", 0)
    mine = [s for s in spans if s["trace_id"] == trace]
    by_id = {s["span_id"]: s for s in mine}
    steps = [s for s in mine if s["name"].startswith("step ")]
    result = traced_run["results"][("graph.shop-buy", "hierarchy_mgr_gate")]
    assert len(steps) == result.steps

    llm = [s for s in mine if s["attributes"]["openinference.span.kind"] == "LLM"]
    worker = [s for s in llm if s["name"] == "llm.worker"]
    assert worker and all(by_id[s["parent_span_id"]]["name"].startswith("step ") for s in worker)
    w = worker[0]["attributes"]
    # a scripted (or local, vLLM) backend is no model provider: llm.provider is left out, the spec kept
    assert w["llm.model_name"] == "worker-small" and "llm.provider" not in w
    assert w["halo.llm.backend"] == "scripted:worker-small"
    assert w["inference.llm.model_name"] == "worker-small"
    assert w["llm.input_messages.0.message.role"] == "system"
    assert w["llm.input_messages.1.message.role"] == "user"
    assert w["llm.input_messages.1.message.content"].startswith("Goal: ")
    assert w["llm.output_messages.0.message.role"] == "assistant"
    assert json.loads(w["llm.invocation_parameters"])["max_tokens"] == 256
    assert w["llm.token_count.total"] == w["llm.token_count.prompt"] + w["llm.token_count.completion"]
    assert isinstance(w["inference.llm.input_tokens"], int) and w["inference.llm.cost.total"] > 0
    # the engine file references screenshots by path (--format otlp-json inlines them)
    image = w["llm.input_messages.1.message.contents.1.message_content.image.image.url"]
    assert re.match(r"^graph\.shop-buy__attempt_0/step_\d{3}\.png$", image)
    assert (traced_run["traj_dirs"]["hierarchy_mgr_gate"] / image).exists()
    # token totals add up to what the loop counted
    assert sum(s["attributes"].get("inference.llm.input_tokens") or 0 for s in mine) == result.usage.tokens_in
    assert sum(s["attributes"].get("inference.llm.output_tokens") or 0 for s in mine) == result.usage.tokens_out
    assert abs(sum(s["attributes"].get("inference.llm.cost.total") or 0 for s in mine) - result.usage.cost) < 1e-9

    gates = [s for s in mine if s["name"] == "manager.gate"]
    assert len(gates) == result.manager_calls == 2
    assert all(s["attributes"]["openinference.span.kind"] == "GUARDRAIL" for s in gates)
    verdicts = {s["attributes"]["halo.manager.verdict"] for s in gates}
    assert verdicts == {"override", "approve"}
    assert any("last action failed" in s["attributes"]["halo.gate.reason"] for s in gates)
    managers = [s for s in llm if s["name"] == "llm.manager"]
    assert {by_id[s["parent_span_id"]]["name"] for s in managers} == {"manager.gate"}
    assert managers[0]["attributes"]["llm.model_name"] == "manager-large"

    tools = [s for s in mine if s["attributes"]["openinference.span.kind"] == "TOOL"]
    assert len(tools) == result.steps
    failed = [s for s in tools if s["status"]["code"] == "STATUS_CODE_ERROR"]
    assert len(failed) == 1 and "99" in failed[0]["status"]["message"]
    ok = [s for s in tools if s["status"]["code"] == "STATUS_CODE_OK"]
    assert {s["attributes"]["tool.name"] for s in ok} >= {"click", "send_msg_to_user"}
    assert json.loads(ok[0]["attributes"]["tool.parameters"]) == {"bid": "1"}
    evaluators = [s for s in mine if s["attributes"]["openinference.span.kind"] == "EVALUATOR"]
    assert {s["attributes"]["halo.eval.name"] for s in evaluators} >= {"postcondition"}
    root = next(s for s in mine if not s["parent_span_id"])
    assert root["attributes"]["halo.success"] is True and root["status"]["code"] == "STATUS_CODE_OK"
    assert root["attributes"]["input.value"].startswith("Buy the blender")


def test_export_is_deterministic_and_matches_the_live_stream(traced_run, secret_env, tmp_path):
    first = export_run(traced_run["results_dir"], tmp_path / "a.jsonl").path.read_bytes()
    second = export_run(traced_run["results_dir"], tmp_path / "b.jsonl").path.read_bytes()
    assert first == second
    exported = set(first.decode().splitlines())
    for mode, folder in traced_run["traj_dirs"].items():
        streamed = set((folder / "traces.jsonl").read_text(encoding="utf-8").splitlines())
        assert streamed, f"HALO_TRACES=1 streamed nothing for {mode}"
        assert streamed <= exported, "the live stream and the export must agree span for span"
        # a trajectories folder is a RUN_DIR too, and gives the same spans
        from_dir = set(export_run(folder, tmp_path / f"{mode}.jsonl").path.read_text().splitlines())
        assert from_dir == streamed


def test_unfinished_and_trajectoryless_episodes(run_copy, secret_env, tmp_path):
    folder = run_copy["traj_dirs"]["baseline_worker"]
    traj = folder / "graph.shop-buy__attempt_0.jsonl"
    lines = traj.read_text().splitlines()
    traj.write_text("\n".join(lines[:-1]) + "\n" + lines[-1][:20])  # no episode_end, torn last line
    (folder / "graph.shop-price__attempt_0.jsonl").unlink()
    result = export_run(run_copy["results_dir"], tmp_path / "t.jsonl")
    assert result.episodes_without_trajectory == [("graph.shop-price", "baseline_worker", 0)]
    spans = load(result.path)
    roots = {(s["attributes"]["halo.task_id"], s["attributes"]["halo.mode"]): s for s in spans
             if not s["parent_span_id"] and s["name"].startswith("episode")}
    assert len(roots) == 4
    assert roots[("graph.shop-buy", "baseline_worker")]["status"]["code"] == "STATUS_CODE_UNSET"
    assert roots[("graph.shop-buy", "baseline_worker")]["attributes"]["halo.terminated_by"] == "unfinished"
    only_record = roots[("graph.shop-price", "baseline_worker")]
    assert only_record["attributes"]["halo.steps"] == 3  # from episodes.jsonl


def test_canary_secret_never_exported(run_copy, secret_env, tmp_path):
    assert secret_env == "sk-canary-7f3a9c21d4e8b6f0a1b2"
    # A trajectory written while the secret was not configured holds it in clear.
    traj = run_copy["traj_dirs"]["hierarchy_mgr_gate"] / "graph.shop-buy__attempt_0.jsonl"
    raw = traj.read_text().replace("[REDACTED]", secret_env)
    assert secret_env in raw
    traj.write_text(raw)
    out = tmp_path / "t.jsonl"
    result = CliRunner().invoke(cli, ["traces", "export", str(run_copy["results_dir"]), "--out", str(out)])
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert secret_env not in text and "[REDACTED]" in text
    # the goal and page text still come through, redacted
    assert "OPENAI_API_KEY=[REDACTED]" in text


def test_live_export_to_a_chosen_file_and_off_by_default(tmp_path, monkeypatch, scenario):
    ShotGraphEnvironment, shop_pages, tasks, worker_reply = (scenario.ShotGraphEnvironment, scenario.shop_pages,
                                                             scenario.tasks, scenario.worker_reply)
    import halo_plugin_traces.plugin as traces_plugin
    from halo_core import mode_config, run_episode
    from halo_core.testing import ScriptedBackend, make_runtime

    task = tasks()[1]
    runtime = make_runtime(traces_plugin)
    config = mode_config("baseline_worker", env={}, max_steps=5)
    monkeypatch.delenv("HALO_TRACES", raising=False)
    monkeypatch.delenv("HALO_TRACES_FILE", raising=False)
    run_episode(task, config, ShotGraphEnvironment(shop_pages(), answer="42"), runtime, run_id="off",
                data_dir=tmp_path, backends={"worker": ScriptedBackend(worker_reply())})
    assert not list(tmp_path.rglob("traces.jsonl"))
    target = tmp_path / "elsewhere" / "spans.jsonl"
    monkeypatch.setenv("HALO_TRACES_FILE", str(target))
    run_episode(task, config, ShotGraphEnvironment(shop_pages(), answer="42"), runtime, run_id="on",
                data_dir=tmp_path, backends={"worker": ScriptedBackend(worker_reply())})
    spans = load(target)
    assert spans and spans[-1]["name"] == "episode graph.shop-price"  # the root span is written last
    assert {s["trace_id"] for s in spans} == {trace_id_for("on", "baseline_worker", "graph.shop-price", 0)}
    assert not list(tmp_path.rglob("traces.jsonl"))


def test_run_dir_resolution(traced_run, tmp_path, monkeypatch):
    run = RunDir(traced_run["results_dir"])
    assert run.is_results and run.run_id == "eval_traces_test"
    assert {(e.task, e.mode) for e in run.episodes()} == set(traced_run["results"])
    assert all(e.trajectory is not None for e in run.episodes())
    assert run.modes() == ["hierarchy_mgr_gate", "baseline_worker"]
    folder = RunDir(traced_run["traj_dirs"]["baseline_worker"])
    assert not folder.is_results and len(folder.episodes()) == 2
    # recorded paths relative to another working directory still resolve through run.json's data_dir
    copy = tmp_path / "results" / "eval_traces_test"
    copy.mkdir(parents=True)
    records = [json.loads(x) for x in (traced_run["results_dir"] / "episodes.jsonl").read_text().splitlines()]
    for r in records:
        r["trajectory"] = "nowhere/" + Path(r["trajectory"]).name
    (copy / "episodes.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    (copy / "run.json").write_text((traced_run["results_dir"] / "run.json").read_text())
    assert all(e.trajectory is not None for e in RunDir(copy).episodes())


def test_empty_folder_fails_clearly(tmp_path):
    for args in (["traces", "export", str(tmp_path)], ["report", str(tmp_path)]):
        result = CliRunner().invoke(cli, args)
        assert result.exit_code != 0
        assert "no episodes found" in result.output
    assert list(tmp_path.iterdir()) == [], "nothing is written for an empty run"


def test_a_root_span_is_red_exactly_when_its_episode_failed(traced_run, tmp_path):
    result = export_run(traced_run["results_dir"], tmp_path / "s.jsonl")
    roots = [s for s in load(result.path) if not s["parent_span_id"]]
    assert roots
    for root in roots:
        a = root["attributes"]
        if a["halo.terminated_by"] == "unfinished":
            continue
        failed = not a["halo.success"] and a.get("halo.scorable", True)
        assert root["status"]["code"] == ("STATUS_CODE_ERROR" if failed else "STATUS_CODE_OK"), a
        if failed and not a.get("halo.error"):
            assert root["status"]["message"].startswith("task not accomplished")
    assert any(not r["attributes"]["halo.success"] for r in roots)  # the run holds a failed episode
