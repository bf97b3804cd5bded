"""HALO plugin: REAL Bench v2 through agisdk.

Registers the ``real`` task suite (``halo tasks --suite real``, ``halo run v2.omnizon-13``),
``halo tasks snapshot`` and ``halo real leaderboard-run-id``.
"""

from __future__ import annotations

from halo_core import hookimpl

from .suite import RealSuite

SUITE_NAME = "real"


@hookimpl
def halo_register_environments(register):
    register(RealSuite())


@hookimpl
def halo_addoption(register):
    # the core hands option values to the suite methods that accept them by name
    register("task_registry", type=str, default=None, flag="--task-registry",
             help="pin REAL tasks to a registry snapshot JSON ('none' turns pinning off; see `halo tasks snapshot`)")
    register("leaderboard_run_id", type=str, default=None, flag="--leaderboard-run-id",
             help="REAL leaderboard run id sent to the site's /config (default: $RUNID; see `halo real`)")


@hookimpl
def halo_register_commands(cli):
    from .commands import register

    register(cli)
