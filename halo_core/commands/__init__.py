"""The core's own commands, each module a plugin registered like any other.

Every module here implements ``halo_register_commands`` and is listed in
:data:`halo_core.plugins.DEFAULT_PLUGINS`; nothing is registered by importing it.
:mod:`halo_core.commands.options` holds :func:`agent_options`, the one set of options
of every command that runs an agent (plugins' commands use it too).
"""
