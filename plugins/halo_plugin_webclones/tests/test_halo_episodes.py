"""Web-clone tasks run through HALO's own loop and browser environment."""

import os
import signal
import time

import pytest

from halo_core import mode_config, run_episode
from halo_core.env.protocol import EnvSettings
from halo_core.runtime import Runtime
from halo_core.testing import within
from halo_plugin_webclones.suite import WebclonesSuite

SUITE = WebclonesSuite()
ALL_TASKS = SUITE.list_tasks()


@pytest.fixture(scope="module")
def runtime():
    return Runtime()


@pytest.fixture(scope="module")
def env():
    environment = SUITE.make_environment(ALL_TASKS[0], EnvSettings(screenshot=False))
    yield environment
    environment.close()


def test_suite_is_registered(runtime):
    assert "webclones" in runtime.suites
    suite, task = runtime.resolve_task("webclones.mail-3")
    assert task.site == "mail" and task.split in ("train", "test")
    assert len(suite.list_tasks()) >= 30
    for site in ("shop", "mail", "calendar"):
        tasks = suite.list_tasks(site=site)
        assert len(tasks) >= 8
        assert {t.split for t in tasks} == {"train", "test"}


@pytest.mark.slow
def test_expert_solves_every_task_through_the_browser(env, runtime, tmp_path):
    config = mode_config("baseline_worker", policy="expert", env={})
    failed = []
    for task in ALL_TASKS:
        result = run_episode(task, config, env, runtime, run_id="expert", data_dir=tmp_path)
        if not result.success:
            failed.append((task.id, result.terminated_by, result.error, result.final_message))
    assert not failed, failed


def test_do_nothing_fails(env, runtime, tmp_path):
    config = mode_config("baseline_worker", policy="expert", env={})
    task = SUITE.resolve("webclones.shop-1")

    class Quitter:  # answers immediately, leaving the site untouched
        from halo_core import hookimpl

        @hookimpl(tryfirst=True)
        def halo_decide(self, observation, episode):
            from halo_core import Decision

            return Decision("send_msg_to_user('Done')", "worker")

    quick = Runtime(runtime.pm)
    quick.pm.register(Quitter(), name="quitter")
    try:
        result = run_episode(task, config, env, quick, data_dir=tmp_path)
    finally:
        quick.pm.unregister(name="quitter")
    assert result.terminated_by == "message" and not result.success


def _kill_browser(env):
    pid = env.browser_pid
    assert pid, "the environment should know its browser's pid"
    os.kill(pid, signal.SIGKILL)


def test_killed_browser_ends_episode_and_next_starts_cleanly(runtime, tmp_path):
    env = SUITE.make_environment(ALL_TASKS[0], EnvSettings(screenshot=False))
    try:
        config = mode_config("baseline_worker", policy="expert", env={})
        task = SUITE.resolve("webclones.shop-1")
        killed_at = []

        def kill_after_first_step(record, after):
            if record.step_idx == 0:
                _kill_browser(env)
                killed_at.append(time.monotonic())

        result = run_episode(task, config, env, runtime, data_dir=tmp_path, on_step=kill_after_first_step)
        assert result.terminated_by == "error" and result.error
        assert time.monotonic() - killed_at[0] < min(within(15), 40)  # the step watchdog would take 45 s
        again = run_episode(task, config, env, runtime, data_dir=tmp_path)
        assert again.success, again.error
    finally:
        env.close()
