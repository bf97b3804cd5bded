"""Environments: where actions are executed.

An :class:`Environment` runs one episode at a time (``reset`` → ``step``… →
``evaluate`` → ``close``). A :class:`Suite` owns a family of tasks (a benchmark,
or a set of practice sites) and makes environments for them; suites are registered by plugins through
``halo_register_environments``.
"""

from halo_core.env.protocol import Environment, EnvironmentDead, EnvSettings, Suite, TaskNotFound

__all__ = ["Environment", "EnvironmentDead", "EnvSettings", "Suite", "TaskNotFound"]
