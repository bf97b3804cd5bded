"""Every ``halo`` command, one canary: no secret reaches a console or a file.

One run is built whose every text holds a canary key (``HOSTILE_API_KEY`` makes it a known
secret): the goal and page titles (``HALO_HOSTILE_TEXT``), every model reply (the
``parrot:`` backend, as worker, judge, grader and analyst), an episode error (policy
``raiser``) and a human feedback note. Then every command and subcommand the real command
line exposes runs against it in a real subprocess (``python -m halo_core.cli``), doing its
real work where that takes seconds. No stdout or stderr holds the canary, and no file
under the test's folders does (every file is read as bytes, binary ones too).

The sweep is checked against the command tree of the real click group (every plugin
installed here loaded): a command added later fails this test until it is swept.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
from helpers import CANARY, HALO, REPLY, build_hostile, hostile_env

#: Commands that would train models or take minutes: only their ``--help`` runs.
HELP_ONLY = {
    "demo": "trains BC, DPO and GRPO models end to end (minutes)",
    "train bc": "trains a model (minutes)",
    "train dpo": "trains a model (minutes)",
    "train grpo": "trains a model (minutes)",
}

#: Commands the CLI exposes that the sweep leaves out, each with the reason. Empty: every
#: command runs. Add one here only with a reason it cannot run in seconds or at all.
NOT_SWEPT: dict[str, str] = {}

#: Working stores that keep what they replay as it was, and so may hold a secret a page or a
#: model put there. Nothing else may. The verified action cache replays its actions verbatim:
#: a fill it recorded must type the text itself, not ``[REDACTED]`` (its export is redacted).
KEPT_VERBATIM = ("vac.sqlite",)

RUN = "canary"
TASKS = "hostile.t-1,hostile.t-2,hostile.t-3"
PARROT = ("--worker-backend", "parrot:m")

# The parrot answers by prompt: the judge, the grader and the analyst each with a reply that
# holds the canary in every field; the worker goes to Products and back Home, then answers with REPLY.
JUDGE = json.dumps({"verdict": "fail", "summary": f"judged {CANARY}", "observations": [CANARY],
                    "failure_modes": [CANARY], "required": [f'answer "{CANARY}"'], "prohibited": [CANARY]})
GRADER = json.dumps({"pass": False, "reason": f"graded {CANARY}"})
ANALYST = json.dumps({
    "summary": f"summary {CANARY}", "diagnosis": f"diagnosis {CANARY}",
    "changes": [{"title": f"change {i} {CANARY}", "part": "prompts", "impact": "high", "confidence": "high",
                 "effort": "low", "evidence": [f"hostile.t-1#0 {CANARY}"], "validation": CANARY, "rationale": CANARY}
                for i in range(3)],
    "recommendations": {"prompts": [CANARY]}, "insights": {"traces": [CANARY]}})
BY_PROMPT = json.dumps({
    "You review one episode": JUDGE,
    "You grade one episode": GRADER,
    "You improve a browser agent's harness": ANALYST,
    "1: click('1')": REPLY,  # the third step, back on Home
    "URL: /home": "click('1')",
    "URL: /products": "click('1')",
})

EXPERIMENTS = """
experiments:
  parrot:
    worker_backend: parrot:m
  cached:
    base_mode: hierarchy_vac_macros
    worker_backend: parrot:m
    use_manager: false
  raising:
    policy: raiser
"""


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _RunKeyServer(BaseHTTPRequestHandler):
    """REAL's ``/api/runKey`` on loopback: a run id for run ``ok``; for any other run an HTTP
    401 whose body echoes the key it was sent, as a careless server would."""

    def do_GET(self):  # noqa: N802 - http.server's name
        query = parse_qs(urlparse(self.path).query)
        if query.get("run_name") == ["ok"]:
            status, body = 200, json.dumps({"newRunId": "lb-run-7"})
        else:
            status, body = 401, f"invalid api_key={query.get('api_key', [''])[0]}"
        self.send_response(status)
        self.send_header("Content-Type", "application/json" if status == 200 else "text/plain")
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args):
        pass


def _env(site: Path, **extra) -> dict:
    """Every installed plugin and the hostile one; the canary everywhere a text comes from."""
    env = hostile_env(site, HALO_HOSTILE_TEXT=CANARY, HALO_PARROT_BY_PROMPT=BY_PROMPT, REAL_API_KEY=CANARY,
                      HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false",
                      LITELLM_LOCAL_MODEL_COST_MAP="True", **extra)
    env.pop("HALO_LOAD_PLUGINS")
    return env


class Sweep:
    """Runs ``halo`` commands in ``work`` and keeps every result."""

    def __init__(self, site: Path, work: Path) -> None:
        self.site, self.work = site, work
        self.results: list[tuple[tuple[str, ...], subprocess.CompletedProcess, float]] = []
        self.failed: list[tuple[tuple[str, ...], int, str]] = []  # commands that should have exited 0
        self._lock = threading.Lock()

    def __call__(self, *args: str, timeout: float = 240, **extra) -> subprocess.CompletedProcess:
        t0 = time.monotonic()
        done = subprocess.run([*HALO, *args], capture_output=True, text=True, cwd=self.work,
                              env=_env(self.site, **extra), timeout=timeout)
        with self._lock:
            self.results.append((args, done, time.monotonic() - t0))
        return done

    def ok(self, *args: str, **extra) -> subprocess.CompletedProcess:
        """Run a command that must succeed; a failure is kept for the test to report, and the
        sweep goes on."""
        done = self(*args, **extra)
        if done.returncode != 0:
            with self._lock:
                self.failed.append((args, done.returncode, (done.stdout[-1500:] + done.stderr[-1500:])))
        return done


def exposed_commands(site: Path) -> set[str]:
    """The commands of the real click group with every plugin loaded: each leaf, and each group
    that runs on its own (``halo tasks``)."""
    code = """
import json, click
from halo_core.cli import cli
def walk(cmd, ctx, path):
    if not isinstance(cmd, click.Group):
        return [path]
    out = [path] if path and cmd.invoke_without_command else []
    for name in cmd.list_commands(ctx):
        sub = cmd.get_command(ctx, name)
        out += walk(sub, click.Context(sub, parent=ctx, info_name=name), path + [name])
    return out
print(json.dumps([" ".join(p) for p in walk(cli, click.Context(cli, info_name="halo", obj={}), [])]))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_env(site), timeout=120)
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout))


def command_of(args: tuple[str, ...], known: set[str]) -> str:
    """``("feedback", "add", "RUN", ...)`` → ``"feedback add"``: the longest known command path."""
    name = args[0]
    for word in args[1:]:
        if f"{name} {word}" not in known and not any(k.startswith(f"{name} {word} ") for k in known):
            break
        name = f"{name} {word}"
    return name


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """The run, then every command against it: five chains of dependent commands, three at a time."""
    root = tmp_path_factory.mktemp("canary")
    started = time.monotonic()
    site = build_hostile(root)
    work = root / "work"
    work.mkdir()
    (work / "experiments.yaml").write_text(EXPERIMENTS)
    run = Sweep(site, work)
    exposed = exposed_commands(site)

    # the run: three modes (a parrot worker, the full hierarchy with cache and macros, a policy
    # that raises) on three tasks, and a person's feedback
    run.ok("eval", "--tasks", TASKS, "--config", "experiments.yaml", "--all-modes", "--run-id", RUN,
           "--workers", "2", "--allow-errors")
    run_dir = f"results/{RUN}"
    run.ok("feedback", "add", run_dir, "--task", "hostile.t-1", "--mode", "parrot", "--author", CANARY,
           "--text", f"well done, but never show {CANARY}", "--required", f"say {CANARY}",
           "--prohibited", f"type {CANARY}")

    server = ThreadingHTTPServer(("127.0.0.1", 0), _RunKeyServer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    real_base = f"http://127.0.0.1:{server.server_address[1]}"
    closed = f"http://127.0.0.1:{_closed_port()}"

    def models():
        gguf = work / "tiny.gguf"
        made = subprocess.run([sys.executable, "-c", "import sys; from halo_plugin_qwen.tiny import write_tiny_gguf; "
                               "write_tiny_gguf(sys.argv[1], name='SmolLM2 tiny')", str(gguf)],
                              capture_output=True, text=True, env=_env(site), timeout=240)
        assert made.returncode == 0, made.stderr
        run.ok("models", "import-gguf", str(gguf), "--out", "models/tiny")

    def improvement():
        run.ok("feedback", "judge", run_dir, "--backend", "parrot:judge", "--limit", "3")
        run.ok("evals", "generate", run_dir, "--out", "suite.yaml")
        run("evals", "run", "suite.yaml", "--run", run_dir, "--grader", "parrot:grader",
            "--junit", "gate/junit.xml", "--json", "gate/results.json")
        run.ok("evals", "export", "suite.yaml", "--run", run_dir, "--promptfoo", "promptfoo")
        run.ok("improve", run_dir, "--backend", "parrot:analyst")
        run.ok("improve", run_dir, "--loop", "--judge", "parrot:judge", "--grader", "parrot:grader",
               "--backend", "parrot:analyst", "--out", "loop_handoff.md")

    def episodes():
        # their own stores, so that the readers never meet a trajectory being written
        elsewhere = ("--data-dir", "more/data")
        run.ok("run", "hostile.t-4", *PARROT, "--run-id", "debug-canary", *elsewhere)
        run.ok("rollouts", "--tasks", "hostile.t-5", *PARROT, "--run-id", "rollouts-canary", "--rollouts-per-task", "2",
               *elsewhere, "--results-dir", "more/results")
        run.ok("verify-exploration", "--task", "hostile.t-6", *PARROT, "--compare-steps", "2", "--run-id", "ve-canary",
               *elsewhere, "--results-dir", "more/results")
        run.ok("eval", "--resume", RUN, "--allow-errors")
        run.ok("eval", "--tasks", "hostile.t-7", *PARROT, "--dry-run")

    def readers():
        run.ok("report", run_dir)
        run.ok("export", "--out", "datasets", "--split", "all", "--pairing-strategy", "success_vs_failure")
        run.ok("feedback", "list", run_dir)
        run.ok("feedback", "list", run_dir, "--json")
        run.ok("traces", "export", run_dir, "--out", "traces/engine.jsonl")
        run("traces", "export", run_dir, "--format", "otlp-json", "--out", "traces/otlp.jsonl",
            "--otlp-endpoint", closed, "--otlp-timeout", "1")
        run("traces", "export", run_dir, "--out", "traces/phoenix.jsonl", "--phoenix-url", closed,
            "--otlp-timeout", "1")
        run.ok("macros", "mine", "--min-support", "2")
        run.ok("macros", "list")
        run.ok("macros", "list", "--json")
        cache = ("--mode", "cached", "--run", RUN)
        run.ok("cache", "stats", *cache)
        run.ok("cache", "stats", *cache, "--json")
        run.ok("cache", "export", *cache, "--out", "cache_export.jsonl")
        kept = work / "data" / "cache" / "cached" / RUN / "vac.sqlite"
        (work / "cleared").mkdir()
        shutil.copy(kept, work / "cleared" / "vac.sqlite")  # the run's own cache stays for the scan
        run.ok("cache", "clear", "--path", "cleared/vac.sqlite", "--yes")

    def listings():
        run.ok("plugins")
        run.ok("plugins", "--json", "--all")
        run.ok("plugins", "--hook", "halo_decide")
        run.ok("config")
        run.ok("config", "--json", "--mode", "hierarchy_vac_macros")
        run.ok("tasks", "--suite", "hostile")
        run.ok("tasks", "--suite", "hostile", "--json", "tasks.json")
        run.ok("tasks", "--suite", "hostile", "--json", "-")
        run.ok("tasks", "--suite", "hostile", "--ids-only")
        run.ok("tasks", "snapshot", "--out", "registry.json")  # the suite with a registry: REAL's
        run.ok("tasks", "snapshot", "--out", "registry.json", "--check")
        run.ok("backends")
        run.ok("backends", "--json")
        run("doctor", "--dir", "data", "--dir", "results")
        run.ok("real", "leaderboard-run-id", "--model-name", "m", "--run-name", "ok", REAL_API_BASE=real_base)
        run("real", "leaderboard-run-id", "--model-name", "m", "--run-name", "bad", REAL_API_BASE=real_base)
        for command in HELP_ONLY:
            run.ok(*command.split(), "--help")

    try:
        with ThreadPoolExecutor(max_workers=3) as pool:
            for future in [pool.submit(job) for job in (models, improvement, episodes, readers, listings)]:
                future.result()
    finally:
        server.shutdown()
        server.server_close()
    return {"root": root, "work": work, "run": run, "exposed": exposed, "seconds": time.monotonic() - started}


def _by_command(sweep) -> dict[str, list]:
    out: dict[str, list] = {}
    for args, done, _ in sweep["run"].results:
        out.setdefault(command_of(args, sweep["exposed"]), []).append((args, done))
    return out


def test_the_sweep_covers_every_command_the_cli_exposes(sweep):
    swept = set(_by_command(sweep))
    assert swept | set(NOT_SWEPT) == sweep["exposed"], (
        f"not swept: {sorted(sweep['exposed'] - swept - set(NOT_SWEPT))}; "
        f"swept but not exposed: {sorted(swept - sweep['exposed'])}")
    assert not set(NOT_SWEPT) & swept
    assert set(HELP_ONLY) <= sweep["exposed"]
    # every command but the --help-only ones did its work, not only parsed its arguments
    for name, runs in _by_command(sweep).items():
        assert (name in HELP_ONLY) == all("--help" in args for args, _ in runs), name


def test_every_command_did_its_work(sweep):
    assert not sweep["run"].failed


def test_no_console_of_any_command_holds_the_canary(sweep):
    leaks = [(" ".join(args), stream) for args, done, _ in sweep["run"].results
             for stream, text in (("stdout", done.stdout), ("stderr", done.stderr)) if CANARY in text]
    assert not leaks
    for args, done, _ in sweep["run"].results:
        assert "Traceback" not in done.stderr, (args, done.stderr[-3000:])


def test_no_file_any_command_wrote_holds_the_canary(sweep):
    files = [p for p in sweep["root"].rglob("*") if p.is_file() and not p.is_symlink()
             and not p.name.startswith(KEPT_VERBATIM)]
    assert len(files) > 50
    leaks = sorted(str(p.relative_to(sweep["root"])) for p in files if CANARY.encode() in p.read_bytes())
    assert not leaks


def test_the_canary_reached_every_kind_of_output_and_was_redacted(sweep):
    """The sweep is worth something only if the canary went where it could leak."""
    work = sweep["work"]
    by = _by_command(sweep)
    redacted = "[REDACTED]"
    # the console: a step's reply, an episode's error, the feedback, the judge's echo
    assert redacted in by["run"][0][1].stdout
    assert redacted in by["feedback list"][0][1].stdout
    assert redacted in next(done.stdout for args, done in by["tasks"] if args[-1] == "-")
    # files: trajectories, episode records (the raised error), feedback, traces, report, handoff, gate, datasets
    run_dir = work / "results" / RUN
    records = [json.loads(line) for line in (run_dir / "episodes.jsonl").read_text().splitlines()]
    assert len(records) == 9 and {r["mode"] for r in records} == {"parrot", "cached", "raising"}
    assert all(redacted in r["error"] for r in records if r["mode"] == "raising")
    assert sum(r["success"] for r in records) == 6
    for path in (run_dir / "feedback.jsonl", run_dir / "report.html", work / "traces" / "engine.jsonl",
                 work / "traces" / "otlp.jsonl", work / "traces" / "phoenix.jsonl", run_dir / "improvement_handoff.md",
                 work / "loop_handoff.md",
                 work / "gate" / "results.json", work / "gate" / "junit.xml", work / "datasets" / "dpo.jsonl",
                 work / "suite.yaml", work / "tasks.json", work / "data" / "cache" / "macros.json",
                 work / "cache_export.jsonl"):
        assert redacted in path.read_text(), path
    feedback = [json.loads(line) for line in (run_dir / "feedback.jsonl").read_text().splitlines()]
    assert {f["source"] for f in feedback} == {"human", "model:parrot:judge"}
    # the collector and Phoenix were down: the commands say so, and still leave the --out file
    for args, done in by["traces export"]:
        if closed := next((a for a in args if a.startswith("http://127.0.0.1:")), None):
            assert done.returncode != 0 and closed.split("//")[1] in done.stderr, done.stderr
    ok, bad = by["real leaderboard-run-id"]
    assert ok[1].stdout.strip() == "lb-run-7"
    assert bad[1].returncode == 1 and "HTTP 401" in bad[1].stderr
    assert (work / "models" / "tiny" / "model.safetensors").is_file()


def test_the_sweep_takes_seconds(sweep):
    """Kept small enough to run with the suite: about 55 s of CPU in all, in three parallel chains."""
    from halo_core.testing import within

    slowest = sorted(((round(s, 1), " ".join(a)[:80]) for a, _, s in sweep["run"].results), reverse=True)[:8]
    assert sweep["seconds"] < within(150), slowest
