"""The command line as plugins: registration, agent options, introspection commands, loud mistakes.

Commands run in-process through click's runner on a fresh ``halo`` group whose runtime
holds the built-ins plus the test's plugin objects, so what a command shows is exactly
what those plugins registered.
"""

from __future__ import annotations

import ast
import json
import sys
from pathlib import Path

import click
import pluggy
import pytest
from click.testing import CliRunner

from halo_core import hookimpl
from halo_core.cli import HaloGroup
from halo_core.commands.options import AgentCommand, agent_options
from halo_core.plugins import PluginError, hook_implementations, make_plugin_manager
from halo_core.testing import make_runtime

ROOT = Path(__file__).resolve().parents[1]


def invoke(runtime, *args: str):
    return CliRunner().invoke(HaloGroup(name="halo"), list(args), obj={"runtime": runtime})


class Declares:
    """A plugin with options (one with a flag), a mode, a policy, a backend and a suite."""

    @hookimpl
    def halo_addoption(self, register):
        register("crumbs", type=int, default=3, minimum=0, flag="--crumbs", help="breadcrumbs to keep")
        register("trail", type=bool, default=False, flag="--trail", help="leave a trail")
        register("quiet_mode", type=str, default="soft", choices=("soft", "hard"), help="no flag for this one")

    @hookimpl
    def halo_register_modes(self, register):
        register("crumbly", description="worker that keeps crumbs", base="baseline_worker", crumbs=7)

    @hookimpl
    def halo_register_policies(self, register):
        register("hansel", "follows the breadcrumbs")

    @hookimpl
    def halo_register_backends(self, register):
        register("crumb", lambda model, settings: None, description="a breadcrumb model", requires="CRUMB_API_KEY")

    @hookimpl
    def halo_register_environments(self, register):
        register(ForestSuite())


class ForestSuite:
    name = "forest"
    seen: list[dict] = []

    def claims(self, task_id):
        return task_id.startswith("forest.")

    def list_tasks(self, site=None, split=None, crumbs=None):
        from halo_core.model import TaskSpec

        ForestSuite.seen.append({"crumbs": crumbs})
        return [TaskSpec(id="forest.path-1", goal="find home", suite="forest", site="forest")]

    def resolve(self, task_id, crumbs=None):
        ForestSuite.seen.append({"crumbs": crumbs})
        return self.list_tasks()[0]

    def make_environment(self, task, settings):
        raise AssertionError("no browser or environment may start in these tests")


# --------------------------------------------------------------------------- registration


def test_core_commands_come_from_plugins_and_can_be_disabled(monkeypatch):
    names = set(HaloGroup(name="halo").list_commands(click.Context(HaloGroup(name="halo"),
                                                                   obj={"runtime": make_runtime()})))
    assert {"plugins", "backends", "config", "tasks", "run", "eval", "rollouts", "verify-exploration", "export",
            "doctor"} <= names
    monkeypatch.setenv("HALO_DISABLE_PLUGINS", "cli_eval")
    group = HaloGroup(name="halo")
    names = group.list_commands(click.Context(group, obj={"runtime": make_runtime()}))
    assert "eval" not in names and "run" in names


def test_importing_command_modules_registers_nothing():
    import halo_core.evaluation.commands  # noqa: F401
    from halo_core.cli import cli

    assert "eval" not in cli.commands and "export" not in cli.commands


def _runtime_nodes(tree: ast.AST):
    """Every node but those under ``if TYPE_CHECKING:`` (imports only type checkers run)."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING":
            continue
        yield node
        yield from _runtime_nodes(node)


def _imports_cli(path: Path) -> bool:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in _runtime_nodes(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "halo_core.cli":
            return True
        if isinstance(node, ast.Import) and any(a.name == "halo_core.cli" for a in node.names):
            return True
    return False


def test_library_code_never_imports_the_cli():
    command_code = {"cli.py", "export.py"}  # export.py: only inside its click command's body
    offenders = []
    for path in sorted((ROOT / "halo_core").rglob("*.py")):
        rel = path.relative_to(ROOT / "halo_core")
        if rel.parts[0] == "commands" or str(rel) in command_code or rel.as_posix() == "evaluation/commands.py":
            continue
        if _imports_cli(path):
            offenders.append(str(rel))
    assert offenders == []


# --------------------------------------------------------------------------- agent options


def _probe_group(runtime):
    seen = {}

    @click.command("probe", cls=AgentCommand)
    @agent_options()
    @click.pass_context
    def probe(ctx, agent):
        config = agent.config(ctx.obj["runtime"])
        seen.update(config=config, agent=agent)

    group = HaloGroup(name="halo")
    group.add_command(probe)
    return group, seen


def test_plugin_flags_and_set_reach_the_config():
    runtime = make_runtime(Declares())
    group, seen = _probe_group(runtime)
    help_text = CliRunner().invoke(group, ["probe", "--help"], obj={"runtime": runtime}).output
    assert "--crumbs INTEGER" in help_text and "--trail / --no-trail" in help_text
    assert "--quiet-mode" not in help_text  # no flag declared: --set only
    assert help_text.rstrip().endswith("Show this message and exit.")  # --help stays last
    result = CliRunner().invoke(group, ["probe", "--mode", "crumbly", "--trail", "--set", "quiet_mode=hard",
                                        "--policy", "hansel", "--speed", "--seed", "5"], obj={"runtime": runtime})
    assert result.exit_code == 0, result.output
    config = seen["config"]
    assert (config.get("crumbs"), config.get("trail"), config.get("quiet_mode")) == (7, True, "hard")
    assert (config.policy, config.max_steps, config.seed) == ("hansel", 25, 5)
    result = CliRunner().invoke(group, ["probe", "--crumbs", "1", "--manager-backend", "none"],
                                obj={"runtime": runtime})
    assert result.exit_code == 0 and seen["config"].get("crumbs") == 1 and not seen["config"].use_manager


def test_plugin_flags_follow_the_installed_plugins():
    runtime = make_runtime()
    group, _ = _probe_group(runtime)
    result = CliRunner().invoke(group, ["probe", "--crumbs", "1"], obj={"runtime": runtime})
    assert result.exit_code == 2 and "No such option '--crumbs'" in result.output


@pytest.mark.parametrize("args, message", [
    (["--set", "crums=2"], "unknown config key 'crums'; did you mean crumbs?"),
    (["--set", "crumbs"], "is not of the form name=value"),
    (["--crumbs", "-1"], "crumbs=-1 is not allowed"),
    (["--policy", "hanzel"], "unknown policy 'hanzel'; did you mean hansel?"),
    (["--mode", "crumbley"], "did you mean crumbly?"),
    (["--experiment", "quick"], "--experiment quick needs --config FILE"),
])
def test_bad_agent_options_are_one_clear_line(args, message):
    runtime = make_runtime(Declares())
    group, _ = _probe_group(runtime)
    result = CliRunner().invoke(group, ["probe", *args], obj={"runtime": runtime})
    assert result.exit_code == 1, result.output
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], result.output


def test_suite_options_reach_suites_that_accept_them():
    runtime = make_runtime(Declares())
    ForestSuite.seen.clear()
    result = invoke(runtime, "tasks", "--suite", "forest", "--crumbs", "9", "--ids-only")
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "forest.path-1" and ForestSuite.seen[-1] == {"crumbs": 9}
    assert "--trail" not in invoke(runtime, "tasks", "--help").output  # no suite accepts it


# --------------------------------------------------------------------------- honest runs


def test_eval_without_a_selection_names_the_suites():
    result = invoke(make_runtime(Declares()), "eval", "--policy", "hansel", "--dry-run")
    assert result.exit_code == 1
    assert "error: pass --suite NAME (installed: forest) or --tasks ID,ID" in result.output


def test_policy_is_checked_before_anything_starts(tmp_path):
    runtime = make_runtime(Declares())
    for command in (["eval", "--suite", "forest", "--dry-run", "--results-dir", str(tmp_path)],
                    ["rollouts", "--suite", "forest", "--results-dir", str(tmp_path)],
                    ["run", "forest.path-1", "--dry-run", "--data-dir", str(tmp_path)],
                    ["run", "forest.path-1", "--data-dir", str(tmp_path)]):
        result = invoke(runtime, *command, "--policy", "hanzel")
        assert result.exit_code == 1, result.output
        assert "unknown policy 'hanzel'; did you mean hansel? (installed: worker, hansel)" in result.output
    assert not list(tmp_path.iterdir())


def test_dry_run_plan_names_the_policy_not_the_model(tmp_path):
    runtime = make_runtime(Declares())
    result = invoke(runtime, "eval", "--suite", "forest", "--policy", "hansel", "--mode", "crumbly", "--dry-run",
                    "--results-dir", str(tmp_path), "--run-id", "p1")
    assert result.exit_code == 0, result.output
    assert "mode crumbly: policy hansel (no worker model)" in result.output and "gpt-4o" not in result.output
    assert "crumbs=7" in result.output


@pytest.fixture
def qwen_runtime():
    runtime = make_runtime(Declares(), entrypoints=True)
    if "local" not in runtime.backends.factories:
        pytest.skip("the local: backend plugin is not installed")
    return runtime


@pytest.mark.parametrize("spec", ["./no-such-model", "ckpt/qwen_bc", "checkpoints/qwen_bc", "{tmp}/empty",
                                  "base+./no-such-adapter"])
def test_local_model_paths_are_checked_before_any_browser(qwen_runtime, tmp_path, monkeypatch, spec):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ckpt").mkdir()
    (tmp_path / "empty").mkdir()  # exists, but holds neither config.json nor adapter_config.json
    spec = spec.format(tmp=tmp_path)
    for command in (["eval", "--suite", "forest", "--dry-run"], ["run", "forest.path-1", "--dry-run"]):
        result = invoke(qwen_runtime, *command, "--worker-backend", f"local:{spec}", "--manager-backend", "none")
        assert result.exit_code == 1, result.output
        assert "worker backend: local:" in result.output and "does not exist or holds no " in result.output
    (tmp_path / "empty" / "config.json").write_text("{}")
    if spec.endswith("empty"):
        result = invoke(qwen_runtime, "eval", "--suite", "forest", "--dry-run", "--worker-backend", f"local:{spec}",
                        "--manager-backend", "none")
        assert "does not exist" not in result.output


# --------------------------------------------------------------------------- loud mistakes


class Misspelled:
    @hookimpl
    def halo_decid(self, observation, episode):
        return None


def test_misspelled_hook_names_the_closest_real_one():
    with pytest.raises(PluginError, match=r"halo_decid is not a HALO hook; did you mean halo_decide\?"):
        make_plugin_manager(load_entrypoints=False, extra=(Misspelled(),))
    with pytest.raises(pluggy.PluginValidationError):  # callers may catch pluggy's own error
        make_plugin_manager(load_entrypoints=False, extra=(Misspelled(),))


def _recording_plugins(calls):
    """Four implementations of one hook: a wrapper, tryfirst, plain and trylast, registered
    in an order unlike their call order."""

    class Last:
        @hookimpl(trylast=True)
        def halo_register_trainers(self, register):
            calls.append("Last")

    class Plain:
        @hookimpl
        def halo_register_trainers(self, register):
            calls.append("Plain")

    class Wrap:
        @hookimpl(wrapper=True)
        def halo_register_trainers(self, register):
            calls.append("Wrap")
            return (yield)

    class First:
        @hookimpl(tryfirst=True)
        def halo_register_trainers(self, register):
            calls.append("First")

    return Last(), Plain(), Wrap(), First()


def test_plugins_hook_shows_the_real_call_order():
    calls: list[str] = []
    runtime = make_runtime(*_recording_plugins(calls))
    runtime.hook.halo_register_trainers(register=lambda *a, **k: None)  # what pluggy really does
    result = invoke(runtime, "plugins", "--hook", "halo_register_trainers", "--json")
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    assert [r["function"].split(".")[-2] for r in shown] == calls == ["Wrap", "First", "Plain", "Last"]
    assert [r["markers"] for r in shown] == [["wrapper"], ["tryfirst"], [], ["trylast"]]
    assert [r["position"] for r in shown] == [1, 2, 3, 4]
    decide = json.loads(invoke(runtime, "plugins", "--hook", "halo_decide", "--json").output)
    # the commit guard wraps every layer, the manager's review included
    assert [(r["plugin"], r["markers"]) for r in decide[:2]] == [("commit_guard", ["wrapper", "tryfirst"]),
                                                                ("manager_gate", ["wrapper"])]
    assert decide[-1]["markers"] == ["trylast"]
    bad = invoke(runtime, "plugins", "--hook", "halo_decid")
    assert bad.exit_code == 1 and "no hook 'halo_decid'; did you mean halo_decide" in bad.output


def test_trace_prints_call_order(monkeypatch, capsys):
    calls: list[str] = []
    monkeypatch.setenv("HALO_TRACE_PLUGINS", "1")
    runtime = make_runtime(*_recording_plugins(calls))
    runtime.hook.halo_register_trainers(register=lambda *a, **k: None)
    line = next(ln for ln in capsys.readouterr().err.splitlines() if "halo_register_trainers ->" in ln)
    shown = line.split("-> ", 1)[1].split(" > ")
    assert [name.endswith(("[wrapper]", "[tryfirst]", "[trylast]")) for name in shown] == [True, True, False, True]
    assert shown[0].endswith("[wrapper]") and shown[1].endswith("[tryfirst]") and shown[3].endswith("[trylast]")
    assert calls == ["Wrap", "First", "Plain", "Last"]


# --------------------------------------------------------------------------- backends and config


def test_backends_table_and_json():
    runtime = make_runtime(Declares())
    rows = json.loads(invoke(runtime, "backends", "--json").output)
    crumb = [r for r in rows if r["prefix"] == "crumb"]
    assert crumb and crumb[0]["description"] == "a breadcrumb model" and crumb[0]["requires"] == "CRUMB_API_KEY"
    assert crumb[0]["plugin"]
    table = CliRunner().invoke(HaloGroup(name="halo"), ["backends"], obj={"runtime": runtime},
                               env={"COLUMNS": "200"}).output
    assert "crumb" in table and "a breadcrumb model" in table and "CRUMB_API_KEY" in table


def test_config_lists_core_keys_plugin_options_and_modes():
    runtime = make_runtime(Declares())
    data = json.loads(invoke(runtime, "config", "--json").output)
    core = {r["name"] for r in data["core"]}
    assert {"policy", "worker_backend", "max_steps"} <= core and "options" not in core
    crumbs = next(o for o in data["options"] if o["name"] == "crumbs")
    assert (crumbs["type"], crumbs["default"], crumbs["flag"], crumbs["help"]) == ("int", 3, "--crumbs",
                                                                                   "breadcrumbs to keep")
    assert crumbs["plugin"]
    modes = {m["name"]: m["description"] for m in data["modes"]}
    assert modes["crumbly"] == "worker that keeps crumbs" and "baseline_worker" in modes
    resolved = json.loads(invoke(runtime, "config", "--mode", "crumbly", "--json").output)["mode"]
    assert resolved["values"]["crumbs"] == 7 and resolved["values"]["mode"] == "crumbly"
    bad = invoke(runtime, "config", "--mode", "crumbley")
    assert bad.exit_code == 1 and "did you mean crumbly?" in bad.output
    table = CliRunner().invoke(HaloGroup(name="halo"), ["config"], obj={"runtime": runtime},
                               env={"COLUMNS": "250"}).output
    assert "crumbs" in table and "--crumbs" in table and "worker that keeps crumbs" in table


def test_python_dash_m_cli_runs():
    import subprocess

    out = subprocess.run([sys.executable, "-m", "halo_core.cli", "config", "--json"], capture_output=True,
                         text=True, cwd=ROOT, env={"PATH": "/usr/bin:/bin", "HALO_LOAD_PLUGINS": "",
                                                   "HF_HUB_OFFLINE": "1"})
    assert out.returncode == 0, out.stderr
    assert {m["name"] for m in json.loads(out.stdout)["modes"]} >= {"baseline_worker"}

