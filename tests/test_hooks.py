"""One test per hook (``test_hook_<name>``), and the rule that enforces it with the docs."""

import inspect
import re
from pathlib import Path

import click
from helpers import EXPERT_PATH, shop_env, shop_task

from halo_core.stash import StashKey
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
                return Decision("click('1')", "shortcut")

        @hookimpl
        def halo_register_decision_sources(self, register):
            register("shortcut", "a test layer")

    result = _run(Shortcut(), actions=EXPERT_PATH[1:], tmp_path=tmp_path)
    assert result.success and result.steps == 6


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


STARTED = StashKey[str]()


def test_hook_halo_episode_start(tmp_path):
    class Starter:
        @hookimpl
        def halo_episode_start(self, episode):
            episode.stash[STARTED] = episode.task.id

    class Reader:
        @hookimpl(tryfirst=True)
        def halo_decide(self, observation, episode):
            return Decision(f"send_msg_to_user('{episode.stash[STARTED]}')", "recovery")

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
                                                 r"install the plugin that provides it \(see `halo backends`\)"):
        runtime.backends.create("openai:gpt-4o-mini")


def test_hook_halo_default_backend(tmp_path):
    """A config that names no backend takes the default backend plugin's; the core has none,
    and a tryfirst implementation wins over another plugin's answer."""
    from halo_core.config import build_config, load_experiments

    class Default:
        @hookimpl
        def halo_default_backend(self, role):
            return {"worker": "echo:small", "manager": "echo:large"}[role]

    class Preferred:
        @hookimpl(tryfirst=True)
        def halo_default_backend(self, role):
            return "mine:model-1" if role == "worker" else None

    bare = mode_config("baseline_worker", env={}, runtime=make_runtime())
    assert bare.worker_backend is None and bare.manager_backend is None
    config = mode_config("hierarchy_mgr_gate", env={}, runtime=make_runtime(Default()))
    assert (config.worker_backend, config.manager_backend) == ("echo:small", "echo:large")
    assert build_config(runtime=make_runtime(Default())).worker_backend == "echo:small"
    assert mode_config("baseline_worker", env={}, worker_backend="x:y",
                       runtime=make_runtime(Default())).worker_backend == "x:y"
    both = mode_config("baseline_worker", env={}, runtime=make_runtime(Default(), Preferred()))
    assert (both.worker_backend, both.manager_backend) == ("mine:model-1", "echo:large")
    # a bare model name in an experiments file takes the default backend's prefix
    path = tmp_path / "experiments.yaml"
    path.write_text("experiments:\n  big:\n    worker_model: huge-2\n")
    assert load_experiments(path, runtime=make_runtime(Default())).config("big").worker_backend == "echo:huge-2"
    import pytest

    from halo_core.config import ConfigError

    with pytest.raises(ConfigError, match=r"worker_backend='huge-2' names no backend prefix"):
        load_experiments(path, runtime=make_runtime())


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


# --------------------------------------------------------------------------- configuration and accounting


class Declarer:
    """A third-party plugin that declares an option, a mode, a source, a policy, a counter
    and a metric column, and builds its own worker prompt."""

    @hookimpl
    def halo_addoption(self, register):
        register("shortcut_bonus", type=int, default=2, minimum=0, help="a test option")

    @hookimpl
    def halo_register_modes(self, register):
        register("shortcut_mode", description="baseline plus the shortcut", base="baseline_worker",
                 shortcut_bonus=5, max_steps=9)
        register("baseline_worker", extend=True, history_len=3)

    @hookimpl
    def halo_register_decision_sources(self, register):
        register("shortcut", "a test layer")

    @hookimpl
    def halo_register_policies(self, register):
        register("lazy", "answers at once")

    @hookimpl
    def halo_decide(self, observation, episode):
        if episode.config.policy == "lazy":
            return Decision(f"send_msg_to_user('{episode.config.get('shortcut_bonus')}')", "shortcut")

    @hookimpl
    def halo_episode_counters(self, episode):
        return {"shortcut_steps": sum(1 for r in episode.history if r.decision.source == "shortcut")}

    @hookimpl
    def halo_register_metrics(self, register):
        register("shortcut_share", lambda records: sum(r["counters"]["shortcut_steps"] for r in records)
                 / max(1, sum(r["steps"] for r in records)), percent=True, description="shortcut steps / steps")


def test_hook_halo_addoption():
    from halo_core.config import ConfigError, build_config

    runtime = make_runtime(Declarer())
    option = runtime.options.options["shortcut_bonus"]
    assert option.default == 2 and option.type is int and option.help == "a test option"
    assert build_config(runtime=runtime).get("shortcut_bonus") == 2
    assert build_config(runtime=runtime, shortcut_bonus=4).get("shortcut_bonus") == 4
    try:
        build_config(runtime=runtime, shortcut_bonus=-1)
    except ConfigError as exc:
        assert "shortcut_bonus=-1 is not allowed" in str(exc)
    else:
        raise AssertionError("a value below the declared minimum was accepted")


def test_hook_halo_register_modes():
    from halo_core.config import mode_config

    runtime = make_runtime(Declarer())
    config = mode_config("shortcut_mode", env={}, runtime=runtime)
    assert config.get("shortcut_bonus") == 5 and config.max_steps == 9
    assert config.history_len == 3  # the extension of its base applies too
    assert mode_config("baseline_worker", env={}, runtime=make_runtime()).history_len == 5


def test_hook_halo_register_decision_sources_and_counters(tmp_path):
    import json

    runtime = make_runtime(Declarer())
    assert "shortcut" in runtime.decision_sources and runtime.decision_sources.description("shortcut") == "a test layer"
    config = mode_config("baseline_worker", env={}, policy="lazy", runtime=runtime)
    result = run_episode(shop_task(), config, shop_env(), runtime, data_dir=tmp_path)
    assert result.final_message == "2" and result.counters == {"shortcut_steps": 1}
    path = tmp_path / "trajectories" / "baseline_worker" / "local" / "graph.shop-1__attempt_0.jsonl"
    events = [json.loads(line) for line in path.read_text().splitlines()]
    assert events[0]["config"]["shortcut_bonus"] == 2 and events[0]["policy"] == "lazy"
    assert events[1]["action_source"] == "shortcut"
    assert events[-1]["counters"] == {"shortcut_steps": 1}


def test_hook_halo_register_decision_sources():
    assert {"worker", "manager", "recovery"} <= set(make_runtime().decision_sources.names())


def test_hook_halo_register_policies():
    runtime = make_runtime(Declarer())
    assert runtime.policies.names() == ["worker", "lazy"]
    assert "did you mean lazy" in runtime.policies.unknown_message("lazzy")


def test_hook_halo_episode_counters(tmp_path):
    test_hook_halo_register_decision_sources_and_counters(tmp_path)


def test_hook_halo_register_metrics():
    column = make_runtime(Declarer()).metrics.columns["shortcut_share"]
    assert column.percent and column.compute([{"steps": 4, "counters": {"shortcut_steps": 1}}]) == 0.25


def test_hook_halo_build_messages(tmp_path):
    from halo_core.backends import Message
    from halo_core.prompts import worker_messages

    class WorkedExample:
        @hookimpl
        def halo_build_messages(self, role, observation, episode):
            if role != "worker":
                return None
            messages = worker_messages(episode.task.goal, observation, episode.history)
            return [messages[0], Message("user", "Example page: [7] button 'Go'\nNext action:"),
                    Message("assistant", "click('7')"), *messages[1:]]

    worker = ScriptedBackend(EXPERT_PATH)
    result = run_episode(shop_task(), mode_config("baseline_worker", env={}), shop_env(),
                         make_runtime(WorkedExample()), data_dir=tmp_path, backends={"worker": worker})
    assert result.success
    assert [m.role for m in worker.calls[0]] == ["system", "user", "assistant", "user"]
    assert worker.calls[0][2].content == "click('7')"


def test_hook_halo_resolve_output(tmp_path):
    from halo_core.actions import ActionError

    class Aliases:
        """Replies name the expert path's actions by number ("#k")."""

        @hookimpl
        def halo_resolve_output(self, text, messages, observation, episode):
            if not text.startswith("#"):
                return None
            k = int(text[1:])
            if k >= len(EXPERT_PATH):
                raise ActionError(f"#{k} is not an action of the path")
            return EXPERT_PATH[k]

    replies = ["#99", *(f"#{k}" for k in range(len(EXPERT_PATH)))]
    worker = ScriptedBackend(replies)
    result = run_episode(shop_task(), mode_config("baseline_worker", env={}), shop_env(), make_runtime(Aliases()),
                         data_dir=tmp_path, backends={"worker": worker})
    assert result.success
    # the unresolvable "#99" was asked again with the reason; the browser got only resolved actions
    assert "#99 is not an action of the path" in worker.calls[1][-1].content
    from halo_core.trajectory import read_trajectory

    steps = read_trajectory(next((tmp_path / "trajectories").rglob("*.jsonl"))).steps
    assert [s.action for s in steps] == list(EXPERT_PATH)
    assert [s.decision_meta["reply"] for s in steps] == [f"#{k}" for k in range(len(EXPERT_PATH))]


def test_hook_halo_register_prompt_styles(tmp_path):
    from halo_core.export import export_datasets, prompt_styles

    class Shouting:
        @hookimpl
        def halo_register_prompt_styles(self, register):
            register("shout", lambda prompt, completion: ([{**m, "content": m["content"].upper()} for m in prompt],
                                                          completion), "upper-case prompts")

    runtime = make_runtime(Shouting())
    assert set(prompt_styles(runtime)) == {"shout"}
    worker = ScriptedBackend(list(EXPERT_PATH))
    run_episode(shop_task(), mode_config("baseline_worker", env={}), shop_env(), runtime, data_dir=tmp_path,
                backends={"worker": worker})
    out = export_datasets(tmp_path / "trajectories", tmp_path / "ds", split="all", include_debug=True,
                          val_fraction=0.0, prompt_style="shout", runtime=runtime)
    import json

    rows = [json.loads(line) for line in (out.out_dir / "bc.jsonl").read_text().splitlines()]
    assert rows and all(m["content"] == m["content"].upper() for r in rows for m in r["prompt"])
    assert out.summary["prompt_style"] == "shout"
    import pytest

    with pytest.raises(ValueError, match="unknown prompt style 'quiet'; installed: shout"):
        export_datasets(tmp_path / "trajectories", tmp_path / "ds2", split="all", include_debug=True,
                        prompt_style="quiet", runtime=runtime)

    class Twice:
        @hookimpl
        def halo_register_prompt_styles(self, register):
            register("shout", lambda p, c: (p, c))

    with pytest.raises(ValueError, match=r"prompt style 'shout' is registered twice: by .*Shouting.* and by .*Twice"):
        prompt_styles(make_runtime(Shouting(), Twice()))
