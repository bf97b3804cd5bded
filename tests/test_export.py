"""``halo export``: trajectories from real episodes (GraphEnvironment + the real JSONL logger)
become BC/DPO datasets that ``datasets`` loads and trl's trainers accept unchanged."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from halo_core.config import mode_config
from halo_core.export import export_datasets, read_episodes, split_tasks, synthetic_invalid
from halo_core.loop import run_episode
from halo_core.model import TaskSpec
from halo_core.prompts import WORKER_SYSTEM
from halo_core.testing import GraphEnvironment, Page, ScriptedBackend, make_runtime

for _var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
    os.environ[_var] = "1"


def shop() -> GraphEnvironment:
    pages = {
        "home": Page("Home", [("link", "Products", "products"), ("link", "Help", "help"), ("textbox", "Search", None)]),
        "products": Page("Products", [("link", "Blender", "blender"), ("link", "Home", "home")]),
        "help": Page("Help", [("link", "Home", "home")]),
        "blender": Page("Blender", [("button", "Add to cart", "cart")]),
        "cart": Page("Cart", [("link", "Home", "home")]),
    }
    return GraphEnvironment(pages, goal_page="cart")


def task(n: int = 1) -> TaskSpec:
    return TaskSpec(id=f"graph.shop-{n}", goal=f"Put the blender in the cart (task {n})", suite="graph")


def episode(tmp: Path, actions: list[str], *, n: int = 1, attempt: int = 0, mode: str = "baseline_worker",
            run_id: str = "r1") -> bool:
    """One real episode through the loop; the worker (a scripted backend) plays ``actions``."""
    config = mode_config(mode, worker_backend="scripted:test", max_steps=len(actions), use_screenshot=False,
                         use_recovery=False)
    result = run_episode(task(n), config, shop(), make_runtime(), run_id=run_id, attempt=attempt, data_dir=tmp,
                         backends={"worker": ScriptedBackend(list(actions))})
    return result.success


WIN = ["click('1')", "click('1')", "click('1')", "send_msg_to_user('Done')"]  # products, blender, cart, done
LONG_WIN = ["click('2')", "click('1')", "click('1')", "click('1')", "click('1')", "send_msg_to_user('Done')"]
LOSE = ["click('2')", "click('1')", "click('2')", "send_msg_to_user('Done')"]  # help, home, help: fails


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_bc_export_matches_worker_prompts_exactly(tmp_path):
    assert episode(tmp_path, WIN)
    traj = tmp_path / "trajectories"
    # the worker logged its exact prompt; rebuilding it from the observation must give the same text
    logged = [s.prompt for e in read_episodes(traj) for s in e.steps]
    for e in read_episodes(traj):
        for s in e.steps:
            assert s.logged_prompt
            s.logged_prompt = None
    from halo_core.export import step_messages

    for e in read_episodes(traj):
        for i, s in enumerate(e.steps):
            s.logged_prompt = None
            rebuilt = step_messages(e.goal, s, e.steps[:i], e.history_len)
            assert rebuilt == logged[i]
    result = export_datasets(traj, tmp_path / "ds", val_fraction=0.0)
    bc = rows(tmp_path / "ds" / "bc.jsonl")
    assert [r["completion"] for r in bc] == [[{"role": "assistant", "content": a}] for a in WIN]
    assert bc[0]["prompt"][0] == {"role": "system", "content": WORKER_SYSTEM}
    assert bc[0]["prompt"][1]["role"] == "user" and "Goal: Put the blender" in bc[0]["prompt"][1]["content"]
    assert "Previous actions:\n0: click('1')" in bc[1]["prompt"][1]["content"]
    assert result.summary["episodes_successful"] == 1 and result.summary["bc_examples"] == {"train": 4, "val": 0}


def test_bc_skips_failed_episodes_errors_and_duplicates(tmp_path):
    assert episode(tmp_path, WIN, attempt=0)
    assert episode(tmp_path, WIN, attempt=1)  # identical: every example is a duplicate
    assert not episode(tmp_path, LOSE, attempt=2)
    # the worker asks twice; two unusable answers make the first action an environment error
    assert episode(tmp_path, ["click('99')", "click('98')", *WIN], attempt=3)
    summary = export_datasets(tmp_path / "trajectories", tmp_path / "ds", val_fraction=0.0).summary
    bc = rows(tmp_path / "ds" / "bc.jsonl")
    actions = [r["completion"][0]["content"] for r in bc]
    assert "click('99')" not in actions
    assert summary["episodes_read"] == 4 and summary["episodes_failed"] == 1
    assert summary["bc_duplicates_dropped"] >= 4
    keys = [json.dumps([r["prompt"], r["completion"]]) for r in bc]
    assert len(keys) == len(set(keys))
    # the erroring step shows in the next prompt's history and error line, as the worker saw it
    assert any("Last action error:" in r["prompt"][1]["content"] for r in bc)


def test_success_vs_failure_pairs_real_and_synthetic(tmp_path):
    assert episode(tmp_path, WIN, attempt=0)
    assert not episode(tmp_path, LOSE, attempt=1)
    export_datasets(tmp_path / "trajectories", tmp_path / "ds", pairing_strategies=["success_vs_failure"],
                    val_fraction=0.0)
    pairs = rows(tmp_path / "ds" / "dpo.jsonl")
    real = [p for p in pairs if p["source"] == "real"]
    # on the home page the winner clicked Products ('1'), the loser Help ('2')
    assert any(p["chosen"][0]["content"] == "click('1')" and p["rejected"][0]["content"] == "click('2')" for p in real)
    synthetic = [p for p in pairs if p["source"] == "synthetic_invalid_bid"]
    assert synthetic, "states with no real negative get a synthetic one"
    for p in synthetic:
        assert p["chosen"] != p["rejected"] and p["strategy"] == "success_vs_failure"
    # and they can be turned off
    export_datasets(tmp_path / "trajectories", tmp_path / "ds2", pairing_strategies=["success_vs_failure"],
                    synthetic_negatives=False, val_fraction=0.0)
    assert all(p["source"] == "real" for p in rows(tmp_path / "ds2" / "dpo.jsonl"))


def test_progress_ranked_prefers_the_shorter_way(tmp_path):
    assert episode(tmp_path, WIN, attempt=0)
    assert episode(tmp_path, LONG_WIN, attempt=1)
    summary = export_datasets(tmp_path / "trajectories", tmp_path / "ds", pairing_strategies=["progress_ranked"],
                              val_fraction=0.0).summary
    pairs = rows(tmp_path / "ds" / "dpo.jsonl")
    assert pairs and summary["dpo_pairs_by_strategy"] == {"progress_ranked": len(pairs)}
    home = [p for p in pairs if "URL: http://graph.test/home" in p["prompt"][1]["content"]]
    assert any(p["chosen"][0]["content"] == "click('1')" and p["rejected"][0]["content"] == "click('2')" for p in home)
    assert not any(p["chosen"][0]["content"] == "click('2')" for p in home)


def test_split_is_by_task(tmp_path):
    for n in range(1, 6):
        assert episode(tmp_path, WIN, n=n)
        assert not episode(tmp_path, LOSE, n=n, attempt=1)
    summary = export_datasets(tmp_path / "trajectories", tmp_path / "ds", pairing_strategies=["success_vs_failure"],
                              val_fraction=0.4, seed=3).summary
    train, val = set(summary["tasks"]["train"]), set(summary["tasks"]["val"])
    assert len(val) == 2 and len(train) == 3 and not train & val
    for name, allowed in (("bc", train), ("bc_val", val), ("dpo", train), ("dpo_val", val)):
        data = rows(tmp_path / "ds" / f"{name}.jsonl")
        assert data and {r["task_id"] for r in data} <= allowed
    assert split_tasks(["a", "b", "c"], 0.2, 0) == split_tasks(["c", "b", "a"], 0.2, 0)
    assert split_tasks(["a"], 0.5, 0) == (["a"], [])


def test_synthetic_invalid_bid_is_not_on_the_page():
    bad = synthetic_invalid("fill('3', 'pot')", ["1", "2", "3"], __import__("random").Random(0))
    assert bad.startswith("fill('") and bad.endswith("'pot')") and bad.split("'")[1] not in {"1", "2", "3"}
    assert synthetic_invalid("send_msg_to_user('Done')", ["1"], __import__("random").Random(0)).startswith("click(")


def test_cli_writes_files_and_summary(tmp_path):
    from halo_core.cli import cli

    assert episode(tmp_path, WIN)
    assert not episode(tmp_path, LOSE, attempt=1)
    out = tmp_path / "ds"
    result = CliRunner().invoke(cli, ["export", "--trajectories", str(tmp_path / "trajectories"), "--out", str(out),
                                      "--modes", "baseline_worker", "--pairing-strategy", "success_vs_failure",
                                      "--pairing-strategy", "progress_ranked", "--val-fraction", "0.2", "--seed", "0"])
    assert result.exit_code == 0, result.output
    assert "episodes read: 2 (1 successful, 1 failed" in result.output
    for name in ("bc.jsonl", "bc_val.jsonl", "dpo.jsonl", "dpo_val.jsonl", "summary.json"):
        assert (out / name).is_file()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["episodes_read"] == 2 and set(summary["dpo_pairs_by_strategy"]) <= {"success_vs_failure",
                                                                                         "progress_ranked"}
    # a mode filter that matches nothing is an error, not an empty success
    result = CliRunner().invoke(cli, ["export", "--trajectories", str(tmp_path / "trajectories"), "--out",
                                      str(tmp_path / "none"), "--modes", "qwen_worker_bc"])
    assert result.exit_code != 0 and "no trajectories" in result.output


# --------------------------------------------------------------------------- trl accepts the files unchanged


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("exported")
    assert episode(tmp, WIN, attempt=0)
    assert episode(tmp, LONG_WIN, attempt=1)
    assert not episode(tmp, LOSE, attempt=2)
    export_datasets(tmp / "trajectories", tmp / "ds", pairing_strategies=["success_vs_failure", "progress_ranked"],
                    val_fraction=0.0)
    return tmp / "ds"


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory, exported):
    pytest.importorskip("trl")
    tiny = pytest.importorskip("halo_plugin_qwen.tiny")
    corpus = [m["content"] for r in rows(exported / "bc.jsonl") for m in r["prompt"] + r["completion"]]
    return tiny.build_tiny_qwen(tmp_path_factory.mktemp("tiny") / "model", corpus, vocab_size=400, hidden_size=32,
                                layers=1, heads=2)


def test_datasets_load_the_files(exported):
    datasets = pytest.importorskip("datasets")
    bc = datasets.load_dataset("json", data_files=str(exported / "bc.jsonl"), split="train")
    dpo = datasets.load_dataset("json", data_files=str(exported / "dpo.jsonl"), split="train")
    assert {"prompt", "completion"} <= set(bc.column_names) and len(bc) > 0
    assert {"prompt", "chosen", "rejected"} <= set(dpo.column_names) and len(dpo) > 0
    assert bc[0]["prompt"][0]["role"] == "system" and bc[0]["completion"][0]["role"] == "assistant"


def _args(cls, tmp_path, **extra):
    return cls(output_dir=str(tmp_path), max_steps=1, per_device_train_batch_size=2, report_to=[], use_cpu=True,
               save_strategy="no", logging_steps=1, disable_tqdm=True, **extra)


def test_sft_trainer_accepts_bc_jsonl_unchanged(exported, tiny_model, tmp_path):
    import datasets
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    torch.set_num_threads(2)
    data = datasets.load_dataset("json", data_files=str(exported / "bc.jsonl"), split="train")
    trainer = SFTTrainer(model=AutoModelForCausalLM.from_pretrained(tiny_model), train_dataset=data,
                         processing_class=AutoTokenizer.from_pretrained(tiny_model),
                         args=_args(SFTConfig, tmp_path, max_length=None))
    result = trainer.train()
    assert trainer.state.global_step == 1 and result.training_loss > 0


def test_dpo_trainer_accepts_dpo_jsonl_unchanged(exported, tiny_model, tmp_path):
    import datasets
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig, DPOTrainer

    torch.set_num_threads(2)
    data = datasets.load_dataset("json", data_files=str(exported / "dpo.jsonl"), split="train")
    trainer = DPOTrainer(model=AutoModelForCausalLM.from_pretrained(tiny_model), train_dataset=data,
                         processing_class=AutoTokenizer.from_pretrained(tiny_model),
                         args=_args(DPOConfig, tmp_path, max_length=None))
    trainer.train()
    assert trainer.state.global_step == 1
