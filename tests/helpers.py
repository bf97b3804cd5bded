"""Shared pieces for the core tests: a small shop-like site for GraphEnvironment."""

from halo_core.model import TaskSpec
from halo_core.testing import GraphEnvironment, Page


def shop_pages():
    return {
        "home": Page("Shop", [("link", "Products", "products"), ("textbox", "Search", None), ("link", "Login", "login")]),
        "products": Page("Products", [("link", "Home", "home"), ("link", "Blender", "blender")]),
        "blender": Page("Blender", [("button", "Add to cart", "cart"), ("link", "Home", "home")], heading="Blender"),
        "cart": Page("Cart", [("button", "Checkout", "checkout"), ("link", "Home", "home")], heading="Your cart"),
        "checkout": Page("Checkout", [("button", "Place order", "done")], heading="Checkout"),
        "done": Page("Thanks", [("link", "Home", "home")], heading="Order confirmed"),
        "login": Page("Login", [("textbox", "Password", None), ("button", "Sign in", "home")], heading="Sign in"),
    }


EXPERT_PATH = ["click('1')", "click('2')", "click('1')", "click('1')", "click('1')", "send_msg_to_user('Done')"]


def shop_env(**kw):
    return GraphEnvironment(shop_pages(), goal_page="done", **kw)


def shop_task(task_id="graph.shop-1"):
    return TaskSpec(id=task_id, goal="Buy the blender", suite="graph", site="graph")
