"""Running HALO's decision hierarchy inside agisdk's own harness.

    from agisdk import REAL
    from halo_plugin_real.bridge import HaloAgentArgs, make_harness

    args = HaloAgentArgs(mode="hierarchy_vac", policy=None)
    h = make_harness(args, task_name="v2.omnizon-13", headless=True)   # slow_mo=0, no result cache
    results = h.run()
    args.finish_episodes(results)          # HALO's episode_end hooks (VAC flush, macro mining)

``REAL.harness(agentargs=HaloAgentArgs(...), ...)`` works as well; then agisdk's
1000 ms ``slow_mo`` is still replaced (see below) but the harness' result cache is on.

What the bridge deals with:

* **observations**: BrowserGym's ``axtree_object`` (CDP AX nodes carrying
  ``browsergym_id``) and ``extra_element_properties`` become a HALO
  :class:`~halo_core.model.RawObservation`. Only actionable elements keep their bid
  (interactive roles or BrowserGym's ``clickable``), as in HALO's own environment,
  and the tree is flattened by the core's flattener, so the rest of HALO sees the
  same shape of page either way.
* **actions**: HALO's action strings are BrowserGym's high-level actions
  (``close_tab`` is BrowserGym's ``tab_close``; the coordinate and keyboard actions
  are its "coord" subset). ``upload_file`` is refused: BrowserGym would hand any path
  on this machine to the page, where HALO's own browser takes files from an upload
  folder only.
* **slow_mo**: BrowserGym tasks ask Playwright for ``slow_mo=1000`` (a second per
  page operation). ``EnvArgs.slow_mo`` overrides it but ``REAL.harness`` has no
  parameter for it; :func:`make_harness` sets ``harness.env_args["slow_mo"]`` and
  :class:`HaloAgentArgs` (``slow_mo=0``) also applies it to the launches of agisdk's
  Playwright made after ``make_agent`` (the harness makes the agent before the env).
* **tiktoken**: after every step the experiment loop counts tokens of every string
  of the (pre-processed) observation with ``tiktoken.encoding_for_model("gpt-4")``,
  which downloads ``cl100k_base`` on first use and fails offline. The bridge's
  ``obs_preprocessor`` returns no top-level strings (the observation travels as one
  object) and the agent reports no ``chat_messages``, so nothing is counted.
* **Chromium**: agisdk launches ``pw.chromium.launch(headless=, slow_mo=, args=,
  **pw_chromium_kwargs)`` (and a second browser for its chat window) on its global
  Playwright. When Playwright's own Chromium is not installed, the bridge adds
  ``executable_path`` of the system Chromium (HALO's ``find_chromium``) to those
  launches. agisdk's global Playwright is set to HALO's per-thread one, so HALO
  environments and the harness can run in the same thread.
"""

from __future__ import annotations

import io
import json
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import attrs
from agisdk.REAL.browsergym.core.task import AbstractBrowserTask
from agisdk.REAL.browsergym.experiments import AbstractAgentArgs, Agent, AgentInfo
from agisdk.REAL.browsergym.webclones.base import AbstractWebCloneTask
from agisdk.REAL.browsergym.webclones.evaluate import WebCloneEvaluator
from agisdk.REAL.browsergym.webclones.task_config import TaskConfig

from halo_core.api import AXNode, RawObservation, TaskSpec, terminal_message

__all__ = [
    "HaloAgentArgs", "HaloBrowserGymAgent", "convert_observation", "make_harness", "prepare_playwright",
    "register_layout_tasks", "to_browsergym_action",
]

#: AX roles that are actionable in HALO's environment (see halo_core/env/_bid.js).
ACTIONABLE_ROLES = frozenset({
    "button", "link", "checkbox", "radio", "textbox", "searchbox", "combobox", "listbox", "option", "menuitem",
    "menuitemcheckbox", "menuitemradio", "tab", "switch", "slider", "spinbutton", "treeitem", "gridcell",
    "scrollbar", "menu", "menubar", "tree", "MenuListPopup", "MenuListOption", "textField",
})


# --------------------------------------------------------------------------- observations


def _flattener():
    from halo_core.api import flatten_axtree

    return flatten_axtree


def _screenshot_bytes(array: Any, quality: int = 80) -> bytes | None:
    if array is None:
        return None
    try:
        from PIL import Image

        buf = io.BytesIO()
        Image.fromarray(array).convert("RGB").save(buf, format="JPEG", quality=quality)
        return buf.getvalue()
    except Exception:
        return None


def convert_observation(obs: dict, *, screenshot: bool = True) -> RawObservation:
    """A BrowserGym observation dict -> HALO :class:`RawObservation` (bids are BrowserGym's)."""
    nodes = (obs.get("axtree_object") or {}).get("nodes") or []
    extra = obs.get("extra_element_properties") or {}
    bid_of: dict[int, str] = {}
    for node in nodes:
        bid = node.get("browsergym_id")
        backend = node.get("backendDOMNodeId")
        if bid is None or backend is None or node.get("ignored"):
            continue
        role = (node.get("role") or {}).get("value", "")
        props = extra.get(bid) or {}
        if role in ACTIONABLE_ROLES or props.get("clickable"):
            bid_of[backend] = str(bid)
    axtree: tuple[AXNode, ...] = _flattener()(nodes, bid_of)
    pages = [str(u) for u in (obs.get("open_pages_urls") or ())]
    active = obs.get("active_page_index")
    try:
        active_idx = int(active[0]) if hasattr(active, "__len__") else int(active or 0)
    except (TypeError, ValueError, IndexError):
        active_idx = 0
    title = ""
    for node in nodes[:1]:
        title = str((node.get("name") or {}).get("value", "") or "")
    focused = obs.get("focused_element_bid") or None
    return RawObservation(
        url=str(obs.get("url", "")),
        title=title,
        axtree=axtree,
        screenshot=_screenshot_bytes(obs.get("screenshot")) if screenshot else None,
        tabs=tuple(pages),
        active_tab=active_idx,
        focused_bid=str(focused) if focused else None,
        last_action=str(obs.get("last_action", "") or ""),
        last_action_error=str(obs.get("last_action_error", "") or ""),
    )


def _double_quoted(value: Any) -> str:
    # A JSON string (ensure_ascii=False) is also a Python literal of the same text.
    return json.dumps(value, ensure_ascii=False) if isinstance(value, str) else str(value)


#: what an upload becomes: a call BrowserGym does not know, so its error reaches last_action_error
UPLOAD_REFUSED = "upload_file_is_refused_through_agisdk()"


def to_browsergym_action(action: str) -> str:
    """HALO action string -> BrowserGym high-level action string.

    Strings are written in double quotes, as BrowserGym's examples write them:
    agisdk's summary takes ``agent_response`` from ``send_msg_to_user("(.+?)")`` and
    finds nothing in HALO's single-quoted ``send_msg_to_user('...')``.
    """
    from halo_core.api import ActionError, parse_action

    try:
        parsed = parse_action(action)
    except ActionError:
        return action  # BrowserGym reports the error as last_action_error
    if parsed.name == "close_tab":
        return "tab_close()"
    if parsed.name == "upload_file":
        return UPLOAD_REFUSED
    return f"{parsed.name}({', '.join(_double_quoted(a) for a in parsed.args)})"


@dataclass
class BridgeInput:
    """What the agent receives per step: one object, so agisdk counts no tokens (see module docstring)."""

    raw: RawObservation
    goal: str
    task_id: str
    chat: list = field(default_factory=list)


# --------------------------------------------------------------------------- playwright


_PATCH_LOCK = threading.Lock()


def prepare_playwright(*, slow_mo: int | None = 0, executable_path: str | None = "auto") -> Any:
    """Make agisdk's global Playwright HALO's (per-thread) one and adjust its Chromium launches.

    ``executable_path="auto"``: the system Chromium when Playwright's own is missing
    (nothing changes when it is installed). ``slow_mo``: forced on every launch
    (``None`` keeps what agisdk asks for). Returns the Playwright.
    """
    from agisdk.REAL.browsergym import core as bg_core
    from halo_core.api import find_chromium, shared_playwright

    pw = shared_playwright()
    bg_core._set_global_playwright(pw)
    exe = find_chromium(pw) if executable_path == "auto" else executable_path
    chromium = pw.chromium
    with _PATCH_LOCK:
        state = getattr(chromium, "_halo_launch_state", None)
        if state is None:
            original = type(chromium).launch.__get__(chromium)
            state = {"exe": None, "slow_mo": None}

            def launch(*args: Any, **kwargs: Any):
                if state["exe"] and not kwargs.get("executable_path"):
                    kwargs["executable_path"] = state["exe"]
                if state["slow_mo"] is not None:
                    kwargs["slow_mo"] = state["slow_mo"]
                return original(*args, **kwargs)

            chromium.launch = launch
            chromium._halo_launch_state = state
        state["exe"] = exe
        state["slow_mo"] = slow_mo
    return pw


# --------------------------------------------------------------------------- agent


def _import_object(spec: str) -> Any:
    import importlib

    module, _, attr = spec.partition(":")
    obj = importlib.import_module(module)
    for part in filter(None, attr.split(".")):
        obj = getattr(obj, part)
    return obj


class HaloBrowserGymAgent(Agent):
    """A BrowserGym agent whose decisions come from HALO's hooks (the full hierarchy)."""

    def __init__(self, args: "HaloAgentArgs") -> None:
        from agisdk.REAL.browsergym.core.action.functions import check, uncheck
        from agisdk.REAL.browsergym.core.action.highlevel import HighLevelActionSet
        from halo_core.api import Runtime

        self.args = args
        # HALO's check/uncheck are BrowserGym functions its "bid" subset leaves out. BrowserGym's
        # element actions give Playwright's actionability checks 500 ms, and agisdk ends an
        # episode on the first failed action: on a busy machine a click on a ready button
        # missed that window and lost the task, so a failed one is tried once more with force
        self.action_set = HighLevelActionSet(subsets=["chat", "infeas", "bid", "coord", "nav", "tab", "custom"],
                                             custom_actions=[check, uncheck], multiaction=False,
                                             retry_with_force=True)
        self.config = args.agent_config()
        self.runtime = Runtime()
        for spec in args.plugins:
            self.runtime.pm.register(_import_object(spec), name=f"bridge:{spec}")
        self.runner = None  # halo_core.loop.EpisodeRunner, made on the first observation
        self.task_name = ""
        self._pending = None  # (observation, decision, started)
        self._refusal = ""  # why the last decision was not sent to the page
        self.terminal = False

    @property
    def episode(self):
        return self.runner.episode if self.runner is not None else None

    @property
    def finished(self) -> bool:
        return self.runner is not None and self.runner.result is not None

    # agisdk calls this on every raw observation before get_action (and before make_stats)
    def obs_preprocessor(self, obs: dict) -> dict:
        raw = convert_observation(obs, screenshot=self.config.use_screenshot)
        task_id = str(obs.get("task_id") or "")
        return {"halo": BridgeInput(raw=raw, goal=str(obs.get("goal") or ""), task_id=task_id,
                                    chat=list(obs.get("chat_messages") or []))}

    def _start(self, item: BridgeInput) -> None:
        from halo_core.api import EpisodeRunner

        name = item.task_id.split(".", 1)[-1] if item.task_id else "task"
        self.task_name = f"v2.{name}"
        task = TaskSpec(id=self.task_name, goal=item.goal, suite="real", site=name.rsplit("-", 1)[0])
        run_id = self.args.run_id or os.environ.get("RUNID") or "harness"
        self.runner = EpisodeRunner(task, self.config, self.runtime, run_id=run_id, data_dir=Path(self.args.data_dir),
                                    runner="agisdk-harness")
        self.runner.start()

    def get_action(self, obs: dict):
        item: BridgeInput = obs["halo"]
        if self.runner is None:
            self._start(item)
        runner = self.runner
        raw = item.raw
        if self._refusal:  # the step before was vetoed: BrowserGym waited, the agent learns why
            raw, self._refusal = attrs.evolve(raw, last_action_error=self._refusal), ""
        observation = runner.observe(raw)
        if self._pending is not None:
            before, decision, started = self._pending
            self._pending = None
            runner.record(decision, before, observation, step_started=started)
        if runner.done:
            return None, AgentInfo(think="HALO step limit reached", stats={})
        started = time.perf_counter()
        decision = runner.decide(observation)
        if terminal_message(decision.action) is not None:
            self.terminal = True
            runner.record(decision, observation, None, step_started=started)
        else:
            self._pending = (observation, decision, started)
            refused = runner.refused(decision)
            if refused is not None:  # never sent to the page (an unusable reply, a commit made once already)
                self._refusal = refused.last_action_error
        stats = {"halo_tokens_in": decision.usage.tokens_in, "halo_tokens_out": decision.usage.tokens_out,
                 "halo_cost": decision.usage.cost, "halo_calls": decision.usage.calls}
        info = AgentInfo(think=decision.reason or None, chat_messages=None, stats=stats,
                         extra_info={"source": decision.source, "halo_action": decision.action,
                                     "meta": json.loads(json.dumps(dict(decision.meta), default=str))})
        return ("noop()" if self._refusal else to_browsergym_action(decision.action)), info

    def finish(self, reward: float, *, error: str = "") -> None:
        """Fire HALO's ``halo_episode_end`` with the harness' reward (once)."""
        from halo_core.api import Evaluation

        if self.runner is None or self.finished:
            return
        if error:
            self.runner.fail(RuntimeError(error))
            self.runner.error = error
        evaluation = None if error else Evaluation(reward=float(reward), success=reward > 0)
        self.runner.finish(evaluation)


@dataclass
class HaloAgentArgs(AbstractAgentArgs):
    """agisdk agent arguments for HALO: ``mode`` (a HALO mode preset), ``policy``
    (``worker`` or a policy plugin such as ``expert``), backends and limits.

    Picklable (agisdk pickles agent args into each experiment directory).
    """

    mode: str = "baseline_worker"
    policy: str | None = None
    worker_backend: str | None = None
    manager_backend: str | None = None
    max_steps: int | None = None
    temperature: float | None = None
    seed: int | None = None
    config_path: str | None = None
    experiment: str | None = None
    data_dir: str = "data"
    run_id: str | None = None
    slow_mo: int | None = 0
    chromium: str | None = "auto"
    model_name: str = ""
    #: extra HALO plugins for the agent's runtime, as import strings ``"package.module:object"``
    plugins: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.agent_name is None:
            self.agent_name = "HaloAgent"
        if not self.model_name:
            self.model_name = f"halo:{self.mode}:{self.policy or 'default'}:{self.worker_backend or 'default'}"
        self.agent_config()  # fail early on a bad mode/config

    def agent_config(self):
        from halo_core.api import load_experiments, mode_config

        overrides = dict(policy=self.policy, worker_backend=self.worker_backend,
                         manager_backend=self.manager_backend, max_steps=self.max_steps,
                         worker_temperature=self.temperature, seed=self.seed)
        if self.config_path:
            return load_experiments(self.config_path).config(self.experiment or self.mode, **overrides)
        return mode_config(self.mode, **overrides)

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state.pop("_halo_agents", None)
        return state

    def make_agent(self) -> HaloBrowserGymAgent:
        prepare_playwright(slow_mo=self.slow_mo, executable_path=self.chromium)
        agent = HaloBrowserGymAgent(self)
        self.__dict__.setdefault("_halo_agents", []).append(agent)
        return agent

    @property
    def agents(self) -> list[HaloBrowserGymAgent]:
        return list(self.__dict__.get("_halo_agents", []))

    def finish_episodes(self, results: dict | None = None) -> None:
        """Close HALO's episodes with the harness' rewards (``harness.run()``'s results)."""
        pending = [a for a in self.agents if not a.finished and a.episode is not None]
        for agent in pending:
            record = (results or {}).get(agent.task_name) or {}
            reward = float(record.get("cum_reward", 0) or 0)
            error = str(record.get("err_msg") or "")
            agent.finish(reward, error=error)


def make_harness(agent_args: HaloAgentArgs, *, slow_mo: int = 0, use_cache: bool = False, **kwargs: Any):
    """``agisdk.REAL.harness`` for HALO: v2 tasks, ``slow_mo`` 0, no stale result cache."""
    from agisdk.REAL.harness import harness

    task_name = kwargs.get("task_name")
    if task_name is not None:
        _check_v2(task_name)
    kwargs.setdefault("task_version", "v2")
    h = harness(agentargs=agent_args, use_cache=use_cache, **kwargs)
    h.env_args["slow_mo"] = slow_mo
    return h


def _check_v2(task_name: str) -> None:
    from halo_core.api import TaskNotFound

    name = str(task_name).strip()
    if name.startswith("browsergym/"):
        name = name.split("/", 1)[1]
    if not name.startswith("v2."):
        raise TaskNotFound(f"REAL task ids are v2.<site>-<n>; {task_name!r} would not run v2 (use 'v2.{name.split('.', 1)[-1]}')")


# --------------------------------------------------------------------------- REAL-format tasks of your own


def register_layout_tasks(tasks_dir: str | os.PathLike, names: list[str] | None = None) -> list[str]:
    """Register the tasks of a v2 layout directory (``tasks/*.json`` + ``eval_scripts/``)
    with BrowserGym, so the harness runs them as ``v2.<name>``. Names of agisdk's own
    tasks are refused (they would be replaced). Returns the canonical ids."""
    from agisdk.REAL.browsergym.core.registration import register_task
    import agisdk.REAL.browsergym.webclones  # noqa: F401  (agisdk's own v2 registrations first)

    from .catalog import Layout, agisdk_layout

    layout = Layout(root=Path(tasks_dir), version="v2", source="local")
    own = set(agisdk_layout("v2").names())
    ids = []
    for name in names or layout.names():
        if name in own:
            raise ValueError(f"{name!r} is one of agisdk's own v2 tasks; give a local task another name")
        register_task(f"v2.{name}", LayoutWebCloneTask,
                      task_kwargs={"task_path": str(layout.task_path(name)),
                                   "eval_scripts_dir": str(layout.eval_scripts_dir)})
        ids.append(f"v2.{name}")
    return ids


class LayoutWebCloneTask(AbstractWebCloneTask):
    """agisdk's web-clone task with its config read from a task JSON path (agisdk's
    ``TaskConfig(path, version="v2", is_path=True)``) and its own eval scripts directory."""

    def __init__(self, seed: int, task_path: str, eval_scripts_dir: str, run_id: str | None = None) -> None:
        AbstractBrowserTask.__init__(self, seed)
        self.seed = seed
        self.task_config = TaskConfig(task_path, version="v2", is_path=True)
        self.task_config.eval_scripts_dir = eval_scripts_dir
        self.task_name = self.task_config.task_name
        self.task_version = self.task_config.version
        self.task_id = self.task_name
        self.canonical_task_id = self.task_config.canonical_id
        # agisdk's order: $RUNID, explicit run_id, the task config's, "0"
        self.run_id = (os.environ.get("RUNID") or run_id
                       or (self.task_config.task.config or {}).get("run_id") or "0")
        self.evaluator = WebCloneEvaluator(task_config=self.task_config)
        self.goal = self.task_config.get_goal()
        self.url = self.task_config.get_start_url()
        if not self.url:
            raise ValueError(f"task {task_path} has no website url")
