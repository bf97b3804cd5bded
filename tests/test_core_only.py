"""A core-only install: ``halo run`` and ``halo config`` with nothing but the core and one
third-party plugin (found through its entry point), no first-party plugin, no backend
configured and no key."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

from halo_core.api import read_trajectory
from halo_core.config import CORE_OPTIONS

PLUGIN = textwrap.dedent('''
    """A third party's suite and policy, written against the public API only."""

    from halo_core import hookimpl
    from halo_core.api import Decision, EnvSettings, TaskNotFound, TaskSpec
    from halo_core.testing import GraphEnvironment, Page

    PAGES = {
        "home": Page("Acme", [("link", "Orders", "orders")]),
        "orders": Page("Orders", [("button", "Cancel order", "done")], heading="Your orders"),
        "done": Page("Cancelled", [], heading="Order cancelled"),
    }


    class AcmeSuite:
        name = "acme"
        description = "a third party's tasks"

        def claims(self, task_id):
            return task_id.startswith("acme.")

        def list_tasks(self, *, site=None, split=None):
            return [TaskSpec(id="acme.cancel", goal="Cancel the order", suite="acme", site="acme")]

        def resolve(self, task_id):
            for task in self.list_tasks():
                if task.id == task_id:
                    return task
            raise TaskNotFound(f"no acme task {task_id!r}")

        def make_environment(self, task, settings: EnvSettings):
            return GraphEnvironment(PAGES, goal_page="done", host="acme.test")


    @hookimpl
    def halo_register_environments(register):
        register(AcmeSuite())


    @hookimpl
    def halo_register_policies(register):
        register("acme", "clicks the only control, then says so")


    @hookimpl
    def halo_register_decision_sources(register):
        register("acme", "the acme policy")


    @hookimpl
    def halo_decide(observation, episode):
        if episode.config.policy != "acme":
            return None
        if observation.elements:
            return Decision(f"click('{observation.elements[0].bid}')", source="acme")
        return Decision("send_msg_to_user('cancelled')", source="acme")
''')


@pytest.fixture(scope="module")
def core_only(tmp_path_factory):
    """An environment where ``halo`` finds only the core and the ``acme`` entry point."""
    root = tmp_path_factory.mktemp("site")
    (root / "acme_halo.py").write_text(PLUGIN)
    info = root / "acme_halo-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-halo\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[halo]\nacme = acme_halo\n")
    env = {k: v for k, v in os.environ.items()
           if not k.endswith(("_API_KEY", "_TOKEN")) and not k.startswith(("HALO_", "OPENAI", "ANTHROPIC"))}
    env.update(PYTHONPATH=os.pathsep.join(filter(None, [str(root), env.get("PYTHONPATH", "")])),
               HALO_LOAD_PLUGINS="acme", HALO_NO_DOTENV="1")
    return env, tmp_path_factory.mktemp("work")


def _halo(env, cwd, *args):
    code = "import sys; from halo_core.cli import main; sys.argv = ['halo', *sys.argv[1:]]; main()"
    return subprocess.run([sys.executable, "-c", code, *args], env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=120)


def test_halo_run_needs_no_backend_for_a_third_party_policy(core_only):
    env, cwd = core_only
    plugins = _halo(env, cwd, "plugins", "--json")
    assert plugins.returncode == 0, plugins.stderr
    names = {p["name"] for p in json.loads(plugins.stdout)}
    assert "acme" in names and not any(n.startswith("halo_plugin") or n in ("openai", "vac") for n in names), names

    done = _halo(env, cwd, "run", "acme.cancel", "--policy", "acme", "--data-dir", str(cwd / "data"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "success" in (done.stdout + done.stderr).lower()
    trajectory = next((cwd / "data").rglob("acme.cancel__attempt_*.jsonl"))
    episode = read_trajectory(trajectory)
    assert episode.success is True
    assert [(s.source, s.action) for s in episode.steps][-1] == ("acme", "send_msg_to_user('cancelled')")
    assert {s.source for s in episode.steps} == {"acme"} and len(episode.steps) == 3
    assert episode.start.config["policy"] == "acme"


def test_the_model_worker_without_a_backend_plugin_is_refused_in_one_line(core_only):
    """The default worker backend is the default backend plugin's (``halo_default_backend``);
    with none installed, the model worker stops before any browser starts, in one line."""
    env, cwd = core_only
    shown = _halo(env, cwd, "config", "--json", "--mode", "baseline_worker")
    assert shown.returncode == 0, shown.stderr
    refused = _halo(env, cwd, "run", "acme.cancel", "--data-dir", str(cwd / "data-worker"))
    assert refused.returncode == 1
    lines = [line for line in refused.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "worker backend: none is configured and no installed plugin gives a default" \
        in lines[0], refused.stderr
    assert "Traceback" not in refused.stderr and not (cwd / "data-worker").exists()


def test_halo_config_shows_help_for_every_key(core_only):
    env, cwd = core_only
    shown = _halo(env, cwd, "config", "--json")
    assert shown.returncode == 0, shown.stderr
    data = json.loads(shown.stdout)
    rows = data["core"] + data["options"]
    assert {"policy", "worker_backend", "max_steps"} <= {r["name"] for r in rows}
    assert not [r["name"] for r in rows if not r["help"].strip()]


def test_every_key_of_the_full_install_has_help():
    from halo_core.commands.config import describe_config
    from halo_core.runtime import Runtime

    data = describe_config(Runtime())
    assert [r["name"] for r in data["core"]] == [o.name for o in CORE_OPTIONS]
    assert not {r["name"] for r in data["core"]} & {r["name"] for r in data["options"]}  # each key once
    assert not [r["name"] for r in data["core"] + data["options"] if not r["help"].strip()]


def test_core_keys_follow_their_declarations():
    """AgentConfig's rules are the declared options': changing a declaration changes them."""
    import attrs

    from halo_core.api import AgentConfig, ConfigError

    for option in CORE_OPTIONS:
        assert getattr(AgentConfig(), option.name) == option.default, option.name
    with pytest.raises(ConfigError, match=r"policy='no good' is not allowed: expected a name of letters"):
        AgentConfig(policy="no good")
    with pytest.raises(ConfigError, match=r"history_len=101 is not allowed: expected a whole number in \[0, 100\]"):
        attrs.evolve(AgentConfig(), history_len=101)


def test_replace_checks_plugin_options_against_the_configs_own_runtime():
    from halo_core.api import ConfigError, hookimpl, mode_config
    from halo_core.options import OptionError
    from halo_core.testing import make_runtime

    class Laps:
        @hookimpl
        def halo_addoption(self, register):
            register("laps", type=int, default=1, minimum=1, help="how many laps")

    runtime = make_runtime(Laps())
    config = mode_config("baseline_worker", env={}, runtime=runtime)
    assert config.replace(laps=3, runtime=runtime).get("laps") == 3
    with pytest.raises(ConfigError, match=r"laps=0 is not allowed: expected a whole number in \[1, inf\]"):
        config.replace(laps=0, runtime=runtime)
    with pytest.raises(ConfigError, match="unknown config key 'laps'"):
        config.replace(laps=3)  # the installed plugins declare no such option

    class Reserved:
        @hookimpl
        def halo_addoption(self, register):
            register("runtime", type=str, default="x", help="clashes with replace(runtime=)")

    with pytest.raises(OptionError, match="reserved"):
        make_runtime(Reserved()).options
