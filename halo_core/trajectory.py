"""The on-disk trajectory format: its one writer-side builder and its one reader.

A trajectory is one JSON object per line at
``data/trajectories/<mode>/<run_id>/<task>__attempt_<k>.jsonl``, written by the JSONL
logger from the events the loop logs:

``episode_start``
    task, goal, site, suite, split, start URL, run id, mode, attempt, config — and
    ``schema_version`` (:data:`SCHEMA_VERSION`). Files without it are version 1.
``step``
    one per action: URL, page type, fingerprint, the decision (action, source, reason,
    usage, meta), the action's error, verdicts, and the observation the decision was made
    on, twice: ``obs_summary`` / ``actionable_elements`` as the worker saw them (rendered
    text) and ``elements`` as data, so readers never parse rendered text. ``elements`` is
    stored by column (``{"bid": [...], "role": [...], "name": [...], "value": [...],
    "props": [[i, {...}], ...]}``, props only for the elements that have any): one list
    per field encodes several times faster than a dict per element, and is smaller.
``episode_end``
    the result (success, reward, steps, how it ended, usage, error).
anything else
    a plugin's own event, kept as a :class:`PluginEvent`.

Every reader goes through :func:`read_trajectory` / :func:`iter_episodes`; every writer
builds its events with :func:`start_event`, :func:`step_event` and :func:`end_event`.
Version-1 files (no ``schema_version``, no ``elements``) still read: their elements are
parsed from the rendered lines here, and only here. Version-2 files (``elements`` as a list
of ``{bid, role, name, value, props}`` objects) read as well.
"""

from __future__ import annotations

import json
import os
import re
import time
import warnings
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, Union

import attrs

from halo_core.model import QUOTED_TEXT, AXNode, EpisodeResult, Observation, StepRecord, Usage, Verdict, unquote

__all__ = [
    "SCHEMA_VERSION",
    "TRAJECTORY_GLOB",
    "ElementRecord",
    "EmptyTrajectory",
    "EpisodeEnd",
    "EpisodeStart",
    "PluginEvent",
    "RecordedEpisode",
    "Step",
    "TrajectoryError",
    "element_columns",
    "elements_from_columns",
    "end_event",
    "iter_episodes",
    "read_trajectory",
    "screenshot_file",
    "screenshot_ref",
    "start_event",
    "step_event",
    "trajectory_path",
]

#: Version of the format written by this module. 1: files written before versions were
#: recorded (elements only as rendered text); 2: ``schema_version``, ``split``, ``suite``,
#: ``start_url`` in ``episode_start`` and structured ``elements`` in each step; 3: ``elements``
#: stored by column.
SCHEMA_VERSION = 3

#: File names the JSONL logger gives trajectories (other ``*.jsonl`` files, such as a
#: plugin's ``traces.jsonl``, may share the folder).
TRAJECTORY_GLOB = "*__attempt_*.jsonl"


class TrajectoryError(ValueError):
    """A trajectory file that cannot be read; the message names ``file:line``."""


class EmptyTrajectory(TrajectoryError):
    """A trajectory file with no ``episode_start``: empty (an episode killed before its first
    line) or not a HALO trajectory. Readers given ``skip_bad_lines`` skip it with a warning."""


def _usage(data: Any) -> Usage:
    if not isinstance(data, Mapping):
        return Usage()
    fields = attrs.fields_dict(Usage)
    return Usage(**{k: type(fields[k].default)(v) for k, v in data.items() if k in fields and v is not None})


def _props(data: Any) -> dict[str, Any]:
    return dict(data) if isinstance(data, Mapping) else {}


# --------------------------------------------------------------------------- elements


_ELEMENT_LINE = re.compile(
    rf"^\[(?P<bid>[^\]]*)\] (?P<role>\S+)(?: (?P<name>{QUOTED_TEXT}))?(?: value=(?P<value>{QUOTED_TEXT}))?"
    r"(?P<flags>(?: (?:checked|disabled|selected))*)\s*$")


@attrs.frozen
class ElementRecord:
    """An actionable element as a trajectory stores it: what :class:`~halo_core.model.AXNode`
    holds for an element with a bid, minus the tree depth."""

    bid: str
    role: str
    name: str = ""
    value: str = ""
    props: Mapping[str, Any] = attrs.field(factory=dict)

    @classmethod
    def from_node(cls, node: AXNode) -> ElementRecord:
        return cls(str(node.bid), node.role, node.name, node.value, dict(node.props))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ElementRecord:
        """An element as version-2 files stored it: one ``{bid, role, name, value, props}`` object."""
        return cls(str(data.get("bid", "")), str(data.get("role", "")), str(data.get("name") or ""),
                   str(data.get("value") or ""), _props(data.get("props")))

    @classmethod
    def parse_line(cls, line: str) -> ElementRecord | None:
        """An element from its rendered form ``[bid] role 'name' value='v' checked`` (version-1
        files only); None for a line that is not one."""
        m = _ELEMENT_LINE.match(line.strip())
        if m is None:
            return None
        flags = m.group("flags").split()
        return cls(m.group("bid"), m.group("role"), unquote(m.group("name")), unquote(m.group("value")),
                   {flag: True for flag in flags})

    def to_node(self) -> AXNode:
        return AXNode(self.role, self.name, bid=self.bid, value=self.value, props=dict(self.props))

    def describe(self) -> str:
        """The rendered line, as the worker sees the element."""
        return self.to_node().describe()


# --------------------------------------------------------------------------- events


@attrs.frozen
class EpisodeStart:
    """The ``episode_start`` event. ``split`` is None when the file did not record one
    (version 1); ``""`` when the task's suite has no splits."""

    task_id: str
    goal: str = ""
    site: str = ""
    suite: str = ""
    split: str | None = None
    start_url: str = ""
    run_id: str = ""
    mode: str = ""
    attempt: int = 0
    timestamp: float = 0.0
    pid: int = 0
    policy: str = ""
    config_hash: str = ""
    config: Mapping[str, Any] = attrs.field(factory=dict)
    schema_version: int = 1
    extra: Mapping[str, Any] = attrs.field(factory=dict)

    type = "episode_start"
    _KNOWN = frozenset({"type", "schema_version", "task_id", "task_name", "goal", "site", "suite", "split",
                        "start_url", "run_id", "mode", "policy", "attempt_idx", "timestamp", "pid", "config_hash",
                        "config"})

    @classmethod
    def from_event(cls, e: Mapping[str, Any]) -> EpisodeStart:
        split = e.get("split")
        config = _props(e.get("config"))
        return cls(task_id=str(e.get("task_id") or e.get("task_name") or ""), goal=str(e.get("goal") or ""),
                   site=str(e.get("site") or ""), suite=str(e.get("suite") or ""),
                   split=None if split is None else str(split), start_url=str(e.get("start_url") or ""),
                   run_id=str(e.get("run_id") or ""), mode=str(e.get("mode") or ""),
                   policy=str(e.get("policy") or config.get("policy") or ""),
                   attempt=int(e.get("attempt_idx") or 0), timestamp=float(e.get("timestamp") or 0.0),
                   pid=int(e.get("pid") or 0), config_hash=str(e.get("config_hash") or ""),
                   config=config, schema_version=int(e.get("schema_version") or 1),
                   extra={k: v for k, v in e.items() if k not in cls._KNOWN})

    def to_event(self) -> dict[str, Any]:
        event = {"type": self.type, "schema_version": self.schema_version, "task_id": self.task_id,
                 "task_name": self.task_id, "site": self.site, "suite": self.suite, "goal": self.goal,
                 "start_url": self.start_url, "run_id": self.run_id, "mode": self.mode, "policy": self.policy,
                 "attempt_idx": self.attempt,
                 "timestamp": self.timestamp, "pid": self.pid, "config_hash": self.config_hash,
                 "config": dict(self.config)}
        if self.split is not None:
            event["split"] = self.split
        return {**event, **self.extra}


@attrs.frozen
class Step:
    """One ``step`` event: the decision, what it did, and the observation it was made on.

    ``observed_error`` is the error shown on that observation (the previous action's
    error); the reader fills it in, it is not stored twice.
    """

    step_idx: int
    action: str
    source: str
    url: str = ""
    title: str = ""
    page_type: str = ""
    fingerprint: str = ""
    obs_hash: str = ""
    reason: str = ""
    error: str = ""
    elapsed_ms: float = 0.0
    started_at: float | None = None
    manager_called: bool = False
    usage: Usage = Usage()
    verdicts: tuple[Verdict, ...] = ()
    decision_meta: Mapping[str, Any] = attrs.field(factory=dict)
    obs_summary: str = ""
    element_lines: tuple[str, ...] = ()
    elements: tuple[ElementRecord, ...] = ()
    valid_bids: tuple[str, ...] = ()
    screenshot: str = ""
    observed_error: str = ""
    extra: Mapping[str, Any] = attrs.field(factory=dict)

    type = "step"
    _KNOWN = frozenset({"type", "step_idx", "url", "title", "obs_hash", "fingerprint", "page_type", "action",
                        "action_source", "reason", "last_action_error", "elapsed_ms", "started_at",
                        "manager_called", "tokens", "usage", "verdicts", "decision_meta",
                        "obs_summary", "actionable_elements", "elements", "valid_bids", "screenshot"})

    @property
    def logged_prompt(self) -> str | None:
        """The user prompt the worker sent for this step, when a model decided it."""
        return (self.decision_meta.get("prompt") or None) if isinstance(self.decision_meta, Mapping) else None

    def element(self, bid: str | None) -> ElementRecord | None:
        """The element ``bid`` named on this step's page, if it was there."""
        return next((e for e in self.elements if e.bid == bid), None) if bid is not None else None

    def observation(self) -> Observation:
        """The observation this step's decision was made on, rebuilt from what was logged
        (no screenshot): enough to render the worker's prompt again."""
        return Observation(url=self.url, title=self.title, text=self.obs_summary,
                           elements=tuple(e.to_node() for e in self.elements), page_type=self.page_type,
                           fingerprint=self.fingerprint, last_action_error=self.observed_error,
                           valid_bids=frozenset(self.valid_bids))

    @classmethod
    def from_event(cls, e: Mapping[str, Any], *, index: int = 0) -> Step:
        lines = tuple(str(x) for x in e.get("actionable_elements") or ())
        stored = e.get("elements")
        if isinstance(stored, Mapping):  # version 3: by column
            elements = elements_from_columns(stored)
        elif stored is not None:  # version 2: one object per element
            elements = tuple(ElementRecord.from_dict(x) for x in stored if isinstance(x, Mapping))
        else:  # version 1: the rendered lines are all there is
            elements = tuple(el for el in map(ElementRecord.parse_line, lines) if el is not None)
        bids = e.get("valid_bids")
        verdicts = tuple(Verdict(str(v.get("check", "")), bool(v.get("ok", True)), str(v.get("reason") or ""),
                                 _props(v.get("meta"))) for v in e.get("verdicts") or ())
        started = e.get("started_at")
        return cls(step_idx=int(e.get("step_idx", index)), action=str(e.get("action") or ""),
                   source=str(e.get("action_source") or ""), url=str(e.get("url") or ""),
                   title=str(e.get("title") or ""), page_type=str(e.get("page_type") or ""),
                   fingerprint=str(e.get("fingerprint") or ""), obs_hash=str(e.get("obs_hash") or ""),
                   reason=str(e.get("reason") or ""), error=str(e.get("last_action_error") or ""),
                   elapsed_ms=float(e.get("elapsed_ms") or 0.0), started_at=None if started is None else float(started),
                   manager_called=bool(e.get("manager_called")),
                   usage=_usage(e.get("usage")), verdicts=verdicts, decision_meta=_props(e.get("decision_meta")),
                   obs_summary=str(e.get("obs_summary") or ""), element_lines=lines, elements=elements,
                   valid_bids=tuple(str(b) for b in bids) if bids is not None else tuple(x.bid for x in elements),
                   screenshot=str(e.get("screenshot") or ""),
                   extra={k: v for k, v in e.items() if k not in cls._KNOWN})

    def to_event(self) -> dict[str, Any]:
        event = _step_dict(step_idx=self.step_idx, url=self.url, title=self.title, obs_hash=self.obs_hash,
                           fingerprint=self.fingerprint, page_type=self.page_type, action=self.action,
                           source=self.source, reason=self.reason, error=self.error, elapsed_ms=self.elapsed_ms,
                           manager_called=self.manager_called, usage=self.usage, verdicts=self.verdicts,
                           decision_meta=self.decision_meta, obs_summary=self.obs_summary,
                           element_lines=self.element_lines, elements=self.elements,
                           valid_bids=self.valid_bids, started_at=self.started_at)
        if self.screenshot:
            event["screenshot"] = self.screenshot
        return {**event, **self.extra}


@attrs.frozen
class EpisodeEnd:
    """The ``episode_end`` event: the episode's result."""

    task_id: str
    success: bool
    reward: float = 0.0
    total_steps: int = 0
    wall_time_sec: float = 0.0
    terminated_by: str = ""
    manager_calls: int = 0
    counters: Mapping[str, float] = attrs.field(factory=dict)
    plugin_errors: tuple[str, ...] = ()
    usage: Usage = Usage()
    final_message: str = ""
    scorable: bool = True
    error: str = ""
    traceback: str = ""
    timestamp: float = 0.0
    extra: Mapping[str, Any] = attrs.field(factory=dict)

    type = "episode_end"
    _KNOWN = frozenset({"type", "task_id", "success", "reward", "total_steps", "wall_time_sec", "terminated_by",
                        "manager_calls", "counters", "plugin_errors", "usage", "final_message", "scorable", "error",
                        "traceback", "timestamp"})

    def counter(self, name: str, default: float = 0) -> float:
        """A plugin's counter (``cache_hits``, ``macro_steps``...); version-1 files kept
        them as top-level keys."""
        value = self.counters.get(name, self.extra.get(name, default))
        return default if value is None else value

    @classmethod
    def from_event(cls, e: Mapping[str, Any]) -> EpisodeEnd:
        return cls(task_id=str(e.get("task_id") or ""), success=bool(e.get("success")),
                   reward=float(e.get("reward") or 0.0), total_steps=int(e.get("total_steps") or 0),
                   wall_time_sec=float(e.get("wall_time_sec") or 0.0), terminated_by=str(e.get("terminated_by") or ""),
                   manager_calls=int(e.get("manager_calls") or 0), counters=_props(e.get("counters")),
                   plugin_errors=tuple(str(x) for x in e.get("plugin_errors") or ()), usage=_usage(e.get("usage")), final_message=str(e.get("final_message") or ""),
                   scorable=bool(e.get("scorable", True)), error=str(e.get("error") or ""),
                   traceback=str(e.get("traceback") or ""), timestamp=float(e.get("timestamp") or 0.0),
                   extra={k: v for k, v in e.items() if k not in cls._KNOWN})

    def result(self) -> EpisodeResult:
        """The :class:`~halo_core.model.EpisodeResult` this event recorded (:func:`end_event`'s inverse)."""
        return EpisodeResult(task_id=self.task_id, success=self.success, reward=self.reward, steps=self.total_steps,
                             wall_time_sec=self.wall_time_sec, terminated_by=self.terminated_by, error=self.error,
                             final_message=self.final_message, usage=self.usage, manager_calls=self.manager_calls,
                             scorable=self.scorable, counters=dict(self.counters),
                             plugin_errors=tuple(self.plugin_errors))

    def to_event(self) -> dict[str, Any]:
        return {"type": self.type, "task_id": self.task_id, "success": self.success, "reward": self.reward,
                "total_steps": self.total_steps, "wall_time_sec": round(self.wall_time_sec, 3),
                "terminated_by": self.terminated_by, "manager_calls": self.manager_calls,
                "counters": dict(self.counters), "plugin_errors": list(self.plugin_errors), "usage": attrs.asdict(self.usage), "final_message": self.final_message, "scorable": self.scorable,
                "error": self.error, "traceback": self.traceback, "timestamp": self.timestamp, **self.extra}


@attrs.frozen
class PluginEvent:
    """An event of a type the core does not define (a plugin's own), kept as logged."""

    type: str
    data: Mapping[str, Any] = attrs.field(factory=dict)

    @classmethod
    def from_event(cls, e: Mapping[str, Any]) -> PluginEvent:
        return cls(str(e.get("type")), dict(e))

    def to_event(self) -> dict[str, Any]:
        return dict(self.data)


Event = Union[EpisodeStart, Step, EpisodeEnd, PluginEvent]
_PARSERS = {"episode_start": EpisodeStart.from_event, "episode_end": EpisodeEnd.from_event}


# --------------------------------------------------------------------------- writing (event builders)


def start_event(episode: Any, **extra: Any) -> dict[str, Any]:
    """The ``episode_start`` event of a running :class:`halo_core.loop.Episode`;
    ``extra`` keys (e.g. ``runner``) ride along."""
    task, config = episode.task, episode.config
    return EpisodeStart(task_id=task.id, goal=task.goal, site=task.site, suite=task.suite, split=task.split,
                        start_url=task.start_url, run_id=episode.run_id, mode=config.mode, policy=config.policy,
                        attempt=episode.attempt,
                        timestamp=time.time(), pid=os.getpid(), config_hash=config.config_hash(),
                        config=config.to_dict(), schema_version=SCHEMA_VERSION, extra=extra).to_event()


def step_event(record: StepRecord, observation: Observation, *, started_at: float | None = None) -> dict[str, Any]:
    """The ``step`` event of ``record``, decided on ``observation``."""
    d = record.decision
    lines = observation.annotations.get("actionable_elements") or [e.describe() for e in observation.elements]
    bids = observation.annotations.get("bids") or [e.bid for e in observation.elements]
    # Built without a typed Step and its per-element records: this runs every step on pages of
    # hundreds of elements. ``Step.from_event(e).to_event()`` gives back the same dict
    # (tests/test_trajectory.py holds the two together).
    return _step_dict(step_idx=record.step_idx, url=record.url, title=observation.title,
                      obs_hash=observation.annotations.get("obs_hash", ""), fingerprint=record.fingerprint,
                      page_type=record.page_type, action=d.action, source=d.source, reason=d.reason,
                      error=record.error, elapsed_ms=record.elapsed_ms, manager_called=record.manager_called,
                      usage=d.usage, verdicts=record.verdicts, decision_meta=d.meta, obs_summary=observation.text,
                      element_lines=lines, elements=observation.elements,
                      valid_bids=bids, started_at=started_at)


def element_columns(elements: Iterable[Any]) -> dict[str, Any]:
    """``elements`` (:class:`~halo_core.model.AXNode` or :class:`ElementRecord`) as the
    step event stores them: one list per field; props as ``[index, props]`` pairs for the
    elements that have any."""
    elements = list(elements)
    return {"bid": [str(e.bid) for e in elements], "role": [e.role for e in elements],
            "name": [e.name for e in elements], "value": [e.value for e in elements],
            "props": [[i, dict(e.props)] for i, e in enumerate(elements) if e.props]}


def elements_from_columns(columns: Mapping[str, Any]) -> tuple[ElementRecord, ...]:
    """The elements of a step event's ``elements`` columns (see :func:`element_columns`).

    A damaged record (columns of different lengths, a props index out of range) raises
    :class:`TrajectoryError` rather than pairing one element's name with another's bid.
    """
    bids, roles, names = (list(columns.get(k) or ()) for k in ("bid", "role", "name"))
    values = list(columns.get("value") or ()) or [""] * len(bids)
    if not (len(bids) == len(roles) == len(names) == len(values)):
        raise TrajectoryError(f"step elements: columns of different lengths (bid {len(bids)}, role {len(roles)}, "
                              f"name {len(names)}, value {len(values)})")
    props: dict[int, Mapping[str, Any]] = {}
    for pair in columns.get("props") or ():
        try:
            index, value = int(pair[0]), pair[1]
        except (TypeError, ValueError, IndexError, KeyError):
            raise TrajectoryError(f"step elements: a props entry is not [index, {{...}}]: {pair!r:.80}") from None
        if not 0 <= index < len(bids):
            raise TrajectoryError(f"step elements: props index {index} is not one of the {len(bids)} elements")
        props[index] = _props(value)
    return tuple(ElementRecord(str(b), str(r), str(n or ""), str(v or ""), props.get(i, {}))
                 for i, (b, r, n, v) in enumerate(zip(bids, roles, names, values)))


def _step_dict(*, step_idx: int, url: str, title: str, obs_hash: str, fingerprint: str, page_type: str, action: str,
               source: str, reason: str, error: str, elapsed_ms: float, manager_called: bool, usage: Usage,
               verdicts: Iterable[Verdict], decision_meta: Mapping[str, Any], obs_summary: str,
               element_lines: Iterable[str], elements: Iterable[Any], valid_bids: Iterable[str],
               started_at: float | None) -> dict[str, Any]:
    """The ``step`` event's fields, in file order (``elements``: AXNodes or ElementRecords,
    stored by column)."""
    event: dict[str, Any] = {
        "type": Step.type,
        "step_idx": step_idx,
        "url": url,
        "title": title,
        "obs_hash": obs_hash,
        "fingerprint": fingerprint,
        "page_type": page_type,
        "action": action,
        "action_source": source,
        "reason": reason,
        "last_action_error": error,
        "elapsed_ms": round(elapsed_ms, 3),
        "manager_called": manager_called,
        "tokens": {"in": usage.tokens_in, "out": usage.tokens_out},
        "usage": attrs.asdict(usage),
        "verdicts": [attrs.asdict(v) for v in verdicts],
        "decision_meta": dict(decision_meta),
        "obs_summary": obs_summary,
        "actionable_elements": list(element_lines),
        "elements": element_columns(elements),
        "valid_bids": list(valid_bids),
    }
    if started_at is not None:
        event["started_at"] = started_at
    return event


def end_event(result: EpisodeResult) -> dict[str, Any]:
    """The ``episode_end`` event of ``result``."""
    return EpisodeEnd(task_id=result.task_id, success=result.success, reward=result.reward, total_steps=result.steps,
                      wall_time_sec=result.wall_time_sec, terminated_by=result.terminated_by,
                      manager_calls=result.manager_calls, counters=dict(result.counters),
                      plugin_errors=tuple(result.plugin_errors), usage=result.usage,
                      final_message=result.final_message, scorable=result.scorable, error=result.error,
                      traceback=str(result.info.get("traceback", "")), timestamp=time.time()).to_event()


# --------------------------------------------------------------------------- reading


@attrs.frozen
class RecordedEpisode:
    """One trajectory file, read: its events in file order and typed views of them.

    ``end`` is None for an episode that never finished (a killed run); ``bad_lines``
    counts damaged lines skipped with ``skip_bad_lines``.
    """

    path: Path
    start: EpisodeStart
    steps: tuple[Step, ...]
    end: EpisodeEnd | None
    events: tuple[Event, ...]
    bad_lines: int = 0

    @property
    def schema_version(self) -> int:
        return self.start.schema_version

    @property
    def task_id(self) -> str:
        return self.start.task_id

    @property
    def goal(self) -> str:
        return self.start.goal

    @property
    def mode(self) -> str:
        return self.start.mode

    @property
    def run_id(self) -> str:
        return self.start.run_id

    @property
    def attempt(self) -> int:
        return self.start.attempt

    @property
    def complete(self) -> bool:
        return self.end is not None

    @property
    def success(self) -> bool | None:
        """None for an unfinished episode."""
        return None if self.end is None else self.end.success

    @property
    def actions(self) -> list[str]:
        return [s.action for s in self.steps]

    @property
    def folder(self) -> Path:
        """The run's folder: step screenshot paths are relative to it."""
        return self.path.parent

    def screenshot_file(self, step: Step) -> Path:
        """The screenshot file ``step`` names; see :func:`screenshot_file`."""
        return screenshot_file(self.folder, step.screenshot)

    def raw_events(self) -> list[dict[str, Any]]:
        """The events as the logger wrote them (dicts), for consumers of live ``halo_log`` events."""
        return [e.to_event() for e in self.events]


def trajectory_path(data_dir: str | os.PathLike, mode: str, run_id: str, task_id: str, attempt: int) -> Path:
    """Where an episode's trajectory is written: ``<data_dir>/trajectories/<mode>/<run_id>/<task>__attempt_<k>.jsonl``."""
    safe = task_id.replace("/", "_")
    return Path(data_dir) / "trajectories" / mode / run_id / f"{safe}__attempt_{attempt}.jsonl"


def screenshot_ref(episode: Any, step_idx: int) -> tuple[Path, str] | None:
    """(file, path relative to the trajectory's folder) of a step's saved screenshot, or
    None when none is saved (screenshots off, or the observation has none): the logger
    writes it there, and other plugins reference the same file without depending on hook order."""
    if not episode.config.save_screenshots or not episode.observations:
        return None
    shot = episode.observations[-1].screenshot
    if not shot:
        return None
    ext = "png" if shot[:4] == b"\x89PNG" else "jpg"
    folder = episode.trajectory_path.with_suffix("")
    name = f"step_{step_idx:03d}.{ext}"
    return folder / name, f"{folder.name}/{name}"


def screenshot_file(folder: str | os.PathLike, name: str) -> Path:
    """The file a step's ``screenshot`` field names, which must lie inside ``folder`` (the
    run's folder, where the logger writes ``<task>__attempt_<k>/step_<i>.png``).

    A trajectory is data, not a set of instructions: a field naming ``/etc/passwd`` or
    ``../../x`` (or a link that leads out of the folder) is refused, never followed.

    :raises ValueError: the name is empty, absolute or leads outside ``folder``.
    """
    if not name:
        raise ValueError("no screenshot recorded")
    rel = Path(name)
    if rel.is_absolute() or rel.drive or "\\" in name or ".." in rel.parts:
        raise ValueError(f"screenshot path {name!r} is not inside the run's folder")
    base = Path(folder).resolve()
    path = (base / rel).resolve()
    if path == base or base not in path.parents:
        raise ValueError(f"screenshot path {name!r} leads outside the run's folder")
    return path


def _bad(path: Path, lineno: int, why: str) -> TrajectoryError:
    return TrajectoryError(f"{path}:{lineno}: damaged trajectory line ({why}); pass --skip-bad-lines to skip "
                           f"damaged lines and keep the rest")


def read_trajectory(path: str | os.PathLike, *, skip_bad_lines: bool = False) -> RecordedEpisode:
    """Read one trajectory file.

    :raises TrajectoryError: a line is not a JSON event (naming ``file:line``) unless
        ``skip_bad_lines``, which skips it and counts it in ``bad_lines``; or the file has
        no ``episode_start`` (it is not a trajectory).
    :raises FileNotFoundError: there is no such file.
    """
    path = Path(path)
    events: list[Event] = []
    bad = n_steps = 0
    with open(path, encoding="utf-8", errors="replace") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
                if not isinstance(data, dict) or not isinstance(data.get("type"), str) or not data["type"]:
                    raise ValueError("not an event object with a 'type'")
                kind = data["type"]
                if kind == "step":
                    event: Event = Step.from_event(data, index=n_steps)
                    n_steps += 1
                elif kind in _PARSERS:
                    event = _PARSERS[kind](data)
                else:
                    event = PluginEvent.from_event(data)
            except (ValueError, TypeError, AttributeError) as exc:
                if not skip_bad_lines:
                    raise _bad(path, lineno, str(exc).splitlines()[0][:120] or type(exc).__name__) from None
                bad += 1
                continue
            events.append(event)
    start = next((e for e in events if isinstance(e, EpisodeStart)), None)
    if start is None:
        what = "empty" if not events and not bad else "no episode_start event"
        raise EmptyTrajectory(f"{path}: {what}: not a whole HALO trajectory (an episode killed before it started "
                              "writing, or another file); pass --skip-bad-lines to skip it and keep the rest")
    steps = sorted((e for e in events if isinstance(e, Step)), key=lambda s: s.step_idx)
    # the observation a step decided on shows the previous action's error
    steps = [attrs.evolve(s, observed_error=steps[i - 1].error) if i else s for i, s in enumerate(steps)]
    end = next((e for e in reversed(events) if isinstance(e, EpisodeEnd)), None)
    return RecordedEpisode(path=path, start=start, steps=tuple(steps), end=end, events=tuple(events), bad_lines=bad)


def _names(value: str | Iterable[str] | None) -> frozenset[str] | None:
    if value is None:
        return None
    return frozenset([value]) if isinstance(value, str) else frozenset(value)


def trajectory_files(root: str | os.PathLike, *, mode: str | Iterable[str] | None = None,
                     run_id: str | Iterable[str] | None = None) -> list[Path]:
    """Trajectory files under ``root`` (a file, ``data/trajectories`` or any folder below it),
    sorted; ``mode`` / ``run_id`` keep the files in matching ``<mode>/<run_id>/`` folders."""
    root = Path(root)
    if root.is_file():
        return [root]
    if not root.exists():
        raise FileNotFoundError(f"trajectories {str(root)!r} do not exist")
    modes, runs = _names(mode), _names(run_id)
    out = []
    for path in sorted(root.rglob(TRAJECTORY_GLOB)):
        folders = set(path.relative_to(root).parts[:-1]) | {path.parent.name, path.parent.parent.name}
        if (modes and not folders & modes) or (runs and not folders & runs):
            continue
        out.append(path)
    return out


def iter_episodes(root: str | os.PathLike, *, mode: str | Iterable[str] | None = None,
                  run_id: str | Iterable[str] | None = None, skip_bad_lines: bool = False) -> Iterator[RecordedEpisode]:
    """Every trajectory under ``root`` (``data/trajectories/<mode>/<run_id>/*.jsonl``),
    in path order, optionally only those of the given modes and run ids (as recorded in
    their ``episode_start``)."""
    modes, runs = _names(mode), _names(run_id)
    for path in trajectory_files(root, mode=modes, run_id=runs):
        try:
            episode = read_trajectory(path, skip_bad_lines=skip_bad_lines)
        except EmptyTrajectory as exc:
            if not skip_bad_lines:
                raise
            warnings.warn(f"{str(exc).split('; pass', 1)[0]}; skipped", UserWarning, stacklevel=2)
            continue
        if (modes and episode.mode not in modes) or (runs and episode.run_id not in runs):
            continue
        yield episode
