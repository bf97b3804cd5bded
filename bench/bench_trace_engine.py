"""Does a trace-analysis engine really read HALO's trace export? (halo-engine's own TraceStore)

1. Makes (or reuses) an isolated venv with ``halo-engine`` — its pins (openai, pydantic,
   rich…) conflict with HALO's, so it never goes into HALO's venv.
2. Runs a small HALO run through the real loop (GraphEnvironment with PNG screenshots,
   scripted worker + manager, live trace export on), or takes ``--run-dir``.
3. ``halo traces export`` → ``traces.jsonl``; times it.
4. In the engine's venv, with no model calls: validates every line as the engine's
   ``SpanRecord``, builds the sidecar index with ``TraceIndexBuilder``, loads
   ``TraceStore``, and prints ``get_overview``, ``query_traces``, ``count_traces`` with
   filters, ``view_trace``, ``render_trace`` and ``search_trace`` on it, plus checks
   (no missing parents, every span has an agent identity, token totals match HALO's).

    python bench/bench_trace_engine.py [--venv /tmp/halo-engine-venv] [--wheel PATH]
                                       [--run-dir RUN_DIR] [--episodes N] [--json OUT]

Exit status 0 when every check passes.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DEFAULT_VENV = Path(os.environ.get("HALO_ENGINE_VENV", "/tmp/halo-engine-venv"))
DEFAULT_WHEEL = Path("/tmp/he/halo_engine-0.3.5-py3-none-any.whl")
ENGINE_VERSION = "0.3.5"
# halo-engine 0.3.5's own requirements, for the fallback install below (everything but ripgrep).
ENGINE_DEPS = ["deno==2.7.14", "inference-catalyst-tracing[openai-agents]==0.1.10", "numpy==2.2.6",
               "openai-agents==0.14.7", "openai==2.32.0", "pandas==2.2.3", "pydantic==2.13.3", "rich==15.0.0",
               "typer==0.25.0"]


# --------------------------------------------------------------------------- the engine's venv


def engine_python(venv: Path, wheel: Path | None) -> tuple[Path, str]:
    """The venv's python with halo-engine importable, and how it was installed."""
    python = venv / "bin" / "python"
    if python.exists() and _imports(python):
        return python, "already installed"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    source = str(wheel) if wheel and wheel.exists() else f"halo-engine=={ENGINE_VERSION}"
    pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    full = subprocess.run(pip + [source], capture_output=True, text=True)
    if full.returncode == 0 and _imports(python):
        return python, f"pip install {source}"
    # ripgrep==15.1.0 (a dependency used only by the engine's code-search tools) ships a Linux wheel for
    # glibc >= 2.39 only; elsewhere pip builds it from source, which needs crates.io. The trace store
    # does not use it, so install everything else and the engine itself without dependencies.
    log = full.stderr + full.stdout
    if "ripgrep" in log and "crates.io" in log:
        why = "ripgrep==15.1.0 has no wheel for this glibc and its source build needs crates.io"
    else:
        why = next((ln.strip() for ln in log.splitlines() if ln.strip().startswith(("ERROR", "error:"))), "see pip")
    subprocess.run(pip + ENGINE_DEPS, check=True)
    subprocess.run(pip + ["--no-deps", source], check=True)
    if not _imports(python):
        raise SystemExit("halo-engine installed but `engine.traces` does not import")
    return python, (f"pip install {source} failed: {why}; installed its other requirements, then "
                    f"halo-engine --no-deps")


def _imports(python: Path) -> bool:
    probe = "import engine.traces.trace_store, engine.traces.trace_index_builder"
    return subprocess.run([str(python), "-c", probe], capture_output=True).returncode == 0


# --------------------------------------------------------------------------- a HALO run


def make_run(root: Path, episodes: int) -> Path:
    """A small eval-shaped run (results/<run_id>/ + trajectories) through HALO's real loop."""
    import struct
    import zlib

    import attrs

    from halo_core import mode_config, run_episode
    from halo_core.evaluation.jobs import EpisodeJob, episode_record
    from halo_core.evaluation.metrics import matrix, write_matrix
    from halo_core.evaluation.plan import new_plan
    from halo_core.evaluation.store import ResultsStore
    from halo_core.model import TaskSpec
    from halo_core.testing import GraphEnvironment, Page, ScriptedBackend, make_runtime

    import halo_plugin_traces.plugin as traces_plugin

    def png(rgb):
        def chunk(kind, data):
            return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        rows = b"".join(b"\x00" + bytes(rgb) * 48 for _ in range(30))
        return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 48, 30, 8, 2, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))

    class Env(GraphEnvironment):
        def _observe(self, action="", error=""):
            raw = super()._observe(action, error)
            return attrs.evolve(raw, screenshot=png(((40 + 30 * len(self.current)) % 256, 110, 200)))

    pages = {"home": Page("Shop", [("link", "Products", "products")]),
             "products": Page("Products", [("button", "Go to checkout", "checkout"), ("link", "Prices", "home")]),
             "checkout": Page("Checkout", [("button", "Place order", "done")], heading="Checkout"),
             "done": Page("Thanks", [("link", "Home", "home")], heading="Order confirmed")}

    def worker():
        bad = {"n": 2}

        def reply(messages):
            text = next((m.content for m in reversed(messages) if "URL: " in m.content), "")
            page = next((ln[5:] for ln in text.splitlines() if ln.startswith("URL: ")), "").rsplit("/", 1)[-1]
            if page == "products" and bad["n"] > 0:
                bad["n"] -= 1
                return "click('99')"
            return {"home": "click('1')", "products": "click('1')", "checkout": "click('1')"}.get(
                page, "send_msg_to_user('Order placed')")
        return reply

    run_id = "bench_trace_engine"
    data_dir = root / "data"
    task = TaskSpec(id="graph.shop-buy", goal="Buy the blender", suite="graph", site="graph")
    configs = {m: mode_config(m, env={}, max_steps=8) for m in ("hierarchy_mgr_gate", "baseline_worker")}
    store = ResultsStore(root / "results", run_id)
    store.write_plan(new_plan("eval", run_id, [{"id": task.id, "suite": "graph"}], configs,
                              {"attempts": episodes, "data_dir": str(data_dir)}))
    os.environ["HALO_TRACES"] = "1"
    runtime = make_runtime(traces_plugin)
    records = []
    for attempt in range(episodes):
        for config in configs.values():
            backends = {"worker": ScriptedBackend(worker(), name="scripted:worker", cost_per_call=0.001),
                        "manager": ScriptedBackend(["APPROVE"] * 50, name="scripted:manager", cost_per_call=0.01)}
            env = Env(pages, goal_page="done")
            result = run_episode(task, config, env, runtime, run_id=run_id, attempt=attempt, data_dir=data_dir,
                                 backends=backends)
            job = EpisodeJob(task=task, suite="graph", config=config, run_id=run_id, attempt=attempt,
                             data_dir=str(data_dir))
            records.append(episode_record(job, result))
            store.append_episode(records[-1])
    store.close()
    write_matrix(matrix(records, list(configs)), store.dir)
    return store.dir


# --------------------------------------------------------------------------- the engine side

DRIVER = r'''
import asyncio, json, sys
from pathlib import Path
from engine.traces.models.canonical_span import SpanRecord
from engine.traces.models.trace_index_config import TraceIndexConfig
from engine.traces.models.trace_query_models import TraceFilters
from engine.traces.trace_index_builder import TraceIndexBuilder
from engine.traces.trace_store import TraceStore
import importlib.metadata as md

trace_path = Path(sys.argv[1])
expect = json.loads(sys.argv[2])
out = {"engine_version": md.version("halo-engine"), "checks": {}}
lines = [l for l in trace_path.read_text().splitlines() if l.strip()]
spans = [SpanRecord.model_validate_json(l) for l in lines]  # the engine's own schema, strictly
out["spans_validated"] = len(spans)
index_path = asyncio.run(TraceIndexBuilder.ensure_index_exists(trace_path=trace_path, config=TraceIndexConfig()))
out["index_path"] = str(index_path)
store = TraceStore.load(trace_path=trace_path, index_path=index_path)
ov = store.get_overview(TraceFilters())
out["overview"] = ov.model_dump(exclude={"error_taxonomy"})
out["error_taxonomy"] = [g.model_dump() for g in ov.error_taxonomy]
q = store.query_traces(TraceFilters(), limit=100)
out["traces"] = [t.model_dump() for t in q.traces]
out["count_has_errors"] = store.count_traces(TraceFilters(has_errors=True)).total
out["count_by_agent"] = {a: store.count_traces(TraceFilters(agent_names=[a])).total for a in ov.agent_names}
out["count_by_model"] = {m: store.count_traces(TraceFilters(model_names=[m])).total for m in ov.model_names}
out["count_regex_manager_gate"] = store.count_traces(TraceFilters(regex_pattern="manager\\.gate")).total
first = max(q.traces, key=lambda t: t.span_count).trace_id
view = store.view_trace(first)
out["view"] = {"trace_id": first, "spans": len(view.spans), "oversized": view.oversized is not None,
               "names": [s.name for s in view.spans],
               "kinds": sorted({s.attributes.get("openinference.span.kind") for s in view.spans})}
out["render"] = store.render_trace(first, budget=6000)
hits = store.search_trace(first, "STATUS_CODE_ERROR|manager_verdict|gate_reason")
out["search"] = {"match_count": hits.match_count,
                 "spans": sorted({m.span_name for m in hits.matches})}
ids = [s.span_id for s in view.spans if s.attributes.get("openinference.span.kind") == "LLM"][:3]
out["view_spans_llm"] = [{"name": s.name, "model": s.attributes.get("llm.model_name"),
                          "prompt_tokens": s.attributes.get("llm.token_count.prompt"),
                          "has_input_messages": "llm.input_messages" in s.attributes}
                         for s in store.view_spans(first, ids).spans]
c = out["checks"]
c["every_line_is_a_SpanRecord"] = len(spans) == expect["spans"]
c["trace_count"] = store.trace_count == expect["traces"]
c["no_missing_parents"] = ov.missing_parent_count == 0
c["every_span_has_agent_identity"] = ov.missing_agent_identity_count == 0
c["one_project"] = ov.project_id_mismatch_count == 0
c["input_tokens_match_halo"] = ov.total_input_tokens == expect["tokens_in"]
c["output_tokens_match_halo"] = ov.total_output_tokens == expect["tokens_out"]
c["tool_errors_indexed"] = ov.tool_error_span_count == expect["action_errors"]
c["view_shows_every_span_kind"] = set(expect["kinds"]) <= {k for t in q.traces
                                                          for s in store.view_trace(t.trace_id).spans
                                                          for k in [s.attributes.get("openinference.span.kind")]}
if "LLM" in expect["kinds"]:
    c["render_mentions_models"] = "model=" in out["render"] and "tokens: input=" in out["render"]
print(json.dumps(out, default=str))
'''


def expectations(run_dir: Path, spans_path: Path) -> dict:
    from halo_plugin_traces import RunDir

    run = RunDir(run_dir)
    lines = [json.loads(line) for line in spans_path.read_text().splitlines() if line.strip()]
    tokens_in = tokens_out = errors = 0
    for ep in run.episodes():
        s = ep.summary()
        tokens_in += int((s.get("usage") or {}).get("tokens_in") or 0)
        tokens_out += int((s.get("usage") or {}).get("tokens_out") or 0)
        errors += sum(1 for e in ep.events if e.get("type") == "step" and e.get("last_action_error"))
    kinds = sorted({s["attributes"]["openinference.span.kind"] for s in lines})
    return {"spans": len(lines), "traces": len({s["trace_id"] for s in lines}), "tokens_in": tokens_in,
            "tokens_out": tokens_out, "action_errors": errors, "kinds": kinds}


def drive_engine(python: Path, spans_path: Path, expect: dict) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as fh:
        fh.write(DRIVER)
    try:
        proc = subprocess.run([str(python), fh.name, str(spans_path), json.dumps(expect)], capture_output=True,
                              text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    finally:
        os.unlink(fh.name)
    if proc.returncode != 0:
        raise SystemExit(f"halo-engine driver failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--venv", type=Path, default=DEFAULT_VENV)
    parser.add_argument("--wheel", type=Path, default=DEFAULT_WHEEL)
    parser.add_argument("--run-dir", type=Path, default=None, help="Export this run instead of making one.")
    parser.add_argument("--episodes", type=int, default=1, help="Attempts per mode in the generated run.")
    parser.add_argument("--json", type=Path, default=None, help="Write the full result as JSON here.")
    args = parser.parse_args(argv)

    from halo_plugin_traces import export_run

    t0 = time.perf_counter()
    python, how = engine_python(args.venv, args.wheel)
    print(f"halo-engine: {python} ({how}) [{time.perf_counter() - t0:.1f}s]")
    workdir = Path(tempfile.mkdtemp(prefix="halo-bench-traces-"))
    t0 = time.perf_counter()
    run_dir = args.run_dir or make_run(workdir, args.episodes)
    print(f"run: {run_dir} [{time.perf_counter() - t0:.2f}s]")
    t0 = time.perf_counter()
    result = export_run(run_dir, workdir / "traces.jsonl")
    export_s = time.perf_counter() - t0
    print(f"export: {result.spans} spans, {result.traces} traces -> {result.path} [{export_s * 1000:.0f} ms]")
    expect = expectations(run_dir, result.path)
    t0 = time.perf_counter()
    shown = drive_engine(python, result.path, expect)
    print(f"engine: index + overview + query + view + render + search [{time.perf_counter() - t0:.2f}s, "
          f"halo-engine {shown['engine_version']}]")
    ov = shown["overview"]
    print(f"  overview: {ov['total_traces']} traces, {ov['total_spans']} spans, services={ov['service_names']}, "
          f"models={ov['model_names']}, agents={ov['agent_names']}, tokens in/out="
          f"{ov['total_input_tokens']}/{ov['total_output_tokens']}, error traces={ov['error_trace_count']}, "
          f"tool error spans={ov['tool_error_span_count']}")
    for g in shown["error_taxonomy"]:
        print(f"  error group: {g['span_name']!r} {g['status_message']!r} x{g['error_span_count']}")
    for t in shown["traces"]:
        print(f"  trace {t['trace_id']}: {t['span_count']} spans, agents={t['agent_names']}, "
              f"models={t['model_names']}, errors={t['has_errors']}")
    print(f"  counts: has_errors={shown['count_has_errors']} by_agent={shown['count_by_agent']} "
          f"by_model={shown['count_by_model']} regex(manager.gate)={shown['count_regex_manager_gate']}")
    print(f"  view_trace {shown['view']['trace_id']}: {shown['view']['spans']} spans, kinds={shown['view']['kinds']}")
    print(f"  search_trace: {shown['search']['match_count']} matches in {shown['search']['spans']}")
    print(f"  view_spans (LLM): {shown['view_spans_llm']}")
    print("  render_trace:")
    for line in shown["render"].splitlines()[:40]:
        print("    " + line)
    failed = [name for name, ok in shown["checks"].items() if not ok]
    for name, ok in shown["checks"].items():
        print(f"  check {'ok  ' if ok else 'FAIL'} {name}")
    if args.json:
        args.json.write_text(json.dumps({"install": how, "export_ms": export_s * 1000, "expect": expect,
                                         "engine": shown}, indent=2, default=str))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
