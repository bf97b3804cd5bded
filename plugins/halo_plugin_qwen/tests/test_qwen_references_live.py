"""Grounded references end to end: live MiniWoB episodes in Chromium with a scripted model
answering ``*k``/``$k``, the export of those episodes (byte-identical prompts), and expert
relabelling with on-policy DPO pairs built from a real mistake."""

import json
import re

import pytest

import halo_plugin_miniwob.plugin as miniwob_plugin
import halo_plugin_qwen.plugin as qwen_plugin
from halo_core.config import AgentConfig
from halo_core.env.protocol import EnvSettings
from halo_core.export import export_datasets
from halo_core.loop import run_episode
from halo_core.testing import ScriptedBackend, make_runtime
from halo_core.trajectory import read_trajectory
from halo_plugin_miniwob import MiniwobSuite
from halo_plugin_qwen.references import references_in, resolve, rewrite_example

SUITE = MiniwobSuite()


@pytest.fixture(scope="module")
def env():
    environment = SUITE.make_environment(None, EnvSettings(screenshot=False))
    yield environment
    environment.close()


@pytest.fixture(scope="module")
def runtime():
    return make_runtime(qwen_plugin, miniwob_plugin)


def _config(**options):
    return AgentConfig(policy="worker", worker_backend="scripted:test", max_steps=4).replace(
        worker_references="on", **options)


def _trajectory(tmp_path, run_id, task):
    return next((tmp_path / "trajectories").glob(f"*/{run_id}/{task.id}__attempt_0.jsonl"))


def test_a_scripted_model_answering_with_references_solves_login_user(env, runtime, tmp_path):
    task = SUITE.resolve("miniwob.login-user@5")
    backend = ScriptedBackend(["fill(*1, $1)", "fill(*2, $2)", "click(*3)"])
    result = run_episode(task, _config(), env, runtime, run_id="refs", data_dir=tmp_path,
                         backends={"worker": backend})
    assert result.success, result
    trajectory = read_trajectory(_trajectory(tmp_path, "refs", task))
    username, password = re.findall(r'"([^"]+)"', trajectory.goal)
    assert [s.action for s in trajectory.steps] == [f"fill('1', {username!r})", f"fill('2', {password!r})",
                                                    "click('3')"]
    assert [s.decision_meta["reply"] for s in trajectory.steps] == ["fill(*1, $1)", "fill(*2, $2)", "click(*3)"]
    shown = backend.calls[0]
    assert "Goal values: $1" in shown[-1].content and "*k names the element" in shown[0].content
    assert trajectory.start.config["worker_references"] == "on"  # the style is recorded with the episode

    # export: the training prompts are the live prompts, byte for byte, and the replies the model wrote;
    # both from the logged prompt and from a prompt rebuilt out of the recorded observation
    path = _trajectory(tmp_path, "refs", task)
    lines = path.read_text().splitlines()
    rebuilt_dir = tmp_path / "rebuilt" / "trajectories" / "m" / "r"
    rebuilt_dir.mkdir(parents=True)
    stripped = []
    for line in lines:
        row = json.loads(line)
        if row.get("type") == "step":
            row["decision_meta"].pop("prompt")
        stripped.append(json.dumps(row))
    (rebuilt_dir / path.name).write_text("\n".join(stripped) + "\n")
    for source in (tmp_path / "trajectories", tmp_path / "rebuilt" / "trajectories"):
        out = export_datasets(source, tmp_path / "ds" / source.parent.name, val_fraction=0.0, split="all",
                              include_debug=True, rewrite=rewrite_example, runtime=runtime)
        rows = [json.loads(x) for x in (out.out_dir / "bc.jsonl").read_text().splitlines()]
        assert len(rows) == 3
        for row, call in zip(sorted(rows, key=lambda r: r["step_idx"]), backend.calls):
            assert row["prompt"] == [{"role": m.role, "content": m.content} for m in call]
        assert [r["completion"][0]["content"] for r in sorted(rows, key=lambda r: r["step_idx"])] == [
            "fill(*1, $1)", "fill(*2, $2)", "click(*3)"]


def test_an_undefined_reference_is_an_invalid_output_never_sent(env, runtime, tmp_path):
    task = SUITE.resolve("miniwob.click-button@3")
    backend = ScriptedBackend(["click(*9)", "click(*9)"])
    result = run_episode(task, _config(), env, runtime, run_id="bad", data_dir=tmp_path,
                         backends={"worker": backend}, )
    step = read_trajectory(_trajectory(tmp_path, "bad", task)).steps[0]
    assert step.action == "noop()" and "*9 is not a marked element" in step.decision_meta["parse_error"]
    assert step.decision_meta["invalid_output"] == "click(*9)"
    assert len(backend.calls[0]) + 2 == len(backend.calls[1])  # asked once more, with the reason
    assert not result.success


def test_expert_labels_become_relabelled_examples_and_on_policy_pairs(env, runtime, tmp_path):
    task = SUITE.resolve("miniwob.click-button@21")

    def wrong_button(messages):
        # a model's mistake: the first button that is not the best match for the goal
        others = re.findall(r"^\s*(?:\*(?!1 )\d+ )?\[(\w+)\] button ", messages[-1].content, re.M)
        return f"click('{others[0]}')"

    result = run_episode(task, _config(expert_labels=True), env, runtime, run_id="dagger", data_dir=tmp_path,
                         backends={"worker": ScriptedBackend(wrong_button)})
    assert not result.success
    step = read_trajectory(_trajectory(tmp_path, "dagger", task)).steps[0]
    label = step.decision_meta["expert_action"]
    assert label != step.action and label.startswith("click(")
    out = export_datasets(tmp_path / "trajectories", tmp_path / "ds", modes=(_config().mode,), split="all",
                          include_debug=True, pairing_strategies=("on_policy",), val_fraction=0.0,
                          rewrite=rewrite_example, runtime=runtime)
    bc = [json.loads(x) for x in (out.out_dir / "bc.jsonl").read_text().splitlines()]
    pairs = [json.loads(x) for x in (out.out_dir / "dpo.jsonl").read_text().splitlines()]
    assert out.summary["bc_examples_relabelled"] == 1 and out.summary["dpo_pairs_by_strategy"] == {"on_policy": 1}
    refs = references_in(pairs[0]["prompt"][-1]["content"])
    assert resolve(pairs[0]["chosen"][0]["content"], refs) == label  # chosen: the expert's action at that state
    assert resolve(pairs[0]["rejected"][0]["content"], refs) == step.action  # rejected: the model's own mistake
    assert pairs[0]["source"] == "real"
    assert len(bc) == 1 and resolve(bc[0]["completion"][0]["content"], refs) == label  # a failed episode, relabelled
