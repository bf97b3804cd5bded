"""The ``webclones`` task suite: tasks, environments and scoring for the offline clones.

Task ids are ``webclones.<site>-<n>``. Each environment starts its own site server on
127.0.0.1 (a free port) the first time it needs that site, so parallel episodes never
share state, and speaks the REAL protocol to it through the REAL plugin's
:class:`~halo_plugin_real.protocol.RealProtocolEnvironment`.
"""

from __future__ import annotations

import difflib
from typing import Any

from halo_core.api import EnvSettings, Evaluation, TaskNotFound, TaskSpec
from halo_plugin_real.protocol import RealProtocolEnvironment

from . import tasks as catalogue
from .server import SITES, SiteServer, start_site

PREFIX = "webclones."


def to_spec(raw: dict[str, Any]) -> TaskSpec:
    config = raw.get("config") or {}
    return TaskSpec(
        id=PREFIX + raw["id"],
        goal=raw["goal"],
        suite="webclones",
        site=raw["website"]["id"],
        start_url="",  # known once the site server is up
        challenge_type=raw.get("challengeType", "action"),
        possible=bool(raw.get("possible", True)),
        difficulty=raw.get("difficulty", ""),
        split=config.get("split", ""),
        points=float(raw.get("points", 1)),
        evals=tuple(raw.get("evals") or ()),
        raw=raw,
    )


def score(task: TaskSpec, finish: dict, final_message: str, infeasible: bool) -> Evaluation:
    """Run the task's eval scripts on the finish JSON, with the agent's answer merged in.

    Retrieval and infeasible tasks are judged on what the agent said, so the answer is
    added to the finish JSON as ``model_response`` and ``infeasible`` before the scripts
    run (the REAL clones' own eval scripts read only the site state).
    """
    ok = catalogue.run_eval_script(dict(task.raw), catalogue.script_input(finish, final_message, infeasible))
    return Evaluation(reward=task.points if ok else 0.0, success=ok, info={"eval": "script"})


class WebcloneEnvironment(RealProtocolEnvironment):
    """A browser environment that brings its own site servers."""

    def __init__(self, settings: EnvSettings | None = None, **kwargs: Any) -> None:
        super().__init__(settings, scorer=score, base_url=self._site_url,
                         config_task_id=lambda task: task.raw.get("id", task.id), **kwargs)
        self.servers: dict[str, SiteServer] = {}

    def _site_url(self, task: TaskSpec) -> str:
        server = self.servers.get(task.site)
        if server is None:
            server = self.servers[task.site] = start_site(task.site)
        return server.url

    def close(self) -> None:
        try:
            super().close()
        finally:
            for server in self.servers.values():
                server.close()
            self.servers.clear()


class WebclonesSuite:
    name = "webclones"
    sites = SITES
    reuse_environments = True  # reset() re-seeds the site through /config, so a worker keeps one browser

    def claims(self, task_id: str) -> bool:
        return task_id.startswith(PREFIX)

    def list_tasks(self, *, site: str | None = None, split: str | None = None) -> list[TaskSpec]:
        if site is not None and site not in SITES:
            raise TaskNotFound(f"webclones has no site {site!r}; sites: {', '.join(SITES)}")
        return [to_spec(raw) for raw in catalogue.list_tasks(site=site, split=split)]

    def resolve(self, task_id: str) -> TaskSpec:
        raw = catalogue.find_task(task_id[len(PREFIX):]) if task_id.startswith(PREFIX) else None
        if raw is None:
            known = [t.id for t in self.list_tasks()]
            close = difflib.get_close_matches(task_id, known, n=5, cutoff=0.6)
            hint = f"; closest: {', '.join(close)}" if close else f"; see `halo tasks --suite {self.name}`"
            raise TaskNotFound(f"unknown task {task_id!r}{hint}")
        return to_spec(raw)

    def make_environment(self, task: TaskSpec, settings: EnvSettings) -> WebcloneEnvironment:
        return WebcloneEnvironment(settings)
