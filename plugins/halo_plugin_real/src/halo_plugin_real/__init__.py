"""REAL Bench v2 for HALO, through agisdk: task discovery and registry snapshots
(:mod:`.registry`), the ``real`` suite (:mod:`.suite`), scoring with agisdk's own
evaluator (:mod:`.scoring`), leaderboard run ids (:mod:`.leaderboard`) and the bridge
that runs HALO's decision hierarchy inside agisdk's harness (:mod:`.bridge`).

The REAL site protocol (``/config`` on reset, ``/finish`` to score) is public for other
suites of REAL-format sites: :class:`RealProtocolEnvironment` in :mod:`.protocol`, which
needs no agisdk (that is the ``agisdk`` extra)."""

__version__ = "0.1.0"

from .catalog import SUPPORTED_VERSION, Layout, agisdk_layout, task_hash  # noqa: E402
from .leaderboard import LeaderboardError, get_leaderboard_run_id  # noqa: E402
from .protocol import RealProtocolEnvironment, Scorer  # noqa: E402
from .registry import RegistryError, TaskRegistryMismatch, load_registry  # noqa: E402
from .suite import RealEnvironment, RealSuite  # noqa: E402

__all__ = ["SUPPORTED_VERSION", "Layout", "LeaderboardError", "RealEnvironment", "RealProtocolEnvironment", "RealSuite", "RegistryError",
           "Scorer", "TaskRegistryMismatch", "__version__", "agisdk_layout", "get_leaderboard_run_id", "load_registry",
           "task_hash"]
