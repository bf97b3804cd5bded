"""Shared pieces for the core tests: a small shop-like site for GraphEnvironment, ``pip_install``."""

import subprocess
import sys

import pytest

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


def pip_install(*args: str, python: str = sys.executable, timeout: float = 900) -> None:
    """``python -m pip install -q *args``; when pip fails, the test fails with pip's own output
    (what it could not find or build), not only a ``CalledProcessError`` and an exit status."""
    command = [python, "-m", "pip", "install", "-q", *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        pytest.fail(f"pip install failed (exit {done.returncode}): {' '.join(command)}\n"
                    f"--- pip stderr ---\n{done.stderr[-6000:]}\n--- pip stdout ---\n{done.stdout[-2000:]}",
                    pytrace=False)
