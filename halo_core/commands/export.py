"""``halo export``: BC and DPO datasets from trajectories (the command lives in :mod:`halo_core.export`)."""

from __future__ import annotations

from halo_core import hookimpl


@hookimpl(tryfirst=True)  # core groups exist before plugins extend them
def halo_register_commands(cli):
    from halo_core.export import export_command

    cli.add_command(export_command)
