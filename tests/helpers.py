"""Shared pieces for the core tests: a small shop-like site for GraphEnvironment, ``pip_install``,
and the third-party ``hostile`` plugin package the hostile command-line tests install."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from halo_core.model import TaskSpec
from halo_core.testing import GraphEnvironment, Page, serve_html  # noqa: F401 (serve_html: the browser tests')


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


# --------------------------------------------------------------------------- the hostile plugin

HALO = [sys.executable, "-m", "halo_core.cli"]
FORGED = "[/] [bold red]boom[/] :x:"
CANARY = "sk-canary-7f3a9b2c4d5e6f708192"
REPLY = f"send_msg_to_user('{FORGED} {CANARY}')"

HOSTILE_PLUGIN = """
\"\"\"A third-party HALO plugin for hostile command-line tests.

``HALO_HOSTILE_TEXT`` is added to the goal and to every page title; ``HALO_PARROT_BY_PROMPT``
(a JSON object, marker -> reply) answers a prompt holding a marker with that reply, any other
prompt with ``HALO_PARROT_REPLY``.
\"\"\"
import json
import os
import time

from halo_core import TaskNotFound, TaskSpec, hookimpl
from halo_core.testing import GraphEnvironment, Page, ScriptedBackend

FORGED = "[/] [bold red]boom[/] :x:"


def _extra():
    text = os.environ.get("HALO_HOSTILE_TEXT", "")
    return f" {text}" if text else ""


def pages():
    return {"home": Page("Home [/] :x:" + _extra(), [("link", "Products", "products")]),
            "products": Page("Products" + _extra(), [("link", "Home", "home")])}


class HostileSuite:
    name = "hostile"

    def claims(self, task_id):
        return task_id.startswith("hostile.")

    def list_tasks(self, site=None, split=None):
        return [self.resolve(f"hostile.t-{i}") for i in range(1, 9)]

    def resolve(self, task_id):
        if not self.claims(task_id):
            raise TaskNotFound(f"unknown task {task_id!r}")
        return TaskSpec(id=task_id, goal="Say [bold red]hello[/] :x:" + _extra(), suite="hostile", site="hostile")

    def make_environment(self, task, settings):
        return GraphEnvironment(pages(), answer=FORGED)  # success: the forged text reached the site verbatim


def _reply(messages):
    time.sleep(float(os.environ.get("HALO_PARROT_SLEEP", "0")))
    prompt = " ".join(str(m.content) for m in messages)
    for marker, reply in json.loads(os.environ.get("HALO_PARROT_BY_PROMPT") or "{}").items():
        if marker in prompt:
            return reply
    return os.environ["HALO_PARROT_REPLY"]


@hookimpl
def halo_register_environments(register):
    register(HostileSuite())


@hookimpl
def halo_register_backends(register):
    register("parrot", lambda model, settings: ScriptedBackend(_reply, name="parrot:" + model),
             description="answers HALO_PARROT_REPLY")


@hookimpl
def halo_register_policies(register):
    register("raiser", "fails every episode with HALO_PARROT_REPLY as the error")


@hookimpl
def halo_decide(observation, episode):
    if episode.config.policy != "raiser":
        return None
    raise RuntimeError(os.environ["HALO_PARROT_REPLY"])
"""


def build_hostile(root: Path) -> Path:
    """Install the ``halo-hostile`` plugin package into ``root/site`` (for ``PYTHONPATH``)."""
    pkg = root / "halo-hostile"
    (pkg / "src" / "halo_hostile").mkdir(parents=True)
    (pkg / "src" / "halo_hostile" / "__init__.py").write_text(HOSTILE_PLUGIN)
    (pkg / "pyproject.toml").write_text(textwrap.dedent("""
        [build-system]
        requires = ["setuptools>=68"]
        build-backend = "setuptools.build_meta"
        [project]
        name = "halo-hostile"
        version = "0.0.1"
        dependencies = ["halo-core"]
        [project.entry-points.halo]
        hostile = "halo_hostile"
    """))
    target = root / "site"
    pip_install("--no-deps", "--no-build-isolation", "--target", str(target), str(pkg))
    return target


def hostile_env(site: Path, plugins: str = "hostile", **extra) -> dict:
    """The environment of a ``halo`` subprocess with the hostile plugin: no inherited HALO_*
    settings or keys, the parrot's reply holding :data:`CANARY`, which ``HOSTILE_API_KEY``
    makes a known secret."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("HALO_", "FORCE_COLOR", "NO_COLOR")) and not k.endswith("_API_KEY")}
    env.update(PYTHONPATH=f"{site}{os.pathsep}{env.get('PYTHONPATH', '')}", HALO_LOAD_PLUGINS=plugins,
               HALO_NO_DOTENV="1", HALO_PARROT_REPLY=REPLY, HOSTILE_API_KEY=CANARY, PYTHONUNBUFFERED="1",
               COLUMNS="400")
    env.update(extra)
    return env


def halo(site: Path, cwd: Path, *args: str, plugins: str = "hostile", timeout: float = 300, **extra):
    """``halo *args`` in a subprocess (``python -m halo_core.cli``) with :func:`hostile_env`."""
    return subprocess.run([*HALO, *args], capture_output=True, text=True, cwd=cwd,
                          env=hostile_env(site, plugins, **extra), timeout=timeout)


