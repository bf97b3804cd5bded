"""``halo eval``, ``halo rollouts`` and ``halo verify-exploration``.

Importing this module registers the commands on :data:`halo_core.cli.cli`; the
module is also a plugin (``halo_register_commands``), so registering it as one
adds the commands to whichever ``halo`` group is being built.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from halo_core import hookimpl
from halo_core.cli import HaloError, cli, console, err, get_runtime, new_run_id, preflight_backends
from halo_core.config import SCORE_MODE_MAX_STEPS, SPEED_MODE_MAX_STEPS, ConfigError
from halo_core.env.protocol import TaskNotFound
from halo_core.evaluation.executors import default_workers, executor_names
from halo_core.evaluation.jobs import trajectory_path
from halo_core.evaluation.metrics import _fmt, matrix
from halo_core.evaluation.plan import (
    build_configs,
    configs_from_plan,
    make_jobs,
    new_plan,
    plan_tasks,
    resolve_plan_tasks,
    select_tasks,
)
from halo_core.evaluation.runner import pending_jobs, run_plan
from halo_core.evaluation.store import ResultsStore, read_jsonl

__all__ = ["eval_command", "halo_register_commands", "register_commands", "rollouts_command",
           "verify_exploration_command"]


def _options(*options):
    def apply(f):
        for option in reversed(options):
            f = option(f)
        return f
    return apply


selection_options = _options(
    click.option("--tasks", "tasks_csv", default=None, help="Comma-separated task ids (default: every task)."),
    click.option("--suite", default=None, help="Only tasks of this suite."),
    click.option("--site", "sites", multiple=True, help="Only tasks of this site (repeatable)."),
    click.option("--split", type=click.Choice(["train", "test"]), default=None, help="Only train or test tasks."),
    click.option("--task-version", default="v2", show_default=True,
                 help="Task version, for suites that have versions (REAL: v2)."),
    click.option("--task-registry", type=click.Path(dir_okay=False), default=None,
                 help="Task registry snapshot JSON, for suites that pin tasks to one."),
    click.option("--subset", default=None, help="A task subset named in the experiments file (task_subsets)."),
    click.option("--sample-size", type=click.IntRange(min=1), default=None, help="Run a random sample of N tasks."),
)

agent_options = _options(
    click.option("--config", "config_path", default=None, type=click.Path(dir_okay=False),
                 help="experiments.yaml (modes become its experiments; its task_subsets feed --subset)."),
    click.option("--policy", default=None, help="Decision policy: worker (model) or a policy plugin, e.g. expert."),
    click.option("--worker-backend", default=None, help="Worker backend, e.g. openai:gpt-4o-mini."),
    click.option("--manager-backend", default=None, help="Manager backend, e.g. openai:gpt-4o; 'none' turns the gate off."),
    click.option("--max-steps", type=int, default=None, help=f"Step limit (score mode {SCORE_MODE_MAX_STEPS})."),
    click.option("--speed", is_flag=True, help=f"Speed mode: {SPEED_MODE_MAX_STEPS} steps."),
    click.option("--headless", type=click.BOOL, default=True, show_default=True, help="Hide the browser window."),
    click.option("--debug", is_flag=True, help="Print every step of every episode."),
    click.option("--dry-run", is_flag=True, help="Print the plan and output paths; start nothing."),
)

run_options = _options(
    click.option("--workers", type=click.IntRange(min=1), default=None,
                 help=f"Parallel episodes (default: the core count, {default_workers()} here)."),
    click.option("--executor", default="local", show_default=True,
                 help=f"Where episodes run: {', '.join(executor_names())} or one a plugin registered."),
    click.option("--ray-address", default=None, help="Ray cluster address (default: start a local Ray)."),
    click.option("--run-id", default=None, help="Run id (default: a new one)."),
    click.option("--resume", "resume_id", default=None, help="Finish the run with this id: only missing episodes run."),
    click.option("--retry-errors", is_flag=True, help="With --resume: also run again the episodes that errored."),
    click.option("--results-dir", default="results", show_default=True, type=click.Path(file_okay=False)),
    click.option("--data-dir", default="data", show_default=True, type=click.Path(file_okay=False),
                 help="Trajectories (data/trajectories/<mode>/<run_id>/)."),
)


def _fail(exc: Exception) -> HaloError:
    return HaloError(str(exc))


def _max_steps(max_steps, speed):
    return max_steps or (SPEED_MODE_MAX_STEPS if speed else None)


def _select(runtime, *, tasks_csv, suite, sites, split, task_version, task_registry, subset, config_path,
            sample_size, seed) -> tuple[list, dict[str, Any]]:
    suite_options = {"task_version": task_version, "task_registry": task_registry}
    try:
        tasks = select_tasks(runtime, task_ids=(tasks_csv or "").split(","), suite=suite, sites=sites, split=split,
                             subset=subset, config_path=config_path, sample_size=sample_size, seed=seed or 0,
                             suite_options=suite_options)
    except (TaskNotFound, ConfigError) as exc:
        raise _fail(exc) from None
    if not tasks:
        raise HaloError("no tasks match the selection (see `halo tasks`)")
    selection = {"tasks": tasks_csv, "suite": suite, "sites": list(sites), "split": split, "subset": subset,
                 "sample_size": sample_size, "sample_seed": seed}
    return tasks, {"suite_options": {k: v for k, v in suite_options.items() if v is not None},
                   "selection": selection}


def _preflight(runtime, configs) -> None:
    """Check every backend once, here, so a missing key stops the run before any task."""
    for config in configs.values():
        preflight_backends(runtime, config)


def _load_resume(results_dir: str, resume_id: str, kind: str) -> tuple[ResultsStore, dict]:
    store = ResultsStore(results_dir, resume_id)
    if not store.exists():
        raise HaloError(f"cannot resume {resume_id!r}: {store.plan_path} does not exist")
    plan = store.read_plan()
    if plan.get("kind", "eval") != kind:
        raise HaloError(f"run {resume_id!r} is a {plan.get('kind')!r} run; resume it with `halo {plan.get('kind')}`")
    return store, plan


def _new_store(results_dir: str, run_id: str) -> ResultsStore:
    store = ResultsStore(results_dir, run_id)
    if store.exists():
        raise HaloError(f"run {run_id!r} already exists in {store.dir}; use --resume {run_id} to finish it")
    return store


def _print_plan(plan: dict, runtime, store: ResultsStore, *, executor: str, workers: int | None,
                pending: int | None = None) -> None:
    configs = configs_from_plan(plan)
    jobs = make_jobs(plan, resolve_plan_tasks(runtime, plan), configs)
    options = plan["options"]
    n_tasks, n_modes = len(plan["tasks"]), len(configs)
    per_task = len(jobs) // max(1, n_tasks * n_modes)
    console.print(f"[bold]plan[/] {plan['kind']} run_id={plan['run_id']}: {n_tasks} task(s) × {n_modes} mode(s) × "
                  f"{per_task} {'rollout' if plan['kind'] == 'rollouts' else 'attempt'}(s) = {len(jobs)} episode(s)"
                  + (f", {pending} still to run" if pending is not None else ""))
    for name, c in configs.items():
        console.print(f"  mode {name}: policy={c.policy} worker={c.worker_backend} "
                      f"manager={c.manager_backend if c.use_manager else 'off'} vac={c.use_vac} macros={c.use_macros} "
                      f"max_steps={c.max_steps} temperature={c.worker_temperature}")
    console.print(f"  tasks: {', '.join(t['id'] for t in plan['tasks'])}")
    console.print(f"  executor: {executor}, {workers or default_workers()} worker(s); "
                  f"headless={options.get('headless')}")
    console.print(f"  results: {store.dir}/{{run.json,episodes.jsonl,errors.jsonl,matrix.csv,matrix.md}}")
    for name in configs:
        console.print("  trajectories: " + str(trajectory_path(options.get("data_dir", "data"), name, plan["run_id"],
                                                                "<task>", 0)).replace("attempt_0", "attempt_<k>"))


_SHOWN = (("mode", "mode"), ("episodes", "episodes"), ("valid_tasks", "valid"), ("init_or_agent_errors", "errors"),
          ("unscorable", "unscorable"), ("successes", "ok"), ("failures", "failed"), ("success_rate", "rate"),
          ("median_steps", "steps~"), ("median_wall_time", "time~ s"), ("manager_call_rate", "mgr/step"),
          ("cache_hit_rate", "cache hit"), ("cost_per_task", "$/ep"))


def _print_matrix(rows: list[dict]) -> None:
    table = Table(title="results by mode (full metrics in matrix.md)")
    for column, header in _SHOWN:
        table.add_column(header, justify="left" if column == "mode" else "right", no_wrap=column == "mode")
    for row in rows:
        table.add_row(*(_fmt(c, row.get(c)) for c, _ in _SHOWN))
    console.print(table)


def _run(runtime, plan, store, *, executor, workers, ray_address, debug, retry_errors, on_record=None):
    if executor not in executor_names():
        raise HaloError(f"unknown executor {executor!r}; known: {', '.join(executor_names())}")
    try:
        return run_plan(plan, runtime, store, executor=executor, workers=workers, address=ray_address, debug=debug,
                        retry_errors=retry_errors, console=console, on_record=on_record)
    except KeyboardInterrupt:
        err.print(f"[yellow]interrupted[/]: finished episodes are saved; continue with "
                  f"`halo {plan['kind']} --resume {plan['run_id']} --results-dir {store.dir.parent}`")
        sys.exit(130)


# --------------------------------------------------------------------------- eval


@click.command("eval")
@selection_options
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the --sample-size draw.")
@click.option("--mode", "modes", multiple=True, help="Agent mode (repeatable: a matrix of all given modes).")
@click.option("--all-modes", is_flag=True, help="Every mode (every experiment of --config).")
@click.option("--experiment", "experiments", multiple=True, help="Experiment of --config (repeatable).")
@agent_options
@click.option("--temperature", type=float, default=None, help="Worker sampling temperature.")
@click.option("--model-seed", type=int, default=None, help="Worker sampling seed (config seed).")
@click.option("--task-seed", type=int, default=None, help="Seed handed to the environment (EnvSettings.seed).")
@click.option("--attempts", type=click.IntRange(min=1), default=1, show_default=True,
              help="Episodes per task and mode.")
@run_options
@click.pass_context
def eval_command(ctx, tasks_csv, suite, sites, split, task_version, task_registry, subset, sample_size, seed, modes,
                 all_modes, experiments, config_path, policy, worker_backend, manager_backend, max_steps, speed,
                 headless, debug, dry_run, temperature, model_seed, task_seed, attempts, workers, executor,
                 ray_address, run_id, resume_id, retry_errors, results_dir, data_dir) -> None:
    """Evaluate modes on tasks, in parallel: a matrix of tasks × modes × attempts.

    Writes results/<run_id>/{run.json,episodes.jsonl,errors.jsonl,matrix.csv,matrix.md}
    and one trajectory per episode. Interrupted runs continue with --resume RUN_ID.
    """
    runtime = get_runtime(ctx)
    if resume_id:
        store, plan = _load_resume(results_dir, resume_id, "eval")
        try:
            configs = configs_from_plan(plan)
            if dry_run:
                pending, _finished = pending_jobs(plan, runtime, store)
                _print_plan(plan, runtime, store, executor=executor, workers=workers, pending=len(pending))
                return
        except (TaskNotFound, ConfigError) as exc:
            raise _fail(exc) from None
    else:
        overrides = dict(policy=policy, worker_backend=worker_backend, manager_backend=manager_backend,
                         max_steps=_max_steps(max_steps, speed), worker_temperature=temperature, seed=model_seed)
        try:
            configs = build_configs([*experiments, *modes], config_path=config_path, all_modes=all_modes,
                                    overrides=overrides)
        except ConfigError as exc:
            raise _fail(exc) from None
        tasks, options = _select(runtime, tasks_csv=tasks_csv, suite=suite, sites=sites, split=split,
                                 task_version=task_version, task_registry=task_registry, subset=subset,
                                 config_path=config_path, sample_size=sample_size, seed=seed)
        run_id = run_id or new_run_id("eval")
        store = _new_store(results_dir, run_id)
        options.update(attempts=attempts, headless=headless, data_dir=str(data_dir), task_seed=task_seed,
                       config_path=config_path)
        plan = new_plan("eval", run_id, plan_tasks(runtime, tasks), configs, options)
        if dry_run:
            _print_plan(plan, runtime, store, executor=executor, workers=workers)
            return
    _preflight(runtime, configs)
    if not resume_id:
        store.write_plan(plan)
    console.print(f"[bold]halo eval[/] run_id={plan['run_id']} modes={', '.join(configs)} "
                  f"tasks={len(plan['tasks'])} results={store.dir}")
    report = _run(runtime, plan, store, executor=executor, workers=workers, ray_address=ray_address, debug=debug,
                  retry_errors=retry_errors)
    if report.skipped:
        console.print(f"resumed: {report.skipped} episode(s) were already finished, {report.ran} ran now")
    _print_matrix(report.rows)
    console.print(f"results: {store.dir}  (matrix.csv, matrix.md, episodes.jsonl, errors.jsonl)")


# --------------------------------------------------------------------------- rollouts


@click.command("rollouts")
@selection_options
@click.option("--mode", default="baseline_worker", show_default=True, help="Agent mode.")
@click.option("--experiment", default=None, help="Experiment of --config (instead of --mode).")
@agent_options
@click.option("--rollouts-per-task", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--task-seed", type=int, default=None, help="Seed handed to the environment for every rollout.")
@click.option("--temperature", type=float, default=None, help="Worker sampling temperature (exploration).")
@click.option("--seed", type=int, default=None,
              help="Base seed: the --sample-size draw and rollout i's model seed (seed + i).")
@run_options
@click.pass_context
def rollouts_command(ctx, tasks_csv, suite, sites, split, task_version, task_registry, subset, sample_size, mode,
                     experiment, config_path, policy, worker_backend, manager_backend, max_steps, speed, headless,
                     debug, dry_run, rollouts_per_task, task_seed, temperature, seed, workers, executor, ray_address,
                     run_id, resume_id, retry_errors, results_dir, data_dir) -> None:
    """Collect N rollouts per task for RL, with explicit task seed and temperature.

    Writes results/<run_id>/rollout_summary.jsonl (one line per rollout) and the trajectories.
    """
    runtime = get_runtime(ctx)
    if resume_id:
        store, plan = _load_resume(results_dir, resume_id, "rollouts")
        configs = configs_from_plan(plan)
    else:
        overrides = dict(policy=policy, worker_backend=worker_backend, manager_backend=manager_backend,
                         max_steps=_max_steps(max_steps, speed), worker_temperature=temperature)
        try:
            configs = build_configs([experiment or mode], config_path=config_path, overrides=overrides)
        except ConfigError as exc:
            raise _fail(exc) from None
        tasks, options = _select(runtime, tasks_csv=tasks_csv, suite=suite, sites=sites, split=split,
                                 task_version=task_version, task_registry=task_registry, subset=subset,
                                 config_path=config_path, sample_size=sample_size, seed=seed)
        run_id = run_id or new_run_id("rollouts")
        store = _new_store(results_dir, run_id)
        options.update(rollouts_per_task=rollouts_per_task, task_seed=task_seed, temperature=temperature, seed=seed,
                       headless=headless, data_dir=str(data_dir), config_path=config_path)
        plan = new_plan("rollouts", run_id, plan_tasks(runtime, tasks), configs, options)
    if dry_run:
        _print_plan(plan, runtime, store, executor=executor, workers=workers)
        return
    _preflight(runtime, configs)
    if not resume_id:
        store.write_plan(plan)
    summary = store.appender("rollout_summary.jsonl")

    def on_record(job, record):
        summary.append({"task": record["task"], "mode": record["mode"], "rollout_idx": record.get("rollout_idx"),
                        "task_seed": record.get("task_seed"), "temperature": record.get("temperature"),
                        "seed": record.get("seed"), "success": record["success"], "reward": record["reward"],
                        "steps": record["steps"], "terminated_by": record["terminated_by"],
                        "error": record.get("error", ""), "trajectory": record["trajectory"]})

    console.print(f"[bold]halo rollouts[/] run_id={plan['run_id']} tasks={len(plan['tasks'])} "
                  f"rollouts/task={plan['options']['rollouts_per_task']}")
    report = _run(runtime, plan, store, executor=executor, workers=workers, ray_address=ray_address, debug=debug,
                  retry_errors=retry_errors, on_record=on_record)
    rows = matrix(report.records, plan["modes"])
    _print_matrix(rows)
    console.print(f"summary: {store.dir / 'rollout_summary.jsonl'}")


# --------------------------------------------------------------------------- verify-exploration


def action_sequence(path: Path) -> list[str]:
    """The actions of a trajectory file, in step order (:mod:`halo_core.trajectory` reads it)."""
    from halo_core.trajectory import read_trajectory

    return read_trajectory(path).actions


def first_divergence(a: list[str], b: list[str], compare_steps: int) -> int | None:
    """The first step index < compare_steps where the sequences differ (a missing step differs)."""
    for i in range(compare_steps):
        x = a[i] if i < len(a) else None
        y = b[i] if i < len(b) else None
        if x is None and y is None:
            return None
        if x != y:
            return i
    return None


@click.command("verify-exploration")
@click.option("--task", "task_id", required=True, help="Task id.")
@click.option("--mode", default="baseline_worker", show_default=True, help="Agent mode.")
@click.option("--task-seed", type=int, default=None, help="Seed handed to the environment (same for both runs).")
@click.option("--temperature-a", type=float, default=0.0, show_default=True)
@click.option("--temperature-b", type=float, default=0.7, show_default=True)
@click.option("--compare-steps", type=click.IntRange(min=1), default=10, show_default=True)
@click.option("--seed", type=int, default=None, help="Worker sampling seed (same for both runs).")
@click.option("--task-version", default="v2", show_default=True)
@click.option("--task-registry", type=click.Path(dir_okay=False), default=None)
@agent_options
@run_options
@click.pass_context
def verify_exploration_command(ctx, task_id, mode, task_seed, temperature_a, temperature_b, compare_steps, seed,
                               task_version, task_registry, config_path, policy, worker_backend, manager_backend,
                               max_steps, speed, headless, debug, dry_run, workers, executor, ray_address, run_id,
                               resume_id, retry_errors, results_dir, data_dir) -> None:
    """Check that temperature changes the actions: same task and task seed, two temperatures."""
    runtime = get_runtime(ctx)
    if resume_id:
        raise HaloError("verify-exploration runs are short; start a new one instead of --resume")
    overrides = dict(policy=policy, worker_backend=worker_backend, manager_backend=manager_backend,
                     max_steps=_max_steps(max_steps, speed), seed=seed)
    try:
        configs = build_configs([mode], config_path=config_path, overrides=overrides)
    except ConfigError as exc:
        raise _fail(exc) from None
    tasks, options = _select(runtime, tasks_csv=task_id, suite=None, sites=(), split=None, task_version=task_version,
                             task_registry=task_registry, subset=None, config_path=None, sample_size=None, seed=0)
    run_id = run_id or new_run_id("explore")
    store = _new_store(results_dir, run_id)
    options.update(temperatures=[temperature_a, temperature_b], task_seed=task_seed, headless=headless,
                   data_dir=str(data_dir), compare_steps=compare_steps)
    plan = new_plan("verify-exploration", run_id, plan_tasks(runtime, tasks), configs, options)
    if dry_run:
        _print_plan(plan, runtime, store, executor=executor, workers=workers)
        return
    _preflight(runtime, {name: c.replace(worker_temperature=t) for name, c in configs.items()
                         for t in (temperature_a, temperature_b)})
    store.write_plan(plan)
    report = _run(runtime, plan, store, executor=executor, workers=workers or 2, ray_address=ray_address,
                  debug=debug, retry_errors=False)
    by_attempt = {r["attempt"]: r for r in report.records}
    if len(by_attempt) < 2:
        raise HaloError("an exploration run did not finish; see " + str(store.errors_path))
    seq_a = action_sequence(Path(by_attempt[0]["trajectory"]))
    seq_b = action_sequence(Path(by_attempt[1]["trajectory"]))
    index = first_divergence(seq_a, seq_b, compare_steps)
    result = {"task": tasks[0].id, "mode": next(iter(configs)), "task_seed": task_seed,
              "temperature_a": temperature_a, "temperature_b": temperature_b, "compare_steps": compare_steps,
              "diverged": index is not None, "first_divergence": index,
              "actions_a": seq_a[:compare_steps], "actions_b": seq_b[:compare_steps],
              "errors": [r.get("error", "") for r in (by_attempt[0], by_attempt[1]) if r.get("error")],
              "trajectories": [by_attempt[0]["trajectory"], by_attempt[1]["trajectory"]]}
    (store.dir / "exploration.json").write_text(json.dumps(result, indent=2))
    for i in range(min(compare_steps, max(len(seq_a), len(seq_b)))):
        a = seq_a[i] if i < len(seq_a) else "-"
        b = seq_b[i] if i < len(seq_b) else "-"
        marker = "[bold red]≠[/]" if a != b else " "
        console.print(f"{i:>3} {marker} T={temperature_a}: {a}   T={temperature_b}: {b}")
    if index is None:
        console.print(f"[yellow]no divergence[/] within the first {compare_steps} step(s): the action sequences "
                      f"are identical at temperatures {temperature_a} and {temperature_b}")
    else:
        console.print(f"[green]diverged at step {index}[/] (temperatures {temperature_a} vs {temperature_b}, "
                      f"task seed {task_seed})")
    console.print(f"details: {store.dir / 'exploration.json'}")



COMMANDS = (eval_command, rollouts_command, verify_exploration_command)


def register_commands(group: click.Group) -> None:
    """Add ``eval``, ``rollouts`` and ``verify-exploration`` to ``group``."""
    for command in COMMANDS:
        group.add_command(command)


@hookimpl
def halo_register_commands(cli):
    register_commands(cli)


register_commands(cli)
