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
def halo_register_commands(cli):
    from .commands import register

    register(cli)
