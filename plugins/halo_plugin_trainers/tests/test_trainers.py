"""BC, DPO and GRPO on CPU with a tiny Qwen2 model: train a few steps, save, reload the
adapter through the ``local:`` backend and take an episode step with it."""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import pytest
from click.testing import CliRunner

for _var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
    os.environ[_var] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HALO_TORCH_THREADS", "2")

pytest.importorskip("trl")
pytest.importorskip("peft")
torch = pytest.importorskip("torch")
tiny = pytest.importorskip("halo_plugin_qwen.tiny")
torch.set_num_threads(2)

from halo_plugin_trainers import train_bc, train_dpo, train_grpo
from halo_plugin_trainers._common import TrainingError
from halo_plugin_trainers.rewards import action_match_reward, action_validity_reward, page_bids

from halo_core.config import mode_config
from halo_core.export import export_datasets
from halo_core.loop import run_episode
from halo_core.model import TaskSpec
from halo_core.testing import GraphEnvironment, Page, ScriptedBackend, make_runtime

WIN = ["click('1')", "click('1')", "click('1')", "send_msg_to_user('Done')"]
LOSE = ["click('2')", "click('1')", "click('2')", "send_msg_to_user('Done')"]
FAST = dict(batch_size=2, logging_steps=1, save_steps=1, progress="none", max_length=2048, seed=0)


def shop() -> GraphEnvironment:
    pages = {
        "home": Page("Home", [("link", "Products", "products"), ("link", "Help", "help")]),
        "products": Page("Products", [("link", "Blender", "blender")]),
        "help": Page("Help", [("link", "Home", "home")]),
        "blender": Page("Blender", [("button", "Add to cart", "cart")]),
        "cart": Page("Cart", [("link", "Home", "home")]),
    }
    return GraphEnvironment(pages, goal_page="cart")


TASK = TaskSpec(id="graph.shop-1", goal="Put the blender in the cart", suite="graph")


def _episode(data_dir: Path, actions, attempt: int) -> bool:
    config = mode_config("baseline_worker", worker_backend="scripted:test", max_steps=len(actions),
                         use_screenshot=False, use_recovery=False)
    return run_episode(TASK, config, shop(), make_runtime(), run_id="r", attempt=attempt, data_dir=data_dir,
                       backends={"worker": ScriptedBackend(list(actions))}).success


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp("trainers")
    assert _episode(root / "data", WIN, 0)
    assert not _episode(root / "data", LOSE, 1)
    export_datasets(root / "data" / "trajectories", root / "ds", pairing_strategies=["success_vs_failure"],
                    val_fraction=0.0)
    rows = [json.loads(x) for x in (root / "ds" / "bc.jsonl").read_text().splitlines()]
    corpus = [m["content"] for r in rows for m in r["prompt"] + r["completion"]]
    base = tiny.build_tiny_qwen(root / "base", corpus, vocab_size=400, hidden_size=32, layers=1, heads=2)
    return root, base


def _check_adapter(out: Path, base: Path, kind: str, steps: int) -> None:
    config = json.loads((out / "adapter_config.json").read_text())
    assert Path(config["base_model_name_or_path"]) == base.resolve()
    assert (out / "adapter_model.safetensors").is_file()
    assert not (out / "ref").exists(), "only the trained adapter is saved"
    card = (out / "README.md").read_text()
    assert f"base_model: {base.resolve()}" in card and "| steps |" in card and "--lora-modules" in card
    summary = json.loads((out / "training_summary.json").read_text())
    assert summary["kind"] == kind and summary["metrics"]["global_step"] == steps


def _one_step_with(adapter: Path) -> dict:
    """Load ``adapter`` through the local: backend and let it take one step as the worker."""
    runtime = make_runtime(entrypoints=True)
    backend = runtime.backends.create(f"local:{adapter}")
    config = mode_config("qwen_worker_bc", worker_backend=f"local:{adapter}", use_manager=False, use_vac=False,
                         use_macros=False, use_recovery=False, use_screenshot=False, max_steps=1, max_tokens=16)
    result = run_episode(TASK, config, shop(), runtime, run_id="t", data_dir=adapter / "_episode",
                         backends={"worker": backend})
    assert result.terminated_by == "max_steps" and result.steps == 1, result.error
    lines = [json.loads(x) for x in next((adapter / "_episode").rglob("*__attempt_*.jsonl")).read_text().splitlines()]
    step = next(e for e in lines if e["type"] == "step")
    assert step["action_source"] == "worker" and step["decision_meta"]["model"].startswith("local:")
    assert result.usage.calls >= 1
    return step


def test_bc_dpo_grpo_train_save_reload_and_act(workspace):
    root, base = workspace
    ds = root / "ds"
    bc = train_bc(dataset=str(ds / "bc.jsonl"), base_model=str(base), output=str(root / "bc"), max_steps=2, **FAST)
    _check_adapter(bc, base, "bc", 2)
    _one_step_with(bc)

    dpo = train_dpo(dataset=str(ds / "dpo.jsonl"), base_model=str(bc), output=str(root / "dpo"), max_steps=2,
                    **FAST)
    _check_adapter(dpo, base, "dpo", 2)
    summary = json.loads((dpo / "training_summary.json").read_text())
    assert summary["init_adapter"] == str(bc.resolve()) and "starting adapter" in summary["reference"]
    _one_step_with(dpo)

    grpo = train_grpo(dataset=str(ds / "bc.jsonl"), base_model=str(base), init_adapter=str(bc),
                      output=str(root / "grpo"), max_steps=1, num_generations=2, max_completion_length=8,
                      **{**FAST, "batch_size": 2})
    _check_adapter(grpo, base, "grpo", 1)
    assert "action_validity_reward" in json.loads((grpo / "training_summary.json").read_text())["rewards"]
    _one_step_with(grpo)


def test_cli_train_and_resume(workspace):
    from halo_core.cli import cli

    root, base = workspace
    out = root / "bc_cli"
    args = ["train", "bc", "--dataset", str(root / "ds" / "bc.jsonl"), "--base-model", str(base), "--output",
            str(out), "--batch-size", "2", "--save-steps", "1", "--progress", "none", "--lora-r", "4",
            "--lora-alpha", "8"]
    result = CliRunner().invoke(cli, [*args, "--max-steps", "2"])
    assert result.exit_code == 0, result.output
    assert (out / "checkpoint-2").is_dir() and "[bc] done: 2 steps" in result.output
    result = CliRunner().invoke(cli, [*args, "--max-steps", "3", "--resume"])
    assert result.exit_code == 0, result.output
    assert "resuming from" in result.output and "checkpoint-2" in result.output
    summary = json.loads((out / "training_summary.json").read_text())
    assert summary["metrics"]["global_step"] == 3 and summary["metrics"]["resumed_from"].endswith("checkpoint-2")
    assert "halo train bc" in summary["command_line"] or "train bc" in summary["command_line"]
    config = json.loads((out / "adapter_config.json").read_text())
    assert config["r"] == 4 and config["lora_alpha"] == 8


def test_lora_on_the_top_layers_only(workspace):
    """``--lora-top-layers 1``: adapters on the last decoder layer alone; the layer below
    gets no adapter weights and its frozen weights do not move."""
    from halo_plugin_qwen.tiny import build_tiny_qwen
    from safetensors.torch import load_file

    from halo_core.cli import cli

    root, _ = workspace
    base = build_tiny_qwen(root / "two_layers", ["Goal: Page: Next action: click('1')"] * 4, seed=1,
                           vocab_size=400, hidden_size=32, layers=2, heads=2)
    out = root / "bc_top"
    result = CliRunner().invoke(cli, ["train", "bc", "--dataset", str(root / "ds" / "bc.jsonl"), "--base-model",
                                      str(base), "--output", str(out), "--batch-size", "2", "--max-steps", "2",
                                      "--progress", "none", "--lora-top-layers", "1"])
    assert result.exit_code == 0, result.output
    layers = json.loads((base / "config.json").read_text())["num_hidden_layers"]
    config = json.loads((out / "adapter_config.json").read_text())
    assert config["layers_to_transform"] == [layers - 1]
    assert {"q_proj", "down_proj"} <= set(config["target_modules"])
    keys = list(load_file(str(out / "adapter_model.safetensors")))
    assert layers == 2 and keys and all(".layers.1." in k for k in keys), keys
    assert json.loads((out / "training_summary.json").read_text())["options"]["lora_top_layers"] == 1


@pytest.mark.parametrize("lora", [True, False])
def test_bc_loss_on_the_labelled_positions_equals_trls(workspace, monkeypatch, lora):
    """BC's CPU loss scores only the action's positions; trl's own path (every position
    through its fused head) gives the same losses, and BC did not fall back to it."""
    import trl

    import halo_plugin_trainers.bc as bc

    root, base = workspace
    trl_calls = []
    real = trl.SFTTrainer.compute_loss

    def counted(self, *args, **kwargs):
        trl_calls.append(1)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(trl.SFTTrainer, "compute_loss", counted)
    shared = []
    real_length = bc.shared_prefix_length
    monkeypatch.setattr(bc, "shared_prefix_length", lambda *a: shared.append(real_length(*a)) or shared[-1])
    losses = {}
    for ours in ("shared start", "whole rows", "trl"):
        trl_calls.clear()
        monkeypatch.setattr(bc, "MIN_SHARED_PREFIX", 32 if ours == "shared start" else 1 << 30)
        if ours == "trl":
            monkeypatch.setattr(bc, "completion_loss_trainer", lambda: trl.SFTTrainer)
        out = train_bc(dataset=str(root / "ds" / "bc.jsonl"), base_model=str(base),
                       output=str(root / f"cl_{ours.replace(' ', '_')}_{lora}"), max_steps=3, lora=lora,
                       **{**FAST, "lr": 1e-2})
        assert (len(trl_calls) == 0) is (ours != "trl")
        history = json.loads((out / "checkpoint-3" / "trainer_state.json").read_text())["log_history"]
        losses[ours] = [h["loss"] for h in history if "loss" in h]
        assert len(losses[ours]) == 3 and all(0 <= h["mean_token_accuracy"] <= 1 for h in history if "loss" in h)
        if ours == "shared start":
            assert any(shared)  # the system turn was computed once per batch
    assert losses["whole rows"] == pytest.approx(losses["trl"], rel=1e-4)
    # the same sums in another order; Adam's normalised steps at lr 1e-2 carry the rounding on
    assert losses["shared start"] == pytest.approx(losses["trl"], rel=2e-3)
    assert losses["shared start"][0] == pytest.approx(losses["trl"][0], rel=1e-5)
    assert losses["trl"][0] != pytest.approx(losses["trl"][-1], rel=1e-3)  # it trained: the losses moved


def test_bc_computes_a_batch_s_shared_prompt_start_once(workspace):
    """Rows that open with the same tokens (the system turn) have that start computed once
    for the batch; the loss and every gradient equal the plain pass's. A start that differs,
    is padded or is labelled is not shared."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    import halo_plugin_trainers.bc as bc

    root, base = workspace
    model, tokenizer = AutoModelForCausalLM.from_pretrained(base), AutoTokenizer.from_pretrained(base)
    rows = [json.loads(x) for x in (root / "ds" / "bc.jsonl").read_text().splitlines()][:3]
    seqs, labels = [], []
    for row in rows:
        prompt = tokenizer(tokenizer.apply_chat_template(row["prompt"], tokenize=False, add_generation_prompt=True),
                           add_special_tokens=False)["input_ids"]
        full = tokenizer(tokenizer.apply_chat_template(row["prompt"] + row["completion"], tokenize=False),
                         add_special_tokens=False)["input_ids"]
        seqs.append(full)
        labels.append([-100] * len(prompt) + full[len(prompt):])
    width = max(map(len, seqs)) + 3  # right padding, as trl's collator pads
    ids = torch.tensor([s + [0] * (width - len(s)) for s in seqs])
    attention = torch.tensor([[1] * len(s) + [0] * (width - len(s)) for s in seqs])
    target = torch.tensor([x + [-100] * (width - len(x)) for x in labels])
    prefix = bc.shared_prefix_length(ids, attention, target)
    assert prefix >= bc.MIN_SHARED_PREFIX
    assert (ids[:, :prefix] == ids[0, :prefix]).all() and not (ids[:, prefix] == ids[0, prefix]).all()

    def loss_and_grads(shared: bool):
        model.zero_grad()
        forward = {"input_ids": ids, "attention_mask": attention}
        hidden = (bc.shared_prefix_hidden(model.model, forward, target) if shared
                  else model.model(**forward, use_cache=False).last_hidden_state[:, :-1])
        mask = target[:, 1:] != -100
        loss = torch.nn.functional.cross_entropy(model.lm_head(hidden[mask]), target[:, 1:][mask])
        loss.backward()
        return loss.item(), [p.grad.clone() for p in model.parameters()]

    plain, shared = loss_and_grads(False), loss_and_grads(True)
    assert shared[0] == pytest.approx(plain[0], rel=1e-5)
    for a, b in zip(plain[1], shared[1]):
        assert torch.allclose(a, b, atol=1e-6, rtol=1e-4)
    labelled = target.clone()
    labelled[:, 5] = ids[:, 5]
    assert bc.shared_prefix_length(ids, attention, labelled) == 0  # a labelled token is never shared
    assert bc.shared_prefix_length(ids[:1], attention[:1], target[:1]) == 0  # one row: nothing to share


def test_cli_errors_are_one_line(workspace, tmp_path):
    from halo_core.cli import cli

    root, base = workspace
    result = CliRunner().invoke(cli, ["train", "dpo", "--dataset", str(tmp_path / "missing.jsonl"), "--base-model",
                                      str(base), "--output", str(tmp_path / "o")])
    assert result.exit_code != 0 and "does not exist" in result.output


def test_gradient_checkpointing_recomputes_and_trains_the_same(workspace, monkeypatch):
    """--gradient-checkpointing really checkpoints (torch's checkpoint runs in backward) and
    changes memory, not results: the same seed gives the same losses."""
    import torch.utils.checkpoint as ckpt

    root, base = workspace
    calls = []
    real = ckpt.checkpoint

    def counting(*args, **kwargs):
        calls.append(kwargs.get("use_reentrant"))
        return real(*args, **kwargs)

    import transformers.modeling_utils as modeling_utils

    monkeypatch.setattr(ckpt, "checkpoint", counting)
    if hasattr(modeling_utils, "checkpoint"):  # transformers binds torch's function at import
        monkeypatch.setattr(modeling_utils, "checkpoint", counting)
    losses = {}
    for on in (False, True):
        calls.clear()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            out = train_bc(dataset=str(root / "ds" / "bc.jsonl"), base_model=str(base), output=str(root / f"gc_{on}"),
                           max_steps=2, gradient_checkpointing=on, **FAST)
        # the option is passed under the name this transformers reads: no deprecation warning on every run
        assert not [str(w.message) for w in caught if str(w.message).startswith("`gradient_checkpointing")]
        summary = json.loads((out / "training_summary.json").read_text())
        assert summary["options"]["gradient_checkpointing"] is on
        assert (len(calls) > 0) is on and all(c is False for c in calls)  # non-reentrant: LoRA inputs need no grad
        losses[on] = summary["metrics"]["train_loss"]
    assert losses[True] == pytest.approx(losses[False], rel=1e-4)


def test_online_grpo_refuses_gradient_checkpointing(workspace, tmp_path):
    from halo_core.cli import cli

    root, base = workspace
    result = CliRunner().invoke(cli, ["train", "grpo", "--online", "--tasks", "miniwob.click-button@0", "--suite",
                                      "miniwob", "--base-model", str(base), "--output", str(tmp_path / "o"),
                                      "--gradient-checkpointing", "--max-steps", "1"])
    assert result.exit_code != 0 and "--gradient-checkpointing is not supported by online GRPO" in result.output
    assert len(result.output.strip().splitlines()) == 1 and not (tmp_path / "o").exists()


def test_trainers_and_commands_are_registered():
    from halo_core.cli import cli

    runtime = make_runtime(entrypoints=True)
    assert {"bc", "dpo", "grpo"} <= set(runtime.trainers.trainers)
    result = CliRunner().invoke(cli, ["--help"])
    assert "train" in result.output and "demo" in result.output


def test_wilson_interval():
    from halo_plugin_trainers.demo import results_table, wilson_interval

    low, high = wilson_interval(0, 12)
    assert low == 0.0 and 0.24 < high < 0.25  # 0/12 still allows up to ~24%
    low, high = wilson_interval(16, 24)
    assert 0.46 < low < 0.48 and 0.81 < high < 0.83
    assert wilson_interval(5, 5)[1] == 1.0
    with pytest.raises(ValueError):
        wilson_interval(0, 0)
    row = {"tasks": 12, "successes": 0, "success_rate": 0.0, "mean_steps": 4.0, "valid_action_rate": 0.5}
    table = results_table({m: {"test": row, "train": {**row, "tasks": 24, "successes": 16, "success_rate": 16 / 24}}
                           for m in ("zero", "bc", "dpo", "grpo")})
    assert "| 0% [0–24%] (0/12) | 67% [47–82%] (16/24) |" in table


def test_offline_rewards():
    prompt = [{"role": "system", "content": "x"},
              {"role": "user", "content": "Goal: g\n\nURL: u\n\nPage (home):\n[1] link 'A'\n  [7] button 'B'\n\n"
                                          "Previous actions:\nnone\n\nNext action:"}]
    assert page_bids(prompt) == {"1", "7"}

    def c(text):
        return [{"role": "assistant", "content": text}]

    completions = [c("click('7')"), c("click('9')"), c("nonsense"), c("send_msg_to_user('Done')")]
    assert action_validity_reward([prompt] * 4, completions) == [1.0, 0.0, 0.0, 1.0]
    expected = ["click('7')"] * 4
    assert action_match_reward([prompt] * 4, completions, expected) == [1.0, 0.2, 0.0, 0.0]
    assert action_match_reward([prompt], [c("fill('7', 'x')")], ["fill('7', 'y')"]) == [0.5]


# --------------------------------------------------------------------------- slow: browser + web clones


def _webclones():
    return pytest.importorskip("halo_plugin_webclones")


@pytest.mark.slow
def test_online_reward_plays_the_completion_in_the_live_environment():
    _webclones()
    from halo_plugin_trainers.rewards import OnlineTaskReward

    reward = OnlineTaskReward(suite="webclones", policy="expert", max_steps=8)
    try:
        # calendar-1 (a question): the expert opens the event, then answers
        task = "webclones.calendar-1"
        good = reward.play(task, 0, _expert_first_action(reward, task))
        bad = reward.play(task, 0, "send_msg_to_user('I do not know')")  # ends the episode with a wrong answer
        assert (good, bad) == (1.0, 0.0)
        assert reward.episodes == 2
        assert reward.play(task, 0, "send_msg_to_user('I do not know')") == 0.0 and reward.episodes == 2  # cached
    finally:
        reward.close()


def _expert_first_action(reward, task_id: str) -> str:
    from halo_plugin_webclones.policy import expert_action

    from halo_core.env.protocol import EnvSettings

    suite = reward.suite
    task = suite.resolve(task_id)
    env = suite.make_environment(task, EnvSettings(headless=True, screenshot=False))
    try:
        from halo_core.loop import Episode, observe

        raw = env.reset(task)
        episode = Episode(task=task, config=reward._config(), runtime=reward.runtime)
        return expert_action(task_id, observe(reward.runtime, raw, episode))
    finally:
        env.close()


@pytest.mark.slow
def test_halo_run_with_a_local_adapter_in_a_qwen_mode(workspace):
    """``halo run --mode qwen_worker_bc --worker-backend local:<adapter>`` on a web clone."""
    _webclones()
    from halo_core.cli import cli

    root, base = workspace
    adapter = root / "bc"
    if not (adapter / "adapter_config.json").exists():
        train_bc(dataset=str(root / "ds" / "bc.jsonl"), base_model=str(base), output=str(adapter), max_steps=1,
                 **FAST)
    result = CliRunner().invoke(cli, ["run", "webclones.calendar-1", "--mode", "qwen_worker_bc",
                                      "--worker-backend", f"local:{adapter}", "--manager-backend",
                                      f"local:{adapter}", "--max-steps", "2", "--data-dir", str(root / "run")])
    assert "ended_by=" in result.output, result.output
    trajectories = list((root / "run" / "trajectories" / "qwen_worker_bc").rglob("*__attempt_*.jsonl"))
    assert trajectories
    steps = [e for e in map(json.loads, trajectories[0].read_text().splitlines()) if e["type"] == "step"]
    assert steps and all(s["decision_meta"].get("model", "").startswith("local:") for s in steps
                         if s["action_source"] == "worker")


@pytest.mark.slow
def test_halo_demo_quick(tmp_path):
    _webclones()
    from halo_core.cli import cli

    result = CliRunner().invoke(cli, ["demo", "--suite", "webclones", "--quick", "--out", str(tmp_path),
                                      "--run-id", "q"])
    assert result.exit_code == 0, result.output
    assert "| model | test success [95% CI] (k/n) |" in result.output
    report = tmp_path / "q" / "report.md"
    results = json.loads((tmp_path / "q" / "results.json").read_text())
    assert report.is_file() and "zero-shot" in report.read_text()
    for model in ("zero", "bc", "dpo", "grpo"):
        for split in ("test", "train"):
            row = results["results"][model][split]
            assert row["tasks"] >= 1 and row["errors"] == 0, (model, split, row)
            low, high = row["success_ci95"]
            assert 0.0 <= low <= row["success_rate"] <= high <= 1.0
            assert f"({row['successes']}/{row['tasks']})" in report.read_text()
    # the expert demonstrations all succeeded and became training data
    assert results["datasets"]["episodes_successful"] == len(results["train_tasks"])
    # the same --run-id continues the run: finished models and episodes are reused, nothing retrained
    stamps = {m: (tmp_path / "q" / "models" / m / "training_summary.json").stat().st_mtime_ns
              for m in ("tiny_warm", "bc", "dpo", "grpo")}
    again = CliRunner().invoke(cli, ["demo", "--suite", "webclones", "--quick", "--out", str(tmp_path),
                                     "--run-id", "q"])
    assert again.exit_code == 0, again.output
    assert again.output.count("reusing the model trained earlier in this run") == 4
    assert stamps == {m: (tmp_path / "q" / "models" / m / "training_summary.json").stat().st_mtime_ns for m in stamps}
    rerun = json.loads((tmp_path / "q" / "results.json").read_text())
    assert {m: rerun["results"][m]["test"]["successes"] for m in stamps if m in rerun["results"]} == \
        {m: results["results"][m]["test"]["successes"] for m in stamps if m in results["results"]}


@pytest.mark.slow
def test_halo_demo_on_miniwob_seeds(tmp_path):
    """``halo demo --suite miniwob``: expert demos on train seeds, a round of expert relabelling,
    the four models on held-out test seeds of the same tasks, online GRPO in live episodes, a
    per-task table; prompts with grounded references."""
    from halo_core.cli import cli

    result = CliRunner().invoke(cli, ["demo", "--suite", "miniwob", "--quick", "--tasks", "click-button,enter-text",
                                      "--train-seeds", "2", "--test-seeds", "1", "--train-steps", "60",
                                      "--bc-epochs", "3", "--out", str(tmp_path), "--run-id", "m"])
    assert result.exit_code == 0, result.output
    results = json.loads((tmp_path / "m" / "results.json").read_text())
    assert results["suite"] == "miniwob" and results["grpo"] == "online"
    assert sorted(results["test_tasks"]) == ["miniwob.click-button@10000", "miniwob.enter-text@10000"]
    assert all(int(t.rsplit("@", 1)[1]) < 10000 for t in results["train_tasks"])
    assert results["datasets"]["episodes_successful"] == 4  # every demonstration succeeded and was exported
    per_task = results["per_task_test"]
    assert sorted(per_task) == ["click-button", "enter-text"]
    for model in ("zero", "bc", "dpo", "grpo"):
        assert all(per_task[name][model]["episodes"] == 1 for name in per_task)
        assert results["results"][model]["test"]["tasks"] == 2 and results["results"][model]["test"]["errors"] == 0
    report = (tmp_path / "m" / "report.md").read_text()
    assert "Held-out seeds per task" in report and "| enter-text |" in report and "GRPO: online" in report
    grpo = json.loads((tmp_path / "m" / "models" / "grpo" / "training_summary.json").read_text())
    assert grpo["online"] is True and grpo["metrics"]["episodes"] == 8  # 2 updates x groups of 4
    # references: the training prompts are grounded and the models were told so
    assert results["references"] is True and "grounded references" in report
    bc_row = json.loads((tmp_path / "m" / "datasets" / "bc.jsonl").read_text().splitlines()[0])
    assert "Goal values:" in bc_row["prompt"][-1]["content"]
    assert json.loads((tmp_path / "m" / "models" / "bc" / "halo_prompt.json").read_text()) == {"references": True}
    # one round of expert relabelling: the BC model played the 4 train instances, BC trained again
    dagger = results["dagger"]["round_1"]
    assert dagger["episodes"] == 4 and dagger["bc_examples"] >= results["datasets"]["bc_examples"]["train"]
    assert results["training_data"]["bc_examples"]["train"] == dagger["bc_examples"]
    assert results["training_data"]["episodes_read"] == 8  # the 4 demonstrations and the 4 relabelled episodes
    # --bc-epochs: BC's steps follow its data (3 passes), each relabelling round one pass over the aggregate
    from halo_plugin_trainers.demo import _epoch_steps

    bc_summary = json.loads((tmp_path / "m" / "models" / "bc" / "training_summary.json").read_text())
    assert results["bc_epochs"] == 3.0
    assert bc_summary["options"]["max_steps"] == results["bc_steps"] == _epoch_steps(3.0, results["datasets"]["bc_examples"]["train"])
    round_summary = json.loads((tmp_path / "m" / "models" / "bc_dagger1" / "training_summary.json").read_text())
    assert round_summary["options"]["max_steps"] == dagger["bc_steps"] == _epoch_steps(1.0, dagger["bc_examples"])
    assert results["grpo_groups"]["updates"] == 2 and 0 <= results["grpo_groups"]["mixed_groups"] <= 2


@pytest.mark.slow
def test_halo_demo_with_a_pretrained_base(tmp_path):
    """``halo demo --base <folder> --until dpo``: the folder is the zero-shot model as it is
    (no tiny model, no warm-up), BC and DPO are LoRA adapters on it, and no GRPO is trained
    or evaluated."""
    from halo_plugin_qwen.tiny import build_tiny_qwen

    from halo_core.cli import cli

    base = build_tiny_qwen(tmp_path / "pretrained", ["Goal: Page: Next action: click('1')"] * 4, seed=3,
                           vocab_size=512, hidden_size=32)
    result = CliRunner().invoke(cli, ["demo", "--suite", "miniwob", "--quick", "--tasks", "click-button",
                                      "--train-seeds", "1", "--test-seeds", "1", "--train-steps", "4",
                                      "--max-steps", "2", "--base", str(base), "--until", "dpo",
                                      "--out", str(tmp_path), "--run-id", "p"])
    assert result.exit_code == 0, result.output
    results = json.loads((tmp_path / "p" / "results.json").read_text())
    assert results["models"]["zero"] == f"local:{base.resolve()}" and results["warmup_steps"] == 0
    assert results["tiny_model"]["pretrained"] is True
    assert not (tmp_path / "p" / "models" / "tiny_base").exists()
    for stage in ("bc", "dpo"):
        summary = json.loads((tmp_path / "p" / "models" / stage / "training_summary.json").read_text())
        assert (tmp_path / "p" / "models" / stage / "adapter_config.json").is_file(), stage
        assert summary["lora"] is True, stage
    assert not (tmp_path / "p" / "models" / "grpo").exists()
    assert set(results["models"]) == set(results["results"]) == {"zero", "bc", "dpo"}
    assert results["results"]["dpo"]["test"]["tasks"] == 1
    report = (tmp_path / "p" / "report.md").read_text()
    assert "pretrained" in report and "GRPO (from BC)" not in report


def test_balancing_gives_every_task_the_same_share_of_the_rows():
    from collections import Counter

    from datasets import Dataset
    from halo_plugin_trainers.bc import balance_tasks

    # a long task (12 examples over 3 seeds), a short one (2) and a one-example one
    ids = [f"suite.long@{s}" for s in range(3) for _ in range(4)] + ["suite.short@0", "suite.short@1", "suite.one"]
    data = Dataset.from_list([{"task_id": t, "row": i} for i, t in enumerate(ids)])
    out, info = balance_tasks(data, 30, seed=0)
    assert len(out) == 30 and info == {"tasks": 3, "rows_per_task": 10, "rows": 30}
    per_task = Counter(t.rsplit("@", 1)[0] for t in out["task_id"])
    assert per_task == {"suite.long": 10, "suite.short": 10, "suite.one": 10}
    uses = Counter(out["row"])
    assert uses[14] == 10 and uses[12] == uses[13] == 5  # a short task's rows repeat whole
    assert sorted(uses[i] for i in range(12)) == [0, 0] + [1] * 10  # the long one's are sampled
    assert balance_tasks(data, 30, seed=0)[0]["row"] == out["row"]  # seeded
    assert balance_tasks(data, 31, seed=0)[1]["rows_per_task"] == 10 and len(balance_tasks(data, 31)[0]) == 31
    with pytest.raises(TrainingError, match="task_id"):
        balance_tasks(Dataset.from_list([{"row": 1}]), 4)


def test_bc_trains_on_balanced_rows_for_its_steps(workspace):
    root, base = workspace
    out = train_bc(dataset=str(root / "ds" / "bc.jsonl"), base_model=str(base), output=str(root / "bc_balanced"),
                   max_steps=3, balance_tasks=True, lora=False, **FAST)
    summary = json.loads((out / "training_summary.json").read_text())
    # 3 steps of 2 rows, all of the one task the workspace recorded
    assert summary["metrics"]["global_step"] == 3
    assert summary["balanced_tasks"] == {"tasks": 1, "rows_per_task": 6, "rows": 6}
    examples = len((root / "ds" / "bc.jsonl").read_text().splitlines())
    assert summary["train_examples"] == examples != 6 and summary["options"]["balance_tasks"] is True
    assert f"({examples} examples, every task the same share of 6 rows)" in (out / "README.md").read_text()


def test_dpo_prepares_only_the_pairs_its_steps_read(workspace, tmp_path):
    root, base = workspace
    rows = (root / "ds" / "dpo.jsonl").read_text().splitlines()
    many = tmp_path / "dpo.jsonl"
    many.write_text("\n".join(rows * (12 // len(rows) + 1)) + "\n")
    total = len(many.read_text().splitlines())
    out = train_dpo(dataset=str(many), base_model=str(base), output=str(tmp_path / "dpo"), max_steps=2, **FAST)
    summary = json.loads((out / "training_summary.json").read_text())
    # 2 steps of 2 pairs: 4 of the file's pairs are prepared and trained on
    assert summary["train_examples"] == total >= 12 and summary["trained_pairs"] == 4
    assert summary["metrics"]["global_step"] == 2
    assert f"({total} examples, 4 of them sampled for the steps)" in (out / "README.md").read_text()


def test_bc_epochs_become_steps_of_the_demo_batch():
    from halo_plugin_trainers.demo import BC_BATCH, _epoch_steps

    assert BC_BATCH == 4 and _epoch_steps(3.0, 3403) == 2553  # ceil(3 x 3403 / 4)
    assert _epoch_steps(1.0, 5868) == 1467
    assert _epoch_steps(3.0, 6) == 20  # never fewer than 20


def test_demo_decides_its_torch_threads_once(monkeypatch):
    """The demo picks its torch threads before it loads the machine: later phases (each
    trainer asks again) keep that count though the load average then counts the demo's own
    browsers; the choice does not outlive the run, and a user's HALO_TORCH_THREADS wins."""
    import torch
    from halo_plugin_qwen.local import set_torch_threads

    import halo_plugin_trainers.demo as demo

    threads = torch.get_num_threads()
    seen = []

    def phases(**options):
        monkeypatch.setattr(os, "getloadavg", lambda: (50.0, 50.0, 50.0))  # the run's own browsers
        seen.append((set_torch_threads(), demo._USER_THREADS))
        return {}

    monkeypatch.setattr(demo, "_run_demo", phases)
    try:
        monkeypatch.delenv("HALO_TORCH_THREADS", raising=False)
        monkeypatch.setattr(os, "getloadavg", lambda: (0.0, 0.0, 0.0))  # idle at the start
        idle_choice = set_torch_threads()
        demo.run_demo(out="unused")
        assert seen == [(idle_choice, False)] and "HALO_TORCH_THREADS" not in os.environ
        monkeypatch.setenv("HALO_TORCH_THREADS", "1")
        demo.run_demo(out="unused")
        assert seen[-1] == (1, True) and os.environ["HALO_TORCH_THREADS"] == "1"
    finally:
        torch.set_num_threads(threads)


def test_demo_seeds_summary_and_its_errors(monkeypatch, tmp_path):
    """--seeds runs the demo once per seed and summarises held-out success over them; a bad
    list is one clear error before anything runs."""
    import halo_plugin_trainers.demo as demo
    from halo_plugin_trainers.demo import seeds_summary, wilson_interval

    from halo_core.cli import cli

    def payload(zero: int, bc: int, n: int = 40) -> dict:
        def test(k):
            return {"test": {"tasks": n, "successes": k, "success_rate": k / n,
                             "success_ci95": list(wilson_interval(k, n))}}
        return {"results": {"zero": test(zero), "bc": test(bc)}}

    calls = []

    def fake(**options):
        calls.append((options["run_id"], options["seed"]))
        return payload(2, 30 if options["seed"] == 0 else 8)

    monkeypatch.setattr(demo, "run_demo", fake)
    result = CliRunner().invoke(cli, ["demo", "--out", str(tmp_path), "--run-id", "multi", "--seeds", "0,3,0"])
    assert result.exit_code == 0, result.output
    assert calls == [("multi_seed0", 0), ("multi_seed3", 3)]
    saved = json.loads((tmp_path / "multi" / "seeds.json").read_text())
    assert saved["models"]["bc"]["mean"] == pytest.approx((30 + 8) / 80)
    assert saved["models"]["bc"]["min"] == 8 / 40 and saved["bc_above_zero_shot"] == {"seeds": [0], "of": 2}
    assert saved["runs"] == {"0": "multi_seed0", "3": "multi_seed3"}
    table = (tmp_path / "multi" / "seeds.md").read_text()
    assert "| BC | 75%" in table and "**48%**" in table and "in 1 of 2 seeds" in table
    summary, _ = seeds_summary({1: payload(0, 40)})
    assert summary["models"]["zero"]["max"] == 0 and summary["bc_above_zero_shot"]["seeds"] == [1]
    bad = CliRunner().invoke(cli, ["demo", "--out", str(tmp_path), "--seeds", "0,x"])
    assert bad.exit_code != 0 and "whole numbers separated by commas" in bad.output and len(calls) == 2


def test_demo_task_lists_keep_a_typing_task_and_are_fixed():
    from halo_plugin_miniwob.experts import SOLVERS
    from halo_plugin_trainers.demo import DEFAULT_MINIWOB, QUICK_MINIWOB

    typing = {"enter-text", "enter-password", "enter-text-dynamic", "login-user"}
    assert typing & set(QUICK_MINIWOB) and len(typing & set(DEFAULT_MINIWOB)) >= 3
    assert set(DEFAULT_MINIWOB) <= set(SOLVERS) and set(QUICK_MINIWOB) <= set(SOLVERS)
    assert len(set(DEFAULT_MINIWOB)) == len(DEFAULT_MINIWOB)


def test_halo_demo_refuses_a_missing_base(tmp_path):
    from halo_core.cli import cli

    result = CliRunner().invoke(cli, ["demo", "--suite", "miniwob", "--base", str(tmp_path / "nope"),
                                      "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert f"--base {tmp_path / 'nope'}: no model at" in result.output
    assert not any(tmp_path.iterdir())  # refused before anything was written
