"""HALO plugin: the offline web clones (shop, mail, calendar) and their expert policy.

Registers the ``webclones`` task suite and the ``expert`` policy
(``halo run webclones.shop-1 --policy expert``).
"""

from __future__ import annotations

from halo_core import hookimpl

from .policy import halo_decide  # noqa: F401  (the expert policy's decide implementation)
from .suite import WebclonesSuite

SUITE_NAME = "webclones"


@hookimpl
def halo_register_environments(register):
    register(WebclonesSuite())
