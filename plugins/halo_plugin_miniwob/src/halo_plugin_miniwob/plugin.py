"""HALO plugin: MiniWoB++ as the ``miniwob`` suite, and its scripted expert.

``halo tasks --suite miniwob``, ``halo run miniwob.enter-text@17 --policy expert``.
"""

from __future__ import annotations

from halo_core import hookimpl

from .policy import (  # noqa: F401  (the expert policy's hook implementations)
    halo_addoption,
    halo_decide,
    label_with_expert,
    halo_register_decision_sources,
    halo_register_policies,
)
from .suite import MiniwobSuite


@hookimpl
def halo_register_environments(register):
    register(MiniwobSuite())
