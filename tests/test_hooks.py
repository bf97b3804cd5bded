"""One test per hook (``test_hook_<name>``), and the rule that enforces it with the docs."""

import inspect
import re
from pathlib import Path

import click
from helpers import EXPERT_PATH, shop_env, shop_task

from halo_core import Decision, Observation, Verdict, hookimpl, hookspecs, mode_config, run_episode
from halo_core.env.protocol import EnvSettings
from halo_core.model import TaskSpec
from halo_core.testing import ScriptedBackend, make_runtime

ROOT = Path(__file__).resolve().parents[1]


def all_hooks():
    return sorted(name for name, fn in inspect.getmembers(hookspecs, inspect.isfunction) if name.startswith("halo_"))


def test_every_hook_has_a_test_and_a_doc_entry():
    tests = "\n".join(p.read_text() for p in (ROOT / "tests").glob("test_*.py"))
    docs = (ROOT / "docs" / "hooks.md").read_text()
    missing_tests = [h for h in all_hooks() if not re.search(rf"def test_hook_{h}\b", tests)]
    missing_docs = [h for h in all_hooks() if not re.search(rf"^#+ `?{h}\b", docs, re.M)]
    assert not missing_tests, f"hooks without a test_hook_<name> test: {missing_tests}"
    assert not missing_docs, f"hooks without a section in docs/hooks.md: {missing_docs}"


def test_every_hook_is_documented_in_code():
    for name in all_hooks():
        doc = getattr(hookspecs, name).__doc__ or ""
        assert ":param" in doc and ":returns:" in doc, f"{name} docstring lacks :param:/:returns:"
        marker = getattr(hookspecs, name).halo_spec
        if marker.get("firstresult"):
            assert "Stops at first non-None result" in doc, name


def _run(*plugins, actions=EXPERT_PATH, tmp_path=None, **config):
    return run_episode(shop_task(), mode_config("baseline_worker", **config), shop_env(), make_runtime(*plugins),
                       data_dir=tmp_path, backends={"worker": ScriptedBackend(list(actions))})


def test_hook_halo_observe(tmp_path):
    seen = []

    class Observer:
        @hookimpl
        def halo_observe(self, raw, episode):  # runs before the trylast built-in
            seen.append(raw.url)
            return Observation(url=raw.url, title="x", text="custom", elements=(), page_type="custom",
                               fingerprint=raw.url)

    result = _run(Observer(), actions=["send_msg_to_user('hi')"], tmp_path=tmp_path)
    assert seen[0] == "http://graph.test/home" and result.steps == 1


def test_hook_halo_annotate(tmp_path):
    class Annotator:
        @hookimpl
        def halo_annotate(self, observation, episode):
            observation.annotations["n_links"] = sum(e.role == "link" for e in observation.elements)

    class Reader:
        @hookimpl(tryfirst=True)
        def halo_decide(self, observation, episode):
            assert observation.annotations["n_links"] == 2
            return Decision("send_msg_to_user('ok')", "recovery")

    assert _run(Annotator(), Reader(), tmp_path=tmp_path).steps == 1


def test_hook_halo_decide(tmp_path):
    class Shortcut:
        @hookimpl
        def halo_decide(self, observation, episode):
            if observation.find("link", "Products"):
                return Decision("click('1')", "vac")

    result = _run(Shortcut(), actions=EXPERT_PATH[1:], tmp_path=tmp_path)
    assert result.success and result.cache_hits == 1


def test_hook_halo_verify(tmp_path):
    verdicts = []

    class Checker:
        @hookimpl
        def halo_verify(self, before, decision, after, episode):
            return [Verdict("url_changed", before.url != after.url)]

    class Spy:
        @hookimpl
        def halo_log(self, event, episode):
            if event["type"] == "step":
                verdicts.append({v["check"]: v["ok"] for v in event["verdicts"]})

    _run(Checker(), Spy(), tmp_path=tmp_path)
    assert verdicts[0] == {"url_changed": True, "loop": True, "postcondition": True}
    assert verdicts[-1]["url_changed"] is False  # the final message stays on the page


def test_hook_halo_log(tmp_path):
    events = []

    class Collector:
        @hookimpl
        def halo_log(self, event, episode):
            events.append(event["type"])

    _run(Collector(), tmp_path=tmp_path)
    assert events == ["episode_start"] + ["step"] * 6 + ["episode_end"]


def test_hook_halo_episode_start(tmp_path):
    class Starter:
        @hookimpl
        def halo_episode_start(self, episode):
            episode.state["started_with"] = episode.task.id

    class Reader:
        @hookimpl(tryfirst=True)
        def halo_decide(self, observation, episode):
            return Decision(f"send_msg_to_user('{episode.state['started_with']}')", "recovery")

    result = _run(Starter(), Reader(), tmp_path=tmp_path)
    assert result.final_message == "graph.shop-1"


def test_hook_halo_episode_end(tmp_path):
    ends = []

    class Ender:
        @hookimpl
        def halo_episode_end(self, episode, result):
            ends.append((len(episode.history), result.success))

    _run(Ender(), tmp_path=tmp_path)
    assert ends == [(6, True)]


def test_hook_halo_register_backends():
    class Provider:
        @hookimpl
        def halo_register_backends(self, register):
            register("echo", lambda model, settings: ScriptedBackend(lambda m: model, name=f"echo:{model}"))

    runtime = make_runtime(Provider())
    backend = runtime.backends.create("echo:click('1')")
    assert backend.complete([]).text == "click('1')"
    import pytest

    from halo_core.backends import BackendConfigError

    with pytest.raises(BackendConfigError, match=r"no backend 'openai' is installed \(installed: echo\); "
                                                 r"install halo-plugin-openai"):
        runtime.backends.create("openai:gpt-4o-mini")


def test_hook_halo_register_environments(tmp_path):
    class GraphSuite:
        name = "graph"

        def claims(self, task_id):
            return task_id.startswith("graph.")

        def list_tasks(self, site=None, split=None):
            return [shop_task()]

        def resolve(self, task_id):
            return shop_task(task_id)

        def make_environment(self, task, settings):
            return shop_env()

    class Provider:
        @hookimpl
        def halo_register_environments(self, register):
            register(GraphSuite())

    runtime = make_runtime(Provider())
    suite, task = runtime.resolve_task("graph.shop-1")
    assert suite.name == "graph" and isinstance(task, TaskSpec)
    env = suite.make_environment(task, EnvSettings())
    assert run_episode(task, mode_config("baseline_worker"), env, runtime, data_dir=tmp_path,
                       backends={"worker": ScriptedBackend(list(EXPERT_PATH))}).success
    import pytest

    from halo_core.env.protocol import TaskNotFound

    with pytest.raises(TaskNotFound, match="unknown task 'grap.shop-1'; closest: graph.shop-1"):
        runtime.resolve_task("grap.shop-1")


def test_hook_halo_register_trainers():
    class Provider:
        @hookimpl
        def halo_register_trainers(self, register):
            register("copy", lambda **options: options["output"], description="test trainer")

    runtime = make_runtime(Provider())
    assert runtime.trainers.trainers["copy"](output="out/x") == "out/x"
    assert runtime.trainers.descriptions["copy"] == "test trainer"


def test_hook_halo_register_commands():
    from click.testing import CliRunner

    from halo_core.cli import HaloGroup

    class Provider:
        @hookimpl
        def halo_register_commands(self, cli):
            @cli.command()
            def hello():
                click.echo("hello from a plugin")

    group = HaloGroup(name="halo")
    runtime = make_runtime(Provider())
    result = CliRunner().invoke(group, ["hello"], obj={"runtime": runtime})
    assert result.exit_code == 0 and "hello from a plugin" in result.output
