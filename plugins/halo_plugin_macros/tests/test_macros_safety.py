"""Macros that cannot double an order: a macro replays only while each step fits the live
page, never replays a step that commits, and never starts after something was committed."""

from __future__ import annotations

import json
import warnings

import halo_plugin_macros.plugin as macro_plugin
from halo_core import mode_config, run_episode
from halo_core.model import TaskSpec
from halo_core.testing import GraphEnvironment, Page, ScriptedBackend, make_runtime
from halo_plugin_macros import load_macros, mine_macros, read_traces, save_macros
from halo_plugin_macros._library import Macro, MacroStep, Slot


def shop(search_to: str = "results") -> dict[str, Page]:
    return {
        "home": Page("Shop", [("textbox", "Search products", None), ("button", "Search", search_to),
                              ("link", "Orders", "orders")]),
        "results": Page("Results", [("link", "Blender", "blender"), ("link", "Home", "home")], heading="Results"),
        "promo": Page("Promo", [("link", "Blender", "blender"), ("link", "Home", "home")], heading="Deals"),
        "blender": Page("Blender", [("button", "Add Blender to cart", "cart")], heading="Blender"),
        "cart": Page("Cart", [("button", "Checkout", "checkout")], heading="Your cart"),
        "checkout": Page("Checkout", [("button", "Place order", "done")], heading="Checkout"),
        "done": Page("Thanks", [("link", "Home", "home")], heading="Order placed"),
        "orders": Page("Orders", [("link", "Home", "home")], heading="Orders"),
    }


def careful_worker():
    """A worker that buys the blender and says so once it has ordered it itself — as a model
    would, it does not know an order a macro placed before it took over."""
    ordered = {"me": False}
    moves = {"home": "click('2')", "results": "click('1')", "promo": "click('1')", "blender": "click('1')",
             "cart": "click('1')"}

    def reply(messages) -> str:
        text = next((m.content for m in reversed(messages) if "URL: " in m.content), "")
        page = next((ln[5:] for ln in text.splitlines() if ln.startswith("URL: ")), "").rsplit("/", 1)[-1]
        if page == "checkout":
            ordered["me"] = True
            return "click('1')"
        if page == "done":
            return "send_msg_to_user('Ordered the blender')" if ordered["me"] else "click('1')"
        return moves.get(page, "send_msg_to_user('lost')")
    return reply


def run(tmp_path, macros, goal="Buy the Blender", pages=None, n=1):
    save_macros(macros, tmp_path / "macros.json")
    cfg = mode_config("baseline_worker", use_macros=True, macros_path=str(tmp_path / "macros.json"), max_steps=20)
    env = GraphEnvironment(pages or shop(), goal_page="done")
    task = TaskSpec(id=f"graph.store-{n}", goal=goal, suite="graph", site="store")
    result = run_episode(task, cfg, env, make_runtime(macro_plugin), data_dir=tmp_path,
                         backends={"worker": ScriptedBackend(careful_worker())})
    events = [json.loads(line) for line in (tmp_path / "trajectories" / cfg.mode / "local" /
                                            f"{task.id}__attempt_0.jsonl").read_text().splitlines()]
    return result, env, [e for e in events if e["type"] == "step"]


def checkout_macro(*steps: MacroStep, slots=None, step_paths=()) -> Macro:
    return Macro(id="store-checkout", site="store", steps=steps, slots=slots or {}, page_types=("page",),
                 paths=("/home",), support=3, **({"step_paths": step_paths} if step_paths else {}))


CHECKOUT = (MacroStep("click", "button", "Search"), MacroStep("click", "link", "Blender"),
            MacroStep("click", "button", "Add Blender to cart"), MacroStep("click", "button", "Checkout"),
            MacroStep("click", "button", "Place order"))


def test_a_macro_missing_its_search_step_cannot_place_a_second_order(tmp_path):
    """The battery's case: a library whose checkout macro lacks the search part replays the
    rest from an empty search, places the order, and the worker — unaware — orders again."""
    result, env, steps = run(tmp_path, [checkout_macro(*CHECKOUT)])
    assert env.visited.count("done") == 1, env.visited  # one order
    sources = [(s["action_source"], s["action"]) for s in steps]
    assert [src for src, _ in sources[:4]] == ["macro"] * 4  # up to the commit ...
    assert sources[4] == ("worker", "click('1')")  # ... which the worker takes, on the checkout page
    assert result.success


def test_no_macro_starts_after_an_order_was_placed(tmp_path):
    """Once an action committed, a macro that would walk towards another commit stays off."""
    macro = checkout_macro(*CHECKOUT[:4])
    seen = {}

    class Spy:
        from halo_core import hookimpl

        @hookimpl(trylast=True)
        def halo_episode_end(self, episode, result):
            seen.update(episode.stash[macro_plugin.STATE])

    save_macros([macro], tmp_path / "macros.json")
    cfg = mode_config("baseline_worker", use_macros=True, macros_path=str(tmp_path / "macros.json"), max_steps=20)
    pages = shop()
    env = GraphEnvironment(pages, start="checkout", goal_page="done")
    worker = ScriptedBackend(["click('1')", "click('1')", "click('2')", "send_msg_to_user('done')"])
    run_episode(TaskSpec(id="graph.store-9", goal="Buy the Blender", suite="graph", site="store"), cfg, env,
                make_runtime(macro_plugin, Spy()), data_dir=tmp_path, backends={"worker": worker})
    # order placed at checkout, then Home: the macro fits the home page but must not start
    assert seen["commits"] == 1 and seen["started"] == 0 and env.visited.count("done") == 1


def test_an_empty_slot_or_a_damaged_entry_never_replays(tmp_path):
    fill = MacroStep("fill", "textbox", "Search products", "{s0}")
    empty = checkout_macro(fill, *CHECKOUT[:3], slots={"s0": Slot((), "", ())})
    assert empty.bind("Buy the Blender") is None  # an empty search is no binding
    result, env, steps = run(tmp_path, [empty])
    assert "macro" not in {s["action_source"] for s in steps}

    good = checkout_macro(fill, *CHECKOUT[:3], slots={"s0": Slot((), "Blender", ())})
    entries = [dict(good.to_dict(), id="undefined-slot", slots={}),
               dict(good.to_dict(), id="short-preconditions",
                    precondition={"page_types": ["page"], "paths": ["/home"], "step_paths": [["/home"]]}),
               dict(good.to_dict(), id="no-steps", steps=[])]
    path = tmp_path / "damaged.json"
    path.write_text(json.dumps({"version": 1, "macros": entries + [good.to_dict()]}))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        kept = load_macros(path)
    assert [m.id for m in kept] == ["store-checkout"]
    assert any("3 damaged macro(s) skipped" in str(w.message) for w in caught)


def test_a_step_on_a_page_it_was_not_recorded_on_hands_back(tmp_path):
    """Mined macros carry each step's page; a search that lands elsewhere stops the replay."""
    for n, item in enumerate(("Blender", "Blender")):
        cfg = mode_config("baseline_worker", max_steps=12)
        run_episode(TaskSpec(id=f"graph.store-{n + 10}", goal=f"Put the '{item}' in my cart", suite="graph",
                             site="store"), cfg, GraphEnvironment(shop(), goal_page="cart"), make_runtime(),
                    data_dir=tmp_path / "train",
                    backends={"worker": ScriptedBackend([f"fill('1', '{item}')", "click('2')", "click('1')",
                                                         "click('1')", "send_msg_to_user('in the cart')"])})
    macro = mine_macros(read_traces(tmp_path / "train" / "trajectories"), min_support=2)[0]  # the longest
    assert macro.step_paths == (("/home",), ("/home",), ("/results",), ("/{s0}",))
    assert Macro.from_dict(json.loads(json.dumps(macro.to_dict()))) == macro
    result, env, steps = run(tmp_path, [macro], goal="Put the 'Blender' in my cart", pages=shop(search_to="promo"))
    assert [s["action_source"] for s in steps[:3]] == ["macro", "macro", "worker"]
