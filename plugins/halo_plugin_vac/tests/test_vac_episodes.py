"""The cache in real episodes: GraphEnvironment + run_episode + a scripted worker, real SQLite files."""

from __future__ import annotations

import json

import pytest

import halo_plugin_vac.plugin as vac_plugin
from halo_core import mode_config, run_episode
from halo_core.builtins.summarizer import summarize
from halo_core.loop import Episode
from halo_core.model import AXNode, RawObservation, TaskSpec
from halo_core.testing import GraphEnvironment, Page, ScriptedBackend, make_runtime
from halo_plugin_vac import VacStore, action_form
from halo_plugin_vac._store import forget_stores

EXPERT = ["click('1')", "click('2')", "click('1')", "click('1')", "click('1')", "send_msg_to_user('Done')"]


def shop_pages(add_to_cart_works=True, order_name="Order 1234567"):
    return {
        "home": Page("Shop", [("link", "Products", "products"), ("textbox", "Search", None), ("link", "Login", "login")]),
        "products": Page("Products", [("link", "Home", "home"), ("link", "Blender", "blender"),
                                      ("link", order_name, "blender")]),
        "blender": Page("Blender", [("button", "Add to cart", "cart" if add_to_cart_works else None),
                                    ("link", "Home", "home")], heading="Blender"),
        "cart": Page("Cart", [("button", "Checkout", "checkout"), ("link", "Home", "home")], heading="Your cart"),
        "checkout": Page("Checkout", [("button", "Place order", "done")], heading="Checkout"),
        "done": Page("Thanks", [("link", "Home", "home")], heading="Order confirmed"),
        "login": Page("Login", [("textbox", "Password", None), ("button", "Sign in", "home")], heading="Sign in"),
    }


def task(goal="Buy the blender", task_id="graph.shop-1"):
    return TaskSpec(id=task_id, goal=goal, suite="graph", site="shop")


@pytest.fixture
def cfg(tmp_path):
    forget_stores()
    yield mode_config("baseline_worker", use_vac=True, cache_path=str(tmp_path / "cache" / "vac.sqlite"),
                      max_steps=10)
    forget_stores()


def run(cfg, tmp_path, actions, *, pages=None, goal="Buy the blender", task_id="graph.shop-1"):
    worker = ScriptedBackend(list(actions))
    env = GraphEnvironment(pages or shop_pages(), goal_page="done")
    result = run_episode(task(goal, task_id), cfg, env, make_runtime(vac_plugin), data_dir=tmp_path,
                         backends={"worker": worker})
    return result, worker


def read_steps(tmp_path, cfg, task_id="graph.shop-1"):
    path = tmp_path / "trajectories" / cfg.mode / "local" / f"{task_id}__attempt_0.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_success_promotes_then_replays_with_zero_worker_calls(cfg, tmp_path):
    cold, worker = run(cfg, tmp_path, EXPERT)
    assert cold.success and len(worker.calls) == 6
    assert cold.counters.get("cache_hits", 0) == 0 and cold.counters.get("cache_misses", 0) == 6
    stats = VacStore(cfg.get("cache_path")).stats()
    assert stats["entries"] == 6 and stats["verified"] == 6

    warm, worker = run(cfg, tmp_path, [])
    assert warm.success and len(worker.calls) == 0
    assert warm.counters.get("cache_hits", 0) == 6 and warm.counters.get("cache_misses", 0) == 0 and warm.usage.calls == 0
    events = read_steps(tmp_path, cfg)
    steps = [e for e in events if e["type"] == "step"]
    assert all(s["action_source"] == "vac" and s["decision_meta"]["cache_hit"] for s in steps)
    assert steps[0]["decision_meta"]["entry_successes"] == 1 and steps[0]["decision_meta"]["cache_key"]
    assert events[-1]["counters"]["cache_hits"] == 6 and events[-1]["counters"]["cache_misses"] == 0
    stats = VacStore(cfg.get("cache_path")).stats()
    assert stats["hits"] == 6 and stats["successes"] == 12


def test_failed_episode_promotes_nothing_and_nothing_unverified_is_replayed(cfg, tmp_path):
    # the worker wanders and gives up: the episode fails, nothing is verified
    failed, _ = run(cfg, tmp_path, ["click('1')", "click('2')", "send_msg_to_user('gave up')"])
    assert not failed.success
    assert VacStore(cfg.get("cache_path")).stats()["verified"] == 0
    again, worker = run(cfg, tmp_path, EXPERT)
    assert again.success and again.counters.get("cache_hits", 0) == 0 and len(worker.calls) == 6


def test_failing_entry_is_evicted_and_never_replayed(cfg, tmp_path):
    run(cfg, tmp_path, EXPERT)
    # same pages, same fingerprints, but "Add to cart" now does nothing: the replay fails its postcondition
    broken = shop_pages(add_to_cart_works=False)
    bad, worker = run(cfg, tmp_path, ["send_msg_to_user('cannot add')"], pages=broken)
    assert not bad.success
    assert bad.counters.get("cache_hits", 0) == 3  # Products, Blender, then the failing Add to cart
    assert len(worker.calls) == 1  # the failed replay is not retried in the same state
    store = VacStore(cfg.get("cache_path"))
    add = [e for e in store.entries() if "Add to cart" in e.action_key]
    assert add and add[0].evicted and add[0].failures == 1
    # failures >= successes evicts every entry that failed episode used
    assert store.stats()["evicted"] == 3
    third, worker = run(cfg, tmp_path, EXPERT)
    # the three evicted states go to the worker; cart, checkout and done were never blamed and still replay
    assert third.success and third.counters.get("cache_hits", 0) == 3 and len(worker.calls) == 3
    sources = [e["action_source"] for e in read_steps(tmp_path, cfg) if e["type"] == "step"]
    assert sources == ["worker"] * 3 + ["vac"] * 3
    assert VacStore(cfg.get("cache_path")).stats()["evicted"] == 3  # eviction is sticky


def test_missing_element_with_same_fingerprint_is_skipped(cfg, tmp_path):
    # the order link's number is an id the fingerprint masks: both pages fingerprint alike
    path = ["click('1')", "click('3')", "click('1')", "click('1')", "click('1')", "send_msg_to_user('Done')"]
    first, _ = run(cfg, tmp_path, path)
    assert first.success
    second, worker = run(cfg, tmp_path, ["click('2')"], pages=shop_pages(order_name="Order 7654321"))
    assert second.success
    sources = [e["action_source"] for e in read_steps(tmp_path, cfg) if e["type"] == "step"]
    # products: the cached 'Order 1234567' link is gone → skipped, a miss, the worker is asked
    assert sources == ["vac", "worker", "vac", "vac", "vac", "vac"]
    assert len(worker.calls) == 1
    assert second.counters.get("cache_misses", 0) == 1 and second.counters.get("cache_hits", 0) == 5


def test_site_scope_shares_navigation_but_not_answers(tmp_path):
    forget_stores()
    cfg = mode_config("baseline_worker", use_vac=True, cache_scope="site",
                      cache_path=str(tmp_path / "vac.sqlite"), max_steps=10)
    run(cfg, tmp_path, EXPERT)
    rows = list(VacStore(cfg.get("cache_path")).entries())
    assert len(rows) == 5 and not any(r.verb == "send_msg_to_user" for r in rows)
    other, worker = run(cfg, tmp_path, ["send_msg_to_user('Bought it')"], goal="Purchase one blender please",
                        task_id="graph.shop-2")
    assert other.success and other.counters.get("cache_hits", 0) == 5 and len(worker.calls) == 1


def test_task_scope_does_not_cross_goals(cfg, tmp_path):
    run(cfg, tmp_path, EXPERT)
    other, worker = run(cfg, tmp_path, EXPERT, goal="Buy a blender for my mother", task_id="graph.shop-2")
    assert other.counters.get("cache_hits", 0) == 0 and len(worker.calls) == 6


def test_vac_off_consults_nothing(tmp_path):
    forget_stores()
    cfg = mode_config("baseline_worker", cache_path=str(tmp_path / "vac.sqlite"))
    result, worker = run(cfg, tmp_path, EXPERT)
    assert result.success and result.counters.get("cache_misses", 0) == 0 and not (tmp_path / "vac.sqlite").exists()


def _obs(*elements, url="http://graph.test/products"):
    return summarize(RawObservation(url=url, axtree=tuple(elements)))


def test_bid_free_form_re_resolves_on_other_bids():
    before = _obs(AXNode("link", "Home", bid="4"), AXNode("button", "Buy", bid="7"), AXNode("button", "Buy", bid="9"))
    form = action_form("click('9')", before)
    assert (form.role, form.name, form.nth) == ("button", "Buy", 1)
    after = _obs(AXNode("button", "Buy", bid="a1"), AXNode("button", "Buy", bid="a2"))
    assert form.resolve(after) == "click('a2')"
    assert form.resolve(_obs(AXNode("button", "Buy", bid="b1"))) is None
    fill = action_form("fill('4', 'x y')", before)
    assert fill.resolve(_obs(AXNode("link", "Home", bid="z"))) == "fill('z', 'x y')"
    assert action_form("go_back()", before).resolve(after) == "go_back()"


def test_loop_flag_and_repeat_skip_the_cache(cfg, tmp_path):
    run(cfg, tmp_path, EXPERT)
    env = GraphEnvironment(shop_pages(), goal_page="done")
    runtime = make_runtime(vac_plugin)
    episode = Episode(task=task(), config=cfg, runtime=runtime)
    obs = runtime.hook.halo_observe(raw=env.reset(task()), episode=episode)
    decision = vac_plugin.halo_decide(observation=obs, episode=episode)
    assert decision is not None and decision.action == "click('1')"
    obs.annotations["loop"] = "same state seen twice within 5 steps"
    assert vac_plugin.halo_decide(observation=obs, episode=episode) is None
    counters = episode.stash[vac_plugin.COUNTERS]
    assert counters["skipped"] == 1 and counters["misses"] == 1
