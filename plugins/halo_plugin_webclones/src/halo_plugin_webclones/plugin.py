"""HALO plugin: the offline web clones (shop, mail, calendar) and their expert policy.

Registers the ``webclones`` task suite and the ``expert`` policy
(``halo run webclones.shop-1 --policy expert``).
"""

from __future__ import annotations

from halo_core import hookimpl

from .policy import (  # noqa: F401  (the expert policy's hook implementations)
    halo_decide,
    halo_register_decision_sources,
    halo_register_policies,
)
from .suite import WebclonesSuite

SUITE_NAME = "webclones"


@hookimpl
def halo_register_environments(register):
    register(WebclonesSuite())
