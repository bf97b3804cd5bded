"""Mine macros from real trajectories of GraphEnvironment episodes, replay them on other tasks."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

import halo_plugin_macros.plugin as macro_plugin
from halo_core import mode_config, run_episode
from halo_core.cli import cli
from halo_core.model import TaskSpec
from halo_core.testing import GraphEnvironment, Page, ScriptedBackend, make_runtime
from halo_plugin_macros import load_macros, mine_macros, read_traces, save_macros

PRODUCTS = ("Blender", "Toaster", "Kettle")


def store_pages(search_works=True):
    pages = {
        "home": Page("Store", [("textbox", "Search products", None),
                               ("button", "Search", "results" if search_works else None),
                               ("link", "Orders", "orders")]),
        "results": Page("Results", [("link", p, p.lower()) for p in PRODUCTS] + [("link", "Home", "home")],
                        heading="Search results"),
        "orders": Page("Orders", [("link", "Home", "home")], heading="Orders"),
        "cart": Page("Cart", [("link", "Home", "home")], heading="Your cart"),
    }
    for p in PRODUCTS:
        pages[p.lower()] = Page(p, [("button", f"Add {p} to cart", "cart"), ("link", "Home", "home")], heading=p)
    return pages


def task(n, goal, split="train"):
    return TaskSpec(id=f"graph.store-{n}", goal=goal, suite="graph", site="store", split=split)


def run(tmp_path, t, actions, *, use_macros=False, pages=None, start="home", mode="baseline_worker"):
    cfg = mode_config(mode, use_macros=use_macros, macros_path=str(tmp_path / "macros.json"), max_steps=12)
    env = GraphEnvironment(pages or store_pages(), start=start, goal_page="cart")
    worker = ScriptedBackend(list(actions))
    result = run_episode(t, cfg, env, make_runtime(macro_plugin), data_dir=tmp_path, backends={"worker": worker})
    events = [json.loads(line) for line in
              (tmp_path / "trajectories" / cfg.mode / "local" / f"{t.id}__attempt_0.jsonl").read_text().splitlines()]
    return result, worker, env, events


def buy(bid, product):
    return [f"fill('1', '{product}')", "click('2')", f"click('{bid}')", "click('1')", "send_msg_to_user('Done')"]


@pytest.fixture
def library(tmp_path):
    """Two training tasks solved by the worker, then mined into tmp_path/macros.json."""
    a, *_ = run(tmp_path, task(1, "Find the 'Blender' and add it to my cart."), buy(1, "Blender"))
    b, *_ = run(tmp_path, task(2, "Put the 'Toaster' in my cart, please."), buy(2, "Toaster"))
    # a failed episode is never mined
    run(tmp_path, task(3, "Find the 'Kettle' and add it to my cart."), ["fill('1', 'Kettle')", "send_msg_to_user('no')"])
    assert a.success and b.success
    macros = mine_macros(read_traces(tmp_path / "trajectories"), min_support=2)
    save_macros(macros, tmp_path / "macros.json")
    return macros


def test_mining_generalises_values_and_names(library):
    assert len(library) == 1
    (macro,) = library
    assert macro.site == "store" and macro.support == 2
    assert [(s.verb, s.role, s.name, s.value) for s in macro.steps] == [
        ("fill", "textbox", "Search products", "{s0}"),
        ("click", "button", "Search", None),
        ("click", "link", "{s0}", None),
        ("click", "button", "Add {s0} to cart", None),
    ]
    assert {p["task_id"] for p in macro.provenance} == {"graph.store-1", "graph.store-2"}
    assert macro.page_types == ("page",) and macro.paths == ("/home",)
    assert macro.bind("Find the 'Kettle' and add it to my cart.") == {"s0": "Kettle"}
    assert macro.bind("Put the 'Toaster' in my basket") == {"s0": "Toaster"}
    assert macro.bind("Buy me something nice") is None


def test_macro_mined_from_other_tasks_replays_on_a_new_task(tmp_path, library):
    result, worker, env, events = run(tmp_path, task(4, "Find the 'Kettle' and add it to my cart.", "test"),
                                      ["send_msg_to_user('Done')"], use_macros=True)
    assert result.success and result.counters.get("macro_steps", 0) == 4
    assert len(worker.calls) == 1  # only the final message
    steps = [e for e in events if e["type"] == "step"]
    assert [s["action_source"] for s in steps] == ["macro"] * 4 + ["worker"]
    assert [s["decision_meta"]["step"] for s in steps[:4]] == [0, 1, 2, 3]
    assert steps[0]["action"] == "fill('1', 'Kettle')" and steps[2]["action"] == "click('3')"
    assert steps[0]["decision_meta"]["macro"] == library[0].id
    assert env.values == {"home:0": "Kettle"} and result.info["page"] == "cart"


def test_macro_aborts_when_an_element_is_missing(tmp_path, library):
    t = task(5, "Find the 'Espresso Machine' and add it to my cart.", "test")
    result, worker, env, events = run(tmp_path, t, ["report_infeasible('no espresso machine')"], use_macros=True)
    steps = [e for e in events if e["type"] == "step"]
    assert [s["action_source"] for s in steps] == ["macro", "macro", "worker"]
    assert env.values == {"home:0": "Espresso Machine"}
    assert result.counters.get("macro_steps", 0) == 2 and len(worker.calls) == 1


def test_macro_aborts_when_a_postcondition_fails(tmp_path, library):
    t = task(6, "Find the 'Kettle' and add it to my cart.", "test")
    result, worker, env, events = run(tmp_path, t, ["send_msg_to_user('stuck')"], use_macros=True,
                                      pages=store_pages(search_works=False))
    sources = [e["action_source"] for e in events if e["type"] == "step"]
    # "Search" did nothing → its postcondition failed → the macro hands over instead of clicking on
    assert sources == ["macro", "macro", "worker"]
    assert not result.success


def test_macro_does_not_start_off_its_precondition_or_unbound(tmp_path, library):
    t = task(7, "Find the 'Kettle' and add it to my cart.", "test")
    result, worker, _env, _ = run(tmp_path, t, ["click('3')", "click('1')", "send_msg_to_user('Done')"],
                                  use_macros=True, start="results")
    assert result.success and result.counters.get("macro_steps", 0) == 0 and len(worker.calls) == 3
    t = task(8, "Buy whatever is cheapest.", "test")
    result, worker, _env, _ = run(tmp_path, t, ["send_msg_to_user('x')"], use_macros=True)
    assert result.counters.get("macro_steps", 0) == 0


def test_macro_summary_state(tmp_path, library):
    seen = {}

    class Spy:
        from halo_core import hookimpl

        @hookimpl(trylast=True)
        def halo_episode_end(self, episode, result):
            seen.update(episode.stash[macro_plugin.STATE])

    cfg = mode_config("baseline_worker", use_macros=True, macros_path=str(tmp_path / "macros.json"))
    env = GraphEnvironment(store_pages(), goal_page="cart")
    run_episode(task(9, "Find the 'Espresso Machine' and add it to my cart."), cfg, env,
                make_runtime(macro_plugin, Spy()), data_dir=tmp_path,
                backends={"worker": ScriptedBackend(["send_msg_to_user('none')"])})
    assert seen["started"] == 1 and seen["aborted"] == 1 and seen["verified_steps"] == 2
    assert seen["aborts"][0]["reason"].startswith("step 2: link 'Espresso Machine' is not on the page")


def test_cli_mine_and_list(tmp_path, library):
    out = tmp_path / "cli_macros.json"
    runner = CliRunner()
    result = runner.invoke(cli, ["macros", "mine", "--trajectories", str(tmp_path / "trajectories"),
                                 "--min-support", "2", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "2 successful episodes → 1 macros" in result.output
    assert [m.id for m in load_macros(out)] == [library[0].id]
    result = runner.invoke(cli, ["macros", "list", "--path", str(out)])
    assert result.exit_code == 0
    assert f"{library[0].id}  site=store  steps=4  support=2  from=graph.store-1, graph.store-2" in result.output
    result = runner.invoke(cli, ["macros", "mine", "--trajectories", str(tmp_path / "trajectories"),
                                 "--min-support", "3", "--out", str(out)])
    assert "→ 0 macros" in result.output
