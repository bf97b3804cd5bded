"""The core's configuration keys, declared through ``halo_addoption`` like any plugin's.

:data:`halo_core.config.CORE_OPTIONS` holds them (name, type, default, help, allowed
values); :class:`~halo_core.config.AgentConfig` validates its fields with the same
declarations. Registered here, they sit in the one option registry: ``halo config`` shows
each with its help, and a plugin that declares one of these names is refused.
"""

from __future__ import annotations

from halo_core import hookimpl
from halo_core.config import CORE_OPTIONS


@hookimpl
def halo_addoption(register):
    for option in CORE_OPTIONS:
        register(option.name, type=option.type, default=option.default, help=option.help, choices=option.choices,
                 minimum=option.minimum, maximum=option.maximum, nullable=option.nullable, check=option.check,
                 expects=option.expects)
