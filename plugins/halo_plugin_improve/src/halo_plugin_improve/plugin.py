"""The ``improve`` plugin: ``halo feedback judge``, ``halo evals generate|run|export`` and ``halo improve``.

``judge`` joins the traces plugin's ``feedback`` group (whichever plugin registers its
commands first creates the group; both add the same object).
"""

from __future__ import annotations

from halo_core import hookimpl


@hookimpl
def halo_register_commands(cli):
    from halo_plugin_traces.commands import feedback

    from halo_plugin_improve.commands import evals, improve, judge

    group = cli.commands.get("feedback")
    if group is None:
        cli.add_command(feedback)
        group = feedback
    if "judge" not in group.commands:
        group.add_command(judge)
    for command in (evals, improve):
        if command.name not in cli.commands:
            cli.add_command(command)
