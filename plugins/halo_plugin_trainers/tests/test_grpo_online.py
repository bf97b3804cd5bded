"""Online GRPO: episodes in a live environment are the rollouts; one update per group."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

for _var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
    os.environ[_var] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HALO_TORCH_THREADS", "1")

pytest.importorskip("trl")
pytest.importorskip("peft")
torch = pytest.importorskip("torch")
tiny = pytest.importorskip("halo_plugin_qwen.tiny")
torch.set_num_threads(1)

from halo_plugin_trainers import train_bc
from halo_plugin_trainers.grpo_online import (
    Environments,
    Reference,
    Rollout,
    SamplingPolicy,
    _completion_logps,
    group_advantages,
    grpo_update,
    train_grpo_online,
)

from halo_core.backends import Message
from halo_core.config import mode_config
from halo_core.export import export_datasets
from halo_core.loop import run_episode
from halo_core.model import TaskSpec
from halo_core.testing import GraphEnvironment, Page, ScriptedBackend, make_runtime

WIN = ["click('1')", "click('1')", "click('1')", "send_msg_to_user('Done')"]
TASK = TaskSpec(id="graph.shop-1", goal="Put the blender in the cart", suite="graph")


def shop() -> GraphEnvironment:
    pages = {
        "home": Page("Home", [("link", "Products", "products"), ("link", "Help", "help")]),
        "products": Page("Products", [("link", "Blender", "blender")]),
        "help": Page("Help", [("link", "Home", "home")]),
        "blender": Page("Blender", [("button", "Add to cart", "cart")]),
        "cart": Page("Cart", [("link", "Home", "home")]),
    }
    return GraphEnvironment(pages, goal_page="cart")


@pytest.fixture(scope="module")
def bc_model(tmp_path_factory):
    """A tiny Qwen2 cloned (all weights) on one winning episode: it acts, but not always well."""
    root = tmp_path_factory.mktemp("grpo_online")
    config = mode_config("baseline_worker", worker_backend="scripted:test", max_steps=len(WIN), use_screenshot=False,
                         use_recovery=False)
    assert run_episode(TASK, config, shop(), make_runtime(), run_id="r", data_dir=root / "data",
                       backends={"worker": ScriptedBackend(list(WIN))}).success
    export_datasets(root / "data" / "trajectories", root / "ds", val_fraction=0.0)
    rows = [json.loads(x) for x in (root / "ds" / "bc.jsonl").read_text().splitlines()]
    corpus = [m["content"] for r in rows for m in r["prompt"] + r["completion"]]
    base = tiny.build_tiny_qwen(root / "base", corpus, vocab_size=400, hidden_size=32, layers=1, heads=2)
    bc = train_bc(dataset=str(root / "ds" / "bc.jsonl"), base_model=str(base), output=str(root / "bc"),
                  max_steps=60, lr=1e-2, batch_size=4, lora=False, progress="none", save_steps=100, seed=0)
    return root, bc


def test_group_advantages_are_relative_to_the_group():
    assert group_advantages([1.0, 1.0, 1.0]) == [0.0, 0.0, 0.0]  # nothing to learn from a uniform group
    adv = group_advantages([1.0, 0.0, 0.0, 1.0])
    assert adv[0] > 0 > adv[1] and abs(sum(adv)) < 1e-6
    assert group_advantages([]) == []


def _policy(bc_dir: Path, lora: bool = True):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(bc_dir)
    model = AutoModelForCausalLM.from_pretrained(bc_dir)
    if lora:
        model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules="all-linear",
                                                 lora_dropout=0.0, task_type="CAUSAL_LM"))
    return model, tokenizer


def test_update_moves_probability_towards_the_better_episode(bc_model):
    root, bc = bc_model
    torch.manual_seed(0)
    model, tokenizer = _policy(bc)
    policy = SamplingPolicy(model, tokenizer, temperature=1.0, max_tokens=12)
    messages = [Message("system", "You are a web agent."), Message("user", "Goal: g\n\nNext action:")]
    policy.complete(messages)
    policy.complete(messages)
    good, bad = policy.turns
    assert good.completion_ids and good.prompt_ids == bad.prompt_ids
    if good.completion_ids == bad.completion_ids:
        bad = type(bad)(bad.prompt_ids, list(reversed(bad.completion_ids)))
    rollouts = [Rollout("t", True, 1.0, 1.0, 1.1, 1, "message", [good]),
                Rollout("t", False, 0.0, 0.0, 0.0, 1, "max_steps", [bad])]
    reference = Reference(model, continued_adapter=False)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    before = [float(_completion_logps(model, t).sum().detach()) for t in (good, bad)]
    terms = grpo_update(model, optimizer, rollouts, group_advantages([1.1, 0.0]), reference=reference, beta=0.04)
    model.eval()
    after = [float(_completion_logps(model, t).sum().detach()) for t in (good, bad)]
    assert terms["tokens"] == len(good.completion_ids) + len(bad.completion_ids)
    assert after[0] > before[0] and after[1] < before[1], (before, after)
    # the reference is the model before the update: now the policy has moved away from it
    delta = reference.logps(good) - _completion_logps(model, good)
    assert float(delta.abs().sum().detach()) > 0


def test_online_grpo_takes_steps_from_real_episodes(bc_model, tmp_path):
    root, bc = bc_model
    envs = Environments(lambda task: shop())
    out = train_grpo_online(tasks=[TASK], envs=envs, runtime=make_runtime(), group_size=4, temperature=1.0,
                            beta=0.04, max_completion_length=12, episode_max_steps=4, base_model=str(bc),
                            output=str(tmp_path / "grpo"), max_steps=2, lr=5e-3, lora_r=4, lora_alpha=8, seed=0,
                            progress="none")
    history = [json.loads(x) for x in (out / "rollouts.jsonl").read_text().splitlines()]
    assert [h["step"] for h in history] == [1, 2] and all(h["episodes"] == 4 for h in history)
    assert any(h["groups_with_signal"] for h in history), history  # rewards differed within a group
    # the episodes are real: trajectories of the policy acting as the worker
    trajectories = list((out / "rollouts" / "trajectories").rglob("*__attempt_*.jsonl"))
    assert len(trajectories) == 8
    steps = [e for t in trajectories for e in map(json.loads, t.read_text().splitlines()) if e["type"] == "step"]
    assert steps and all(s["decision_meta"]["model"] == "grpo:policy" for s in steps if s["action_source"] == "worker")
    # a LoRA adapter on the BC model was trained and saved; its B matrices left zero
    from safetensors.torch import load_file

    weights = load_file(str(out / "adapter_model.safetensors"))
    assert any(float(w.abs().sum()) > 0 for k, w in weights.items() if "lora_B" in k)
    summary = json.loads((out / "training_summary.json").read_text())
    assert summary["online"] and summary["group_size"] == 4 and summary["reference"].startswith("base model")
    assert "online GRPO" in (out / "README.md").read_text()
    assert envs._envs == {}  # environments closed


def test_online_grpo_needs_tasks_and_groups(bc_model, tmp_path):
    from halo_plugin_trainers import TrainingError

    root, bc = bc_model
    with pytest.raises(TrainingError, match="--group-size"):
        train_grpo_online(tasks=[TASK], envs=Environments(lambda t: shop()), group_size=1, base_model=str(bc),
                          output=str(tmp_path / "x"))
    with pytest.raises(TrainingError, match="--tasks"):
        train_grpo_online(tasks=[], envs=Environments(lambda t: shop()), base_model=str(bc),
                          output=str(tmp_path / "x"))


@pytest.mark.slow
def test_online_grpo_on_a_web_clone(bc_model, tmp_path):
    """``halo train grpo --online`` on a web-clone task: real Chromium episodes, one update."""
    pytest.importorskip("halo_plugin_webclones")
    from click.testing import CliRunner

    from halo_core.cli import cli

    root, bc = bc_model
    out = tmp_path / "grpo_web"
    result = CliRunner().invoke(cli, ["train", "grpo", "--online", "--suite", "webclones", "--tasks",
                                      "webclones.calendar-1", "--group-size", "2", "--online-max-steps", "2",
                                      "--max-completion-length", "12", "--base-model", str(bc), "--output", str(out),
                                      "--max-steps", "1", "--lr", "1e-3", "--progress", "lines"])
    assert result.exit_code == 0, result.output
    assert "[grpo-online] step 1/1" in result.output and "[grpo] done: 1 steps" in result.output
    history = [json.loads(x) for x in (out / "rollouts.jsonl").read_text().splitlines()]
    assert history[0]["episodes"] == 2 and history[0]["tasks"] == ["webclones.calendar-1"]
    trajectories = list((out / "rollouts" / "trajectories").rglob("*__attempt_*.jsonl"))
    assert len(trajectories) == 2, trajectories
    assert (out / "adapter_config.json").is_file()
