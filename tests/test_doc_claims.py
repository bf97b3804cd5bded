"""Claims docs/hooks.md, docs/plugins.md and docs/reference.md make about the loop's timing
and order, each checked against the code so the docs stay true."""

import subprocess
import sys
import warnings

from helpers import EXPERT_PATH, shop_env, shop_task

from halo_core import Decision, hookimpl, mode_config, run_episode
from halo_core.loop import UndeclaredNameWarning
from halo_core.plugins import hook_implementations
from halo_core.testing import ScriptedBackend, make_runtime


def _run(runtime, tmp_path, env=None, worker=EXPERT_PATH):
    return run_episode(shop_task(), mode_config("baseline_worker", env={}, runtime=runtime), env or shop_env(),
                       runtime, data_dir=tmp_path, backends={"worker": ScriptedBackend(list(worker))})


def test_episode_start_runs_after_reset_and_before_the_first_observation(tmp_path):
    """hooks.md, ``halo_episode_start``: after the environment is reset, before the first observe."""
    calls = []
    env = shop_env()
    reset = env.reset

    def recorded_reset(task):
        calls.append("reset")
        return reset(task)

    env.reset = recorded_reset

    class Order:
        @hookimpl
        def halo_episode_start(self, episode):
            calls.append("episode_start")

        @hookimpl
        def halo_annotate(self, observation, episode):
            calls.append("annotate")

    _run(make_runtime(Order()), tmp_path, env=env)
    assert calls[:3] == ["reset", "episode_start", "annotate"]


def test_a_plain_policy_plugin_decides_before_the_builtin_recovery(tmp_path):
    """hooks.md/plugins.md: within one marker the most recently registered plugin runs first,
    so an installed plugin's plain ``halo_decide`` comes before the built-in recovery."""

    class Mine:
        @hookimpl
        def halo_decide(self, observation, episode):
            return None

    runtime = make_runtime(Mine())
    order = [row["plugin"] for row in hook_implementations(runtime.pm, "halo_decide")]
    mine = next(i for i, name in enumerate(order) if name.endswith("Mine"))
    assert mine < order.index("recovery") < order.index("worker")


def test_verify_sees_the_history_without_the_step_it_verifies(tmp_path):
    """hooks.md/reference.md: a step joins ``episode.history`` after ``halo_verify`` returns."""
    seen = []

    class Probe:
        @hookimpl
        def halo_verify(self, before, decision, after, episode):
            seen.append((episode.step_idx, len(episode.history),
                         episode.history[-1].decision.action if episode.history else None, decision.action))

    result = _run(make_runtime(Probe()), tmp_path)
    assert result.success and len(seen) == result.steps
    for index, (step_idx, history_len, previous, current) in enumerate(seen):
        assert step_idx == history_len == index
        assert previous == (EXPERT_PATH[index - 1] if index else None) and current == EXPERT_PATH[index]


def test_an_undeclared_decision_source_warns_once_and_the_episode_goes_on(tmp_path):
    """hooks.md/hookspecs: an undeclared ``Decision.source`` warns, it does not end the episode."""
    steps = iter(EXPERT_PATH)

    class Unnamed:
        @hookimpl(tryfirst=True)
        def halo_decide(self, observation, episode):
            return Decision(next(steps), source="nobody_declared_me")

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = _run(make_runtime(Unnamed()), tmp_path)
    assert result.success and not result.error and result.steps == len(EXPERT_PATH)
    undeclared = [w for w in caught if issubclass(w.category, UndeclaredNameWarning)]
    assert len(undeclared) == 1 and "nobody_declared_me" in str(undeclared[0].message)


def test_library_modules_do_not_import_the_command_line():
    """halo_core/cli.py: library code never imports it at import time."""
    code = ("import sys, halo_core, halo_core.loop, halo_core.runtime, halo_core.export, halo_core.trajectory, "
            "halo_core.evaluation.runner, halo_core.evaluation.store, halo_core.registries\n"
            "print('halo_core.cli' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
