"""The plugin as HALO loads it: entry point, commands, and a live exporter that never ends an episode."""

from __future__ import annotations

from importlib.metadata import entry_points

import pytest
from click.testing import CliRunner

from halo_core.cli import cli


def test_entry_point_and_commands():
    eps = {ep.name: ep.value for ep in entry_points(group="halo")}
    assert eps.get("traces") == "halo_plugin_traces.plugin"
    runner = CliRunner()
    result = runner.invoke(cli, ["--help"])
    assert result.exit_code == 0
    for name in ("traces", "feedback", "report"):
        assert name in result.output
    assert "export" in runner.invoke(cli, ["traces", "--help"]).output
    assert {"add", "list"} <= set(runner.invoke(cli, ["feedback", "--help"]).output.split())


def test_a_broken_live_target_warns_and_the_episode_goes_on(tmp_path, monkeypatch, scenario):
    import halo_plugin_traces.plugin as traces_plugin
    from halo_core import mode_config, run_episode
    from halo_core.testing import ScriptedBackend, make_runtime

    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("HALO_TRACES_FILE", str(blocker / "spans.jsonl"))
    task = scenario.tasks()[1]
    with pytest.warns(RuntimeWarning, match="live export .* stopped"):
        result = run_episode(task, mode_config("baseline_worker", env={}, max_steps=5),
                             scenario.make_env(task), make_runtime(traces_plugin), run_id="broken", data_dir=tmp_path,
                             backends={"worker": ScriptedBackend(scenario.worker_reply())})
    assert result.terminated_by == "message" and result.steps == 3 and not result.error
