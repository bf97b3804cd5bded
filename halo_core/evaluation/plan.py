"""What a run will do: task selection, the agent config of each mode, and the job list.

A plan is plain JSON (``results/<run_id>/run.json``) so that ``--resume`` rebuilds
exactly the same jobs: tasks are stored by id (re-resolved with the same suite
options), configs as their full field dicts.
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from halo_core.config import AgentConfig, ConfigError, build_config, load_experiments
from halo_core.env.protocol import TaskNotFound
from halo_core.evaluation.jobs import EpisodeJob
from halo_core.model import TaskSpec
from halo_core.runtime import accepted_options

__all__ = ["configs_from_plan", "make_jobs", "plan_tasks", "resolve_plan_tasks", "select_tasks", "suite_kwargs",
           "suite_options"]

DEFAULT_EXPERIMENTS = Path("configs/experiments.yaml")


def suite_kwargs(fn: Callable[..., Any], options: Mapping[str, Any]) -> dict[str, Any]:
    """The ``options`` (e.g. ``task_version``, a suite's own plugin options) that ``fn`` accepts."""
    return accepted_options(fn, dict(options))


def suite_options(runtime, options: Mapping[str, Any]) -> dict[str, Any]:
    """The non-None ``options`` some installed suite's ``list_tasks``/``resolve`` accepts (what a plan
    records, so ``--resume`` selects the same tasks)."""
    out: dict[str, Any] = {}
    for suite in runtime.suites.values():
        for fn in (suite.list_tasks, suite.resolve):
            out.update(accepted_options(fn, dict(options)))
    return out


def resolve_task(runtime, task_id: str, suite_options: Mapping[str, Any]) -> TaskSpec:
    for suite in runtime.suites.values():
        if suite.claims(task_id):
            return suite.resolve(task_id, **suite_kwargs(suite.resolve, suite_options))
    return runtime.resolve_task(task_id)[1]  # raises TaskNotFound with suggestions


def suite_of(runtime, task: TaskSpec) -> str:
    if task.suite in runtime.suites:
        return task.suite
    for suite in runtime.suites.values():
        if suite.claims(task.id):
            return suite.name
    raise TaskNotFound(f"no installed suite claims task {task.id!r}")


def _subset(name: str, config_path: str | None, runtime=None) -> Any:
    path = Path(config_path) if config_path else DEFAULT_EXPERIMENTS
    if not path.exists():
        raise ConfigError(f"--subset {name!r} needs an experiments file with task_subsets (--config); "
                          f"{str(path)!r} does not exist")
    subsets = load_experiments(path, runtime=runtime).task_subsets
    if name not in subsets:
        raise ConfigError(f"task subset {name!r} is not defined in {path}; defined: {', '.join(subsets) or 'none'}")
    return subsets[name]


def select_tasks(runtime, *, task_ids: Iterable[str] = (), suite: str | None = None, sites: Iterable[str] = (),
                 split: str | None = None, subset: str | None = None, config_path: str | None = None,
                 sample_size: int | None = None, seed: int = 0,
                 suite_options: Mapping[str, Any] | None = None) -> list[TaskSpec]:
    """The tasks a run covers, in a stable order.

    Explicit ids win; then a named subset of the experiments file (a list of ids,
    or a mapping with ``tasks``/``suite``/``sites``/``split``); then every task of
    ``suite`` (or of all suites) filtered by site and split. ``sample_size`` then
    draws a reproducible sample with ``seed``.
    """
    options = dict(suite_options or {})
    ids = [t for t in task_ids if t]
    sites = list(sites)
    if not ids and subset:
        spec = _subset(subset, config_path, runtime)
        if isinstance(spec, str):
            ids = [t.strip() for t in spec.split(",") if t.strip()]
        elif isinstance(spec, Mapping):
            ids = list(spec.get("tasks") or [])
            suite = spec.get("suite", suite)
            sites = list(spec.get("sites") or ([spec["site"]] if spec.get("site") else sites))
            split = spec.get("split", split)
        else:
            ids = [str(t) for t in spec]
    if ids:
        seen: dict[str, TaskSpec] = {}
        for task_id in ids:
            task = resolve_task(runtime, task_id, options)
            seen.setdefault(task.id, task)
        found = list(seen.values())
    else:
        suites = [runtime.suite(suite)] if suite else list(runtime.suites.values())
        found = []
        for s in suites:
            extra = suite_kwargs(s.list_tasks, options)
            for site in sites or [None]:
                found.extend(s.list_tasks(site=site, split=split, **extra))
        found = list({t.id: t for t in found}.values())
    if sample_size is not None and sample_size < len(found):
        picked = set(random.Random(seed).sample(range(len(found)), sample_size))
        found = [t for i, t in enumerate(found) if i in picked]
    return found


def plan_tasks(runtime, tasks: list[TaskSpec]) -> list[dict[str, str]]:
    return [{"id": t.id, "suite": suite_of(runtime, t)} for t in tasks]


def resolve_plan_tasks(runtime, plan: Mapping[str, Any]) -> list[tuple[TaskSpec, str]]:
    options = plan.get("options", {}).get("suite_options", {})
    out = []
    for entry in plan["tasks"]:
        task = resolve_task(runtime, entry["id"], options)
        out.append((task, entry.get("suite") or suite_of(runtime, task)))
    return out


def configs_from_plan(plan: Mapping[str, Any], runtime=None) -> dict[str, AgentConfig]:
    """The plan's configs, rebuilt with the installed plugins' options (a plugin that declared
    one of them must still be installed)."""
    try:
        return {name: build_config(runtime=runtime, **values) for name, values in plan["modes"].items()}
    except (TypeError, ConfigError) as exc:
        raise ConfigError(f"run.json has a config this HALO cannot rebuild: {exc}") from None


def new_plan(kind: str, run_id: str, tasks: list[dict[str, str]], configs: Mapping[str, AgentConfig],
             options: Mapping[str, Any]) -> dict[str, Any]:
    from halo_core import __version__

    return {"kind": kind, "run_id": run_id, "created_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "halo_version": __version__, "tasks": tasks,
            "modes": {name: config.to_dict() for name, config in configs.items()}, "options": dict(options)}


def make_jobs(plan: Mapping[str, Any], tasks: list[tuple[TaskSpec, str]], configs: Mapping[str, AgentConfig], *,
              debug: bool = False) -> list[EpisodeJob]:
    """Every job of a plan, in run order (attempt, then task, then mode)."""
    options = plan.get("options", {})
    common = dict(run_id=plan["run_id"], data_dir=str(options.get("data_dir", "data")),
                  headless=bool(options.get("headless", True)), debug=debug)
    kind = plan.get("kind", "eval")
    jobs: list[EpisodeJob] = []
    if kind == "eval":
        for attempt in range(int(options.get("attempts", 1))):
            for task, suite in tasks:
                for config in configs.values():
                    jobs.append(EpisodeJob(task=task, suite=suite, config=config, attempt=attempt,
                                           task_seed=options.get("task_seed"), **common))
    elif kind == "rollouts":
        seed, temperature = options.get("seed"), options.get("temperature")
        for task, suite in tasks:
            for config in configs.values():
                for idx in range(int(options.get("rollouts_per_task", 1))):
                    rollout_seed = None if seed is None else int(seed) + idx
                    cfg = config.replace(seed=rollout_seed, worker_temperature=temperature
                                         if temperature is not None else config.worker_temperature)
                    extra = {"rollout_idx": idx, "task_seed": options.get("task_seed"),
                             "temperature": cfg.worker_temperature, "seed": rollout_seed}
                    jobs.append(EpisodeJob(task=task, suite=suite, config=cfg, attempt=idx,
                                           task_seed=options.get("task_seed"), extra=extra, **common))
    elif kind == "verify-exploration":
        for idx, temperature in enumerate(options["temperatures"]):
            for task, suite in tasks:
                for config in configs.values():
                    cfg = config.replace(worker_temperature=temperature)
                    jobs.append(EpisodeJob(task=task, suite=suite, config=cfg, attempt=idx,
                                           task_seed=options.get("task_seed"),
                                           extra={"temperature": temperature, "task_seed": options.get("task_seed")},
                                           **common))
    else:
        raise ConfigError(f"run.json has an unknown kind {kind!r}")
    return jobs
