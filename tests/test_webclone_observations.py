"""Observations of the web clones stay what they were: a golden record of every page the experts see.

Every web-clone task is replayed with its expert through the real browser environment;
each observation's flattened AX tree (what the environment returns) and the summarizer's
text (what a model reads) are compared with ``data/webclone_observations.json.gz``.

The environment's output must not change when its code is reorganised. When the
rendering changes on purpose, re-record with
``HALO_RECORD_OBSERVATIONS=1 pytest -m slow tests/test_webclone_observations.py`` and
check the diff shows only the intended change.
"""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import pytest

pytest.importorskip("halo_plugin_webclones")

from halo_core.builtins.summarizer import summarize  # noqa: E402
from halo_core.env.chromium import BrowserNotFound, find_chromium  # noqa: E402
from halo_core.env.protocol import EnvSettings  # noqa: E402
from halo_plugin_webclones.policy import expert_action  # noqa: E402
from halo_plugin_webclones.suite import WebclonesSuite  # noqa: E402

try:
    find_chromium()
except BrowserNotFound as exc:  # pragma: no cover - depends on the machine
    pytest.skip(str(exc), allow_module_level=True)

GOLDEN = Path(__file__).with_name("data") / "webclone_observations.json.gz"
RECORD = os.environ.get("HALO_RECORD_OBSERVATIONS") == "1"
MAX_STEPS = 40


class _Record:
    """Just enough of a StepRecord for the expert to track its plan."""

    def __init__(self, action: str, error: str) -> None:
        from halo_core.model import Decision

        self.decision = Decision(action, "worker")
        self.error = error


def _node(n) -> list:
    # an element's box depends on the machine's fonts: not part of the recorded observation
    return [n.role, n.name, n.bid, n.value, n.depth, {k: list(v) if isinstance(v, tuple) else v
                                                     for k, v in sorted(n.props.items()) if k != "bbox"}]


def _snapshot(raw, base: str) -> dict:
    obs = summarize(raw)
    return {
        "url": raw.url.replace(base, "BASE"),
        "title": raw.title,
        "tabs": [t.replace(base, "BASE") for t in raw.tabs],
        "error": raw.last_action_error.replace(base, "BASE"),
        "nodes": [_node(n) for n in raw.axtree],
        "text": obs.text.replace(base, "BASE"),
    }


def _replay_all() -> dict[str, list[dict]]:
    suite = WebclonesSuite()
    tasks = suite.list_tasks()
    env = suite.make_environment(tasks[0], EnvSettings(screenshot=False))
    out: dict[str, list[dict]] = {}
    try:
        for task in tasks:
            raw = env.reset(task)
            base = env.base
            frames = [dict(_snapshot(raw, base), action="reset")]
            history, seen = [], []
            for _ in range(MAX_STEPS):
                obs = summarize(raw)
                action = expert_action(task.id, obs, history, seen)
                raw = env.step(action)
                history.append(_Record(action, raw.last_action_error))
                seen.append(obs)
                frames.append(dict(_snapshot(raw, base), action=action))
                if action.startswith(("send_msg_to_user", "report_infeasible", "noop")):
                    break
            out[task.id] = frames
    finally:
        env.close()
    return out


def _first_difference(want: dict, got: dict) -> str:
    for task_id in sorted(set(want) | set(got)):
        a, b = want.get(task_id), got.get(task_id)
        if a is None or b is None:
            return f"{task_id}: only in {'recording' if b is None else 'this run'}"
        for i, (fa, fb) in enumerate(zip(a, b)):
            for key in ("action", "url", "title", "tabs", "error", "nodes", "text"):
                if fa.get(key) != fb.get(key):
                    if key == "text":
                        la, lb = fa["text"].splitlines(), fb["text"].splitlines()
                        j = next((j for j, (x, y) in enumerate(zip(la, lb)) if x != y), min(len(la), len(lb)))
                        return (f"{task_id} frame {i} ({fa['action']}): text line {j}: "
                                f"{la[j] if j < len(la) else '<end>'!r} != {lb[j] if j < len(lb) else '<end>'!r}")
                    if key == "nodes":
                        j = next((j for j, (x, y) in enumerate(zip(fa["nodes"], fb["nodes"])) if x != y),
                                 min(len(fa["nodes"]), len(fb["nodes"])))
                        x = fa["nodes"][j] if j < len(fa["nodes"]) else "<end>"
                        y = fb["nodes"][j] if j < len(fb["nodes"]) else "<end>"
                        return f"{task_id} frame {i} ({fa['action']}): node {j}: {x!r} != {y!r}"
                    return f"{task_id} frame {i}: {key}: {fa.get(key)!r} != {fb.get(key)!r}"
        if len(a) != len(b):
            return f"{task_id}: {len(a)} frames recorded, {len(b)} now"
    return ""


@pytest.mark.slow
def test_webclone_observations_match_the_recording():
    got = _replay_all()
    if RECORD:
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_bytes(gzip.compress(json.dumps(got, sort_keys=True, indent=0).encode(), mtime=0))
        pytest.skip(f"recorded {sum(len(v) for v in got.values())} observations to {GOLDEN}")
    assert GOLDEN.exists(), f"{GOLDEN} is missing: record it with HALO_RECORD_OBSERVATIONS=1"
    want = json.loads(gzip.decompress(GOLDEN.read_bytes()))
    assert sum(len(v) for v in want.values()) > 100
    diff = _first_difference(want, got)
    assert not diff, diff
