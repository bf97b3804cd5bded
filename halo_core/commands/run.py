"""``halo run``: one task, step by step, for debugging."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from halo_core import hookimpl
from halo_core.cli import HaloError, console, get_runtime, new_run_id, plain
from halo_core.commands.options import AgentCommand, agent_options

__all__ = ["run_command"]


def _check_run_id(value):
    from halo_core.preflight import PreflightError, check_name

    try:
        return None if value is None else check_name("--run-id", value)
    except PreflightError as exc:
        raise HaloError(str(exc)) from None


@click.command("run", cls=AgentCommand)
@click.argument("task_id")
@agent_options()
@click.option("--dry-run", is_flag=True, help="Check task, config, backends and environment; make no model calls.")
@click.option("--run-id", default=None, callback=lambda ctx, param, value: _check_run_id(value),
              help="Run id (default: a new one).")
@click.pass_context
def run_command(ctx, task_id, agent, dry_run, run_id) -> None:
    """Run one task with step-by-step debug output."""
    from halo_core.env.protocol import EnvSettings, TaskNotFound
    from halo_core.evaluation.jobs import make_environment
    from halo_core.loop import run_episode
    from halo_core.preflight import PreflightError, preflight_backends

    runtime = get_runtime(ctx)
    config = agent.config(runtime)  # the policy is checked here, before anything starts
    try:
        suite, task = runtime.resolve_task(task_id, **config.options)
    except TaskNotFound as exc:
        raise HaloError(str(exc)) from None
    try:
        backends = preflight_backends(runtime, config)
    except PreflightError as exc:
        raise HaloError(str(exc)) from None
    run_id = run_id or new_run_id("debug")
    if not dry_run:
        agent.check_data_dir()
    console.print(f"[bold]{plain(task.id)}[/] ({plain(suite.name)}) mode={config.mode} policy={plain(config.policy)} "
                  f"run_id={run_id}")
    console.print(f"goal: {task.goal}", markup=False)
    env = make_environment(suite, task, EnvSettings(headless=agent.headless, screenshot=config.use_screenshot),
                           config.options)
    if dry_run:
        try:
            raw = env.reset(task)
            names = ", ".join(f"{k}={v.name}" for k, v in backends.items()) or "none needed"
            console.print(f"[green]dry run ok[/]: reset reached {plain(raw.url)} with {len(raw.axtree)} AX nodes; "
                          f"backends: {plain(names)}")
        except Exception as exc:
            raise HaloError(f"dry run failed: {exc}") from None
        finally:
            env.close()
        return

    def show(record, after):
        # the URL, the action and the error carry page and model text: printed as written, never as markup
        flag = " manager" if record.manager_called else ""
        error = f" [red]error: {plain(record.error)}[/]" if record.error else ""
        console.print(f"[dim]{record.step_idx:>3}[/] {plain(record.url)}  [cyan]{plain(record.decision.action)}[/] "
                      f"<{plain(record.decision.source)}> page={plain(record.page_type)}{flag}{error}")

    class Notices:
        """Prints what plugins announce for this episode (``{"type": "notice", "message": ...}``
        events), e.g. where a cache lives."""

        @hookimpl
        def halo_log(self, event, episode):
            if event.get("type") == "notice" and event.get("message"):
                console.print(f"[dim]{plain(event.get('plugin', 'note'))}:[/] {plain(event['message'])}")

    notices = runtime.pm.register(Notices(), name="cli-run-notices")
    try:
        result = run_episode(task, config, env, runtime, run_id=run_id, data_dir=agent.data_dir, backends=backends,
                             on_step=show)
    finally:
        env.close()
        runtime.pm.unregister(name=notices)
    status = "[green]SUCCESS[/]" if result.success else "[red]FAILURE[/]"
    console.print(f"{status} reward={result.reward} steps={result.steps} ended_by={result.terminated_by} "
                  f"time={result.wall_time_sec:.1f}s calls={result.usage.calls} tokens={result.usage.tokens_in}+"
                  f"{result.usage.tokens_out} cost=${result.usage.cost:.4f}")
    if result.counters:
        console.print("counters: " + ", ".join(f"{k}={v:g}" for k, v in sorted(result.counters.items())),
                      markup=False)
    for problem in result.plugin_errors:
        console.print(f"[yellow]plugin error:[/] {plain(problem)}")
    if result.error:
        console.print(f"[red]error:[/] {plain(result.error)}")
    if result.final_message:
        console.print(f"message: {result.final_message}", markup=False)
    console.print(f"trajectory: {Path(agent.data_dir) / 'trajectories' / config.mode / run_id}", markup=False)
    if result.terminated_by in ("error", "init_error"):
        sys.exit(1)


@hookimpl(tryfirst=True)  # core groups exist before plugins extend them
def halo_register_commands(cli):
    cli.add_command(run_command)
