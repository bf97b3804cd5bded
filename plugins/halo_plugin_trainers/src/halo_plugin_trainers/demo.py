"""``halo demo``: the whole learning loop, offline, on the web clones, in minutes on a CPU.

1. **demos** — the web clones' expert (``--policy expert``) solves every *train* task once,
   through the evaluation machinery (``halo eval``'s process pool); trajectories land in
   ``<run>/data/trajectories/expert_demo/``.
2. **export** — :func:`halo_core.export.export_datasets` turns them into ``bc.jsonl`` and
   ``dpo.jsonl`` (``success_vs_failure`` pairs; with expert-only data the rejected action is
   a synthetic invalid bid) — all train tasks are kept for training (``--val-fraction 0``):
   the web clones' own *test* split is the held-out set.
3. **tiny model** — :func:`halo_plugin_qwen.tiny.build_tiny_qwen` builds a randomly
   initialised Qwen2-architecture model and a BPE tokenizer trained on the exported
   prompts and actions; a short language-model warm-up on the prompt text (inputs only,
   never the actions) stands in for the pretraining a real Qwen has. The warm model is
   the zero-shot baseline.
4. **train** — BC from the tiny base, then DPO and GRPO, both starting from the BC
   model (the tiny base is random, so BC trains all its weights; DPO and GRPO train LoRA
   adapters on top of the BC model, as they would on a real Qwen).
5. **evaluate** — zero-shot (the tiny base), BC, DPO and GRPO as the worker
   (``local:<path>``, greedy, no manager, cache, macros or recovery) on the held-out test
   tasks and on the train tasks, again through the evaluation machinery.
6. **report** — a success-rate table, ``report.md`` and ``results.json`` in
   ``<out>/<run_id>/``.

``--suite miniwob`` runs the same loop on MiniWoB++: the expert-covered tasks, expert
demonstrations on *train seeds* (0, 1, …) and evaluation on *held-out test seeds* (10000, …)
of the same tasks — new instances the model never saw — and GRPO **online**: groups of live
episodes in Chromium with MiniWoB's own reward (:mod:`.grpo_online`). The report lists each
task's held-out success beside the totals.

``--base smollm2`` (or a model folder) replaces the tiny model with a pretrained one: it is
the zero-shot row as it is, and BC, DPO and GRPO are LoRA adapters on it.

Everything is real: real browser episodes on the clones, real trl training, real
evaluation. The numbers are what they are: a few-hundred-K-parameter model trained for
minutes memorises the train demonstrations; it is not expected to generalise to the
unseen test tasks.
"""

from __future__ import annotations

import functools
import json
import math
import os
import random
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click

ALL_SITES = ("calendar", "mail", "shop")
MODELS = ("zero", "bc", "dpo", "grpo")

#: sizes found to memorise ~150 web-clone demonstrations in a few hundred steps on 2 CPU cores
TINY = dict(vocab_size=2048, hidden_size=128, layers=2, heads=4)
QUICK_TINY = dict(vocab_size=1024, hidden_size=64, layers=2, heads=4)


def _log(msg: str) -> None:
    print(msg, flush=True)


def _phase(n: int, total: int, title: str) -> float:
    _log(f"\n== [{n}/{total}] {title}")
    return time.monotonic()


def _finished(folder: Path, log: Callable[[str], None]) -> Path | None:
    """``folder`` when a model finished training there (its ``training_summary.json``): a
    demo run continued with the same ``--run-id`` reuses it instead of training again."""
    if (folder / "training_summary.json").is_file():
        log(f"   reusing the model trained earlier in this run: {folder}")
        return folder
    return None


def _done(started: float, what: str) -> float:
    took = time.monotonic() - started
    _log(f"   {what} ({took:.0f}s)")
    return took


def select_demo_tasks(runtime, sites: Sequence[str], quick: bool) -> tuple[list, list]:
    """(train tasks, test tasks) of the web clones for ``sites``."""
    suite = runtime.suite("webclones")
    train, test = [], []
    for site in sites:
        site_train = suite.list_tasks(site=site, split="train")
        site_test = suite.list_tasks(site=site, split="test")
        if quick:  # the shortest solutions keep the quick run short
            from halo_plugin_webclones.experts import expert_steps

            site_train = sorted(site_train, key=lambda t: (len(expert_steps(t.id)), t.id))[:3]
            site_test = sorted(site_test, key=lambda t: (len(expert_steps(t.id)), t.id))[:1]
        train += site_train
        test += site_test
    return train, test


SUITES = ("webclones", "miniwob")
#: MiniWoB tasks of the quick run: one-step and two-step tasks of four families, one of them typing
QUICK_MINIWOB = ("click-button", "click-link", "enter-text", "focus-text")
#: MiniWoB tasks of the default run (fixed before any result was seen): clicking, dialogs, tabs,
#: focusing and typing, the kinds whose action is a lookup of the goal on the page
DEFAULT_MINIWOB = ("click-button", "click-dialog", "click-link", "click-tab", "click-test-2", "enter-password",
                   "enter-text", "enter-text-dynamic", "focus-text", "focus-text-2", "login-user", "click-widget")


def select_miniwob_tasks(runtime, quick: bool, train_seeds: int, test_seeds: int,
                         names: Sequence[str] | None = None, full: bool = False) -> tuple[list, list]:
    """(train instances, held-out instances) of MiniWoB tasks with an expert: train seeds
    0…train_seeds−1 and test seeds from the first test seed, for ``names``, else the quick,
    the default or (``full``) every expert-covered task, in a fixed order chosen before any
    result is seen."""
    from halo_plugin_miniwob import TEST_SEED_START
    from halo_plugin_miniwob.experts import SOLVERS

    chosen = list(names) if names else (list(QUICK_MINIWOB) if quick else sorted(SOLVERS) if full
                                        else list(DEFAULT_MINIWOB))
    unknown = [n for n in chosen if n not in SOLVERS]
    if unknown:
        raise click.UsageError(f"MiniWoB task {unknown[0]!r} has no expert; tasks with one: {', '.join(sorted(SOLVERS))}")
    suite = runtime.suite("miniwob")
    train = [suite.resolve(f"miniwob.{n}@{s}") for n in chosen for s in range(train_seeds)]
    test = [suite.resolve(f"miniwob.{n}@{TEST_SEED_START + s}") for n in chosen for s in range(test_seeds)]
    return train, test


def per_task(records: list[dict], ids: set[str]) -> dict[str, dict[str, dict[str, int]]]:
    """{task name: {model: {"successes": k, "episodes": n}}} over the records of ``ids``
    (MiniWoB instances ``miniwob.<name>@<seed>`` grouped by name)."""
    from halo_plugin_miniwob import parse_task_id

    out: dict[str, dict[str, dict[str, int]]] = {}
    for r in records:
        if r["task"] not in ids or not str(r["mode"]).startswith("qwen_worker_"):
            continue
        name, _seed = parse_task_id(r["task"])
        cell = out.setdefault(name, {}).setdefault(r["mode"].removeprefix("qwen_worker_"),
                                                    {"successes": 0, "episodes": 0})
        cell["episodes"] += 1
        cell["successes"] += int(bool(r.get("success")))
    return dict(sorted(out.items()))


def per_task_table(tasks: dict[str, dict[str, dict[str, int]]]) -> str:
    models = [m for m in MODELS if any(m in cells for cells in tasks.values())]
    lines = ["| task | " + " | ".join(models) + " |", "|---|" + "--:|" * len(models)]
    for name, cells in tasks.items():
        row = [f"{cells[m]['successes']}/{cells[m]['episodes']}" if m in cells else "-" for m in models]
        lines.append(f"| {name} | " + " | ".join(row) + " |")
    means = []
    for m in models:  # the mean over tasks of each task's success rate (every task counts once)
        rates = [c[m]["successes"] / c[m]["episodes"] for c in tasks.values() if m in c and c[m]["episodes"]]
        means.append(f"**{100 * sum(rates) / len(rates):.0f}%**" if rates else "-")
    lines.append("| **mean over tasks** | " + " | ".join(means) + " |")
    return "\n".join(lines)


#: episodes in flight per shared local model in the demo's model runs (the batch size it reaches)
SHARED_MODEL_EPISODES = 8
#: expert episodes in flight (threads of one process) while MiniWoB demonstrations are recorded
EXPERT_EPISODES = 4
#: --full: train seeds per task the BC model plays while the expert relabels its states
DAGGER_SEEDS_FULL = 4
#: --full: held-out seeds per task the zero-shot tiny model plays (it fails all of them)
ZERO_SEEDS_FULL = 2
#: --full: BC's passes over the expert demonstrations (each relabelling round adds one pass
#: over the aggregated data). 800 steps of 4 (under one pass) under-fitted. 6 passes matched
#: the expert on more held-out states (41% vs 32% at 1.5 passes) but played worse: a full run
#: with 6 gave BC 24% [22-26%] of 1,150 held-out episodes, the run with 3 gave 31% [29-34%]
BC_EPOCHS_FULL = 3.0
#: --full: BC's steps shared equally by the tasks, not by their examples. The 115 tasks give
#: 1 to 157 demonstrations each (mouse-tracking tasks the most, one-click tasks the fewest);
#: unbalanced, the full run's BC answered click(*1) on tasks it had seen ten times. The same
#: 2,632 steps balanced matched the expert on 42% of its train states against 34% (5 per task)
BALANCE_TASKS_FULL = True
#: --full: BC's learning rate for the tiny model (the default run's 5e-3 is for its 400 steps).
#: Over the full run's 2,666 steps 5e-3 stalled twice at a loss near 1.1, answering click(*1)
#: on half of its own training states; 2e-3 on the same data and warm model went on down
BC_LR_FULL = 2e-3
#: BC's batch size in the demo
BC_BATCH = 4


def _bc_length(payload: dict[str, Any]) -> str:
    steps = payload.get("bc_steps") or payload["train_steps"]
    epochs = payload.get("bc_epochs")
    return (f"{steps} steps of {BC_BATCH}" + (f" ({epochs:g} passes over the demonstrations)" if epochs else "")
            + (", every task the same share of them" if payload.get("balance_tasks") else ""))


def _epoch_steps(epochs: float, examples: int) -> int:
    """Optimizer steps for ``epochs`` passes over ``examples`` at :data:`BC_BATCH`."""
    return max(20, math.ceil(epochs * examples / BC_BATCH))


def _run_episodes(runtime, run_id: str, tasks: list, configs: dict, *, data_dir: Path, results_dir: Path,
                  workers: int, model_episodes: bool = False, threads: int = 0):
    """Run ``tasks`` × ``configs`` through the evaluation machinery; the records. With
    ``model_episodes`` (episodes of ``local:`` models), the ``threads`` executor runs
    ``HALO_SHARED_MODEL_EPISODES`` (8) episodes at a time in this process: they share each
    model, whose engine batches their calls; ``HALO_SHARED_MODEL_EPISODES=0`` runs them in
    ``workers`` processes instead, each with its own model copy and one torch thread.
    ``threads`` > 0 runs that many episodes at a time in threads of this process (the
    expert's episodes: no model, so one process keeps both cores busy)."""
    from rich.console import Console

    from halo_core.api import ResultsStore, new_plan, plan_tasks, run_plan

    store = ResultsStore(results_dir, run_id)
    plan = store.read_plan() if store.exists() else new_plan(
        "eval", run_id, plan_tasks(runtime, tasks), configs,
        {"attempts": 1, "headless": True, "data_dir": str(data_dir), "selection": {"demo": True}})
    if not store.exists():
        store.write_plan(plan)
    shared = int(os.environ.get("HALO_SHARED_MODEL_EPISODES", SHARED_MODEL_EPISODES)) if model_episodes else 0
    executor = "local"
    if shared > 0:
        executor, workers = "threads", shared
    elif threads > 0:
        executor, workers = "threads", threads
    one_thread = model_episodes and not shared and workers > 1 and not _USER_THREADS
    before = os.environ.get("HALO_TORCH_THREADS")
    if one_thread:
        os.environ["HALO_TORCH_THREADS"] = "1"
    try:
        report = run_plan(plan, runtime, store, executor=executor, workers=workers, console=Console(highlight=False),
                          live=False)
    finally:
        if one_thread:
            if before is None:
                os.environ.pop("HALO_TORCH_THREADS", None)
            else:
                os.environ["HALO_TORCH_THREADS"] = before
    return report.records


#: Page text kept in the demo's prompts: a tiny model trains and answers much faster on
#: short prompts. Recorded in each trajectory's config, so `halo export` rebuilds the same.
DEMO_PAGE_CHARS = 1500


def _worker_config(mode: str, backend: str, max_steps: int, references: bool = True, **options):
    from halo_core.api import mode_config

    # the model alone: no manager (no API offline), no cache, macros or recovery to help it
    return mode_config(mode, worker_backend=backend, use_manager=False, use_vac=False, use_macros=False,
                       use_recovery=False, use_screenshot=False, max_steps=max_steps, worker_temperature=0.0,
                       max_tokens=48, max_page_chars=DEMO_PAGE_CHARS,
                       worker_references="on" if references else "off", **options)


def _valid_action_rate(records: list[dict]) -> tuple[int, int]:
    """(valid, total) worker actions over the records' trajectories: valid = parsed and
    executed without an error."""
    from halo_core.api import read_trajectory

    valid = total = 0
    for record in records:
        path = record.get("trajectory")
        if not path or not Path(path).is_file():
            continue
        for step in read_trajectory(path).steps:
            total += 1
            if not step.error and not step.decision_meta.get("parse_error"):
                valid += 1
    return valid, total


def summarize(records: list[dict], train_ids: set[str], test_ids: set[str],
              models: Sequence[str] = MODELS) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for model in models:
        mode = f"qwen_worker_{model}"
        out[model] = {}
        for split, ids in (("test", test_ids), ("train", train_ids)):
            rows = [r for r in records if r["mode"] == mode and r["task"] in ids]
            valid, total = _valid_action_rate(rows)
            successes = sum(1 for r in rows if r.get("success"))
            out[model][split] = {
                "tasks": len(rows),
                "successes": successes,
                "success_rate": successes / len(rows) if rows else None,
                "success_ci95": list(wilson_interval(successes, len(rows))) if rows else None,
                "mean_steps": sum(r.get("steps", 0) for r in rows) / len(rows) if rows else None,
                "valid_action_rate": valid / total if total else None,
                "errors": sum(1 for r in rows if r.get("terminated_by") in ("error", "init_error")),
                "solved": sorted(r["task"] for r in rows if r.get("success")),
            }
    return out


def wilson_interval(successes: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """95% Wilson score interval of a success rate: unlike the normal approximation it
    stays inside [0, 1] and is honest about 0/n and n/n with a dozen episodes."""
    if n <= 0:
        raise ValueError("wilson_interval needs n >= 1")
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * ((p * (1 - p) / n + z * z / (4 * n * n)) ** 0.5) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def _pct(value) -> str:
    return "-" if value is None else f"{100 * value:.0f}%"


def _rate(d: dict[str, Any]) -> str:
    """``42% [21–65%] (5/12)``: rate, 95% Wilson interval, successes/n."""
    if not d["tasks"]:
        return "- (0/0)"
    low, high = wilson_interval(d["successes"], d["tasks"])
    return f"{_pct(d['success_rate'])} [{100 * low:.0f}–{100 * high:.0f}%] ({d['successes']}/{d['tasks']})"


def results_table(results: dict[str, dict[str, Any]], pretrained: bool = False) -> str:
    header = ("| model | test success [95% CI] (k/n) | train success [95% CI] (k/n) | mean steps (test/train) "
              "| valid actions (test/train) |")
    lines = [header, "|---|---|---|---|---|"]
    names = {"zero": f"zero-shot ({'pretrained' if pretrained else 'tiny'} base)", "bc": "BC", "dpo": "DPO (from BC)", "grpo": "GRPO (from BC)"}
    for model in (m for m in MODELS if m in results):
        te, tr = results[model]["test"], results[model]["train"]

        def steps(d):
            return "-" if d["mean_steps"] is None else f"{d['mean_steps']:.1f}"

        lines.append(f"| {names[model]} | {_rate(te)} | {_rate(tr)} | {steps(te)} / {steps(tr)} "
                     f"| {_pct(te['valid_action_rate'])} / {_pct(tr['valid_action_rate'])} |")
    return "\n".join(lines)


#: ``--base smollm2``: where ``halo models import-gguf --out`` is told to write it in the README
SMOLLM2_DIR = "models/smollm2-135m"


def resolve_base(base: str | None) -> Path | None:
    """None for the tiny model; else the pretrained model folder ``base`` names (``smollm2``:
    :data:`SMOLLM2_DIR`). A folder without ``config.json`` is a usage error that says what to do."""
    if base in (None, "", "tiny"):
        return None
    path = Path(SMOLLM2_DIR if base == "smollm2" else base).expanduser()
    if not (path / "config.json").is_file():
        hint = (f"import it first: halo models import-gguf --out {SMOLLM2_DIR}" if base == "smollm2"
                else "pass a transformers model folder (with config.json), smollm2, or tiny")
        raise click.UsageError(f"--base {base}: no model at {path} ({hint})")
    return path.resolve()


def _count_parameters(folder: Path) -> int:
    from safetensors import safe_open

    total = 0
    for file in sorted(folder.glob("*.safetensors")):
        with safe_open(str(file), "pt") as f:
            for key in f.keys():
                n = 1
                for d in f.get_slice(key).get_shape():
                    n *= int(d)
                total += n
    return total


def _run_demo(*, out: str = "reports/demo", run_id: str | None = None, sites: Sequence[str] | None = None,
             max_steps: int | None = None, train_steps: int | None = None, quick: bool = False,
             workers: int | None = None, seed: int = 0, suite: str = "webclones", train_seeds: int | None = None,
             test_seeds: int | None = None, tasks: Sequence[str] | None = None, grpo_steps: int | None = None,
             base_model: str | None = None, full: bool = False, references: bool = True, dagger_rounds: int = 1,
             until: str = "grpo", lora_top_layers: int = 0, lr: float | None = None, bc_epochs: float | None = None,
             balance_tasks: bool | None = None, log: Callable[[str], None] = _log) -> dict[str, Any]:
    """Run the demo; returns the ``results.json`` content. ``base_model``: None/``tiny`` (a tiny
    model built and trained from scratch) or a pretrained model folder (``smollm2``), whose
    BC, DPO and GRPO are LoRA adapters. ``bc_epochs``: BC's length in passes over its data
    (each relabelling round then makes one pass over the aggregated data) instead of
    ``train_steps``; ``--full`` defaults to :data:`BC_EPOCHS_FULL`. ``balance_tasks``: BC's
    steps shared equally by the tasks (default: with ``--full``; :data:`BALANCE_TASKS_FULL`)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from halo_plugin_qwen.tiny import build_tiny_qwen

    from halo_core.api import Runtime, export_datasets, format_summary, mode_config, new_run_id

    from .bc import train_bc
    from .dpo import train_dpo
    from .grpo import train_grpo

    if suite not in SUITES:
        raise click.UsageError(f"unknown demo suite {suite!r}; suites: {', '.join(SUITES)}")
    if until not in MODELS[1:]:
        raise click.UsageError(f"--until {until!r}: one of {', '.join(MODELS[1:])}")
    models_run = MODELS[:MODELS.index(until) + 1]  # the rows trained and evaluated
    pretrained = resolve_base(base_model)
    miniwob = suite == "miniwob"
    if miniwob:
        sites = ("miniwob",)
        train_seeds = train_seeds or (3 if quick else 10)
        test_seeds = test_seeds or (2 if quick else 10)
    else:
        sites = tuple(sites or (("calendar",) if quick else ALL_SITES))
        unknown = [s for s in sites if s not in ALL_SITES]
        if unknown:
            raise click.UsageError(f"unknown site {unknown[0]!r}; sites: {', '.join(ALL_SITES)}")
    from halo_plugin_qwen.local import set_torch_threads

    set_torch_threads()
    started_all = time.monotonic()
    run_id = run_id or new_run_id("demo")
    root = Path(out) / run_id
    data_dir, results_dir, models = root / "data", root / "results", root / "models"
    datasets_dir = root / "datasets"
    root.mkdir(parents=True, exist_ok=True)
    max_steps = max_steps or (4 if quick else (12 if miniwob else 10))
    train_steps = train_steps or (150 if quick else 800 if (full or not miniwob) else 400)
    warmup_steps = max(10, train_steps // 5)
    if full and bc_epochs is None and pretrained is None:
        bc_epochs = BC_EPOCHS_FULL
    balance_tasks = (full and BALANCE_TASKS_FULL) if balance_tasks is None else balance_tasks
    workers = workers or 2
    runtime = Runtime()
    timings: dict[str, float] = {}
    dagger_rounds = dagger_rounds if miniwob else 0  # the web clones' expert follows a fixed script
    total = (8 if dagger_rounds else 7) - (until == "bc")  # phases 3 and 3b share a number
    log(f"halo demo run_id={run_id} suite={suite} sites={','.join(sites)} quick={quick} max_steps={max_steps} "
        f"train_steps={train_steps} base={pretrained or 'tiny'} references={'on' if references else 'off'} "
        f"dagger_rounds={dagger_rounds} -> {root}")

    # 1. expert demonstrations
    t = _phase(1, total, "expert demonstrations on the train tasks")
    if miniwob:
        train_tasks, test_tasks = select_miniwob_tasks(runtime, quick, train_seeds, test_seeds, tasks, full=full)
        log(f"   {len(train_tasks) // train_seeds} MiniWoB tasks: {train_seeds} train seeds each "
            f"({len(train_tasks)} instances), {test_seeds} held-out test seeds each ({len(test_tasks)} instances)")
    else:
        train_tasks, test_tasks = select_demo_tasks(runtime, sites, quick)
        log(f"   {len(train_tasks)} train tasks, {len(test_tasks)} held-out test tasks")
    expert = mode_config("baseline_worker", policy="expert", use_screenshot=False, max_steps=40,
                         max_page_chars=DEMO_PAGE_CHARS).replace(mode="expert_demo")
    demo_records = _run_episodes(runtime, f"{run_id}_demos", train_tasks, {"expert_demo": expert},
                                 data_dir=data_dir, results_dir=results_dir, workers=workers,
                                 threads=EXPERT_EPISODES if miniwob else 0)
    solved = sum(1 for r in demo_records if r.get("success"))
    timings["demos"] = _done(t, f"expert solved {solved}/{len(demo_records)} train tasks")

    # 2. export
    t = _phase(2, total, "export datasets")
    rewrite = None
    if references:
        from halo_plugin_qwen.references import rewrite_example as rewrite
    exported = export_datasets(data_dir / "trajectories", datasets_dir, modes=("expert_demo",),
                               pairing_strategies=("success_vs_failure", "progress_ranked"), val_fraction=0.0,
                               seed=seed, rewrite=rewrite, runtime=runtime)
    for line in format_summary(exported.summary).splitlines():
        log("   " + line)
    timings["export"] = _done(t, "exported")
    bc_path, dpo_path = datasets_dir / "bc.jsonl", datasets_dir / "dpo.jsonl"

    # 3. the base: a pretrained model as it is, or a tiny model built here
    if pretrained is not None:
        t = _phase(3, total, f"pretrained base {pretrained} (the zero-shot model; BC, DPO and GRPO train LoRA adapters)")
        base, sizes, warmup_steps = pretrained, {}, 0
        params = _count_parameters(base)
        timings["tiny_model"] = _done(t, f"{base} ({params / 1e6:.0f}M parameters)")
    else:
        t = _phase(3, total, "build a tiny Qwen2 model + tokenizer from the exported prompts")
        corpus = []
        for line in bc_path.read_text().splitlines():
            row = json.loads(line)
            corpus += [m["content"] for m in row["prompt"] + row["completion"]]
        sizes = QUICK_TINY if quick else TINY
        base = models / "tiny_base"
        if not (base / "config.json").is_file():  # a finished one is reused when the run continues
            base = build_tiny_qwen(base, corpus, seed=seed, **sizes)
        params = _count_parameters(base)
        timings["tiny_model"] = _done(t, f"{base} ({params / 1e3:.0f}K parameters, vocab {sizes['vocab_size']})")

        # language-model warm-up: a real Qwen has read web pages before it is fine-tuned; the random
        # tiny model reads the exported prompts (inputs only, never the actions to predict) so that
        # BC's completion-only loss has something to build on
        t = _phase(3, total, f"warm up the tiny model on the prompt text ({warmup_steps} steps)")
        warm_path = datasets_dir / "warmup_text.jsonl"
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(base)
        with open(warm_path, "w") as fh:
            for line in bc_path.read_text().splitlines():
                prompt = json.loads(line)["prompt"]
                fh.write(json.dumps({"text": tokenizer.apply_chat_template(prompt, tokenize=False)}) + "\n")
        base = _finished(models / "tiny_warm", log) or train_bc(dataset=str(warm_path), base_model=str(base), output=str(models / "tiny_warm"),
                        max_steps=warmup_steps, lr=5e-3, lr_scheduler="cosine", warmup_steps=10, batch_size=4, lora=False,
                        seed=seed, progress="lines", save_steps=max(warmup_steps, 50),
                        logging_steps=max(5, warmup_steps // 5), command_line=f"halo demo (run {run_id})")
        timings["warmup"] = _done(t, f"warm base (the zero-shot model): {base}")

    common = dict(seed=seed, progress="lines", save_steps=max(train_steps, 50), logging_steps=max(5, train_steps // 10),
                  max_length=4096, command_line=f"halo demo (run {run_id})")
    # 4. BC
    bc_lr = lr or (2e-4 if pretrained else BC_LR_FULL if full else 5e-3)
    bc_steps = _epoch_steps(bc_epochs, exported.summary["bc_examples"]["train"]) if bc_epochs else train_steps
    # the tiny base is random: BC trains all of its weights (a LoRA on random weights learns
    # far slower); DPO and GRPO then train LoRA adapters on the BC model, as on a real Qwen
    t = _phase(4, total, f"BC: {bc_steps} steps ({'a LoRA adapter' if pretrained else 'all weights of the tiny model'}) "
                         f"on {exported.summary['bc_examples']['train']} examples")
    bc_dir = _finished(models / "bc", log) or train_bc(dataset=str(bc_path), base_model=str(base), output=str(models / "bc"), max_steps=bc_steps,
                      lr=bc_lr, lr_scheduler="cosine", warmup_steps=10, batch_size=BC_BATCH,
                      lora=pretrained is not None, lora_top_layers=lora_top_layers if pretrained else 0,
                      balance_tasks=balance_tasks, **common)
    timings["bc"] = _done(t, f"BC adapter: {bc_dir}")

    # 4b. expert relabelling (DAgger): the BC model acts on the train seeds, the expert labels every
    # state it visits; the labels join the demonstrations and BC trains another round on them.
    # The model's own mistakes at those states become DPO's pairs (chosen: the expert's action)
    demonstrations = exported  # what the expert's episodes gave; rounds of relabelling add to it
    dagger: dict[str, Any] = {}
    dagger_failures: set[str] = set()  # train instances the BC model failed while relabelled
    phase = 5
    # the full run relabels the first DAGGER_SEEDS_FULL train seeds of each task: its states
    # are what the BC model gets wrong, and a few seeds of each of 100+ tasks find them
    dagger_tasks = [x for x in train_tasks if (x.seed or 0) < DAGGER_SEEDS_FULL] if full else train_tasks
    if dagger_rounds:
        for rnd in range(1, dagger_rounds + 1):
            t = _phase(phase, total, f"expert relabelling, round {rnd}: the BC model on {len(dagger_tasks)} train "
                                     "instances, the expert's action recorded at every state it visits")
            label_config = _worker_config("qwen_worker_bc", f"local:{bc_dir}", max_steps, references,
                                          expert_labels=True).replace(mode=f"dagger_{rnd}")
            dagger_records = _run_episodes(runtime, f"{run_id}_dagger{rnd}", dagger_tasks,
                                           {f"dagger_{rnd}": label_config}, data_dir=data_dir,
                                           results_dir=results_dir, workers=workers, model_episodes=True)
            round_dir = root / f"datasets_dagger{rnd}"
            exported = export_datasets(data_dir / "trajectories", round_dir,
                                       modes=("expert_demo", *(f"dagger_{k}" for k in range(1, rnd + 1))),
                                       pairing_strategies=("on_policy", "success_vs_failure"), val_fraction=0.0,
                                       seed=seed, rewrite=rewrite, runtime=runtime)
            bc_path, dpo_path = round_dir / "bc.jsonl", round_dir / "dpo.jsonl"
            solved = sum(1 for r in dagger_records if r.get("success"))
            dagger_failures = {r["task"] for r in dagger_records if not r.get("success")}
            dagger[f"round_{rnd}"] = {"episodes": len(dagger_records), "successes": solved,
                                      "bc_examples": exported.summary["bc_examples"]["train"],
                                      "relabelled_examples": exported.summary["bc_examples_relabelled"],
                                      "dpo_pairs_by_source": exported.summary["dpo_pairs_by_source"],
                                      "dpo_pairs_by_strategy": exported.summary["dpo_pairs_by_strategy"]}
            log(f"   BC model solved {solved}/{len(dagger_records)} train instances; "
                f"{exported.summary['bc_examples_relabelled']} relabelled states; BC data now "
                f"{exported.summary['bc_examples']['train']} examples; DPO pairs "
                f"{exported.summary['dpo_pairs_by_strategy']}")
            # continues the BC model on the aggregated data
            round_steps = (_epoch_steps(1.0, exported.summary["bc_examples"]["train"]) if bc_epochs
                           else max(20, train_steps // 2))
            dagger[f"round_{rnd}"]["bc_steps"] = round_steps
            bc_dir = _finished(models / f"bc_dagger{rnd}", log) or train_bc(
                              dataset=str(bc_path), base_model=str(bc_dir), output=str(models / f"bc_dagger{rnd}"),
                              max_steps=round_steps, lr=2e-4 if pretrained else 2e-3, lr_scheduler="cosine",
                              warmup_steps=5, batch_size=BC_BATCH, lora=pretrained is not None,
                              balance_tasks=balance_tasks, **{**common, "save_steps": max(round_steps, 50), "logging_steps": max(5, round_steps // 10)})
            timings[f"dagger_{rnd}"] = _done(t, f"BC after relabelling: {bc_dir}")
        phase += 1

    # 5. DPO and GRPO from BC (unless --until bc)
    dpo_dir = grpo_dir = None
    if until != "bc":
        t = _phase(phase, total, "DPO from BC" + (", then GRPO from BC" if until == "grpo" else ""))
        dpo_steps = max(4, train_steps // 10)
        dpo_dir = _finished(models / "dpo", log) or train_dpo(dataset=str(dpo_path), base_model=str(bc_dir), output=str(models / "dpo"),
                            max_steps=dpo_steps, lr=5e-4, batch_size=4, beta=0.1, lora_r=16, lora_alpha=32,
                            **{**common, "logging_steps": max(1, dpo_steps // 4)})
        if until == "grpo" and miniwob:
            # online: each update samples a group of live episodes of one train instance and
            # learns from MiniWoB's own reward (group-relative advantages)
            from .grpo_online import suite_environments, train_grpo_online

            grpo_steps = grpo_steps or (2 if quick else max(8, 3 * train_steps // 40))
            _suite, envs = suite_environments(runtime, "miniwob")
            order = grpo_order(train_tasks, dagger_failures, seed)
            grpo_dir = _finished(models / "grpo", log) or train_grpo_online(tasks=order, envs=envs, runtime=runtime, group_size=4, temperature=1.0,
                                         beta=0.04, max_completion_length=32, episode_max_steps=max_steps,
                                         valid_bonus=0.1, max_page_chars=DEMO_PAGE_CHARS, base_model=str(bc_dir),
                                         output=str(models / "grpo"), max_steps=grpo_steps,
                                         lr=2e-4 if pretrained else 2e-3, lora_r=16,
                                         lora_alpha=32, seed=seed, progress="lines", log=log,
                                         worker_references="on" if references else "off")
        elif until == "grpo":
            grpo_steps = grpo_steps or (2 if quick else max(4, train_steps // 30))
            grpo_dir = _finished(models / "grpo", log) or train_grpo(dataset=str(bc_path), base_model=str(bc_dir), output=str(models / "grpo"),
                                  max_steps=grpo_steps, lr=2e-4, batch_size=4, num_generations=4, max_completion_length=32,
                                  lora_r=16, lora_alpha=32,
                                  temperature=1.0, **{**common, "logging_steps": 1})
        timings["dpo_grpo"] = _done(t, f"DPO adapter: {dpo_dir}" + (f"; GRPO adapter: {grpo_dir}" if grpo_dir else ""))
        phase += 1

    # 6. evaluate
    # MiniWoB: the train column checks memorisation on each task's first train seed
    eval_train = [x for x in train_tasks if (x.seed or 0) == 0] if miniwob else train_tasks
    names = {"zero": "zero-shot", "bc": "BC", "dpo": "DPO", "grpo": "GRPO"}
    t = _phase(phase, total, f"evaluate {', '.join(names[m] for m in models_run)} on {len(test_tasks)} test + "
                             f"{len(eval_train)} train tasks (max {max_steps} steps)")
    backends = {m: f"local:{d}" for m, d in (("zero", base), ("bc", bc_dir), ("dpo", dpo_dir), ("grpo", grpo_dir))
                if m in models_run}
    configs = {f"qwen_worker_{m}": _worker_config(f"qwen_worker_{m}", backends[m], max_steps, references)
               for m in models_run}
    zero_tasks = test_tasks + eval_train
    if full and pretrained is None:
        # the warmed-up tiny model has never seen an action: it fails every episode and each
        # failure runs to max_steps, so the full run plays it on the first ZERO_SEEDS_FULL test seeds
        from halo_plugin_miniwob import TEST_SEED_START

        zero_tasks = [x for x in test_tasks if (x.seed or 0) < TEST_SEED_START + ZERO_SEEDS_FULL] + eval_train
    zero = configs.pop("qwen_worker_zero")
    records = _run_episodes(runtime, f"{run_id}_eval", test_tasks + eval_train, configs, data_dir=data_dir,
                            results_dir=results_dir, workers=workers, model_episodes=True)
    records += _run_episodes(runtime, f"{run_id}_eval_zero", zero_tasks, {"qwen_worker_zero": zero},
                             data_dir=data_dir, results_dir=results_dir, workers=workers, model_episodes=True)
    timings["evaluate"] = _done(t, f"{len(records)} episodes")

    # 7. report
    t = _phase(phase + 1, total, "report")
    results = summarize(records, {x.id for x in eval_train}, {x.id for x in test_tasks}, models_run)
    table = results_table(results, pretrained is not None)
    tasks_table = per_task(records, {x.id for x in test_tasks}) if miniwob else {}
    timings["report"] = time.monotonic() - t
    timings["total"] = time.monotonic() - started_all
    payload = {
        "run_id": run_id, "suite": suite, "sites": list(sites), "quick": quick, "max_steps": max_steps,
        "train_steps": train_steps, "bc_steps": bc_steps, "bc_epochs": bc_epochs, "balance_tasks": balance_tasks, "grpo_steps": grpo_steps, "grpo": "online" if miniwob else "offline",
        "train_seeds": train_seeds, "test_seeds": test_seeds, "per_task_test": tasks_table,
        "warmup_steps": warmup_steps, "train_tasks": [x.id for x in train_tasks], "test_tasks": [x.id for x in test_tasks],
        "tiny_model": {"path": str(base), "parameters": params, "pretrained": pretrained is not None, **sizes},
        "datasets": demonstrations.summary, "training_data": exported.summary,
        "models": dict(backends), "until": until, "bc_lr": bc_lr, "lora_top_layers": lora_top_layers if pretrained else 0,
        "references": references, "dagger": dagger, "grpo_groups": _grpo_groups(grpo_dir) if miniwob and grpo_dir else {},
        "full": full, "default_tasks": list(DEFAULT_MINIWOB) if miniwob and not (quick or full or tasks) else None,
        "results": results, "timings_sec": {k: round(v, 1) for k, v in timings.items()},
        "results_dirs": [str(results_dir / f"{run_id}_demos"), str(results_dir / f"{run_id}_eval"),
                         str(results_dir / f"{run_id}_eval_zero")],
        "zero_shot_instances": len(zero_tasks), "dagger_instances": len(dagger_tasks) if dagger_rounds else 0,
    }
    (root / "results.json").write_text(json.dumps(payload, indent=2) + "\n")
    (root / "report.md").write_text(_report_md(payload, table))
    if tasks_table:
        log("\nheld-out seeds, per task (successes/episodes):\n" + per_task_table(tasks_table))
    log("\n" + table)
    log(f"\nreport: {root / 'report.md'}  results: {root / 'results.json'}  "
        f"(total {timings['total'] / 60:.1f} min)")
    return payload


#: whether the user set HALO_TORCH_THREADS (the demo sets it for its own phases otherwise)
_USER_THREADS = False


@functools.wraps(_run_demo)
def run_demo(**options: Any) -> dict[str, Any]:
    global _USER_THREADS
    from halo_plugin_qwen.local import set_torch_threads

    before = os.environ.get("HALO_TORCH_THREADS")
    _USER_THREADS = before is not None
    # decided once, before this run loads the machine: asked again later (each trainer asks),
    # the load average would count the run's own browsers and give BC one thread on an idle machine
    os.environ.setdefault("HALO_TORCH_THREADS", str(set_torch_threads()))
    try:
        return _run_demo(**options)
    finally:  # the thread count the run chose for itself does not outlive it
        if before is None:
            os.environ.pop("HALO_TORCH_THREADS", None)


def seeds_summary(runs: dict[int, dict[str, Any]]) -> tuple[dict[str, Any], str]:
    """(summary, markdown) of the same demo trained with several seeds (``--seeds``): per
    model, each seed's held-out success with its interval, the mean and range over seeds;
    and in how many seeds BC's interval lies above zero-shot's. The seeds change the model's
    initialisation, data order and sampling, not the task instances, so the spread between
    seeds is the training's own."""
    models = [m for m in MODELS if all(m in r["results"] for r in runs.values())]
    summary: dict[str, Any] = {"seeds": list(runs), "models": {}}
    header = "| model | " + " | ".join(f"seed {s}" for s in runs) + " | mean over seeds | range |"
    lines = [header, "|---|" + "---|" * len(runs) + "--:|---|"]
    names = {"zero": "zero-shot", "bc": "BC", "dpo": "DPO", "grpo": "GRPO"}
    for model in models:
        tests = [runs[s]["results"][model]["test"] for s in runs]
        rates = [t["success_rate"] for t in tests]
        mean = sum(rates) / len(rates)
        summary["models"][model] = {"per_seed": {str(s): {"success_rate": t["success_rate"],
                                                          "success_ci95": t["success_ci95"],
                                                          "successes": t["successes"], "n": t["tasks"]}
                                                 for s, t in zip(runs, tests)},
                                    "mean": mean, "min": min(rates), "max": max(rates)}
        lines.append(f"| {names[model]} | " + " | ".join(_rate(t) for t in tests)
                     + f" | **{100 * mean:.0f}%** | {100 * min(rates):.0f}–{100 * max(rates):.0f}% |")
    if "bc" in models and "zero" in models:
        above = [s for s in runs if runs[s]["results"]["bc"]["test"]["success_ci95"][0]
                 > runs[s]["results"]["zero"]["test"]["success_ci95"][1]]
        summary["bc_above_zero_shot"] = {"seeds": above, "of": len(runs)}
        lines.append(f"\nBC's interval lies above zero-shot's in {len(above)} of {len(runs)} seeds.")
    return summary, "\n".join(lines)


def grpo_order(train_tasks: list, failures: set[str], seed: int) -> list:
    """The train instances online GRPO plays, in order: those of tasks the BC model failed on
    some seed (where its sampled episodes are likeliest to differ, the only groups that
    teach) first, then the rest, each part shuffled with ``seed``."""
    from halo_plugin_miniwob import parse_task_id

    rng = random.Random(seed)
    hard_names = {parse_task_id(t)[0] for t in failures}
    hard = [x for x in train_tasks if parse_task_id(x.id)[0] in hard_names]
    rest = [x for x in train_tasks if parse_task_id(x.id)[0] not in hard_names]
    return rng.sample(hard, len(hard)) + rng.sample(rest, len(rest))


def _grpo_groups(grpo_dir) -> dict[str, Any]:
    """Online GRPO's group statistics from its ``rollouts.jsonl``: updates, groups whose
    episodes scored differently (the only ones that teach), mean reward and success."""
    path = Path(grpo_dir) / "rollouts.jsonl"
    try:
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    except (OSError, ValueError):
        return {}
    if not rows:
        return {}
    return {"updates": len(rows), "groups": sum(len(r.get("tasks", [])) for r in rows),
            "mixed_groups": sum(int(r.get("groups_with_signal", 0)) for r in rows),
            "mean_reward": round(sum(r["reward"] for r in rows) / len(rows), 4),
            "mean_success": round(sum(r["success"] for r in rows) / len(rows), 4)}


def _report_md(payload: dict[str, Any], table: str) -> str:
    ds = payload["datasets"]
    final = payload.get("training_data") or ds
    t = payload["timings_sec"]
    tiny = payload["tiny_model"]
    if tiny.get("pretrained"):
        model_lines = [f"- base: pretrained `{tiny['path']}`, {tiny['parameters'] / 1e6:.0f}M parameters (the zero-shot "
                       "row, with its own worker prompt)",
                       f"- BC: {_bc_length(payload)} of a LoRA adapter"
                       + (f" on the top {payload['lora_top_layers']} layers" if payload.get("lora_top_layers") else "")
                       + ("" if payload.get("until") == "bc" else "; DPO and GRPO continue that adapter "
                          "(DPO's reference: the BC adapter, frozen)")]
    else:
        model_lines = [
            f"- tiny model: Qwen2 architecture, {tiny['parameters'] / 1e3:.0f}K parameters, hidden {tiny['hidden_size']}, "
            f"{tiny['layers']} layers, vocab {tiny['vocab_size']} (tokenizer trained on the exported prompts)",
            f"- warm-up: {payload['warmup_steps']} language-model steps on the prompt text (inputs only); "
            "the warm model is the zero-shot row",
            f"- BC: {_bc_length(payload)}, all weights of the tiny model (its base is random); DPO and GRPO "
            "train LoRA adapters on the BC model (DPO's reference: the BC model, adapter disabled)"]
    return "\n".join([
        f"# HALO demo — {payload['run_id']}",
        "",
        f"Sites: {', '.join(payload['sites'])}. Expert demonstrations on {len(payload['train_tasks'])} train tasks; "
        f"evaluation on {len(payload['test_tasks'])} held-out test tasks and the train tasks, "
        f"at most {payload['max_steps']} steps per episode, greedy decoding, worker only "
        "(no manager, cache, macros or recovery).",
        "",
        table,
        "",
        *([f"## Held-out seeds per task ({payload['test_seeds']} test seeds each; train seeds 0–"
           f"{payload['train_seeds'] - 1})", "", per_task_table(payload["per_task_test"]), "",
           "Mean over tasks: each task's held-out success rate, averaged with every task counted once.", ""]
          if payload.get("per_task_test") else []),
        *([f"Prompts: grounded references (elements matching the goal marked *k, goal values $k; "
           "halo_plugin_qwen.references), the same for every model.", ""] if payload.get("references") else []),
        *([f"Expert relabelling (DAgger): " + "; ".join(
            f"{k}: the BC model solved {v['successes']}/{v['episodes']} train instances, {v['relabelled_examples']} "
            f"states relabelled by the expert, BC data {v['bc_examples']} examples"
            + (f" ({v['bc_steps']} more BC steps)" if v.get("bc_steps") else "") + f", DPO pairs {v['dpo_pairs_by_source']}"
            for k, v in payload["dagger"].items()), ""] if payload.get("dagger") else []),
        *([f"Online GRPO groups: {g['groups']} groups in {g['updates']} updates, {g['mixed_groups']} with mixed "
           f"outcomes (the only ones that teach), mean reward {g['mean_reward']}, mean success {g['mean_success']}.", ""]
          if (g := payload.get("grpo_groups")) else []),
        *([f"GRPO: {payload.get('grpo', 'offline')}"
           + (" (groups of 4 live episodes per update, the environment's reward)" if payload.get("grpo") == "online"
              else " (trl's GRPOTrainer on the exported prompts)") + ".", ""]
          if payload.get("until", "grpo") == "grpo" else
          [f"Rows trained and evaluated: up to {payload['until']} (--until {payload['until']}).", ""]),
        "## Pipeline",
        "",
        f"- demonstrations: {ds['episodes_successful']}/{ds['episodes_read']} expert episodes succeeded, "
        f"{ds['steps_read']} steps",
        f"- datasets: {final['bc_examples']['train']} BC examples, {final['dpo_pairs']['train']} DPO pairs "
        f"(by source {final['dpo_pairs_by_source']}; by strategy {final['dpo_pairs_by_strategy']})",
        *model_lines,
        "- models: " + ", ".join(f"{k} = `{v}`" for k, v in payload["models"].items()),
        "",
        "## Timing (seconds)",
        "",
        " | ".join(f"{k} {v}" for k, v in t.items()),
        "",
        "Episode-level results: " + ", ".join(f"`{d}`" for d in payload["results_dirs"]) + ".",
        "",
    ])


@click.command("demo")
@click.option("--out", default="reports/demo", show_default=True, type=click.Path(file_okay=False),
              help="Everything goes to <out>/<run_id>/ (data, datasets, models, results, report.md, results.json).")
@click.option("--run-id", default=None, help="Run id (default: a new one). The id of an interrupted run continues "
              "it: its finished episodes and trained models are reused.")
@click.option("--sites", default=None, help="Comma-separated web-clone sites (default: all; quick: calendar).")
@click.option("--max-steps", type=click.IntRange(min=1), default=None, help="Steps per evaluation episode (10; quick 6).")
@click.option("--train-steps", type=click.IntRange(min=1), default=None, help="BC steps (800; quick 150); "
              "the warm-up runs a fifth, DPO a tenth, GRPO a thirtieth.")
@click.option("--quick", is_flag=True, help="3 train + 1 test task per site (calendar unless --sites), a smaller "
              "model, fewer steps: for tests.")
@click.option("--workers", type=click.IntRange(min=1), default=2, show_default=True, help="Parallel episodes.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--seeds", default=None, help="Comma-separated seeds: run the whole demo once per seed (run ids "
              "<run-id>_seed<S>) and write seeds.md / seeds.json with each seed's held-out success, the mean and "
              "the range; replaces --seed.")
@click.option("--suite", type=click.Choice(SUITES), default="miniwob", show_default=True,
              help="miniwob: train seeds vs held-out seeds of MiniWoB++ tasks; webclones: train vs test tasks.")
@click.option("--full", is_flag=True, help="MiniWoB: every expert-covered task (as many as the MiniWoB plugin has experts for), "
                   "10 train and 10 held-out seeds each; relabelling on 4 train seeds and the zero-shot row on 2 held-out "
                   "seeds per task.")
@click.option("--references/--no-references", default=True, show_default=True,
              help="Grounded references in the worker prompt (*k marked elements, $k goal values).")
@click.option("--dagger-rounds", type=click.IntRange(min=0), default=1, show_default=True,
              help="MiniWoB: rounds of expert relabelling after BC (the BC model acts, the expert labels its states).")
@click.option("--train-seeds", type=click.IntRange(min=1), default=None,
              help="MiniWoB: expert demonstrations per task, on seeds 0..N-1 (10; quick 3).")
@click.option("--lora-top-layers", type=click.IntRange(min=0), default=0, show_default=True,
              help="Pretrained base: BC's LoRA adapter on the top N decoder layers only (0: all); cheaper CPU steps.")
@click.option("--lr", type=click.FloatRange(min=0.0, min_open=True), default=None,
              help=f"BC's learning rate (default: 5e-3 for the tiny model, {BC_LR_FULL:g} with --full, 2e-4 for a "
                   "pretrained base's LoRA).")
@click.option("--bc-epochs", type=click.FloatRange(min=0.0, min_open=True), default=None,
              help=f"BC's length in passes over its data instead of --train-steps; each relabelling round then makes "
                   f"one pass over the aggregated data (--full with the tiny model: {BC_EPOCHS_FULL:g}).")
@click.option("--balance-tasks/--no-balance-tasks", default=None,
              help="BC's steps shared equally by the tasks, whatever their number of demonstrations "
                   "(default: on with --full).")
@click.option("--until", type=click.Choice(MODELS[1:]), default="grpo", show_default=True,
              help="Train and evaluate the rows up to this one: bc (zero-shot and BC, e.g. for a pretrained base "
                   "on 2 cores), dpo, or grpo (all four).")
@click.option("--test-seeds", type=click.IntRange(min=1), default=None,
              help="MiniWoB: held-out instances per task, on test seeds 10000.. (10; quick 2).")
@click.option("--tasks", "task_names", default=None,
              help=f"MiniWoB: comma-separated task names (default: {len(DEFAULT_MINIWOB)} tasks; --full: every task "
                   "with an expert; quick: 4).")
@click.option("--grpo-steps", type=click.IntRange(min=1), default=None,
              help="GRPO updates (MiniWoB: online, one group of 4 episodes each; default train-steps/10).")
@click.option("--base", "base_model", default="tiny", show_default=True,
              help=f"tiny (built and trained here), smollm2 (= {SMOLLM2_DIR}, from halo models import-gguf) or a "
                   "pretrained model folder; a pretrained base trains LoRA adapters.")
def demo_command(out, run_id, sites, max_steps, train_steps, quick, workers, seed, seeds, suite, full, references,
                 dagger_rounds, train_seeds, until, lora_top_layers, lr, bc_epochs, test_seeds, task_names, grpo_steps,
                 base_model, balance_tasks) -> None:
    """The learning loop end to end, offline: expert demos → export → tiny Qwen2 → BC → DPO,
    GRPO → evaluate zero-shot/BC/DPO/GRPO on held-out and train tasks → report."""
    options = dict(out=out, sites=tuple(s.strip() for s in (sites or "").split(",") if s.strip()) or None,
                   max_steps=max_steps, train_steps=train_steps, quick=quick, workers=workers, suite=suite,
                   train_seeds=train_seeds, test_seeds=test_seeds, grpo_steps=grpo_steps, base_model=base_model,
                   full=full, references=references, dagger_rounds=dagger_rounds, until=until,
                   lora_top_layers=lora_top_layers, lr=lr, bc_epochs=bc_epochs, balance_tasks=balance_tasks,
                   tasks=tuple(t.strip() for t in (task_names or "").split(",") if t.strip()) or None)
    if not seeds:
        run_demo(run_id=run_id, seed=seed, **options)
        return
    try:
        chosen = list(dict.fromkeys(int(x) for x in seeds.split(",") if x.strip()))
    except ValueError:
        raise click.BadParameter(f"{seeds!r}: give whole numbers separated by commas, e.g. 0,1,2",
                                 param_hint="--seeds") from None
    if not chosen:
        raise click.BadParameter("give at least one seed, e.g. 0,1,2", param_hint="--seeds")
    from halo_core.api import new_run_id

    run_id = run_id or new_run_id("demo")
    runs = {s: run_demo(run_id=f"{run_id}_seed{s}", seed=s, **options) for s in chosen}
    summary, table = seeds_summary(runs)
    root = Path(out) / run_id
    root.mkdir(parents=True, exist_ok=True)
    (root / "seeds.json").write_text(json.dumps({**summary, "runs": {str(s): f"{run_id}_seed{s}" for s in runs}},
                                                indent=2) + "\n")
    (root / "seeds.md").write_text(f"# halo demo over seeds {', '.join(map(str, runs))}\n\nHeld-out success per "
                                   f"training seed (same task instances; each seed its own run under {out}):\n\n"
                                   f"{table}\n")
    click.echo(f"\n{table}\n\nseeds: {root / 'seeds.md'}  {root / 'seeds.json'}")
