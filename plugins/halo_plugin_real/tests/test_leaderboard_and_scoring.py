"""Leaderboard run ids (against a loopback server speaking REAL's runKey API) and scoring rules."""

import json
import os
import subprocess
import sys
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from halo_core.local_server import LocalHTTPServer, send_body
from halo_plugin_real.catalog import Layout
from halo_plugin_real.leaderboard import LeaderboardError, get_leaderboard_run_id
from halo_plugin_real.scoring import AgisdkScorer

HALO = str(Path(sys.executable).with_name("halo"))
KEY = "sk-real-SECRET-123"


@pytest.fixture
def real_api():
    seen = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            parts = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(parts.query).items()}
            seen.append((parts.path, query))
            if query.get("api_key") != KEY:
                body, status = json.dumps({"error": f"bad key {query.get('api_key')}"}).encode(), 401
            else:
                body, status = json.dumps({"newRunId": f"run-{query['model_name']}-{query['run_name']}"}).encode(), 200
            send_body(self, status, body, "application/json")

        def log_message(self, *a):
            pass

    with LocalHTTPServer(Handler) as server:
        yield server.url, seen


def test_run_id_from_api_like_agisdk(real_api, monkeypatch):
    base, seen = real_api
    monkeypatch.setenv("REAL_API_BASE", base + "/")
    assert get_leaderboard_run_id(KEY, "halo gpt-4o-mini", "nightly 1") == "run-halo gpt-4o-mini-nightly 1"
    path, query = seen[-1]
    assert path == "/api/runKey" and query == {"api_key": KEY, "model_name": "halo gpt-4o-mini", "run_name": "nightly 1"}
    with pytest.raises(LeaderboardError) as info:
        get_leaderboard_run_id("wrong-key-XYZ", "m", "r")
    assert "HTTP 401" in str(info.value) and "wrong-key-XYZ" not in str(info.value)


def test_cli_prints_run_id_never_the_key(real_api, tmp_path):
    base, _ = real_api
    env = {**os.environ, "REAL_API_BASE": base, "REAL_API_KEY": KEY}
    proc = subprocess.run([HALO, "real", "leaderboard-run-id", "--model-name", "m1", "--run-name", "r1"],
                          capture_output=True, text=True, env=env, timeout=60, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "run-m1-r1"
    assert KEY not in proc.stdout + proc.stderr
    env["REAL_API_KEY"] = "bad-" + KEY
    proc = subprocess.run([HALO, "real", "leaderboard-run-id", "--model-name", "m1", "--run-name", "r1"],
                          capture_output=True, text=True, env=env, timeout=60, cwd=tmp_path)
    assert proc.returncode != 0 and "HTTP 401" in proc.stderr and KEY not in proc.stdout + proc.stderr
    env.pop("REAL_API_KEY")
    proc = subprocess.run([HALO, "real", "leaderboard-run-id", "--model-name", "m1", "--run-name", "r1"],
                          capture_output=True, text=True, env=env, timeout=60, cwd=tmp_path)
    assert proc.returncode != 0 and "REAL_API_KEY is not set" in proc.stderr


@pytest.fixture
def layout(tmp_path):
    root = tmp_path / "v2"
    (root / "tasks").mkdir(parents=True)
    (root / "eval_scripts").mkdir()
    (root / "eval_scripts" / "eval_demo_1.py").write_text(
        "import json, sys\nd = json.load(open(sys.argv[1]))\nprint('SUCCESS' if d.get('done') else 'FAILURE')\n")
    tasks = {
        "demo-1": [{"script": "eval_demo_1.py"}],
        "demo-2": [{"type": "jmespath", "query": "state.count", "expected_value": 3}],
        "demo-3": [{"type": "llm_boolean", "rubric": "says hello"}],
    }
    for name, evals in tasks.items():
        (root / "tasks" / f"{name}.json").write_text(json.dumps({
            "id": name, "goal": "g", "website": {"id": "demo", "url": "http://127.0.0.1:9/"}, "difficulty": "easy",
            "challengeType": "action", "possible": True, "evals": evals, "points": 1, "config": {}, "version": "v2"}))
    return Layout(root=root, source="local")


def _spec(layout, name):
    from halo_plugin_real.catalog import to_spec

    return to_spec(layout.load(name), "v2", name)


def test_scorer_uses_agisdk_evaluator(layout):
    score = AgisdkScorer(layout)
    task = _spec(layout, "demo-1")
    ok = score(task, {"done": True}, "Done", False)
    assert ok.reward == 1.0 and ok.success and ok.info["evaluated"] and ok.info["results"][0][0] is True
    bad = score(task, {"done": False}, "Done", False)
    assert bad.reward == 0.0 and not bad.success and bad.scorable
    jm = _spec(layout, "demo-2")
    assert score(jm, {"state": {"count": 3}}, "Done", False).success
    assert not score(jm, {"state": {"count": 2}}, "Done", False).success


def test_scorer_mirrors_the_harness_rules(layout, monkeypatch):
    score = AgisdkScorer(layout)
    task = _spec(layout, "demo-1")
    silent = score(task, {"done": True}, "", False)
    assert silent.reward == 0.0 and not silent.info["evaluated"] and "no final message" in silent.info["reason"]
    infeasible = score(task, {"done": True}, "cannot", True)
    assert infeasible.reward == 0.0 and "infeasible" in infeasible.info["reason"]
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    llm = score(_spec(layout, "demo-3"), {}, "hello", False)
    assert llm.scorable is False and "OPENAI_API_KEY" in llm.info["reason"]
