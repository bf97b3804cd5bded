"""``halo export``: trajectories from real episodes (GraphEnvironment + the real JSONL logger)
become BC/DPO datasets that ``datasets`` loads and trl's trainers accept unchanged."""

from __future__ import annotations

import json
import os
from pathlib import Path

import attrs
import pytest
from click.testing import CliRunner

from halo_core.config import mode_config
from halo_core.export import export_datasets, site_relative, split_tasks, step_messages, synthetic_invalid
from halo_core.loop import run_episode
from halo_core.model import TaskSpec
from halo_core.prompts import WORKER_SYSTEM
from halo_core.testing import GraphEnvironment, Page, ScriptedBackend, make_runtime
from halo_core.trajectory import TrajectoryError, iter_episodes

for _var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
    os.environ[_var] = "1"


def shop(host: str = "graph.test") -> GraphEnvironment:
    pages = {
        "home": Page("Home", [("link", "Products", "products"), ("link", "Help", "help"), ("textbox", "Search", None)]),
        "products": Page("Products", [("link", "Blender", "blender"), ("link", "Home", "home")]),
        "help": Page("Help", [("link", "Home", "home")]),
        "blender": Page("Blender", [("button", "Add to cart", "cart")]),
        "cart": Page("Cart", [("link", "Home", "home")]),
    }
    return GraphEnvironment(pages, goal_page="cart", host=host)


def task(n: int = 1, *, suite: str = "graph", split: str = "") -> TaskSpec:
    prefix = "webclones.shop" if suite == "webclones" else "graph.shop"
    return TaskSpec(id=f"{prefix}-{n}", goal=f"Put the blender in the cart (task {n})", suite=suite, split=split)


def episode(tmp: Path, actions: list[str], *, n: int = 1, attempt: int = 0, mode: str = "baseline_worker",
            run_id: str = "r1", host: str = "graph.test", spec: TaskSpec | None = None) -> bool:
    """One real episode through the loop; the worker (a scripted backend) plays ``actions``."""
    config = mode_config(mode, worker_backend="scripted:test", max_steps=len(actions), use_screenshot=False,
                         use_recovery=False)
    result = run_episode(spec or task(n), config, shop(host), make_runtime(), run_id=run_id, attempt=attempt,
                         data_dir=tmp, backends={"worker": ScriptedBackend(list(actions))})
    return result.success


WIN = ["click('1')", "click('1')", "click('1')", "send_msg_to_user('Done')"]  # products, blender, cart, done
LONG_WIN = ["click('2')", "click('1')", "click('1')", "click('1')", "click('1')", "send_msg_to_user('Done')"]
LOSE = ["click('2')", "click('1')", "click('2')", "send_msg_to_user('Done')"]  # help, home, help: fails


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_bc_export_matches_worker_prompts_exactly(tmp_path):
    assert episode(tmp_path, WIN)
    traj = tmp_path / "trajectories"
    # the worker logged its exact prompt; rendering it again from the recorded step gives the same text
    (recorded,) = iter_episodes(traj)
    history_len = recorded.start.config["history_len"]
    for i, s in enumerate(recorded.steps):
        assert s.logged_prompt
        rebuilt = step_messages(recorded.goal, attrs.evolve(s, decision_meta={}), recorded.steps[:i], history_len)
        assert rebuilt == [{"role": "system", "content": WORKER_SYSTEM}, {"role": "user", "content": s.logged_prompt}]
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
    home = [p for p in pairs if "URL: /home" in p["prompt"][1]["content"]]  # the site's origin is left out
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
    assert "episodes read: 2, used: 2 (1 successful, 1 failed" in result.output
    for name in ("bc.jsonl", "bc_val.jsonl", "dpo.jsonl", "dpo_val.jsonl", "summary.json"):
        assert (out / name).is_file()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["episodes_read"] == 2 and set(summary["dpo_pairs_by_strategy"]) <= {"success_vs_failure",
                                                                                         "progress_ranked"}
    # a mode filter that matches nothing is an error, not an empty success
    result = CliRunner().invoke(cli, ["export", "--trajectories", str(tmp_path / "trajectories"), "--out",
                                      str(tmp_path / "none"), "--modes", "qwen_worker_bc"])
    assert result.exit_code != 0 and "no trajectories" in result.output


# --------------------------------------------------------------------------- which episodes, which prompts


def test_site_relative_urls():
    assert site_relative("URL: http://127.0.0.1:43121/cart?x=1") == "URL: /cart?x=1"
    assert site_relative("goto('http://localhost:8000') or http://[::1]:9/a#b") == "goto('/') or /a#b"
    assert site_relative("http://127.0.0.1.example.com/x and https://shop.example/p") == \
        "http://127.0.0.1.example.com/x and https://shop.example/p"  # not loopback, not the site
    assert site_relative("https://shop.example/p https://shop.example:8443/q", ["https://shop.example"]) == \
        "/p https://shop.example:8443/q"


def test_site_relative_agrees_with_one_regex_over_the_whole_text():
    """site_relative tries its regex only next to each "://"; on random texts built from URL
    pieces it gives what one substitution over the whole text gives."""
    import random
    import re

    from halo_core.prompts import _AFTER_ORIGIN, _LOOPBACK

    def whole_text(text, origins=()):
        sites = "|".join(re.escape(o) for o in sorted({o.rstrip("/") for o in origins if o}, key=len, reverse=True))
        pattern = rf"(?:https?|wss?)://{_LOOPBACK}" + (f"|(?:{sites})" if sites else "")
        return re.sub(f"(?:{pattern}){_AFTER_ORIGIN}", "/", text)

    pieces = ["http://", "https://", "ws://", "wss://", "://", "127.0.0.1", ":8080", "localhost", "[::1]", "0.0.0.0",
              "/cart", "x", " ", ".", "-", "http://shop.test", "https://shop.test/", "shop.test", "127.0.0.1.evil",
              "\n", "'", "hhttp://", "//"]
    origin_sets = [(), ("http://shop.test",), ("https://shop.test/", "http://127.0.0.1:5"), ("ws://a.b",)]
    rng = random.Random(7)
    changed = 0
    for _ in range(20000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 12)))
        origins = rng.choice(origin_sets)
        expected = whole_text(text, origins)
        assert site_relative(text, origins) == expected, (text, origins)
        changed += expected != text
    assert changed > 2000  # the texts exercised replacements, not only misses


def test_same_task_on_two_ports_exports_identical_deduplicated_examples(tmp_path):
    assert episode(tmp_path, WIN, run_id="eval_a", host="127.0.0.1:43121")
    assert episode(tmp_path, WIN, run_id="eval_b", host="127.0.0.1:50007")
    assert not episode(tmp_path, LOSE, run_id="eval_b", attempt=1, host="127.0.0.1:50007")
    raw = [s.logged_prompt for e in iter_episodes(tmp_path / "trajectories") for s in e.steps]
    # the worker itself sends site-relative URLs, so training and serving prompts agree
    assert raw and not any("127.0.0.1" in p for p in raw) and all("URL: /" in p for p in raw)
    summary = export_datasets(tmp_path / "trajectories", tmp_path / "ds", val_fraction=0.0,
                              pairing_strategies=["success_vs_failure"], synthetic_negatives=False).summary
    bc = rows(tmp_path / "ds" / "bc.jsonl")
    assert [r["completion"][0]["content"] for r in bc] == WIN and summary["bc_duplicates_dropped"] == 4
    assert "URL: /home" in bc[0]["prompt"][1]["content"]
    assert not any("127.0.0.1" in m["content"] for r in bc for m in r["prompt"])
    pairs = rows(tmp_path / "ds" / "dpo.jsonl")
    # the winner of either run against the loser: one pair per state, not one per port
    assert summary["dpo_duplicates_dropped"] >= 1
    assert len({json.dumps([p["prompt"], p["chosen"], p["rejected"]]) for p in pairs}) == len(pairs)
    assert any(p["chosen"][0]["content"] == "click('1')" and p["rejected"][0]["content"] == "click('2')"
               and "URL: /home" in p["prompt"][1]["content"] for p in pairs)
    assert [(r["run_id"], r["episodes"]) for r in summary["runs"]] == [("eval_a", 1), ("eval_b", 2)]
    assert summary["runs"][0]["tasks"] == ["graph.shop-1"] and summary["runs"][0]["policy"] == "worker"


@pytest.mark.slow
def test_expert_on_two_ports_of_a_real_site_exports_identical_examples(tmp_path):
    """The web-clone expert solves one task twice, on two servers (two ports), in Chromium:
    the rebuilt prompts are identical and de-duplicate."""
    from halo_core.env.protocol import EnvSettings
    from halo_core.runtime import Runtime

    runtime = Runtime()
    if "webclones" not in runtime.suites:
        pytest.skip("the webclones suite is not installed")
    suite, spec = runtime.resolve_task("webclones.shop-1")
    config = mode_config("baseline_worker", policy="expert", use_screenshot=False, env={})
    for run_id in ("eval_port_a", "eval_port_b"):  # each environment starts its own site server
        env = suite.make_environment(spec, EnvSettings(screenshot=False))
        try:
            assert run_episode(spec, config, env, runtime, run_id=run_id, data_dir=tmp_path).success
        finally:
            env.close()
    runs = list(iter_episodes(tmp_path / "trajectories"))
    origins = {s.url.split("/")[2] for e in runs for s in e.steps}
    assert len(runs) == 2 and len(origins) == 2, origins
    assert runs[0].start.split == "train" and not any(s.logged_prompt for e in runs for s in e.steps)
    summary = export_datasets(tmp_path / "trajectories", tmp_path / "ds", val_fraction=0.0).summary
    bc = rows(tmp_path / "ds" / "bc.jsonl")
    # prompts differ only where the page itself read differently (the port never makes a difference)
    states = {(s.step_idx, s.obs_summary, s.observed_error) for e in runs for s in e.steps}
    assert len(bc) == len(states) and summary["bc_duplicates_dropped"] == 2 * len(runs[0].steps) - len(states) > 0
    assert not any(origin in m["content"] for origin in origins for r in bc for m in r["prompt"])
    assert {r["run_id"] for r in summary["runs"]} == {"eval_port_a", "eval_port_b"}


def test_split_train_by_default_test_on_request(tmp_path):
    assert episode(tmp_path, WIN, spec=task(1, suite="webclones", split="train"))
    assert episode(tmp_path, WIN, spec=task(9, suite="webclones", split="test"))
    assert episode(tmp_path, WIN, n=3)  # a suite without splits: counts as train
    traj = tmp_path / "trajectories"
    summary = export_datasets(traj, tmp_path / "train", val_fraction=0.0).summary
    assert {r["task_id"] for r in rows(tmp_path / "train" / "bc.jsonl")} == {"webclones.shop-1", "graph.shop-3"}
    assert summary["split"] == "train" and summary["episodes_excluded"] == {"split_test": 1}
    assert summary["task_splits"] == {"graph.shop-3": "", "webclones.shop-1": "train"}
    export_datasets(traj, tmp_path / "test", split="test", val_fraction=0.0)
    assert {r["task_id"] for r in rows(tmp_path / "test" / "bc.jsonl")} == {"webclones.shop-9"}
    export_datasets(traj, tmp_path / "all", split="all", val_fraction=0.0)
    assert len({r["task_id"] for r in rows(tmp_path / "all" / "bc.jsonl")}) == 3


def _forget_split(path: Path) -> None:
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    lines[0].pop("split", None)
    lines[0].pop("schema_version", None)
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))


def test_split_of_old_trajectories_comes_from_the_installed_suite(tmp_path):
    """Trajectories that did not record a split get their task's split from its suite."""
    from halo_core.runtime import Runtime

    runtime = Runtime()
    if "webclones" not in runtime.suites:
        pytest.skip("the webclones suite is not installed")
    assert episode(tmp_path, WIN, spec=task(1, suite="webclones"))
    assert episode(tmp_path, WIN, spec=task(9, suite="webclones"))
    for path in (tmp_path / "trajectories").rglob("*.jsonl"):
        _forget_split(path)
    assert all(e.start.split is None for e in iter_episodes(tmp_path / "trajectories"))
    summary = export_datasets(tmp_path / "trajectories", tmp_path / "ds", val_fraction=0.0, runtime=runtime).summary
    assert summary["task_splits"] == {"webclones.shop-1": "train"}
    assert summary["episodes_excluded"] == {"split_test": 1}


def test_debug_runs_and_other_policies_are_left_out(tmp_path):
    assert episode(tmp_path, WIN, run_id="eval_x")
    assert episode(tmp_path, WIN, n=2, run_id="debug_20260101_000000_abcdef")
    traj = tmp_path / "trajectories"
    summary = export_datasets(traj, tmp_path / "ds", val_fraction=0.0).summary
    assert summary["episodes_excluded"] == {"debug_run": 1}
    assert [r["run_id"] for r in summary["runs"]] == ["eval_x"]
    assert {r["task_id"] for r in rows(tmp_path / "ds" / "bc.jsonl")} == {"graph.shop-1"}
    summary = export_datasets(traj, tmp_path / "ds", val_fraction=0.0, include_debug=True).summary
    assert summary["episodes_used"] == 2
    named = export_datasets(traj, tmp_path / "ds", val_fraction=0.0, run_ids=["debug_20260101_000000_abcdef"])
    assert [r["run_id"] for r in named.summary["runs"]] == ["debug_20260101_000000_abcdef"]
    summary = export_datasets(traj, tmp_path / "ds", val_fraction=0.0, policies=["expert"]).summary
    assert summary["episodes_used"] == 0 and summary["episodes_excluded"] == {"debug_run": 1, "policy": 1}
    from halo_core.cli import cli

    result = CliRunner().invoke(cli, ["export", "--trajectories", str(traj), "--out", str(tmp_path / "none"),
                                      "--run-id", "debug_20260101_000000_abcdef,eval_x", "--policy", "expert"])
    assert result.exit_code != 0 and "no episodes left after the filters" in result.output


def test_a_damaged_trajectory_line_stops_export_unless_skipped(tmp_path):
    from halo_core.cli import cli

    assert episode(tmp_path, WIN)
    (path,) = (tmp_path / "trajectories").rglob("*__attempt_0.jsonl")
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:2]) + '{"type": "step", "step_idx": 1, "ac\n' + "".join(lines[2:]))
    with pytest.raises(TrajectoryError, match=rf"^{path}:3: damaged trajectory line"):
        export_datasets(tmp_path / "trajectories", tmp_path / "ds", val_fraction=0.0)
    args = ["export", "--trajectories", str(tmp_path / "trajectories"), "--out", str(tmp_path / "ds"),
            "--val-fraction", "0"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code != 0 and f"{path}:3" in result.output and "--skip-bad-lines" in result.output
    result = CliRunner().invoke(cli, [*args, "--skip-bad-lines"])
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "ds" / "summary.json").read_text())
    assert summary["bad_lines_skipped"] == 1 and summary["bc_examples"]["train"] == 4


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
