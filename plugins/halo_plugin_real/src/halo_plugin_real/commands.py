"""Command-line additions: ``halo tasks snapshot`` and the ``halo real`` group."""

from __future__ import annotations

import json
import os
import sys

import click

from .registry import DEFAULT_REGISTRY_PATH

__all__ = ["snapshot_command", "real_group", "register"]


def _error(message: str):
    from halo_core.api import HaloError

    return HaloError(message)


@click.command("snapshot")
@click.option("--suite", "suite_name", default="real", show_default=True, help="Task suite to snapshot.")
@click.option("--out", default=str(DEFAULT_REGISTRY_PATH), show_default=True, type=click.Path(dir_okay=False),
              help="Where to write the registry JSON.")
@click.option("--check", is_flag=True,
              help="Do not write: compare the current tasks with --out and exit 1 if they differ.")
@click.pass_context
def snapshot_command(ctx: click.Context, suite_name: str, out: str, check: bool) -> None:
    """Snapshot the task registry (ids, agisdk version, sha256 per task) for reproducible runs.

    Commands pick up configs/real_v2_task_registry.json automatically when it exists
    (or $HALO_TASK_REGISTRY); tasks that are not in it are refused.
    """
    from halo_core.api import TaskNotFound, console, get_runtime

    runtime = get_runtime(ctx)
    try:
        suite = runtime.suite(suite_name)
    except TaskNotFound as exc:
        raise _error(str(exc)) from None
    build = getattr(suite, "snapshot", None)
    if build is None:
        raise _error(f"suite {suite_name!r} has no task registry to snapshot")
    doc = build()
    if check:
        from .registry import load_registry

        try:
            pinned = load_registry(out)
        except TaskNotFound as exc:
            raise _error(str(exc)) from None
        now = {t["id"]: t["sha256"] for t in doc["tasks"]}
        added = sorted(set(now) - set(pinned.hashes))
        removed = sorted(set(pinned.hashes) - set(now))
        changed = sorted(t for t in now if t in pinned.hashes and now[t] != pinned.hashes[t])
        if added or removed or changed:
            for label, ids in (("added", added), ("removed", removed), ("changed", changed)):
                if ids:
                    console.print(f"{label}: {len(ids)} ({', '.join(ids[:10])}{', …' if len(ids) > 10 else ''})")
            raise _error(f"task registry {out} is out of date (agisdk {doc['agisdk_version']} vs "
                         f"{pinned.agisdk_version} pinned)")
        console.print(f"task registry {out} matches the installed tasks ({len(now)} tasks, agisdk {doc['agisdk_version']})")
        return
    from pathlib import Path

    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(path)
    console.print(f"Wrote {doc['total']} {suite_name} tasks over {len(doc['sites'])} sites "
                  f"(agisdk {doc['agisdk_version']}, {doc['created_at']}) to {out}")


@click.group("real")
def real_group() -> None:
    """REAL Bench v2 (agisdk): leaderboard run ids and related helpers."""


@real_group.command("leaderboard-run-id")
@click.option("--model-name", required=True, help="Model name shown on the leaderboard.")
@click.option("--run-name", required=True, help="A name for this run.")
def leaderboard_run_id(model_name: str, run_name: str) -> None:
    """Get a new leaderboard run id (reads REAL_API_KEY; REAL_API_BASE is honoured).

    Prints only the run id, for RUNID=$(halo real leaderboard-run-id ...).
    """
    from .leaderboard import LeaderboardError, get_leaderboard_run_id

    key = os.environ.get("REAL_API_KEY", "").strip()
    if not key:
        raise _error("REAL_API_KEY is not set (get a key at realevals.ai)")
    try:
        run_id = get_leaderboard_run_id(key, model_name, run_name)
    except LeaderboardError as exc:
        raise _error(str(exc)) from None
    click.echo(run_id)
    print(f"leaderboard run id for {model_name!r} / {run_name!r}: export RUNID={run_id}", file=sys.stderr)


def register(cli: click.Group) -> None:
    tasks = cli.commands.get("tasks")
    if isinstance(tasks, click.Group) and "snapshot" not in tasks.commands:
        tasks.add_command(snapshot_command)
    if "real" not in cli.commands:
        cli.add_command(real_group)
