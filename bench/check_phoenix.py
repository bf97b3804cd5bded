"""Does Arize Phoenix really show HALO's traces? (a real Phoenix server, on loopback)

1. Makes (or reuses) a virtualenv with ``arize-phoenix`` (default
   ``~/.cache/halo/phoenix-venv``; its dependencies are far too many to share HALO's venv).
2. Runs a small HALO run through the real loop (GraphEnvironment with PNG screenshots,
   scripted worker and manager) with one more episode that fails (its worker keeps clicking
   a link back to the page it is on until the step limit), and adds two human feedback notes on a
   successful episode: one with a ``required`` rule, one positive note with a
   ``prohibited`` rule — or takes ``--run-dir`` (then only the first note is added).
3. Starts Phoenix on 127.0.0.1 (free HTTP and gRPC ports, its own temporary
   ``PHOENIX_WORKING_DIR``) and waits until it answers.
4. ``halo traces export RUN --phoenix-url URL --project P``: spans over OTLP/HTTP,
   feedback as span annotations.
5. Asks Phoenix's REST API, and checks: the project ``P`` exists and holds every span;
   LLM spans carry input and output messages (parsed by Phoenix from the flattened
   OpenInference keys); their screenshots are ``data:image/png`` URIs; the feedback is a
   HUMAN span annotation on the episode span; no ``inference.*`` key reached Phoenix. Then,
   through the REST API and Phoenix's GraphQL (what its UI shows): the failed episode's
   root span has status ERROR and the successful one's OK; the positive note that carries a
   ``prohibited`` rule is labelled ``note``, not ``fail``.
6. Stops Phoenix and removes its folder.

    python bench/check_phoenix.py [--venv DIR] [--version 20.26.1] [--run-dir RUN] [--project NAME] [--json OUT]

Exit status 0 when every check passes.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

PHOENIX_VERSION = "20.26.1"
DEFAULT_VENV = Path(os.environ.get("HALO_PHOENIX_VENV", Path.home() / ".cache" / "halo" / "phoenix-venv"))
HERE = Path(__file__).resolve().parent


def phoenix_venv(venv: Path, version: str) -> tuple[Path, str]:
    """The venv's ``phoenix`` command, installing ``arize-phoenix==version`` when missing."""
    exe = venv / "bin" / "phoenix"
    python = venv / "bin" / "python"
    probe = [str(python), "-c", "import importlib.metadata as m; print(m.version('arize-phoenix'))"]
    if exe.exists():
        found = subprocess.run(probe, capture_output=True, text=True).stdout.strip()
        if found == version:
            return exe, "already installed"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                    f"arize-phoenix=={version}"], check=True)
    return exe, f"pip install arize-phoenix=={version}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_json(url: str, timeout: float = 10.0):
    with urllib.request.urlopen(url, timeout=timeout) as reply:
        return json.loads(reply.read())


class Phoenix:
    """A Phoenix server in its own process group and working folder."""

    def __init__(self, exe: Path) -> None:
        self.exe = exe
        self.workdir = Path(tempfile.mkdtemp(prefix="halo-phoenix-"))
        self.port, self.grpc_port = free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = self.workdir / "phoenix.log"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 180.0) -> float:
        env = {**os.environ, "PHOENIX_HOST": "127.0.0.1", "PHOENIX_PORT": str(self.port),
               "PHOENIX_GRPC_PORT": str(self.grpc_port), "PHOENIX_WORKING_DIR": str(self.workdir / "data"),
               "PHOENIX_TELEMETRY_ENABLED": "false", "DO_NOT_TRACK": "1"}
        t0 = time.perf_counter()
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen([str(self.exe), "serve"], env=env, stdout=log, stderr=subprocess.STDOUT,
                                         cwd=self.workdir, start_new_session=True)
        while time.perf_counter() - t0 < timeout:
            if self.proc.poll() is not None:
                raise SystemExit(f"Phoenix exited with {self.proc.returncode}:\n{self.log.read_text()[-3000:]}")
            try:
                get_json(f"{self.url}/v1/projects", timeout=2)
                return time.perf_counter() - t0
            except OSError:
                time.sleep(0.5)
        self.stop()
        raise SystemExit(f"Phoenix did not answer within {timeout:.0f}s:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        shutil.rmtree(self.workdir, ignore_errors=True)


def flatten(prefix: str, value, out: dict) -> dict:
    """Phoenix returns attributes nested ({"llm": {"input_messages": [...]}}); flatten to dotted keys."""
    if isinstance(value, dict):
        for k, v in value.items():
            flatten(f"{prefix}.{k}" if prefix else k, v, out)
    elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        for i, v in enumerate(value):
            flatten(f"{prefix}.{i}", v, out)
    else:
        out[prefix] = value
    return out


def check(phoenix_url: str, project: str, exported: list[dict], root_span_id: str) -> dict:
    out: dict = {"checks": {}}
    c = out["checks"]
    projects = [p["name"] for p in get_json(f"{phoenix_url}/v1/projects")["data"]]
    out["projects"] = projects
    c["project_is_the_one_asked_for"] = project in projects
    name = urllib.parse.quote(project)
    spans, cursor = [], None
    deadline = time.time() + 30
    while True:  # ingestion is asynchronous: poll until every span is there
        query = f"?limit=1000{f'&cursor={cursor}' if cursor else ''}"
        page = get_json(f"{phoenix_url}/v1/projects/{name}/spans{query}")
        spans += page["data"]
        cursor = page.get("next_cursor")
        if cursor:
            continue
        if len(spans) >= len(exported) or time.time() > deadline:
            break
        spans, cursor = [], None
        time.sleep(0.5)
    out["spans_in_phoenix"] = len(spans)
    c["every_span_arrived"] = len(spans) == len(exported)
    llm = [s for s in spans if s["span_kind"] == "LLM"]
    flat = [flatten("", s["attributes"], {}) for s in llm]
    out["llm_spans"] = len(llm)
    c["llm_spans_have_input_messages"] = bool(llm) and all(
        any(k.startswith("llm.input_messages.") and k.endswith("message.content") for k in a) for a in flat)
    c["llm_spans_have_output_messages"] = bool(llm) and all(
        "llm.output_messages.0.message.content" in a for a in flat)
    images = [v for a in flat for k, v in a.items() if k.endswith("image.image.url") or k.endswith("image.url")]
    out["images"] = len(images)
    c["screenshots_are_data_uris"] = bool(images) and all(str(v).startswith("data:image/png;base64,") for v in images)
    every = [flatten("", s["attributes"], {}) for s in spans]
    c["no_inference_keys_reached_phoenix"] = not any(k.startswith("inference.") for a in every for k in a)
    c["session_id_is_the_run"] = all(a.get("session.id") for a in every)
    sample = next(iter(flat), {})
    out["llm_sample_keys"] = sorted(k for k in sample if k.startswith("llm."))[:20]
    notes = get_json(f"{phoenix_url}/v1/projects/{name}/span_annotations?span_ids={root_span_id}")["data"]
    out["annotations"] = [{k: n.get(k) for k in ("name", "annotator_kind", "result")} for n in notes]
    c["feedback_is_a_human_span_annotation"] = any(n["name"] == "human_feedback" and n["annotator_kind"] == "HUMAN"
                                                   for n in notes)
    return out


FAILED_TASK = "graph.shop-stuck"
POSITIVE_NOTE = "Well done: one retry, then the order went through."


def add_failed_episode(run_dir: Path) -> dict:
    """One more episode in ``run_dir``'s run, recorded as ``halo eval`` records it: its worker
    only clicks a link back to the page it is on, so the task is not accomplished."""
    from halo_core import mode_config, run_episode
    from halo_core.evaluation.jobs import EpisodeJob, episode_record
    from halo_core.evaluation.store import ResultsStore
    from halo_core.model import TaskSpec
    from halo_core.testing import GraphEnvironment, Page, ScriptedBackend, make_runtime

    import halo_plugin_traces.plugin as traces_plugin

    plan = json.loads((run_dir / "run.json").read_text())
    run_id, data_dir = plan["run_id"], plan["options"]["data_dir"]
    task = TaskSpec(id=FAILED_TASK, goal="Buy the blender", suite="graph", site="graph")
    config = mode_config("baseline_worker", env={}, max_steps=3)
    env = GraphEnvironment({"home": Page("Shop", [("link", "Shop", "home")]),
                            "done": Page("Thanks", [], heading="Order confirmed")}, goal_page="done")
    backends = {"worker": ScriptedBackend(lambda messages: "click('1')", name="scripted:worker")}
    result = run_episode(task, config, env, make_runtime(traces_plugin), run_id=run_id, attempt=0,
                         data_dir=data_dir, backends=backends)
    record = episode_record(EpisodeJob(task=task, suite="graph", config=config, run_id=run_id, attempt=0,
                                       data_dir=data_dir), result)
    store = ResultsStore(run_dir.parent, run_id)
    store.append_episode(record)
    store.close()
    return record


def graphql(phoenix_url: str, query: str, variables: dict) -> dict:
    body = json.dumps({"query": query, "variables": variables}).encode()
    request = urllib.request.Request(f"{phoenix_url}/graphql", data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as reply:
        answer = json.loads(reply.read())
    if answer.get("errors"):
        raise RuntimeError(f"Phoenix GraphQL: {answer['errors']}")
    return answer["data"]


ROOT_SPAN_QUERY = """query ($id: ID!) { node(id: $id) { ... on Span {
  name statusCode statusMessage spanAnnotations { name label annotatorKind explanation } } } }"""


def root_span(phoenix_url: str, project: str, span_id: str, wait: float = 30.0) -> dict:
    """One root span as Phoenix shows it: its REST record, and its status and annotations
    through GraphQL (what the UI reads). Waits for ingestion."""
    name = urllib.parse.quote(project)
    deadline = time.time() + wait
    while True:
        found = get_json(f"{phoenix_url}/v1/projects/{name}/spans?span_id={span_id}")["data"]
        if found or time.time() > deadline:
            break
        time.sleep(0.5)
    if not found:
        return {"found": False}
    rest = found[0]
    shown = graphql(phoenix_url, ROOT_SPAN_QUERY, {"id": rest["id"]})["node"] or {}
    return {"found": True, "name": rest["name"], "rest_status": rest["status_code"],
            "rest_status_message": rest.get("status_message", ""), "graphql_status": shown.get("statusCode"),
            "graphql_status_message": shown.get("statusMessage"), "annotations": shown.get("spanAnnotations") or []}


def check_outcomes(phoenix_url: str, project: str, failed_span: str, ok_span: str) -> dict:
    """A failed episode is red (ERROR) in Phoenix, a successful one green (OK); a positive note
    with a ``prohibited`` rule is not labelled ``fail``."""
    failed, ok = root_span(phoenix_url, project, failed_span), root_span(phoenix_url, project, ok_span)
    name = urllib.parse.quote(project)
    deadline = time.time() + 30
    while True:  # annotations wait for their span inside Phoenix: poll until the note is there
        notes = get_json(f"{phoenix_url}/v1/projects/{name}/span_annotations?span_ids={ok_span}")["data"]
        positive = [n for n in notes if (n.get("result") or {}).get("explanation") == POSITIVE_NOTE]
        if positive or time.time() > deadline:
            break
        time.sleep(0.5)
    if positive and not any(a.get("explanation") == POSITIVE_NOTE for a in ok.get("annotations", ())):
        ok = root_span(phoenix_url, project, ok_span)  # GraphQL again, now that the note is stored
    shown_positive = [a for a in ok.get("annotations", ()) if a.get("explanation") == POSITIVE_NOTE]
    checks = {
        "failed_episode_root_span_is_error": failed.get("rest_status") == "ERROR"
        and failed.get("graphql_status") == "ERROR",
        "successful_episode_root_span_is_ok": ok.get("rest_status") == "OK" and ok.get("graphql_status") == "OK",
        "positive_prohibited_note_is_not_fail": bool(positive) and bool(shown_positive)
        and all((n.get("result") or {}).get("label") not in ("fail", None) for n in positive)
        and all(a.get("label") not in ("fail", None) for a in shown_positive),
    }
    return {"checks": checks, "failed_root": failed, "ok_root": {k: v for k, v in ok.items() if k != "annotations"},
            "positive_note": [{"label": (n.get("result") or {}).get("label"),
                               "metadata": n.get("metadata")} for n in positive],
            "positive_note_graphql": [{"label": a.get("label"), "annotatorKind": a.get("annotatorKind")}
                                      for a in shown_positive]}


def _bench_trace_engine():
    spec = importlib.util.spec_from_file_location("bench_trace_engine", HERE / "bench_trace_engine.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--venv", type=Path, default=DEFAULT_VENV)
    parser.add_argument("--version", default=PHOENIX_VERSION)
    parser.add_argument("--run-dir", type=Path, default=None, help="Send this run instead of making one.")
    parser.add_argument("--project", default="halo-phoenix-check")
    parser.add_argument("--json", type=Path, default=None, help="Write the full result as JSON here.")
    args = parser.parse_args(argv)

    from halo_plugin_traces import RunDir, add_feedback, export_run, span_id_for, trace_id_for

    started = time.perf_counter()
    t0 = time.perf_counter()
    exe, how = phoenix_venv(args.venv, args.version)
    print(f"phoenix: {exe} ({how}) [{time.perf_counter() - t0:.1f}s]")
    workdir = Path(tempfile.mkdtemp(prefix="halo-check-phoenix-"))
    t0 = time.perf_counter()
    made = args.run_dir is None
    run_dir = args.run_dir or _bench_trace_engine().make_run(workdir, 1)
    failed_record = add_failed_episode(run_dir) if made else None
    run = RunDir(run_dir)
    first = next(e for e in run.episodes() if e.task != FAILED_TASK)
    add_feedback(run_dir, task=first.task, attempt=first.attempt, mode=first.mode,
                 text="Recovered from the failed click; keep that.", required=["recover after an action error"])
    if made:
        add_feedback(run_dir, task=first.task, attempt=first.attempt, mode=first.mode, text=POSITIVE_NOTE,
                     prohibited=["place the order twice"])
        print(f"failed episode: {FAILED_TASK} success={failed_record['success']} "
              f"terminated_by={failed_record['terminated_by']}")
    print(f"run: {run_dir} [{time.perf_counter() - t0:.2f}s]")
    phoenix = Phoenix(exe)
    try:
        up = phoenix.start()
        print(f"phoenix up at {phoenix.url} in {up:.1f}s (working dir {phoenix.workdir})")
        t0 = time.perf_counter()
        result = export_run(run_dir, workdir / "traces.jsonl", project=args.project, phoenix_url=phoenix.url)
        exported = [json.loads(line) for line in result.path.read_text().splitlines()]
        print(f"sent {result.otlp_sent} spans and {result.annotations} annotation(s) "
              f"[{time.perf_counter() - t0:.2f}s]")
        trace = trace_id_for(run.run_id, first.mode, first.task, first.attempt)
        t0 = time.perf_counter()
        shown = check(phoenix.url, args.project, exported, span_id_for(trace, "episode"))
        print(f"phoenix API checked [{time.perf_counter() - t0:.2f}s]: projects={shown['projects']} "
              f"spans={shown['spans_in_phoenix']} llm={shown['llm_spans']} images={shown['images']}")
        print(f"  llm keys: {shown['llm_sample_keys']}")
        print(f"  annotations on the episode span: {shown['annotations']}")
        if made:
            failed_trace = trace_id_for(run.run_id, "baseline_worker", FAILED_TASK, 0)
            outcomes = check_outcomes(phoenix.url, args.project, span_id_for(failed_trace, "episode"),
                                      span_id_for(trace, "episode"))
            shown["checks"].update(outcomes.pop("checks"))
            shown["outcomes"] = outcomes
            print(f"  failed episode's root span: {outcomes['failed_root']}")
            print(f"  successful episode's root span: {outcomes['ok_root']}")
            print(f"  positive note with a prohibited rule: REST {outcomes['positive_note']}, "
                  f"GraphQL {outcomes['positive_note_graphql']}")
    finally:
        phoenix.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    failed = [n for n, ok in shown["checks"].items() if not ok]
    for name, ok in shown["checks"].items():
        print(f"  check {'ok  ' if ok else 'FAIL'} {name}")
    total = time.perf_counter() - started
    print(f"total {total:.1f}s")
    if args.json:
        args.json.write_text(json.dumps({"install": how, "total_s": total, **shown}, indent=2, default=str))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
