"""The web-clone tasks inside agisdk's own harness (``REAL.harness``, BrowserGym's loop).

    from halo_plugin_webclones.harness import register_harness_tasks
    from halo_plugin_webclones.server import start_site

    servers = {site: start_site(site) for site in ("shop", "mail", "calendar")}
    ids = register_harness_tasks({site: s.url for site, s in servers.items()})   # ["v2.calendar-1", ...]
    results = harness(agentargs=..., task_version="v2").run(tasks=ids)

Each task is agisdk's :class:`AbstractWebCloneTask` (``/config`` with
``task_id=v2.<name>``, the ``/finish`` JSON read by agisdk, agisdk's
:class:`WebCloneEvaluator` running the task's eval script) with three differences
that the clones need and agisdk 0.3.5 does not provide:

* **the answer reaches the script.** agisdk's ``validate`` passes the agent's last
  chat message to ``evaluator.evaluate(env_state, model_response)``, but its script
  runner writes only ``env_state`` for the script. Here the evaluator writes the
  answer into the state the way HALO's own scorer does
  (:func:`halo_plugin_webclones.tasks.script_input`), so a retrieval task scores the
  same in both.
* **agisdk's summary records the answer.** The experiment loop's ``agent_response``
  comes from the step after the last action, which holds no action; its only source
  left is ``task_info["criteria"][i]["model_response"]``, which ``validate`` fills.
* **report_infeasible is evaluated.** agisdk ends such an episode with reward 0 (its
  own v2 tasks are all feasible); six clone tasks are infeasible on purpose and pass
  only when the agent reports so, as in HALO's loop. agisdk also reports failed action
  executions as "infeasible" chat messages (``Execution failed: ...``); those are not
  the agent's report and are not evaluated.
"""

from __future__ import annotations

import os
from typing import Any, Mapping

from agisdk.REAL.browsergym.core.task import AbstractBrowserTask
from agisdk.REAL.browsergym.webclones.base import AbstractWebCloneTask
from agisdk.REAL.browsergym.webclones.evaluate import WebCloneEvaluator
from agisdk.REAL.browsergym.webclones.task_config import TaskConfig

from .server import SITES
from .tasks import EVAL_SCRIPTS_DIR, list_tasks, script_input, task_path

__all__ = ["AnswerForwardingEvaluator", "WebcloneHarnessTask", "register_harness_tasks"]

#: agisdk's env reports a failed action execution as an "infeasible" chat message with this prefix
EXECUTION_FAILED_PREFIX = "Execution failed: "


class AnswerForwardingEvaluator(WebCloneEvaluator):
    """agisdk's evaluator whose eval scripts also receive the agent's answer."""

    infeasible: bool = False

    def execute_eval_script_subprocess(self, script_name: str, env_state: dict, model_response: str):
        state = script_input(env_state or {}, model_response, self.infeasible)
        return super().execute_eval_script_subprocess(script_name, state, model_response)


def _agent_report(chat_messages: list[dict]) -> tuple[str, bool] | None:
    """(answer, infeasible) once the agent has ended the task, else None.

    Like agisdk: the first assistant message is BrowserGym's greeting, so an answer is
    the last of two or more.
    """
    assistant = [m for m in chat_messages if m.get("role") == "assistant"]
    if len(assistant) > 1:
        return str(assistant[-1].get("message") or ""), False
    reports = [m for m in chat_messages if m.get("role") == "infeasible"
               and not str(m.get("message") or "").startswith(EXECUTION_FAILED_PREFIX)]
    if reports:
        return str(reports[-1].get("message") or ""), True
    return None


class WebcloneHarnessTask(AbstractWebCloneTask):
    """One web-clone task for agisdk's harness, played on the clone at ``base_url``."""

    def __init__(self, seed: int, task_name: str, base_url: str, run_id: str | None = None) -> None:
        AbstractBrowserTask.__init__(self, seed)
        self.seed = seed
        self.task_config = TaskConfig(str(task_path(task_name)), version="v2", is_path=True)
        self.task_config.eval_scripts_dir = str(EVAL_SCRIPTS_DIR)
        self.task_name = self.task_config.task_name
        self.task_version = self.task_config.version
        self.task_id = self.task_name
        self.canonical_task_id = self.task_config.canonical_id
        # agisdk's order: $RUNID, explicit run_id, "0" (no leaderboard submission)
        self.run_id = os.environ.get("RUNID") or run_id or "0"
        self.evaluator = AnswerForwardingEvaluator(task_config=self.task_config)
        self.goal = self.task_config.get_goal()
        self.url = base_url.rstrip("/")

    def validate(self, page: Any, chat_messages: list[dict], timeout: int = 1000,
                 verbose: bool = True) -> tuple[float, bool, str, dict]:
        report = _agent_report(chat_messages)
        if report is None:
            return 0.0, False, "", {}
        answer, infeasible = report
        env_state = self.get_finish_json(timeout=timeout)
        self.evaluator.infeasible = infeasible
        reward, _done, message, info = self.evaluator.evaluate(env_state, answer)
        criteria = [{"model_response": answer, "infeasible": infeasible, "success": bool(ok),
                     "result": result.get("output") if isinstance(result, dict) else result}
                    for ok, result in info.get("results", [])]
        return float(reward), True, "Task completed!", {
            "env_state": env_state, "local_reward": reward, "criteria": criteria, "evaluation": message}


def register_harness_tasks(site_urls: Mapping[str, str], names: list[str] | None = None) -> list[str]:
    """Register web-clone tasks with BrowserGym as ``v2.<name>`` for agisdk's harness.

    ``site_urls`` maps a site (``shop``, ``mail``, ``calendar``) to the base URL of a
    running clone of it; ``names`` defaults to every task of those sites. Returns the
    harness task ids. Names of agisdk's own v2 tasks are refused (they would be replaced).
    """
    from agisdk.REAL.browsergym.core.registration import register_task
    from agisdk.REAL.browsergym.webclones.task_config import TASKS_BY_VERSION

    unknown = set(site_urls) - set(SITES)
    if unknown:
        raise ValueError(f"unknown site(s) {', '.join(sorted(unknown))}; the clones are {', '.join(SITES)}")
    by_name = {t["id"]: t for t in list_tasks() if t["website"]["id"] in site_urls}
    chosen = list(names) if names is not None else list(by_name)
    ids = []
    for name in chosen:
        task = by_name.get(name)
        if task is None:
            raise ValueError(f"{name!r} is not a web-clone task of the sites given ({', '.join(site_urls)})")
        if name in TASKS_BY_VERSION["v2"]:
            raise ValueError(f"{name!r} is one of agisdk's own v2 tasks; a web-clone task needs another name")
        register_task(f"v2.{name}", WebcloneHarnessTask,
                      task_kwargs={"task_name": name, "base_url": site_urls[task["website"]["id"]]})
        ids.append(f"v2.{name}")
    return ids
