"""halo_plugin_miniwob - MiniWoB++ (pages from the ``miniwob`` package) as a HALO task suite."""

from __future__ import annotations

from .catalogue import NEEDS, TEST_SEED_START, WEBGUM_56, html_dir, parse_task_id, split_of, task_names
from .environment import EPISODE_MAX_MS, MiniwobEnvironment
from .server import PageServer, start_server
from .suite import MiniwobSuite, task_spec

__all__ = [
    "EPISODE_MAX_MS", "NEEDS", "TEST_SEED_START", "WEBGUM_56", "MiniwobEnvironment", "MiniwobSuite", "PageServer",
    "html_dir", "parse_task_id", "split_of", "start_server", "task_names", "task_spec",
]
