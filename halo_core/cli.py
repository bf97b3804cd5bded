"""The ``halo`` command line. Plugins add subcommands through ``halo_register_commands``."""

from __future__ import annotations

import json
import sys
import time
import uuid
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from halo_core import __version__
from halo_core.config import (
    MODES,
    SCORE_MODE_MAX_STEPS,
    SPEED_MODE_MAX_STEPS,
    ConfigError,
    load_experiments,
    mode_config,
)
from halo_core.env.protocol import EnvSettings, TaskNotFound

console = Console(stderr=False, highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


class HaloError(click.ClickException):
    """A user-facing error: one line, non-zero exit."""

    def show(self, file=None) -> None:
        err.print(f"[bold red]error:[/] {self.format_message()}")


def get_runtime(ctx: click.Context):
    from halo_core.runtime import Runtime

    obj = ctx.ensure_object(dict)
    if "runtime" not in obj:
        obj["runtime"] = Runtime()
    return obj["runtime"]


#: Core modules whose commands are added lazily, like plugin commands, to keep start-up light.
BUILTIN_COMMAND_MODULES = ("halo_core.evaluation.commands", "halo_core.export")


class HaloGroup(click.Group):
    """Loads plugin subcommands lazily, the first time the command list is needed."""

    _plugins_loaded = False

    def _load(self) -> None:
        if not self._plugins_loaded:
            self._plugins_loaded = True
            import importlib

            from halo_core.runtime import Runtime

            for module in BUILTIN_COMMAND_MODULES:  # they register onto `cli` when imported
                try:
                    importlib.import_module(module)
                except ImportError as exc:  # a broken command module must not take `halo` down
                    err.print(f"[yellow]warning:[/] commands from {module} unavailable: {exc}")

            ctx = click.get_current_context(silent=True)
            runtime = get_runtime(ctx) if ctx is not None else Runtime()
            runtime.hook.halo_register_commands(cli=self)

    def get_command(self, ctx, cmd_name):
        command = super().get_command(ctx, cmd_name)
        if command is None:
            self._load()
            command = super().get_command(ctx, cmd_name)
        return command

    def list_commands(self, ctx):
        self._load()
        return super().list_commands(ctx)


@click.group(cls=HaloGroup)
@click.version_option(__version__, prog_name="halo")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """HALO: a hierarchical browser agent and the toolkit around it."""
    ctx.ensure_object(dict)
    # plugins may extend core groups (e.g. `halo tasks snapshot`); click resolves a
    # group's subcommand after the parent's callback, so load them here
    ctx.command._load()


# --------------------------------------------------------------------------- plugins


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("--all", "show_all", is_flag=True, help="Also list installed plugins that are disabled or failed to load.")
@click.pass_context
def plugins(ctx: click.Context, as_json: bool, show_all: bool) -> None:
    """Show the registered plugins: name, distribution, version and hooks."""
    from halo_core.plugins import describe_plugins, failed_plugins

    runtime = get_runtime(ctx)
    rows = describe_plugins(runtime.pm)
    for row in rows:
        row["status"] = "loaded"
    if show_all:
        from importlib.metadata import entry_points

        loaded = {r["name"] for r in rows}
        failed = failed_plugins(runtime.pm)
        for ep in entry_points(group="halo"):
            if ep.name in loaded:
                continue
            dist = getattr(ep, "dist", None)
            rows.append({"name": ep.name, "distribution": dist.name if dist else "", "version": dist.version if dist else "",
                         "builtin": False, "hooks": [], "status": "failed" if ep.name in failed else "disabled",
                         "error": failed.get(ep.name, "")})
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    table = Table(title="HALO plugins")
    for column in ("name", "distribution", "version", "status", "hooks"):
        table.add_column(column)
    for row in rows:
        table.add_row(row["name"], row["distribution"], row["version"], row["status"], ", ".join(row["hooks"]))
    console.print(table)


# --------------------------------------------------------------------------- tasks


@cli.group(invoke_without_command=True)
@click.option("--suite", default=None, help="Task suite (default: every installed suite).")
@click.option("--site", "sites", multiple=True, help="Only tasks of this site (repeatable).")
@click.option("--split", type=click.Choice(["train", "test"]), default=None, help="Only train or held-out test tasks.")
@click.option("--json", "json_out", default=None, help="Write the tasks as JSON to this file ('-' for stdout).")
@click.option("--ids-only", is_flag=True, help="Print task ids only, one per line.")
@click.option("--task-registry", default=None, type=click.Path(), help="Pin tasks to a registry snapshot (REAL).")
@click.pass_context
def tasks(ctx: click.Context, suite, sites, split, json_out, ids_only, task_registry) -> None:
    """List tasks, with a per-site summary."""
    from halo_core.runtime import accepted_options

    if ctx.invoked_subcommand is not None:
        return
    runtime = get_runtime(ctx)
    try:
        suites = [runtime.suite(suite)] if suite else list(runtime.suites.values())
    except TaskNotFound as exc:
        raise HaloError(str(exc)) from None
    found = []
    for s in suites:
        for site in sites or (None,):
            if site is not None and not suite and site not in getattr(s, "sites", (site,)):
                continue  # listing every suite: skip the ones without this site
            try:
                found.extend(s.list_tasks(site=site, split=split,
                                          **accepted_options(s.list_tasks, {"task_registry": task_registry})))
            except TaskNotFound as exc:
                raise HaloError(str(exc)) from None
    if sites and not found:
        raise HaloError(f"no tasks for site(s) {', '.join(sites)}; see `halo tasks` for the sites")
    if ids_only:
        click.echo("\n".join(t.id for t in found))
        return
    if json_out:
        payload = json.dumps([task_to_json(t) for t in found], indent=2)
        if json_out == "-":
            click.echo(payload)
            return
        Path(json_out).write_text(payload)
    by_site: dict[str, int] = {}
    for t in found:
        by_site[t.site] = by_site.get(t.site, 0) + 1
    console.print(f"Source: {', '.join(s.name for s in suites) or 'none installed'}")
    console.print(f"Total tasks: {len(found)}")
    console.print(f"Sites: {len(by_site)}")
    console.print("Per-site counts:")
    for site, n in sorted(by_site.items()):
        console.print(f"  {site}: {n} tasks")
    if json_out:
        console.print(f"Wrote {len(found)} tasks to {json_out}")


def task_to_json(task) -> dict:
    return {"id": task.id, "suite": task.suite, "site": task.site, "goal": task.goal,
            "challenge_type": task.challenge_type, "possible": task.possible, "difficulty": task.difficulty,
            "split": task.split, "start_url": task.start_url}


# --------------------------------------------------------------------------- run


def agent_options(f):
    """Options shared by every command that runs an agent."""
    options = [
        click.option("--mode", default="baseline_worker", show_default=True, help=f"Agent mode: {', '.join(MODES)}."),
        click.option("--config", "config_path", default=None, type=click.Path(), help="experiments.yaml file."),
        click.option("--experiment", default=None, help="Experiment name in --config."),
        click.option("--policy", default=None, help="Decision policy: worker (model) or a policy plugin, e.g. expert."),
        click.option("--worker-backend", default=None, help="Worker backend, e.g. openai:gpt-4o-mini."),
        click.option("--manager-backend", default=None, help="Manager backend, e.g. openai:gpt-4o; 'none' turns the gate off."),
        click.option("--max-steps", type=int, default=None, help=f"Step limit (score mode {SCORE_MODE_MAX_STEPS})."),
        click.option("--speed", is_flag=True, help=f"Speed mode: {SPEED_MODE_MAX_STEPS} steps."),
        click.option("--temperature", type=float, default=None, help="Worker sampling temperature."),
        click.option("--seed", type=int, default=None, help="Worker sampling seed."),
        click.option("--headless", type=click.BOOL, default=True, show_default=True, help="Hide the browser window."),
        click.option("--data-dir", default="data", show_default=True, type=click.Path(), help="Trajectories and caches."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def build_config(mode, config_path, experiment, policy, worker_backend, manager_backend, max_steps, speed,
                 temperature, seed):
    no_manager = bool(manager_backend) and manager_backend.lower() in ("none", "off")
    if no_manager:  # e.g. a local Qwen worker offline, with no hosted manager
        manager_backend = None
    overrides = dict(policy=policy, worker_backend=worker_backend, manager_backend=manager_backend,
                     use_manager=False if no_manager else None,
                     max_steps=max_steps or (SPEED_MODE_MAX_STEPS if speed else None),
                     worker_temperature=temperature, seed=seed)
    try:
        if config_path:
            return load_experiments(config_path).config(experiment or mode, **overrides)
        return mode_config(mode, **overrides)
    except ConfigError as exc:
        raise HaloError(str(exc)) from None


def new_run_id(prefix: str = "run") -> str:
    return f"{prefix}_{time.strftime('%Y%m%d_%H%M%S')}_{uuid.uuid4().hex[:6]}"


@cli.command()
@click.argument("task_id")
@agent_options
@click.option("--dry-run", is_flag=True, help="Check task, config, backends and environment; make no model calls.")
@click.option("--run-id", default=None, help="Run id (default: a new one).")
@click.option("--task-registry", default=None, type=click.Path(), help="Pin tasks to a registry snapshot (REAL).")
@click.option("--leaderboard-run-id", default=None, envvar="RUNID",
              help="REAL leaderboard run id sent to the site's /config (default: $RUNID; see `halo real`).")
@click.pass_context
def run(ctx, task_id, mode, config_path, experiment, policy, worker_backend, manager_backend, max_steps, speed,
        temperature, seed, headless, data_dir, dry_run, run_id, task_registry, leaderboard_run_id) -> None:
    """Run one task with step-by-step debug output."""
    from halo_core.loop import run_episode
    from halo_core.runtime import Runtime

    runtime: Runtime = get_runtime(ctx)
    config = build_config(mode, config_path, experiment, policy, worker_backend, manager_backend, max_steps, speed,
                          temperature, seed)
    try:
        suite, task = runtime.resolve_task(task_id, task_registry=task_registry)
    except TaskNotFound as exc:
        raise HaloError(str(exc)) from None
    backends = preflight_backends(runtime, config)
    run_id = run_id or new_run_id("debug")
    console.print(f"[bold]{task.id}[/] ({suite.name}) mode={config.mode} policy={config.policy} run_id={run_id}")
    console.print(f"goal: {task.goal}")
    env = suite.make_environment(task, EnvSettings(headless=headless, run_id=leaderboard_run_id or "0"))
    if dry_run:
        try:
            raw = env.reset(task)
            console.print(f"[green]dry run ok[/]: reset reached {raw.url} with {len(raw.axtree)} AX nodes; "
                          f"backends: {', '.join(f'{k}={v.name}' for k, v in backends.items()) or 'none needed'}")
        except Exception as exc:
            raise HaloError(f"dry run failed: {exc}") from None
        finally:
            env.close()
        return

    def show(record, after):
        flags = []
        if record.cache_hit:
            flags.append("cache-hit")
        if record.manager_called:
            flags.append("manager")
        error = f" [red]error: {record.error}[/]" if record.error else ""
        console.print(f"[dim]{record.step_idx:>3}[/] {record.url}  [cyan]{record.decision.action}[/] "
                      f"<{record.decision.source}> page={record.page_type} {' '.join(flags)}{error}")

    try:
        result = run_episode(task, config, env, runtime, run_id=run_id, data_dir=data_dir, backends=backends,
                             on_step=show)
    finally:
        env.close()
    status = "[green]SUCCESS[/]" if result.success else "[red]FAILURE[/]"
    console.print(f"{status} reward={result.reward} steps={result.steps} ended_by={result.terminated_by} "
                  f"time={result.wall_time_sec:.1f}s calls={result.usage.calls} tokens={result.usage.tokens_in}+"
                  f"{result.usage.tokens_out} cost=${result.usage.cost:.4f}")
    if result.error:
        console.print(f"[red]error:[/] {result.error}")
    console.print(f"trajectory: {Path(data_dir) / 'trajectories' / config.mode / run_id}")
    if result.terminated_by in ("error", "init_error"):
        sys.exit(1)


def preflight_backends(runtime, config) -> dict:
    """Create and check the backends a config needs, before any task starts."""
    from halo_core.backends import BackendError, BackendSettings

    needed = {}
    if config.policy == "worker":
        needed["worker"] = (config.worker_backend, config.worker_temperature)
    if config.use_manager and config.manager_backend:
        needed["manager"] = (config.manager_backend, config.manager_temperature)
    backends = {}
    for role, (spec, temperature) in needed.items():
        try:
            backend = runtime.backends.create(spec, BackendSettings(temperature=temperature, seed=config.seed,
                                                                    max_tokens=config.max_tokens,
                                                                    images=config.use_screenshot))
            check = getattr(backend, "check", None)
            if check is not None:
                check()
        except BackendError as exc:
            raise HaloError(f"{role} backend: {exc}") from None
        backends[role] = backend
    return backends


def main() -> None:
    cli(prog_name="halo")


if __name__ == "__main__":
    # `python -m halo_core.cli`: run the canonical module's group, which commands register onto
    from halo_core.cli import main as _canonical_main

    _canonical_main()
