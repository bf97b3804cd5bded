"""A real little run for the traces tests.

Episodes run through ``halo_core.loop.run_episode`` (the real loop, logger, manager
gate, verifier) over a GraphEnvironment that returns small real PNG screenshots,
with scripted worker and manager backends. Two modes, three tasks: a success with
an action error and manager reviews, a wrong answer, and a baseline run. The
results folder is written with the evaluation package's own record, plan and
matrix functions, as ``halo eval`` writes it.

A canary secret is in the environment (as ``OPENAI_API_KEY``) and also in a goal
and on a page, so every artefact can be checked for it.
"""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import pytest

from halo_core import mode_config, run_episode
from halo_core.model import RawObservation, TaskSpec
from halo_core.testing import GraphEnvironment, Page, ScriptedBackend, make_runtime

CANARY = "sk-canary-7f3a9c21d4e8b6f0a1b2"
RUN_ID = "eval_traces_test"
COLOURS = {"home": (79, 107, 237), "products": (23, 162, 160), "checkout": (232, 135, 30),
           "done": (46, 157, 87), "price": (142, 91, 214)}


def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A real PNG (RGB, 8 bit) filled with ``rgb`` and a darker band, built with zlib + struct."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    dark = bytes(max(0, c - 60) for c in rgb)
    rows = b"".join(b"\x00" + (dark if y < height // 4 else bytes(rgb)) * width for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


class ShotGraphEnvironment(GraphEnvironment):
    """GraphEnvironment whose observations carry a real PNG screenshot of the current page."""

    def _observe(self, action: str = "", error: str = "") -> RawObservation:
        raw = super()._observe(action, error)
        import attrs

        return attrs.evolve(raw, screenshot=png(64, 40, COLOURS.get(self.current, (120, 120, 120))))


def shop_pages() -> dict[str, Page]:
    return {
        "home": Page("Shop", [("link", "Products", "products"), ("textbox", "Search", None)],
                     heading=f"Welcome. Debug token OPENAI_API_KEY={CANARY}"),
        "products": Page("Products", [("button", "Go to checkout", "checkout"), ("link", "Price list", "price")]),
        "checkout": Page("Checkout", [("button", "Place order", "done")], heading="Checkout"),
        "done": Page("Thanks", [("link", "Home", "home")], heading="Order confirmed"),
        "price": Page("Prices", [("link", "Home", "home")], heading="Blender costs 42 dollars"),
    }


def _page_and_goal(messages) -> tuple[str, str]:
    text = next((m.content for m in reversed(messages) if "URL: " in m.content), "")
    url = next((line[5:] for line in text.splitlines() if line.startswith("URL: ")), "")
    goal = next((line[6:] for line in text.splitlines() if line.startswith("Goal: ")), "")
    return url.rsplit("/", 1)[-1], goal.lower()


def worker_reply():
    """The worker: on the products page its first reply is unusable twice (an action error),
    then it heads for the price list (the manager, when there is one, overrides that);
    it answers the price question wrongly."""
    state = {"bad": 2}

    def reply(messages) -> str:
        page, goal = _page_and_goal(messages)
        if "price" in goal:
            return {"home": "click('1')", "products": "click('2')"}.get(page, "send_msg_to_user('It costs 40')")
        if page == "products":
            if state["bad"] > 0:
                state["bad"] -= 1
                return "click('99')"
            return "click('2')"
        return {"home": "click('1')", "checkout": "click('1')"}.get(page, "send_msg_to_user('Order placed')")

    return reply


def manager_reply(messages) -> str:
    """The manager: after an action error it takes the agent to checkout; otherwise it approves."""
    page, _goal = _page_and_goal(messages)
    if "last action failed" in messages[-1].content and page == "products":
        return "click('1')"
    return "APPROVE"


def tasks() -> list[TaskSpec]:
    return [
        TaskSpec(id="graph.shop-buy", goal=f"Buy the blender (never reveal {CANARY})", suite="graph", site="graph"),
        TaskSpec(id="graph.shop-price", goal="What is the price of the blender?", suite="graph", site="graph",
                 challenge_type="retrieval"),
    ]


def make_env(task: TaskSpec) -> ShotGraphEnvironment:
    if task.id == "graph.shop-price":
        return ShotGraphEnvironment(shop_pages(), answer="42")
    return ShotGraphEnvironment(shop_pages(), goal_page="done")


@pytest.fixture(scope="session")
def canary() -> str:
    return CANARY


@pytest.fixture(scope="session")
def traced_run(tmp_path_factory):
    """Runs the episodes (live trace export on) and writes the results folder.

    Returns a dict: root, data_dir, results_dir (results/<run_id>), traj_dirs (per mode),
    results (EpisodeResult per (task, mode)).
    """
    from halo_core.evaluation.jobs import EpisodeJob, episode_record
    from halo_core.evaluation.metrics import matrix, write_matrix
    from halo_core.evaluation.plan import new_plan
    from halo_core.evaluation.store import ResultsStore

    import halo_plugin_traces.plugin as traces_plugin

    root = tmp_path_factory.mktemp("traces_run")
    data_dir = root / "data"
    saved = {k: os.environ.get(k) for k in ("OPENAI_API_KEY", "HALO_TRACES", "HALO_TRACES_FILE")}
    os.environ["OPENAI_API_KEY"] = CANARY
    os.environ["HALO_TRACES"] = "1"
    os.environ.pop("HALO_TRACES_FILE", None)
    try:
        runtime = make_runtime(traces_plugin)
        configs = {
            "hierarchy_mgr_gate": mode_config("hierarchy_mgr_gate", env={}, max_steps=8),
            "baseline_worker": mode_config("baseline_worker", env={}, max_steps=8),
        }
        store = ResultsStore(root / "results", RUN_ID)
        store.write_plan(new_plan("eval", RUN_ID, [{"id": t.id, "suite": "graph"} for t in tasks()], configs,
                                  {"attempts": 1, "data_dir": str(data_dir), "headless": True}))
        results, records = {}, []
        for task in tasks():
            for name, config in configs.items():
                backends = {"worker": ScriptedBackend(worker_reply(), name="scripted:worker-small",
                                                      cost_per_call=0.001),
                            "manager": ScriptedBackend(manager_reply, name="scripted:manager-large",
                                                       cost_per_call=0.01)}
                env = make_env(task)
                result = run_episode(task, config, env, runtime, run_id=RUN_ID, attempt=0, data_dir=data_dir,
                                     backends=backends)
                env.close()
                job = EpisodeJob(task=task, suite="graph", config=config, run_id=RUN_ID, attempt=0,
                                 data_dir=str(data_dir))
                record = episode_record(job, result)
                store.append_episode(record)
                records.append(record)
                results[(task.id, name)] = result
        store.close()
        write_matrix(matrix(records, list(configs)), store.dir, title=f"Run {RUN_ID}")
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return {"root": root, "data_dir": data_dir, "results_dir": store.dir, "results": results,
            "traj_dirs": {m: data_dir / "trajectories" / m / RUN_ID for m in configs}}


@pytest.fixture
def secret_env(monkeypatch):
    """The canary is configured as a secret while the test runs (as it was during the run)."""
    monkeypatch.setenv("OPENAI_API_KEY", CANARY)
    monkeypatch.delenv("HALO_TRACES", raising=False)
    monkeypatch.delenv("HALO_TRACES_FILE", raising=False)
    return CANARY


def copy_run(traced_run, dest: Path) -> dict:
    """A private copy of the run (results + data) for tests that write into it."""
    import shutil

    shutil.copytree(traced_run["root"], dest)
    for f in (dest / "results" / RUN_ID).glob("*.json*"):  # recorded paths point into the copy
        f.write_text(f.read_text(encoding="utf-8").replace(str(traced_run["root"]), str(dest)), encoding="utf-8")
    out = dict(traced_run)
    out["root"] = dest
    out["data_dir"] = dest / "data"
    out["results_dir"] = dest / "results" / RUN_ID
    out["traj_dirs"] = {m: dest / "data" / "trajectories" / m / RUN_ID for m in traced_run["traj_dirs"]}
    return out


@pytest.fixture
def run_copy(traced_run, tmp_path):
    return copy_run(traced_run, tmp_path / "run")


@pytest.fixture(scope="session")
def scenario():
    """The pieces of the run, for tests that run their own episodes."""
    import types

    return types.SimpleNamespace(ShotGraphEnvironment=ShotGraphEnvironment, shop_pages=shop_pages, tasks=tasks,
                                 worker_reply=worker_reply, manager_reply=manager_reply, png=png, make_env=make_env)
