"""Test helpers for plugins that drive the web clones through a model backend.

A backend plugin's end-to-end test serves a loopback model whose replies are the web-clone
expert's next action for the page the browser is on; :class:`ExpertOracle` knows that action
and :func:`run_oracle_episode` runs the episode through the real stack (browser →
observation → prompt → HTTP → parsing → action → browser)::

    oracle = ExpertOracle()
    with OpenAILoopback(lambda body: "Action: " + oracle.next_action(), key=KEY) as server:
        result = run_oracle_episode(oracle, "webclones.mail-8", tmp_path, plugins=(openai_plugin,),
                                    worker_backend="openai:gpt-4o-mini", backends={"worker": backend})

:func:`run_backend_through_loopback` is that test for a backend whose worker is an
HTTP client: it serves the loopback, builds the backend against it, asserts that the episode
succeeds with one model call a step, and returns the recorded requests for the wire-format
checks that differ from backend to backend.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from halo_core import hookimpl

__all__ = ["ExpertOracle", "run_backend_through_loopback", "run_oracle_episode"]


class ExpertOracle:
    """A plugin that remembers the episode and the page being decided on, so a model — a
    loopback server, or :attr:`backend` in-process — can answer with the expert's next action.

    :attr:`backend` is a counting :class:`~halo_core.testing.ScriptedBackend` that replies
    with that action (``backend.calls`` records every model call, e.g. to show a cache saved them).
    """

    def __init__(self) -> None:
        from halo_core.testing import ScriptedBackend

        self.episode = self.observation = None
        self.backend = ScriptedBackend(lambda messages: self.next_action(), name="expert:counting")

    @hookimpl
    def halo_annotate(self, observation, episode):
        self.episode, self.observation = episode, observation

    def next_action(self) -> str:
        from halo_plugin_webclones.policy import expert_action

        ep = self.episode
        return expert_action(ep.task.id, self.observation, ep.history, ep.observations)


def run_oracle_episode(oracle: ExpertOracle, task_id: str, data_dir: str | Path, *, plugins: tuple[Any, ...] = (),
                       mode: str = "baseline_worker", backends: dict | None = None, screenshot: bool = True,
                       max_steps: int = 10, **config: Any):
    """One episode of ``task_id`` in a real browser with ``oracle`` and ``plugins`` registered."""
    from halo_core.api import EnvSettings, mode_config, run_episode
    from halo_core.testing import make_runtime

    from halo_plugin_webclones.suite import WebclonesSuite

    suite = WebclonesSuite()
    task = suite.resolve(task_id)
    env = suite.make_environment(task, EnvSettings(screenshot=screenshot))
    try:
        cfg = mode_config(mode, env={}, max_steps=max_steps, **config)
        return run_episode(task, cfg, env, make_runtime(*plugins, oracle), backends=backends or {},
                           data_dir=data_dir)
    finally:
        env.close()


def run_backend_through_loopback(loopback: Callable[..., Any], make_backend: Callable[[str], Any], plugin: Any,
                                 worker_backend: str, data_dir: str | Path, *, key_env: str,
                                 key: str = "sk-test-e2e-000000", task_id: str = "webclones.mail-8"
                                 ) -> list[dict[str, Any]]:
    """Run ``task_id`` with the worker ``make_backend(url)`` talking to ``loopback(reply, key=key)``.

    ``loopback`` is a :class:`halo_core.loopback.RecordingLoopback` class that answers every call
    with ``"Action: "`` and the expert's next action; ``key`` is set in ``key_env`` meanwhile.
    Skips when the browser environment cannot be imported. Asserts that the episode succeeds
    and that every step made exactly one model call; returns the requests the server recorded.
    """
    import pytest

    pytest.importorskip("halo_core.env.browser")
    oracle = ExpertOracle()
    with pytest.MonkeyPatch.context() as patch, loopback(lambda body: "Action: " + oracle.next_action(),
                                                         key=key) as server:
        patch.setenv(key_env, key)
        result = run_oracle_episode(oracle, task_id, data_dir, plugins=(plugin,), worker_backend=worker_backend,
                                    backends={"worker": make_backend(server.url)})
        assert result.success, (result.terminated_by, result.error, result.final_message)
        assert result.usage.calls == result.steps == len(server.requests)
        return server.requests
