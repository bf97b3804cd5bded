"""Task catalogue (REAL Bench task-JSON format) and eval-script runner."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

PACKAGE_DIR = Path(__file__).resolve().parent
TASKS_DIR = PACKAGE_DIR / "tasks"
EVAL_SCRIPTS_DIR = PACKAGE_DIR / "eval_scripts"

_CACHE: dict[str, dict] | None = None


def _natural_key(task_id: str) -> tuple:
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", task_id))


def _all() -> dict[str, dict]:
    global _CACHE
    if _CACHE is None:
        tasks = {}
        for path in TASKS_DIR.glob("*.json"):
            with open(path, encoding="utf-8") as fh:
                tasks[path.stem] = json.load(fh)
        _CACHE = tasks
    return _CACHE


def task_path(name: str) -> Path:
    return TASKS_DIR / f"{_normalise(name)}.json"


def _normalise(name: str) -> str:
    """``shop-1`` from the forms a task id reaches us in: ``webclones.shop-1`` (HALO),
    ``v2.shop-1`` (what agisdk's harness sends to ``/config``), ``browsergym/v2.shop-1``,
    ``shop-1.json``. Task names hold no dot, so anything up to the last dot is a prefix."""
    name = str(name).strip()
    name = name[:-5] if name.endswith(".json") else name
    return name.rsplit("/", 1)[-1].rsplit(".", 1)[-1]


def list_tasks(site: str | None = None, split: str | None = None) -> list[dict]:
    """Parsed task JSONs (deep copies), naturally sorted (shop-1, shop-2, ..., shop-10)."""
    out = []
    for tid in sorted(_all(), key=_natural_key):
        task = _all()[tid]
        if site is not None and task.get("website", {}).get("id") != site:
            continue
        if split is not None and task.get("config", {}).get("split") != split:
            continue
        out.append(json.loads(json.dumps(task)))
    return out


def find_task(name: str) -> dict | None:
    task = _all().get(_normalise(name))
    return json.loads(json.dumps(task)) if task else None


def load_task(name: str) -> dict:
    """Load one task by id (``shop-1``; ``shop-1.json`` and ``webclones.shop-1`` also accepted)."""
    task = find_task(name)
    if task is None:
        raise KeyError(f"unknown webclones task {name!r}")
    return task


def script_input(finish_json: dict[str, Any], final_message: str, infeasible: bool) -> dict[str, Any]:
    """What an eval script reads: the site's /finish JSON with the agent's final message
    as ``model_response`` and ``infeasible`` (True when it ended with report_infeasible).

    agisdk's evaluator hands each eval ``(env_state, model_response)`` but writes only
    ``env_state`` for a script, so both HALO's scorer and the harness task
    (:mod:`halo_plugin_webclones.harness`) put the answer into the state this one way.
    """
    data = dict(finish_json)
    data["model_response"] = final_message or ""
    data["infeasible"] = bool(infeasible)
    return data


def run_eval_script(task: dict, finish_json: dict[str, Any], timeout: float = 30.0) -> bool:
    """Run every eval script of ``task`` on ``finish_json``; True iff all print SUCCESS."""
    evals = task.get("evals") or []
    if not evals:
        return False
    fd, tmp = tempfile.mkstemp(suffix=".json", prefix=f"webclones_{task.get('id', 'task')}_")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(finish_json, fh)
        for ev in evals:
            script = EVAL_SCRIPTS_DIR / str(ev.get("script", ""))
            if not ev.get("script") or not script.is_file():
                return False
            try:
                res = subprocess.run([sys.executable, str(script), tmp], capture_output=True, text=True, timeout=timeout)
            except subprocess.TimeoutExpired:
                return False
            if "SUCCESS" not in res.stdout:
                return False
        return True
    finally:
        try:
            os.unlink(tmp)
        except OSError:
            pass


__all__ = [
    "TASKS_DIR", "EVAL_SCRIPTS_DIR", "list_tasks", "load_task", "find_task", "task_path", "run_eval_script",
    "script_input",
]
