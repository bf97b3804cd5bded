"""The expert solves tasks that need the mouse and keyboard actions (coordinates, drags, a text
selection, a target without a bid of its own), through HALO's loop in real Chromium, on held-out
seeds; and what it did is a recorded mouse action, not an element action."""

import pytest

from halo_core.config import AgentConfig
from halo_core.env.protocol import EnvSettings
from halo_core.loop import run_episode
from halo_core.testing import make_runtime
from halo_core.trajectory import read_trajectory
import halo_plugin_miniwob.plugin as plugin
from halo_plugin_miniwob import MiniwobSuite

SUITE = MiniwobSuite()


@pytest.fixture(scope="module")
def env():
    environment = SUITE.make_environment(None, EnvSettings(screenshot=False))
    yield environment
    environment.close()


@pytest.mark.parametrize("task, action", [
    ("grid-coordinate@10001", "mouse_click("),
    ("drag-box@10002", "mouse_drag_and_drop("),
    ("highlight-text@10003", "mouse_drag_and_drop("),
    ("email-inbox-reply@10004", "mouse_click("),
    ("drag-items-grid@10000", "mouse_down("),  # pressed, moved across the target cell, released
])
def test_expert_solves_a_pointer_task(env, tmp_path, task, action):
    result = run_episode(SUITE.resolve(f"miniwob.{task}"), AgentConfig(policy="expert", max_steps=15), env,
                         make_runtime(plugin), run_id="t", data_dir=tmp_path)
    assert result.success, (result.terminated_by, result.final_message, result.error)
    episode = read_trajectory(next(tmp_path.rglob("*.jsonl")))
    assert any(step.action.startswith(action) for step in episode.steps), [s.action for s in episode.steps]
