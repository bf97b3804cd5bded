"""Executors: local worker processes and Ray actors, crash handling, the registry.

Worker processes load plugins from entry points, so the tests install a small
third-party plugin package (``halo-evaltest``) into a private directory and put it
on ``PYTHONPATH``: a GraphEnvironment-based suite ``evalgraph`` and a ``scripted``
policy that sleeps a little per step (so a kill lands mid-run).
"""

from __future__ import annotations

import os
import textwrap
import time
from pathlib import Path

import pytest
from helpers import pip_install

from halo_core.config import mode_config
from halo_core.evaluation.executors import (
    LocalExecutor,
    RayExecutor,
    create_executor,
    executor_names,
    register_executor,
)
from halo_core.evaluation.jobs import EpisodeJob, execute_job, failed_outcome
from halo_core.model import TaskSpec

EVALTEST_PLUGIN = '''
"""A third-party HALO plugin for evaluation tests: suite `evalgraph`, policy `scripted`."""
import os
import time

from halo_core import Decision, Evaluation, TaskNotFound, TaskSpec, hookimpl
from halo_core.stash import StashKey
from halo_core.testing import GraphEnvironment, Page

DETOUR = StashKey()

SHOPS = [f"shop-{i}" for i in range(1, 9)]
OTHERS = ["fail-1", "broken-1", "unscorable-1", "crash-1"]


def pages():
    return {
        "home": Page("Shop", [("link", "Products", "products"), ("link", "Help", "help")]),
        "products": Page("Products", [("link", "Item", "item"), ("link", "Home", "home")]),
        "item": Page("Item", [("button", "Add", "cart")]),
        "cart": Page("Cart", [("button", "Place order", "done")]),
        "done": Page("Done", [("link", "Home", "home")]),
        "help": Page("Help", [("link", "Home", "home")]),
    }


class UnscorableEnvironment(GraphEnvironment):
    def evaluate(self, final_message, infeasible):
        return Evaluation(reward=0.0, success=False, scorable=False, info={"why": "no scorer"})


class EvalGraphSuite:
    name = "evalgraph"

    def claims(self, task_id):
        return task_id.startswith("evalgraph.")

    def list_tasks(self, site=None, split=None):
        out = []
        for name in SHOPS + OTHERS:
            task = self.resolve(f"evalgraph.{name}")
            if (site is None or task.site == site) and (split is None or task.split == split):
                out.append(task)
        return out

    def resolve(self, task_id):
        name = task_id.split(".", 1)[1] if "." in task_id else task_id
        if name not in SHOPS + OTHERS:
            raise TaskNotFound(f"unknown task {task_id!r}")
        site = "shop" if name.startswith("shop") else "misc"
        split = "train" if name in ("shop-1", "shop-2", "shop-3") else "test"
        return TaskSpec(id=f"evalgraph.{name}", goal=f"Place an order ({name})", suite="evalgraph", site=site,
                        split=split)

    def make_environment(self, task, settings):
        name = task.id.split(".", 1)[1]
        if name.startswith("unscorable"):
            return UnscorableEnvironment(pages(), goal_page="done")
        env = GraphEnvironment(pages(), goal_page="nowhere" if name.startswith("fail") else "done")
        if name.startswith("broken"):
            env.kill()
        return env


@hookimpl
def halo_register_environments(register):
    register(EvalGraphSuite())


@hookimpl
def halo_register_policies(register):
    register("scripted", "the evaltest route through the shop, with a detour at temperature > 0")


@hookimpl
def halo_addoption(register):
    register("route_note", type=str, default="plain", choices=("plain", "fancy"), flag="--route-note",
             help="evaltest: a plugin option recorded in every trajectory")


@hookimpl
def halo_register_decision_sources(register):
    register("route", "evaltest: a click along the scripted route")


@hookimpl
def halo_episode_counters(episode):
    return {"route_clicks": sum(1 for r in episode.history if r.decision.source == "route")}


@hookimpl
def halo_register_metrics(register):
    register("route_clicks_per_episode",
             lambda records: sum(r["counters"]["route_clicks"] for r in records) / len(records) if records else None,
             description="evaltest: route clicks per valid episode")


ROUTE = {"Shop": ("link", "Products"), "Products": ("link", "Item"), "Item": ("button", "Add"),
         "Cart": ("button", "Place order")}


@hookimpl
def halo_decide(observation, episode):
    """An expert-like policy. At temperature > 0 it takes a detour (back from Products) once."""
    if episode.config.policy != "scripted":
        return None
    time.sleep(float(os.environ.get("HALO_EVALTEST_SLEEP", "0.2")))
    if "crash" in episode.task.id and episode.step_idx == 1:
        os._exit(17)  # a worker process dying mid-episode
    if observation.title == "Done":
        return Decision("send_msg_to_user('ordered')", "worker")
    if observation.title == "Products" and episode.config.worker_temperature > 0 and not episode.stash.get(DETOUR, False):
        episode.stash[DETOUR] = True
        return Decision("go_back()", "worker")
    role, name = ROUTE.get(observation.title, ("link", "Home"))
    element = observation.find(role, name)
    return Decision(f"click('{element.bid}')", "route")
'''


def build_evaltest(root: Path) -> Path:
    """Install the evaltest plugin package into ``root/site`` and return that directory."""
    pkg = root / "halo-evaltest"
    (pkg / "src" / "halo_evaltest").mkdir(parents=True)
    (pkg / "src" / "halo_evaltest" / "__init__.py").write_text(EVALTEST_PLUGIN)
    (pkg / "pyproject.toml").write_text(textwrap.dedent('''
        [build-system]
        requires = ["setuptools>=68"]
        build-backend = "setuptools.build_meta"
        [project]
        name = "halo-evaltest"
        version = "0.0.1"
        dependencies = ["halo-core"]
        [project.entry-points.halo]
        evaltest = "halo_evaltest"
    '''))
    target = root / "site"
    pip_install("--no-deps", "--no-build-isolation", "--target", str(target), str(pkg))
    return target


@pytest.fixture
def evaltest_env(evaltest_site, monkeypatch):
    """PYTHONPATH (inherited by worker processes) pointing at the evaltest plugin; in-process too."""
    monkeypatch.setenv("PYTHONPATH", f"{evaltest_site}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    monkeypatch.setenv("HALO_EVALTEST_SLEEP", "0.01")
    monkeypatch.delenv("HALO_LOAD_PLUGINS", raising=False)
    monkeypatch.syspath_prepend(str(evaltest_site))
    import importlib

    importlib.invalidate_caches()
    return evaltest_site


def task(name: str) -> TaskSpec:
    return TaskSpec(id=f"evalgraph.{name}", goal=f"Place an order ({name})", suite="evalgraph",
                    site="shop" if name.startswith("shop") else "misc")


def job(name: str, tmp_path: Path, attempt: int = 0, mode: str = "baseline_worker", **kw) -> EpisodeJob:
    return EpisodeJob(task=task(name), suite="evalgraph", config=mode_config(mode, policy="scripted"),
                      run_id="exec-test", attempt=attempt, data_dir=str(tmp_path), **kw)


def collect(executor, jobs):
    got = {}
    executor.map(jobs, lambda j, outcome: got.__setitem__(j.key, outcome))
    return got


def test_execute_job_in_process(evaltest_env, tmp_path):
    outcome = execute_job(job("shop-1", tmp_path))
    r = outcome.record
    assert (r["task"], r["mode"], r["attempt"]) == ("evalgraph.shop-1", "baseline_worker", 0)
    assert r["success"] and r["reward"] == 1.0 and r["steps"] == 5 and r["terminated_by"] == "message"
    assert Path(r["trajectory"]).exists() and not outcome.is_error


def test_execute_job_setup_failure_is_an_init_error(evaltest_env, tmp_path):
    bad = EpisodeJob(task=TaskSpec(id="nosuch.x-1", goal="g", suite="nosuch"), suite="nosuch",
                     config=mode_config("baseline_worker", policy="scripted"), run_id="r", data_dir=str(tmp_path))
    outcome = execute_job(bad)
    assert outcome.record["terminated_by"] == "init_error" and "unknown task" in outcome.record["error"]
    assert "Traceback" in outcome.traceback


def test_local_executor_runs_every_job_and_survives_a_crash(evaltest_env, tmp_path):
    jobs = [job(n, tmp_path) for n in ("shop-1", "crash-1", "shop-2", "broken-1", "fail-1", "unscorable-1")]
    got = collect(LocalExecutor(workers=2), jobs)
    assert set(got) == {j.key for j in jobs}
    rec = {k[0].split(".")[1]: o.record for k, o in got.items()}
    assert rec["shop-1"]["success"] and rec["shop-2"]["success"]
    assert rec["crash-1"]["terminated_by"] == "error"
    assert "worker process died (exit code 17)" in rec["crash-1"]["error"]
    assert rec["broken-1"]["terminated_by"] == "init_error"
    assert rec["fail-1"]["terminated_by"] == "message" and rec["fail-1"]["reward"] == 0.0
    assert rec["unscorable-1"]["scorable"] is False
    assert rec["crash-1"]["worker_pid"] is None


def test_local_executor_reuses_its_processes(evaltest_env, tmp_path):
    jobs = [job(f"shop-{i}", tmp_path) for i in range(1, 7)]
    got = collect(LocalExecutor(workers=2), jobs)
    pids = {o.record["worker_pid"] for o in got.values()}
    assert len(pids) == 2 and os.getpid() not in pids


def test_thread_executor_runs_every_job_in_this_process(evaltest_env, tmp_path):
    import threading

    jobs = [job(n, tmp_path) for n in ("shop-1", "broken-1", "shop-2", "fail-1")]
    caller, seen = threading.get_ident(), []

    def on_result(j, outcome):
        seen.append((j.key, outcome, threading.get_ident()))

    create_executor("threads", workers=3).map(jobs, on_result)
    assert {k for k, _, _ in seen} == {j.key for j in jobs}
    assert all(ident == caller for _, _, ident in seen)  # outcomes reach the caller's thread
    rec = {k[0].split(".")[1]: o.record for k, o, _ in seen}
    assert rec["shop-1"]["success"] and rec["shop-2"]["success"]
    assert rec["broken-1"]["terminated_by"] == "init_error"
    assert {r["worker_pid"] for r in rec.values() if r.get("worker_pid")} == {os.getpid()}


def test_registry_and_protocol():
    assert {"local", "ray", "threads"} <= set(executor_names())

    class InlineExecutor:
        def __init__(self, workers=None, address=None, **options):
            self.options = options

        def map(self, jobs, on_result):
            for j in jobs:
                on_result(j, failed_outcome(j, "inline executor does not run anything"))

    register_executor("inline-test", InlineExecutor)
    try:
        ex = create_executor("inline-test", workers=3, flavour="x")
        assert ex.options == {"flavour": "x"}
        with pytest.raises(ValueError, match="already registered"):
            register_executor("inline-test", LocalExecutor)
    finally:
        from halo_core.evaluation import executors

        executors._REGISTRY.pop("inline-test", None)
    with pytest.raises(ValueError, match="unknown executor 'nope'; known: local, ray, threads"):
        create_executor("nope")


@pytest.mark.slow
def test_ray_executor_matches_local(evaltest_env, tmp_path):
    os.environ["RAY_DISABLE_USAGE_STATS"] = "1"
    names = ("shop-1", "fail-1", "unscorable-1", "crash-1")
    started = time.monotonic()
    local = collect(LocalExecutor(workers=2), [job(n, tmp_path / "local") for n in names])
    remote = collect(RayExecutor(workers=2, num_cpus=2), [job(n, tmp_path / "ray") for n in names])
    assert set(local) == set(remote)
    for key in local:
        a, b = local[key].record, remote[key].record
        assert (a["success"], a["steps"], a["reward"], a["scorable"]) == (b["success"], b["steps"], b["reward"],
                                                                         b["scorable"]), key
    crash = remote[("evalgraph.crash-1", "baseline_worker", 0)].record
    assert crash["terminated_by"] == "error" and "actor died" in crash["error"]
    assert time.monotonic() - started < 300


def test_threads_keep_to_one_task_family():
    """A thread takes the next seed of the task it just played, else a task no thread plays,
    else the head; never a job of a later mode while the head's mode has free families."""
    from halo_core.evaluation.executors import next_index, task_family
    from halo_core.model import TaskSpec

    assert task_family(TaskSpec(id="miniwob.click-button@3", goal="", suite="miniwob", seed=3)) == "miniwob.click-button"
    assert task_family(TaskSpec(id="webclones.shop-1", goal="", suite="webclones")) == "webclones.shop-1"
    assert task_family(TaskSpec(id="x.a@b", goal="", suite="x")) == "x.a@b"  # no seed: the id is the family
    a, b, c, z = ("m", "s", "a"), ("m", "s", "b"), ("m", "s", "c"), ("n", "s", "a")
    families = [a, a, b, b, c, z]
    assert next_index(families, a, {a}) == 0  # its own family first
    assert next_index(families, None, {a}) == 2  # a fresh thread: a family nobody plays
    assert next_index(families, c, {a, b, c}) == 4
    assert next_index(families, ("m", "s", "q"), {a, b, c}) == 0  # every family busy: the head
    assert next_index([a, z], None, {a}) == 0  # the next mode waits for the head's mode
    assert next_index([z, b], b, {z}) == 1
