"""halo_plugin_webclones - offline REAL-protocol web clones (shop, mail, calendar) for HALO."""

from __future__ import annotations

from .experts import expert_steps
from .server import SITES, SiteServer, start_site
from .tasks import EVAL_SCRIPTS_DIR, TASKS_DIR, list_tasks, load_task, run_eval_script

__all__ = [
    "SITES", "SiteServer", "start_site", "list_tasks", "load_task", "run_eval_script",
    "TASKS_DIR", "EVAL_SCRIPTS_DIR", "expert_steps",
]
