"""``halo eval``, ``halo rollouts`` and ``halo verify-exploration``.

This module is a plugin (``halo_register_commands``) listed in
:data:`halo_core.plugins.DEFAULT_PLUGINS`; importing it registers nothing.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from halo_core import hookimpl
from halo_core.cli import HaloError, console, err, get_runtime, new_run_id, plain
from halo_core.commands.options import AgentCommand, agent_options
from halo_core.config import ConfigError
from halo_core.env.protocol import TaskNotFound
from halo_core.evaluation.executors import default_workers, executor_names
from halo_core.evaluation.jobs import trajectory_path
from halo_core.evaluation.metrics import _fmt, describe_config, matrix, metric_columns
from halo_core.evaluation.plan import (
    configs_from_plan,
    make_jobs,
    new_plan,
    plan_tasks,
    resolve_plan_tasks,
    select_tasks,
    suite_options,
)
from halo_core.evaluation.runner import RunStopped, pending_jobs, run_plan
from halo_core.evaluation.store import ResultsStore, StoreError, atomic_write_text, read_jsonl
from halo_core.preflight import PreflightError, check_name, check_writable, preflight

__all__ = ["eval_command", "halo_register_commands", "register_commands", "rollouts_command",
           "verify_exploration_command"]


def _options(*options):
    def apply(f):
        for option in reversed(options):
            f = option(f)
        return f
    return apply


selection_options = _options(
    click.option("--tasks", "tasks_csv", default=None, help="Comma-separated task ids."),
    click.option("--suite", default=None, help="Only tasks of this suite (see `halo tasks`)."),
    click.option("--site", "sites", multiple=True, help="Only tasks of this site (repeatable)."),
    click.option("--split", type=click.Choice(["train", "test"]), default=None, help="Only train or test tasks."),
    click.option("--task-version", default=None, help="Task version, for suites that have versions."),
    click.option("--subset", default=None, help="A task subset named in the experiments file (task_subsets)."),
    click.option("--sample-size", type=click.IntRange(min=1), default=None, help="Run a random sample of N tasks."),
)

def _name_option(kind: str):
    """A click callback refusing a run id that could not be one folder name, before anything starts."""
    def check(ctx, param, value):
        if value is None:
            return None
        try:
            return check_name(kind, value)
        except PreflightError as exc:
            raise HaloError(str(exc)) from None
    return check


run_options = _options(
    click.option("--debug", is_flag=True, help="Print every step of every episode."),
    click.option("--dry-run", is_flag=True, help="Check the config and backends, print the plan; start no browser."),
    click.option("--workers", type=click.IntRange(min=1), default=None,
                 help=f"Parallel episodes (default: the core count, {default_workers()} here)."),
    click.option("--executor", default="local", show_default=True,
                 help=f"Where episodes run: {', '.join(executor_names())} or one a plugin registered."),
    click.option("--ray-address", default=None, help="Ray cluster address (default: start a local Ray)."),
    click.option("--run-id", default=None, callback=_name_option("--run-id"), help="Run id (default: a new one)."),
    click.option("--resume", "resume_id", default=None, callback=_name_option("--resume"),
                 help="Finish the run with this id: only missing episodes run."),
    click.option("--retry-errors", is_flag=True, help="With --resume: also run again the episodes that errored."),
    click.option("--results-dir", default="results", show_default=True, type=click.Path(file_okay=False)),
)

allow_errors_option = click.option(
    "--allow-errors", is_flag=True, help="Exit 0 even when episodes ended in init_error/error (they are counted).")


def _fail(exc: Exception) -> HaloError:
    return HaloError(str(exc))


def _require_selection(runtime, tasks_csv, suite, subset) -> None:
    """A run over every installed task is never what was meant: name the suite."""
    if not (tasks_csv or suite or subset):
        installed = ", ".join(sorted(runtime.suites)) or "none installed"
        raise HaloError(f"pass --suite NAME (installed: {installed}) or --tasks ID,ID (see `halo tasks`)")


def _select(runtime, config, *, tasks_csv, suite, sites, split, task_version, subset, config_path, sample_size,
            seed) -> tuple[list, dict[str, Any]]:
    options = suite_options(runtime, {**config.options, "task_version": task_version})
    try:
        tasks = select_tasks(runtime, task_ids=(tasks_csv or "").split(","), suite=suite, sites=sites, split=split,
                             subset=subset, config_path=config_path, sample_size=sample_size, seed=seed or 0,
                             suite_options=options)
    except (TaskNotFound, ConfigError) as exc:
        raise _fail(exc) from None
    if not tasks:
        raise HaloError("no tasks match the selection (see `halo tasks`)")
    selection = {"tasks": tasks_csv, "suite": suite, "sites": list(sites), "split": split, "subset": subset,
                 "sample_size": sample_size, "sample_seed": seed}
    return tasks, {"suite_options": options, "selection": selection}


def _preflight(runtime, configs) -> None:
    """Check every policy and backend once, here, so a missing key or model directory stops the
    run before any browser starts (``--dry-run`` included)."""
    for config in configs.values():
        try:
            preflight(runtime, config)
        except PreflightError as exc:
            raise _fail(exc) from None


def _writable_results(results_dir: str) -> None:
    try:
        check_writable(results_dir, "--results-dir")
    except PreflightError as exc:
        raise _fail(exc) from None


def _lock(store: ResultsStore) -> None:
    """Make this process the run's one writer (a second `--resume` of it is refused, its results intact)."""
    _writable_results(str(store.dir.parent))
    try:
        store.lock()
    except StoreError as exc:
        raise _fail(exc) from None


def _load_resume(results_dir: str, resume_id: str, kind: str, *, dry_run: bool = False) -> tuple[ResultsStore, dict]:
    store = ResultsStore(results_dir, resume_id)
    if not store.exists():
        raise HaloError(f"cannot resume {resume_id!r}: {store.plan_path} does not exist")
    if not dry_run:
        _lock(store)
    try:
        plan = store.read_plan()
    except StoreError as exc:
        raise _fail(exc) from None
    if plan.get("kind", "eval") != kind:
        raise HaloError(f"run {resume_id!r} is a {plan.get('kind')!r} run; resume it with `halo {plan.get('kind')}`")
    problem = _plan_value_problem(plan, resume_id)
    if problem:
        raise HaloError(f"{store.plan_path}: {problem}; fix run.json or start a new run")
    return store, plan


def _plan_value_problem(plan: dict, resume_id: str) -> str:
    """What is wrong with a value read back from ``run.json`` ('' when nothing). Every value that
    becomes a path or a count is checked as strictly as the command-line option it came from:
    the run id must be the run folder's own name, the data folder a plain path."""
    run_id = plan["run_id"]
    try:
        check_name("run_id in run.json", run_id)
        for name in plan["modes"]:  # its names become folders too
            check_name("mode in run.json", name)
    except PreflightError as exc:
        return str(exc)
    if run_id != resume_id:
        return f"run_id {run_id!r} is not the run folder's name {resume_id!r}"
    options = plan["options"]
    data_dir = options.get("data_dir", "data")
    if not isinstance(data_dir, str) or not data_dir.strip() or any(ord(c) < 32 or ord(c) == 127 for c in data_dir):
        return f"options.data_dir {data_dir!r} is not a folder path"
    for key in ("attempts", "rollouts"):
        value = options.get(key, 1)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            return f"options.{key} {value!r} is not a whole number of at least 1"
    seed = options.get("task_seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        return f"options.task_seed {seed!r} is not a whole number"
    return ""


def _resume_configs(plan, runtime) -> dict:
    try:
        resolve_plan_tasks(runtime, plan)
    except TaskNotFound as exc:
        raise _fail(f"run.json of run {plan['run_id']!r} names a task this HALO cannot find ({exc}); install the "
                    "plugin that provides it, or start a new run") from None
    try:
        return configs_from_plan(plan, runtime)
    except (ConfigError, PreflightError) as exc:
        raise _fail(exc) from None


def _new_store(results_dir: str, run_id: str, *, dry_run: bool = False) -> ResultsStore:
    store = ResultsStore(results_dir, run_id)
    if not dry_run:
        _lock(store)
    if store.exists():
        raise HaloError(f"run {run_id!r} already exists in {store.dir}; use --resume {run_id} to finish it")
    return store


def _begin(plan, store, *, resumed: bool) -> None:
    """Before the first episode: a resumed run checks it can still write its data folder; a
    new one writes its plan (``run.json``)."""
    if resumed:
        _writable_data(plan)
    else:
        store.write_plan(plan)


def _writable_data(plan: dict) -> None:
    """The data folder of a resumed run (trajectories, caches), checked before any episode starts
    and said, since it comes from ``run.json`` rather than this command line."""
    data_dir = plan["options"].get("data_dir", "data")
    try:
        check_writable(data_dir, "data folder of the run (--data-dir)")
    except PreflightError as exc:
        raise _fail(exc) from None
    console.print(f"data folder (from run.json): {plain(Path(data_dir).resolve())}")


def _print_plan(plan: dict, runtime, store: ResultsStore, *, executor: str, workers: int | None,
                pending: int | None = None) -> None:
    configs = configs_from_plan(plan, runtime)
    jobs = make_jobs(plan, resolve_plan_tasks(runtime, plan), configs)
    options = plan["options"]
    n_tasks, n_modes = len(plan["tasks"]), len(configs)
    per_task = len(jobs) // max(1, n_tasks * n_modes)
    console.print(f"[bold]plan[/] {plan['kind']} run_id={plain(plan['run_id'])}: {n_tasks} task(s) × "
                  f"{n_modes} mode(s) × "
                  f"{per_task} {'rollout' if plan['kind'] == 'rollouts' else 'attempt'}(s) = {len(jobs)} episode(s)"
                  + (f", {pending} still to run" if pending is not None else ""))
    for name, c in configs.items():
        declared = runtime.options.options
        extra = "".join(f" {k}={v}" for k, v in c.options.items() if k not in declared or v != declared[k].default)
        console.print(f"  mode {plain(name)}: {plain(describe_config(c))}; max_steps={c.max_steps} "
                      f"temperature={c.worker_temperature}{plain(extra)}")
    console.print(f"  tasks: {plain(', '.join(t['id'] for t in plan['tasks']))}")
    console.print(f"  executor: {executor}, {workers or default_workers()} worker(s); "
                  f"headless={options.get('headless')}")
    console.print(f"  results: {plain(store.dir)}/{{run.json,episodes.jsonl,errors.jsonl,matrix.csv,matrix.md}}")
    for name in configs:
        console.print("  trajectories: " + plain(str(trajectory_path(options.get("data_dir", "data"), name,
                                                                      plan["run_id"], "<task>", 0)).replace(
                                                                          "attempt_0", "attempt_<k>")))


_SHOWN = (("mode", "mode"), ("policy", "policy"), ("episodes", "episodes"), ("valid_tasks", "valid"),
          ("init_or_agent_errors", "errors"), ("unscorable", "unscorable"), ("successes", "ok"),
          ("failures", "failed"), ("success_rate", "rate"), ("median_steps", "steps~"),
          ("median_wall_time", "time~ s"), ("manager_call_rate", "mgr/step"), ("cost_per_task", "$/ep"))


def _open_run(agent, results_dir: str, run_id: str, dry_run: bool):
    """(run id, its results store) for a new run; the data folder is checked writable first."""
    if not dry_run:
        agent.check_data_dir()
    return run_id, _new_store(results_dir, run_id, dry_run=dry_run)


def _print_matrix(rows: list[dict], columns=()) -> None:
    shown = _SHOWN + tuple((c.name, c.name) for c in columns)
    percent = {c.name for c in columns if c.percent}
    table = Table(title="results by mode (full metrics in matrix.md)")
    for column, header in shown:
        table.add_column(header, justify="left" if column in ("mode", "policy") else "right",
                         no_wrap=column == "mode")
    for row in rows:
        table.add_row(*(plain(_fmt(c, row.get(c), percent)) for c, _ in shown))
    if console.is_terminal:
        console.print(table)
        return
    # no terminal (CI logs, a pipe): a fixed-width table would elide its columns; print them all
    from rich.console import Console

    Console(width=max(160, 14 * len(shown)), highlight=False, emoji=False, soft_wrap=False).print(table)


def _finish_errors(report, store: ResultsStore, allow_errors: bool) -> None:
    """The last line says how many episodes errored; any error fails the command unless allowed."""
    errors = report.errors
    if not errors:
        console.print("errors: 0 episodes ended in init_error/error")
        return
    console.print(f"errors: {errors} episode(s) ended in init_error/error (details: {plain(store.errors_path)})")
    if not allow_errors:
        sys.exit(1)


def _run(runtime, plan, store, *, executor, workers, ray_address, debug, retry_errors, on_record=None):
    if executor not in executor_names():
        raise HaloError(f"unknown executor {executor!r}; known: {', '.join(executor_names())}")
    try:
        return run_plan(plan, runtime, store, executor=executor, workers=workers, address=ray_address, debug=debug,
                        retry_errors=retry_errors, console=console, on_record=on_record)
    except KeyboardInterrupt:
        err.print(f"[yellow]interrupted[/]: finished episodes are saved; continue with "
                  f"`halo {plan['kind']} --resume {plan['run_id']} --results-dir {plain(store.dir.parent)}`")
        sys.exit(130)
    except RunStopped as exc:
        raise HaloError(f"run stopped: {exc}; the finished episodes are saved in {store.dir}; free some space, "
                        f"then `halo {plan['kind']} --resume {plan['run_id']} --results-dir {store.dir.parent}`") \
            from None


# --------------------------------------------------------------------------- eval


@click.command("eval", cls=AgentCommand)
@selection_options
@click.option("--sample-seed", type=int, default=None, help="Seed of the --sample-size draw (default: --seed or 0).")
@click.option("--all-modes", is_flag=True, help="Every mode (every experiment of --config).")
@agent_options(many_modes=True)
@click.option("--task-seed", type=int, default=None, help="Seed handed to the environment (EnvSettings.seed).")
@click.option("--attempts", type=click.IntRange(min=1), default=1, show_default=True,
              help="Episodes per task and mode.")
@run_options
@allow_errors_option
@click.pass_context
def eval_command(ctx, tasks_csv, suite, sites, split, task_version, subset, sample_size, sample_seed, all_modes,
                 agent, task_seed, attempts, debug, dry_run, workers, executor, ray_address, run_id, resume_id,
                 retry_errors, results_dir, allow_errors) -> None:
    """Evaluate modes on tasks, in parallel: a matrix of tasks × modes × attempts.

    Writes results/<run_id>/{run.json,episodes.jsonl,errors.jsonl,matrix.csv,matrix.md}
    and one trajectory per episode. Interrupted runs continue with --resume RUN_ID.
    Exits 1 when an episode ended in init_error/error (--allow-errors: 0).
    """
    runtime = get_runtime(ctx)
    if resume_id:
        store, plan = _load_resume(results_dir, resume_id, "eval", dry_run=dry_run)
        configs = _resume_configs(plan, runtime)
        _preflight(runtime, configs)
        if dry_run:
            try:
                pending, _finished = pending_jobs(plan, runtime, store)
                _print_plan(plan, runtime, store, executor=executor, workers=workers, pending=len(pending))
            except (TaskNotFound, ConfigError) as exc:
                raise _fail(exc) from None
            return
    else:
        _require_selection(runtime, tasks_csv, suite, subset)
        configs = agent.configs(runtime, all_modes=all_modes)
        _preflight(runtime, configs)
        seed = sample_seed if sample_seed is not None else agent.seed
        tasks, options = _select(runtime, next(iter(configs.values())), tasks_csv=tasks_csv, suite=suite, sites=sites,
                                 split=split, task_version=task_version, subset=subset,
                                 config_path=agent.config_path, sample_size=sample_size, seed=seed)
        run_id, store = _open_run(agent, results_dir, run_id or new_run_id("eval"), dry_run)
        options.update(attempts=attempts, headless=agent.headless, data_dir=str(agent.data_dir), task_seed=task_seed,
                       config_path=agent.config_path)
        plan = new_plan("eval", run_id, plan_tasks(runtime, tasks), configs, options)
        if dry_run:
            _print_plan(plan, runtime, store, executor=executor, workers=workers)
            return
    _begin(plan, store, resumed=bool(resume_id))
    console.print(f"[bold]halo eval[/] run_id={plan['run_id']} modes={', '.join(configs)} "
                  f"tasks={len(plan['tasks'])} results={plain(store.dir)}")
    report = _run(runtime, plan, store, executor=executor, workers=workers, ray_address=ray_address, debug=debug,
                  retry_errors=retry_errors)
    if report.skipped:
        console.print(f"resumed: {report.skipped} episode(s) were already finished, {report.ran} ran now")
    _print_matrix(report.rows, report.columns)
    console.print(f"results: {plain(store.dir)}  (matrix.csv, matrix.md, episodes.jsonl, errors.jsonl)")
    _finish_errors(report, store, allow_errors)


# --------------------------------------------------------------------------- rollouts


@click.command("rollouts", cls=AgentCommand)
@selection_options
@agent_options()
@click.option("--rollouts-per-task", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--task-seed", type=int, default=None, help="Seed handed to the environment for every rollout.")
@run_options
@allow_errors_option
@click.pass_context
def rollouts_command(ctx, tasks_csv, suite, sites, split, task_version, subset, sample_size, agent, rollouts_per_task,
                     task_seed, debug, dry_run, workers, executor, ray_address, run_id, resume_id, retry_errors,
                     results_dir, allow_errors) -> None:
    """Collect N rollouts per task for RL, with explicit task seed and temperature.

    --seed is the base seed: the --sample-size draw and rollout i's model seed (seed + i).
    Writes results/<run_id>/rollout_summary.jsonl (one line per rollout) and the trajectories.
    Exits 1 when a rollout ended in init_error/error (--allow-errors: 0).
    """
    runtime = get_runtime(ctx)
    if resume_id:
        store, plan = _load_resume(results_dir, resume_id, "rollouts", dry_run=dry_run)
        configs = _resume_configs(plan, runtime)
    else:
        _require_selection(runtime, tasks_csv, suite, subset)
        configs = {agent.experiments[0] if agent.experiments else agent.mode: agent.config(runtime)}
        config = next(iter(configs.values()))
        tasks, options = _select(runtime, config, tasks_csv=tasks_csv, suite=suite, sites=sites, split=split,
                                 task_version=task_version, subset=subset, config_path=agent.config_path,
                                 sample_size=sample_size, seed=agent.seed)
        run_id, store = _open_run(agent, results_dir, run_id or new_run_id("rollouts"), dry_run)
        options.update(rollouts_per_task=rollouts_per_task, task_seed=task_seed, temperature=agent.temperature,
                       seed=agent.seed, headless=agent.headless, data_dir=str(agent.data_dir),
                       config_path=agent.config_path)
        plan = new_plan("rollouts", run_id, plan_tasks(runtime, tasks), configs, options)
    _preflight(runtime, configs)
    if dry_run:
        _print_plan(plan, runtime, store, executor=executor, workers=workers)
        return
    _begin(plan, store, resumed=bool(resume_id))
    summary = store.appender("rollout_summary.jsonl")

    def on_record(job, record):
        summary.append({"task": record["task"], "mode": record["mode"], "policy": record.get("policy"),
                        "rollout_idx": record.get("rollout_idx"), "task_seed": record.get("task_seed"),
                        "temperature": record.get("temperature"), "seed": record.get("seed"),
                        "success": record["success"], "reward": record["reward"], "steps": record["steps"],
                        "terminated_by": record["terminated_by"], "error": record.get("error", ""),
                        "trajectory": record["trajectory"]})

    console.print(f"[bold]halo rollouts[/] run_id={plan['run_id']} tasks={len(plan['tasks'])} "
                  f"rollouts/task={plan['options']['rollouts_per_task']}")
    report = _run(runtime, plan, store, executor=executor, workers=workers, ray_address=ray_address, debug=debug,
                  retry_errors=retry_errors, on_record=on_record)
    columns = metric_columns(runtime)
    _print_matrix(matrix(report.records, plan["modes"], columns=columns), columns)
    console.print(f"summary: {plain(store.dir / 'rollout_summary.jsonl')}")
    _finish_errors(report, store, allow_errors)


# --------------------------------------------------------------------------- verify-exploration


def action_sequence(path: Path) -> list[str]:
    """The actions of a trajectory file, in step order (:mod:`halo_core.trajectory` reads it)."""
    from halo_core.trajectory import read_trajectory

    return read_trajectory(path, skip_bad_lines=True).actions  # a damaged line is one step fewer, not a crash


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


@click.command("verify-exploration", cls=AgentCommand)
@click.option("--task", "task_id", required=True, help="Task id.")
@click.option("--task-seed", type=int, default=None, help="Seed handed to the environment (same for both runs).")
@click.option("--temperature-a", type=float, default=0.0, show_default=True)
@click.option("--temperature-b", type=float, default=0.7, show_default=True)
@click.option("--compare-steps", type=click.IntRange(min=1), default=10, show_default=True)
@click.option("--task-version", default=None, help="Task version, for suites that have versions.")
@agent_options()
@run_options
@click.pass_context
def verify_exploration_command(ctx, task_id, task_seed, temperature_a, temperature_b, compare_steps, task_version,
                               agent, debug, dry_run, workers, executor, ray_address, run_id, resume_id,
                               retry_errors, results_dir) -> None:
    """Check that temperature changes the actions: same task and task seed, two temperatures (--seed for both)."""
    runtime = get_runtime(ctx)
    if resume_id:
        raise HaloError("verify-exploration runs are short; start a new one instead of --resume")
    config = agent.config(runtime)
    configs = {agent.experiments[0] if agent.experiments else agent.mode: config}
    _preflight(runtime, {f"{name}@{t}": c.replace(worker_temperature=t) for name, c in configs.items()
                         for t in (temperature_a, temperature_b)})
    tasks, options = _select(runtime, config, tasks_csv=task_id, suite=None, sites=(), split=None,
                             task_version=task_version, subset=None, config_path=None, sample_size=None, seed=0)
    run_id = run_id or new_run_id("explore")
    if not dry_run:
        agent.check_data_dir()
    store = _new_store(results_dir, run_id, dry_run=dry_run)
    options.update(temperatures=[temperature_a, temperature_b], task_seed=task_seed, headless=agent.headless,
                   data_dir=str(agent.data_dir), compare_steps=compare_steps)
    plan = new_plan("verify-exploration", run_id, plan_tasks(runtime, tasks), configs, options)
    if dry_run:
        _print_plan(plan, runtime, store, executor=executor, workers=workers)
        return
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
    atomic_write_text(store.dir / "exploration.json", json.dumps(result, indent=2))
    for i in range(min(compare_steps, max(len(seq_a), len(seq_b)))):
        a = seq_a[i] if i < len(seq_a) else "-"
        b = seq_b[i] if i < len(seq_b) else "-"
        marker = "[bold red]≠[/]" if a != b else " "
        console.print(f"{i:>3} {marker} T={temperature_a}: {plain(a)}   T={temperature_b}: {plain(b)}")
    if index is None:
        console.print(f"[yellow]no divergence[/] within the first {compare_steps} step(s): the action sequences "
                      f"are identical at temperatures {temperature_a} and {temperature_b}")
    else:
        console.print(f"[green]diverged at step {index}[/] (temperatures {temperature_a} vs {temperature_b}, "
                      f"task seed {task_seed})")
    console.print(f"details: {plain(store.dir / 'exploration.json')}")


COMMANDS = (eval_command, rollouts_command, verify_exploration_command)


def register_commands(group: click.Group) -> None:
    """Add ``eval``, ``rollouts`` and ``verify-exploration`` to ``group``."""
    for command in COMMANDS:
        group.add_command(command)


@hookimpl(tryfirst=True)  # core groups exist before plugins extend them
def halo_register_commands(cli):
    register_commands(cli)
