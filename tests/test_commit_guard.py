"""A task's commit happens at most once per episode, whatever layer decided it."""

from __future__ import annotations

import json

import pytest

from halo_core import mode_config, run_episode
from halo_core.builtins.commit_guard import goal_allows_repeats
from halo_core.model import TaskSpec
from halo_core.testing import GraphEnvironment, Page, ScriptedBackend, make_runtime


def shop(order_to: str = "done") -> dict[str, Page]:
    return {
        "home": Page("Shop", [("link", "Checkout", "checkout")]),
        "checkout": Page("Checkout", [("button", "Place order", order_to), ("link", "Home", "home")],
                         heading="Checkout"),
        "done": Page("Thanks", [("link", "Back to checkout", "checkout")], heading="Order placed"),
    }


def eager_worker(orders_wanted: int = 5):
    """Orders again each time it is back at the checkout, until it has seen ``orders_wanted``
    thank-you pages or a step is refused: the behaviour that placed two orders before."""
    seen = {"done": 0, "checkout": 0}

    def reply(messages) -> str:
        text = messages[-1].content
        url = next((ln[5:] for ln in text.splitlines() if ln.startswith("URL: ")), "")
        page = url.rsplit("/", 1)[-1]
        if "refused:" in text or seen["done"] >= orders_wanted or seen["checkout"] >= 6:
            return "send_msg_to_user('Order placed')"
        if page in seen:
            seen[page] += 1
        return "click('1')"
    return reply


class Shop(GraphEnvironment):
    """The graph site, counting the orders placed (arrivals on the thank-you page)."""

    orders = 0

    def step(self, action):
        before = self.current
        raw = super().step(action)
        if before == "checkout" and self.current == "done" and action.startswith("click("):
            self.orders += 1
        return raw


def run(tmp_path, goal="Place an order.", pages=None, **overrides):
    cfg = mode_config("baseline_worker", max_steps=14, use_recovery=False, **overrides)
    env = Shop(pages or shop(), answer="Order placed")
    task = TaskSpec(id="graph.shop-1", goal=goal, suite="graph", site="shop")
    result = run_episode(task, cfg, env, make_runtime(), data_dir=tmp_path,
                         backends={"worker": ScriptedBackend(eager_worker(2 if "two" in goal else 5))})
    path = tmp_path / "trajectories" / cfg.mode / "local" / f"{task.id}__attempt_0.jsonl"
    steps = [e for e in map(json.loads, path.read_text().splitlines()) if e["type"] == "step"]
    return result, env, steps


def test_a_second_order_is_refused_and_never_reaches_the_page(tmp_path):
    result, env, steps = run(tmp_path)
    assert env.orders == 1  # one order placed
    refused = [s for s in steps if str(s.get("last_action_error") or "").startswith("refused:")]
    assert len(refused) == 1 and "'place order' was already activated" in refused[0]["last_action_error"]
    vetoed = [s for s in steps if "refused" in (s.get("decision_meta") or {})]
    assert len(vetoed) == 1 and vetoed[0]["action"] == "click('1')" and vetoed[0]["url"].endswith("/checkout")
    assert result.terminated_by == "message" and result.final_message == "Order placed"


def test_a_goal_asking_for_two_orders_gets_two(tmp_path):
    _result, env, steps = run(tmp_path, goal="Place two orders for the lamp.")
    assert env.orders == 2
    assert not [s for s in steps if str(s.get("last_action_error") or "").startswith("refused:")]


def test_the_guard_can_be_turned_off(tmp_path):
    _result, env, _steps = run(tmp_path, commit_once=False)
    assert env.orders == 5


def test_a_rejected_submit_may_be_tried_again(tmp_path):
    # the button leaves the page as it was (a form that refused the order): not a commit yet
    _result, env, steps = run(tmp_path, pages=shop(order_to="checkout"))
    clicks = [s for s in steps if s["action"] == "click('1')"]
    assert len(clicks) >= 3 and not [s for s in steps if str(s.get("last_action_error") or "").startswith("refused:")]


@pytest.mark.parametrize("goal, repeats", [("Buy the blender.", False), ("Send the report to Bob.", False),
                                           ("Send it to each of the 3 managers.", True),
                                           ("Pay both invoices.", True), ("Place 2 orders.", True),
                                           ("Buy 2 blenders.", False)])
def test_goals_that_ask_for_more(goal, repeats):
    assert goal_allows_repeats(goal) is repeats
