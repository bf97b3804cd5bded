"""Test helpers for plugins that drive the web clones through a model backend.

A backend plugin's end-to-end test serves a loopback model whose replies are the web-clone
expert's next action for the page the browser is on; :class:`ExpertOracle` knows that action
and :func:`run_oracle_episode` runs the episode through the real stack (browser →
observation → prompt → HTTP → parsing → action → browser)::

    oracle = ExpertOracle()
    with OpenAILoopback(lambda body: "Action: " + oracle.next_action(), key=KEY) as server:
        result = run_oracle_episode(oracle, "webclones.mail-8", tmp_path, plugins=(openai_plugin,),
                                    worker_backend="openai:gpt-4o-mini", backends={"worker": backend})
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from halo_core import hookimpl

__all__ = ["ExpertOracle", "run_oracle_episode"]


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
