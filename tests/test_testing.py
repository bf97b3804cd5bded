"""halo_core.testing: the conformance checks and fixtures plugin authors use."""

import pytest
from helpers import shop_env, shop_task

from halo_core.model import AXNode, Evaluation, RawObservation
from halo_core.testing import ScriptedBackend, check_backend, check_environment


def test_check_environment_passes_a_conforming_environment():
    check_environment(shop_env(), shop_task())


def test_check_environment_catches_an_environment_that_raises_on_bad_actions():
    class Raising:
        def reset(self, task):
            return RawObservation(url="http://x.test/", axtree=(AXNode("button", "Go", bid="1"),))

        def step(self, action):
            raise ValueError("boom")

        def evaluate(self, final_message, infeasible):
            return Evaluation(0.0, False)

        def close(self):
            pass

    with pytest.raises(ValueError):
        check_environment(Raising(), shop_task())


def test_check_environment_catches_silent_bad_actions():
    class Silent:
        def reset(self, task):
            return RawObservation(url="http://x.test/")

        def step(self, action):
            return RawObservation(url="http://x.test/")  # never reports an error

        def evaluate(self, final_message, infeasible):
            return Evaluation(0.0, False)

        def close(self):
            pass

    with pytest.raises(AssertionError, match="unknown bid must set last_action_error"):
        check_environment(Silent(), shop_task())


def test_check_backend():
    check_backend(ScriptedBackend(["click('1')"]))

    class NoUsage(ScriptedBackend):
        def complete(self, messages, **options):
            from halo_core.backends import Completion

            return Completion("click('1')")

    with pytest.raises(AssertionError, match="usage must count the call"):
        check_backend(NoUsage(["x"]))


def test_fixtures(halo_runtime, graph_env, scripted_backend, tmp_path):
    from halo_core.testing import Page

    env = graph_env({"home": Page("Home", [("link", "Next", "next")]), "next": Page("Next")}, goal_page="next")
    backend = scripted_backend(["click('1')", "send_msg_to_user('ok')"])
    from halo_core import mode_config, run_episode

    result = run_episode(shop_task(), mode_config("baseline_worker", env={}), env, halo_runtime(),
                         data_dir=tmp_path, backends={"worker": backend})
    assert result.success and result.steps == 2


def test_within_scales_wall_clock_bounds_by_the_load_per_cpu(monkeypatch):
    import os

    from halo_core.testing import load_factor, within

    monkeypatch.delenv("HALO_TEST_TIME_FACTOR", raising=False)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    monkeypatch.setattr(os, "getloadavg", lambda: (0.5, 0.5, 0.5))
    assert load_factor() == 1.0 and within(1.5) == 1.5  # a quiet machine keeps the bound as written
    monkeypatch.setattr(os, "getloadavg", lambda: (12.0, 9.0, 4.0))
    assert load_factor() == 6.0 and within(1.5) == 9.0  # load 12 on 2 CPUs: six times slower
    monkeypatch.setattr(os, "getloadavg", lambda: (400.0, 0.0, 0.0))
    assert load_factor() == 20.0
    monkeypatch.setenv("HALO_TEST_TIME_FACTOR", "3")
    assert within(2.0) == 6.0
