"""Honest numbers: an evaluated mode never replays another mode's or run's cache unless
asked (--shared-cache, --cache-from), and a damaged cache file never fails episodes."""

from __future__ import annotations

import json

import pytest

import halo_plugin_vac.plugin as vac_plugin
from halo_core import mode_config, run_episode
from halo_core.model import TaskSpec
from halo_core.testing import GraphEnvironment, Page, ScriptedBackend, make_runtime
from halo_plugin_vac._store import forget_stores

EXPERT = ["click('1')", "click('2')", "click('1')", "click('1')", "click('1')", "send_msg_to_user('Done')"]
TASK = TaskSpec(id="graph.shop-1", goal="Buy the blender", suite="graph", site="shop")


def pages():
    return {
        "home": Page("Shop", [("link", "Products", "products"), ("link", "Login", "login")]),
        "products": Page("Products", [("link", "Home", "home"), ("link", "Blender", "blender")]),
        "blender": Page("Blender", [("button", "Add to cart", "cart"), ("link", "Home", "home")], heading="Blender"),
        "cart": Page("Cart", [("button", "Checkout", "checkout"), ("link", "Home", "home")], heading="Your cart"),
        "checkout": Page("Checkout", [("button", "Place order", "done")], heading="Checkout"),
        "done": Page("Thanks", [("link", "Home", "home")], heading="Order confirmed"),
        "login": Page("Login", [("button", "Sign in", "home")], heading="Sign in"),
    }


@pytest.fixture(autouse=True)
def fresh_connections():
    forget_stores()
    yield
    forget_stores()


def episode(tmp_path, mode, run_id, actions, **options):
    config = mode_config("baseline_worker", env={}, use_vac=True, max_steps=8, **options).replace(mode=mode)
    worker = ScriptedBackend(list(actions))
    result = run_episode(TASK, config, GraphEnvironment(pages(), goal_page="done"), make_runtime(vac_plugin),
                         run_id=run_id, data_dir=tmp_path, backends={"worker": worker})
    path = tmp_path / "trajectories" / mode / run_id / "graph.shop-1__attempt_0.jsonl"
    events = [json.loads(line) for line in path.read_text().splitlines()]
    return result, worker, events


def test_a_model_mode_never_replays_another_modes_cache(tmp_path):
    # an expert-driven mode fills its cache over two runs (the second replays it)
    filled, _, _ = episode(tmp_path, "expert_mode", "r1", EXPERT)
    assert filled.success
    again, worker, _ = episode(tmp_path, "expert_mode", "r1", [])
    assert again.success and again.counters["cache_hits"] == 6 and worker.calls == []
    # the model mode, even in the same run id, starts from its own empty cache
    model, worker, events = episode(tmp_path, "model_mode", "r1", ["noop()"] * 8)
    sources = [e["action_source"] for e in events if e["type"] == "step"]
    assert "vac" not in sources and model.counters["cache_hits"] == 0 and not model.success
    assert set(sources) <= {"worker", "recovery"} and model.counters["cache_isolated"] == 1
    # and a new run of the same mode starts empty as well
    fresh, _, _ = episode(tmp_path, "expert_mode", "r2", ["noop()"] * 8)
    assert fresh.counters["cache_hits"] == 0
    assert (tmp_path / "cache" / "expert_mode" / "r1" / "vac.sqlite").exists()
    assert (tmp_path / "cache" / "model_mode" / "r1" / "vac.sqlite").exists()


def test_shared_and_seeded_caches_are_opt_in_and_labelled(tmp_path):
    episode(tmp_path, "expert_mode", "r1", EXPERT, shared_cache=True)
    shared, _, events = episode(tmp_path, "model_mode", "r1", ["noop()"] * 8, shared_cache=True)
    assert shared.success and shared.counters["cache_hits"] == 6 and shared.counters["cache_isolated"] == 0
    summary = next(e for e in events if e["type"] == "vac_summary")
    assert summary["cache_origin"] == "shared"
    source = tmp_path / "cache" / "vac.sqlite"
    seeded, _, events = episode(tmp_path, "model_mode", "r9", ["noop()"] * 8, cache_from=str(source))
    assert seeded.success and seeded.counters["cache_hits"] == 6 and seeded.counters["cache_isolated"] == 0
    assert next(e for e in events if e["type"] == "vac_summary")["cache_origin"] == f"from:{source}"
    from halo_plugin_vac.plugin import _cache_reuse

    assert _cache_reuse([{"counters": {"cache_isolated": 1}}]) == "no"
    assert _cache_reuse([{"counters": {"cache_isolated": 0}}, {"counters": {"cache_isolated": 1}}]) == "partly"


def test_a_damaged_cache_is_moved_aside_and_episodes_still_run(tmp_path):
    path = tmp_path / "cache" / "vac.sqlite"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"this is not a database" * 100)
    result, worker, events = episode(tmp_path, "m", "r", EXPERT, cache_path=str(path))
    assert result.success and result.terminated_by == "message" and not result.error
    notice = next(e for e in events if e["type"] == "vac_quarantine")
    moved = notice["moved_to"]
    assert moved.startswith(str(path) + ".corrupt-")
    from pathlib import Path

    assert Path(moved).read_bytes().startswith(b"this is not a database")  # kept, not lost


def test_cache_commands_on_a_damaged_file(tmp_path):
    from click.testing import CliRunner

    from halo_core.cli import cli

    path = tmp_path / "vac.sqlite"
    path.write_bytes(b"garbage" * 500)
    runner = CliRunner()
    result = runner.invoke(cli, ["cache", "stats", "--path", str(path)])
    assert result.exit_code != 0 and "is damaged or not a HALO cache" in result.output
    assert "halo cache clear" in result.output and "Traceback" not in result.output
    result = runner.invoke(cli, ["cache", "clear", "--path", str(path), "--yes"])
    assert result.exit_code == 0, result.output
    assert "moved the damaged cache" in result.output
    assert len(list(tmp_path.glob("vac.sqlite.corrupt-*"))) == 1
    assert runner.invoke(cli, ["cache", "stats", "--path", str(path), "--json"]).exit_code == 0


def test_halo_run_says_where_its_cache_lives(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from halo_core.cli import cli

    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["run", "webclones.shop-1", "--policy", "expert", "--set", "use_vac=true",
                                      "--manager-backend", "none", "--run-id", "r1", "--max-steps", "3"])
    assert "verified action cache: data/cache/baseline_worker/r1/vac.sqlite (isolated: private to this run and mode)" \
        in result.output, result.output


def test_cache_commands_follow_the_data_dir_and_find_a_runs_cache(tmp_path):
    from click.testing import CliRunner

    from halo_core.cli import cli

    episode(tmp_path / "d", "m1", "r1", EXPERT)
    runner = CliRunner()
    out = runner.invoke(cli, ["cache", "stats", "--data-dir", str(tmp_path / "d"), "--mode", "m1", "--run", "r1",
                              "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["verified"] == 6
    missing = runner.invoke(cli, ["cache", "stats", "--data-dir", str(tmp_path / "d")])
    assert missing.exit_code != 0 and f"no cache at {tmp_path / 'd' / 'cache' / 'vac.sqlite'}" in missing.output
