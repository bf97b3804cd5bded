"""One registration rule for every registry, and registry hooks called through pluggy.

A name has one owner: a second registration of a taken backend prefix, suite, policy,
decision source, option, mode, metric column, trainer or command is refused when the
registry is built, naming both plugins. Registry hooks and ``halo_episode_end`` go through
the plugin manager, so ``HALO_TRACE_PLUGINS`` prints them and wrappers wrap them.
"""

import click
import pytest
from helpers import EXPERT_PATH, shop_env, shop_task

from halo_core import hookimpl, mode_config, run_episode
from halo_core.cli import HaloError, HaloGroup
from halo_core.env.protocol import TaskNotFound
from halo_core.options import OptionError
from halo_core.registries import DuplicateNameError
from halo_core.testing import ScriptedBackend, make_runtime


def _factory(model, settings):
    return ScriptedBackend(["noop()"])


class EchoBackend:
    @hookimpl
    def halo_register_backends(self, register):
        register("echo", _factory, description="echo")


class OtherEchoBackend:
    @hookimpl
    def halo_register_backends(self, register):
        register("echo", _factory, description="another echo")


def test_a_backend_prefix_registered_twice_is_refused_naming_both_plugins():
    runtime = make_runtime(EchoBackend(), OtherEchoBackend())
    with pytest.raises(DuplicateNameError) as info:
        runtime.backends
    message = str(info.value)
    assert "backend prefix 'echo' is registered twice" in message
    assert "test_registries.EchoBackend" in message and "test_registries.OtherEchoBackend" in message
    assert info.value.kind == "backend prefix" and info.value.name == "echo"


def test_an_installed_plugins_backend_cannot_be_shadowed_and_its_distribution_is_named():
    pytest.importorskip("halo_plugin_openai")

    class FakeOpenAI:
        @hookimpl
        def halo_register_backends(self, register):
            register("openai", _factory)

    runtime = make_runtime(FakeOpenAI(), entrypoints=True)
    with pytest.raises(DuplicateNameError, match=r"backend prefix 'openai' is registered twice: by plugin 'openai' "
                                                 r"\(distribution halo-plugin-openai [^)]*\) and by plugin "
                                                 r"'[\w.]*test_registries\.[\w.<>]*FakeOpenAI'"):
        runtime.backends


class Suite:
    def __init__(self, name):
        self.name = name

    def claims(self, task_id):
        return False

    def list_tasks(self):
        return []


def test_a_suite_registered_twice_is_refused_and_a_single_one_is_credited_to_its_plugin():
    class First:
        @hookimpl
        def halo_register_environments(self, register):
            register(Suite("graph"))

    class Second:
        @hookimpl
        def halo_register_environments(self, register):
            register(Suite("graph"))

    with pytest.raises(DuplicateNameError, match="task suite 'graph' is registered twice: by ") as info:
        make_runtime(First(), Second()).suites
    assert "First'" in str(info.value) and "Second'" in str(info.value)  # in pluggy's call order
    runtime = make_runtime(First())
    assert list(runtime.suites) == ["graph"] and runtime.suite_registry.plugins["graph"].endswith("First")
    with pytest.raises(TaskNotFound):
        runtime.suite("other")


def test_a_policy_taken_by_a_builtin_is_refused_naming_halo_core():
    class MyWorker:
        @hookimpl
        def halo_register_policies(self, register):
            register("worker", "my own worker")

    with pytest.raises(DuplicateNameError, match=r"policy 'worker' is registered twice: by plugin 'worker' "
                                                 r"\(halo-core built-in\) and by plugin '.*MyWorker'"):
        make_runtime(MyWorker()).policies


@pytest.mark.parametrize("flags", [(False, True), (True, False), (True, True)])
def test_a_shared_policy_keeps_every_declarer_in_either_order(flags):
    first_shared, second_shared = flags

    class A:
        @hookimpl
        def halo_register_policies(self, register):
            register("oracle", "A's oracle", shared=first_shared)

    class B:
        @hookimpl
        def halo_register_policies(self, register):
            register("oracle", "B's oracle", shared=second_shared)

    policies = make_runtime(A(), B()).policies
    assert "oracle" in policies and policies.description("oracle") == "A's oracle"
    assert [p.rsplit(".", 1)[-1] for p in policies.plugins("oracle")] == ["A", "B"]


def test_a_decision_source_is_never_shared():
    class Twice:
        @hookimpl
        def halo_register_decision_sources(self, register):
            register("worker", "mine")

    with pytest.raises(DuplicateNameError, match="decision source 'worker' is registered twice"):
        make_runtime(Twice()).decision_sources

    class Shared:
        @hookimpl
        def halo_register_decision_sources(self, register):
            register("mine", shared=True)

    with pytest.raises(ValueError, match="cannot be shared"):
        make_runtime(Shared()).decision_sources


def test_options_and_modes_registered_twice_name_both_plugins():
    class Option:
        @hookimpl
        def halo_addoption(self, register):
            register("use_recovery", type=bool, default=False)

    with pytest.raises(OptionError, match=r"option 'use_recovery' is registered twice: by plugin 'recovery' "
                                          r"\(halo-core built-in\)"):
        make_runtime(Option()).options

    class Mode:
        @hookimpl
        def halo_register_modes(self, register):
            register("baseline_worker", description="mine")

    with pytest.raises(DuplicateNameError, match="mode 'baseline_worker' is registered twice"):
        make_runtime(Mode()).modes


def test_metric_columns_and_trainers_registered_twice_are_refused():
    class Column:
        @hookimpl
        def halo_register_metrics(self, register):
            register("valid_action_rate", lambda records: 1.0)

    with pytest.raises(DuplicateNameError, match="metric column 'valid_action_rate' is registered twice: by "
                                                 "plugin 'worker'"):
        make_runtime(Column()).metrics

    class CoreColumn:  # the core computes success_rate; a plugin's column would overwrite it
        @hookimpl
        def halo_register_metrics(self, register):
            register("success_rate", lambda records: 1.0)

    with pytest.raises(DuplicateNameError, match="metric column 'success_rate' is registered twice: by halo-core"):
        make_runtime(CoreColumn()).metrics

    class Trainer:
        @hookimpl
        def halo_register_trainers(self, register):
            register("bc", lambda **options: "out")

    runtime = make_runtime(Trainer())
    assert runtime.trainers.plugins["bc"].endswith("Trainer")
    with pytest.raises(DuplicateNameError, match="trainer 'bc' is registered twice"):
        make_runtime(Trainer(), Trainer()).trainers


def test_registrations_are_credited_to_the_calling_plugin_even_from_a_helper_or_a_second_instance():
    def register_all(register, prefix):
        register(prefix, _factory)

    class Helper:
        def __init__(self, prefix):
            self.prefix = prefix

        @hookimpl
        def halo_register_backends(self, register):
            register_all(register, self.prefix)

    from halo_core.plugins import make_plugin_manager
    from halo_core.runtime import Runtime

    pm = make_plugin_manager(load_entrypoints=False)
    pm.register(Helper("one"), name="plug_one")
    pm.register(Helper("two"), name="plug_two")
    backends = Runtime(pm).backends
    assert backends.plugins == {"one": "plug_one", "two": "plug_two"}

    pm = make_plugin_manager(load_entrypoints=False)
    pm.register(Helper("same"), name="plug_one")
    pm.register(Helper("same"), name="plug_two")
    with pytest.raises(DuplicateNameError, match="by plugin 'plug_one' .* and by plugin 'plug_two'"):
        Runtime(pm).backends


def test_registrations_keep_plugin_registration_order():
    class Late:
        @hookimpl
        def halo_addoption(self, register):
            register("late_option", type=int, default=1)

    names = list(make_runtime(Late()).options.options)
    assert names[0] == "mode" and names[-1] == "late_option"  # built-ins first (the core's keys), though pluggy calls Late first


def test_a_command_name_taken_by_another_plugin_is_refused():
    @click.command("hello")
    def hello():
        pass

    class First:
        @hookimpl
        def halo_register_commands(self, cli):
            cli.add_command(hello)

    class Second:
        @hookimpl
        def halo_register_commands(self, cli):
            cli.add_command(hello, "hello")

    group = HaloGroup("halo")
    with click.Context(group, obj={"runtime": make_runtime(First(), Second())}) as ctx:
        with pytest.raises(HaloError, match="command 'hello' is registered twice: by ") as info:
            group._load(ctx)
    assert "First'" in str(info.value) and "Second'" in str(info.value)
    group = HaloGroup("halo")
    with click.Context(group, obj={"runtime": make_runtime(First())}) as ctx:
        assert "hello" in group.list_commands(ctx) and "run" in group.list_commands(ctx)


def test_trace_shows_registry_hooks_and_episode_end(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("HALO_TRACE_PLUGINS", "1")
    runtime = make_runtime(EchoBackend())
    assert runtime.backends.plugins["echo"].endswith("EchoBackend")
    runtime.options
    err = capsys.readouterr().err
    assert "[halo trace] halo_register_backends -> " in err and "EchoBackend" in err
    assert "[halo trace] halo_addoption -> " in err and "recovery" in err
    run_episode(shop_task(), mode_config("baseline_worker", env={}, runtime=runtime), shop_env(), runtime,
                data_dir=tmp_path, backends={"worker": ScriptedBackend(EXPERT_PATH)})
    assert "[halo trace] halo_episode_end -> " in capsys.readouterr().err


def test_episode_end_goes_through_pluggy_keeps_isolation_and_can_be_wrapped(tmp_path):
    seen = []

    class Broken:
        @hookimpl
        def halo_episode_end(self, episode, result):
            raise RuntimeError("disk on fire")

    class Witness:
        @hookimpl
        def halo_episode_end(self, episode, result):
            seen.append("witness")

    class Around:
        @hookimpl(wrapper=True)
        def halo_episode_end(self, episode, result):
            seen.append("before")
            out = yield
            seen.append("after")
            return out

    runtime = make_runtime(Broken(), Witness(), Around())
    result = run_episode(shop_task(), mode_config("baseline_worker", env={}, runtime=runtime), shop_env(), runtime,
                         data_dir=tmp_path, backends={"worker": ScriptedBackend(EXPERT_PATH)})
    assert result.success and len(result.plugin_errors) == 1 and "disk on fire" in result.plugin_errors[0]
    assert result.plugin_errors[0].endswith("RuntimeError: disk on fire")
    assert seen == ["before", "witness", "after"]
    from halo_core.plugins import hook_implementations

    functions = [row["function"] for row in hook_implementations(runtime.pm, "halo_episode_end")]
    assert any(f.endswith("Broken.halo_episode_end") for f in functions)  # the isolation keeps the name
    with pytest.raises(RuntimeError, match="disk on fire"):  # outside an episode's end, pluggy's usual rule
        runtime.hook.halo_episode_end(episode=None, result=result)


def test_halo_plugins_shows_who_shares_a_policy_name():
    import json

    from click.testing import CliRunner

    from halo_core.cli import cli
    from halo_core.plugins import make_plugin_manager
    from halo_core.runtime import Runtime

    class Expert:
        def __init__(self, shared):
            self.shared = shared

        @hookimpl
        def halo_register_policies(self, register):
            register("oracle", "reads the answer", shared=self.shared)

    pm = make_plugin_manager(load_entrypoints=False)
    pm.register(Expert(False), name="site_a")
    pm.register(Expert(True), name="site_b")
    result = CliRunner().invoke(cli, ["plugins", "--json"], obj={"runtime": Runtime(pm)})
    assert result.exit_code == 0, result.output
    rows = {row["name"]: row for row in json.loads(result.output)}
    assert rows["site_a"]["shares"] == rows["site_b"]["shares"] == ["policy oracle"]
    assert rows["worker"]["shares"] == []
    result = CliRunner().invoke(cli, ["plugins"], obj={"runtime": Runtime(pm)})
    assert "policy 'oracle' is declared by several plugins (shared=True): site_a, site_b" in result.output


def test_a_clash_reaches_the_command_line_as_one_error_line():
    from click.testing import CliRunner

    from halo_core.cli import cli

    result = CliRunner().invoke(cli, ["backends"], obj={"runtime": make_runtime(EchoBackend(), OtherEchoBackend())})
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.output.startswith("error: backend prefix 'echo' is registered twice: by plugin ")


def test_a_plugin_declaring_a_core_key_is_refused_with_both_owners():
    class Clash:
        @hookimpl
        def halo_addoption(self, register):
            register("max_steps", type=int, default=3)

    with pytest.raises(DuplicateNameError) as refused:
        make_runtime(Clash()).options
    assert "core_options" in str(refused.value) and "max_steps" in str(refused.value)
