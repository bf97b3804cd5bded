"""``halo tasks``: the installed suites' tasks, with a per-site summary."""

from __future__ import annotations

import json

import click

from halo_core import hookimpl
from halo_core.cli import HaloError, console, get_runtime
from halo_core.commands.options import PluginFlagsMixin, option_values, pop_flags
from halo_core.secrets import redact, write_redacted

__all__ = ["task_to_json", "tasks_command"]


class TasksGroup(PluginFlagsMixin, click.Group):
    """Offers the flags of plugin options that some installed suite's ``list_tasks`` accepts
    (e.g. a registry snapshot to pin tasks to), and no others."""

    def keep_option(self, runtime, option) -> bool:
        from halo_core.runtime import accepted_options

        return any(accepted_options(suite.list_tasks, {option.name: True}) for suite in runtime.suites.values())


def task_to_json(task) -> dict:
    return {"id": task.id, "suite": task.suite, "site": task.site, "goal": task.goal,
            "challenge_type": task.challenge_type, "possible": task.possible, "difficulty": task.difficulty,
            "split": task.split, "start_url": task.start_url}


@click.group("tasks", cls=TasksGroup, invoke_without_command=True)
@click.option("--suite", default=None, help="Task suite (default: every installed suite).")
@click.option("--site", "sites", multiple=True, help="Only tasks of this site (repeatable).")
@click.option("--split", type=click.Choice(["train", "test"]), default=None, help="Only train or held-out test tasks.")
@click.option("--json", "json_out", default=None, help="Write the tasks as JSON to this file ('-' for stdout).")
@click.option("--ids-only", is_flag=True, help="Print task ids only, one per line.")
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE",
              help="A plugin option for the suites that accept it (repeatable; see `halo config`).")
@click.pass_context
def tasks_command(ctx: click.Context, suite, sites, split, json_out, ids_only, sets, **flags) -> None:
    """List tasks, with a per-site summary."""
    from halo_core.env.protocol import TaskNotFound
    from halo_core.runtime import accepted_options

    if ctx.invoked_subcommand is not None:
        return
    runtime = get_runtime(ctx)
    options = option_values(runtime, sets, pop_flags(flags))
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
                found.extend(s.list_tasks(site=site, split=split, **accepted_options(s.list_tasks, options)))
            except TaskNotFound as exc:
                raise HaloError(str(exc)) from None
    if sites and not found:
        raise HaloError(f"no tasks for site(s) {', '.join(sites)}; see `halo tasks` for the sites")
    if ids_only:
        click.echo(redact("\n".join(t.id for t in found)))
        return
    if json_out:
        # a suite's goals are text HALO did not write: a key in one stays out of the output
        payload = json.dumps([task_to_json(t) for t in found], indent=2)
        if json_out == "-":
            click.echo(redact(payload))
            return
        write_redacted(json_out, payload)
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


@hookimpl(tryfirst=True)  # core groups exist before plugins extend them
def halo_register_commands(cli):
    cli.add_command(tasks_command)
