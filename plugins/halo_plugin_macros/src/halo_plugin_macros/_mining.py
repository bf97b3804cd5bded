"""Mining macros from successful trajectories (in the spirit of Agent Workflow Memory).

1. Read each successful episode's steps through :mod:`halo_core.trajectory`: the action,
   the element its bid named (that step's recorded elements: role and name as data),
   URL and page type.
   Steps that failed (action error or failed postcondition) and terminal actions split
   an episode into clean runs.
2. Every contiguous window (length ≥ 2) of a clean run is generalised: typed/selected
   values become slots ``{s0}, {s1}...`` in order of first use; element names that
   contain a slot's value get the placeholder too (link "Acme Blender 3000" → "{s0}").
3. Windows with the same generalised steps on the same site are one candidate macro;
   its support is the number of distinct tasks it occurred in. Candidates with enough
   support whose slots all bind (see :mod:`halo_plugin_macros._binding`) are kept,
   except a window that is part of a longer kept one with the same supporting tasks.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections import Counter, defaultdict
from typing import Iterable
from urllib.parse import urlsplit

import attrs

from halo_core.api import ActionError, TERMINAL_ACTIONS, mask_ids, parse_action
from halo_core.api import RecordedEpisode, Step, iter_episodes, read_trajectory

from halo_plugin_macros._binding import goal_variant
from halo_plugin_macros._library import Macro, MacroStep, Slot

VALUE_VERBS = frozenset({"fill", "select_option"})


@attrs.frozen
class TraceStep:
    verb: str
    role: str
    name: str
    value: str | None
    path: str
    page_type: str


@attrs.frozen
class Trace:
    """One successful episode, as mining sees it; ``runs`` are its clean runs of steps."""

    source: str
    task_id: str
    site: str
    goal: str
    runs: tuple[tuple[TraceStep, ...], ...]

    @property
    def values(self) -> list[str]:
        return [s.value for run in self.runs for s in run if s.verb in VALUE_VERBS and s.value]


def site_of(task_id: str) -> str:
    """``webclones.shop-3`` → ``shop``; ``v2.omnizon-13`` → ``omnizon``."""
    return re.sub(r"-\d+$", "", task_id.split(".", 1)[-1])


def url_path(url: str) -> str:
    return mask_ids(urlsplit(url).path.rstrip("/") or "/")


def _step_ok(step: Step) -> bool:
    if step.error:
        return False
    return all(v.ok for v in step.verdicts if v.check == "postcondition")


def trace_of(episode: RecordedEpisode) -> Trace | None:
    """The episode as mining sees it, or None if it did not succeed."""
    if not episode.success:
        return None
    runs: list[tuple[TraceStep, ...]] = []
    current: list[TraceStep] = []
    for event in episode.steps:
        step = _trace_step(event)
        if step is None or not _step_ok(event):
            if current:
                runs.append(tuple(current))
            current = []
            continue
        current.append(step)
    if current:
        runs.append(tuple(current))
    task_id = episode.task_id
    return Trace(str(episode.path), task_id, episode.start.site or site_of(task_id), episode.goal, tuple(runs))


def read_trace(path: str | os.PathLike, *, skip_bad_lines: bool = False) -> Trace | None:
    """The episode in one trajectory file, or None if it did not succeed.

    :raises halo_core.trajectory.TrajectoryError: a damaged line, unless ``skip_bad_lines``.
    """
    return trace_of(read_trajectory(path, skip_bad_lines=skip_bad_lines))


def _trace_step(step: Step) -> TraceStep | None:
    try:
        action = parse_action(step.action)
    except ActionError:
        return None
    if action.name in TERMINAL_ACTIONS or action.bid is None or not action.is_grounded:
        # answers are per task; bid-less moves (goto, scroll, points, keys) carry no element, and a
        # drag's second element would be kept as a stale bid: each ends the run a macro is mined from
        return None
    if any(isinstance(a, tuple) for a in action.args):
        return None  # select_option(bid, [a, b]): a step's value is one text, and a slot holds one
    target = step.element(action.bid)
    if target is None:
        return None
    value = str(action.args[1]) if len(action.args) > 1 else None
    return TraceStep(action.name, target.role, target.name, value, url_path(step.url), step.page_type)


def read_traces(root: str | os.PathLike, *, skip_bad_lines: bool = False) -> list[Trace]:
    """Successful episodes under ``root`` (a trajectory file or a folder searched recursively)."""
    return [t for t in map(trace_of, iter_episodes(root, skip_bad_lines=skip_bad_lines)) if t is not None]


# --------------------------------------------------------------------------- generalisation


def generalise(window: tuple[TraceStep, ...]) -> tuple[tuple[MacroStep, ...], dict[str, str]]:
    """Steps with values and value-bearing names turned into slots; and slot → value."""
    slots: dict[str, str] = {}  # value -> slot name
    for step in window:
        if step.verb in VALUE_VERBS and step.value is not None and step.value not in slots:
            slots[step.value] = f"s{len(slots)}"
    by_length = sorted((v for v in slots if len(v.strip()) >= 3), key=len, reverse=True)
    steps = []
    for step in window:
        name = step.name
        for value in by_length:
            name = re.sub(re.escape(value), "{" + slots[value] + "}", name, flags=re.I)
        value = "{" + slots[step.value] + "}" if step.verb in VALUE_VERBS and step.value is not None else step.value
        steps.append(MacroStep(step.verb, step.role, name, value))
    return tuple(steps), {name: value for value, name in slots.items()}


@attrs.frozen
class _Occurrence:
    trace: Trace
    run: int
    start: int
    length: int
    values: dict[str, str]


def mine_macros(traces: Iterable[Trace], *, min_support: int = 2, max_len: int = 20) -> list[Macro]:
    """Macros recurring in at least ``min_support`` distinct tasks of the same site."""
    groups: dict[tuple[str, tuple[MacroStep, ...]], list[_Occurrence]] = defaultdict(list)
    for trace in traces:
        for r, run in enumerate(trace.runs):
            for a in range(len(run)):
                for b in range(a + 2, min(len(run), a + max_len) + 1):
                    steps, values = generalise(run[a:b])
                    groups[(trace.site, steps)].append(_Occurrence(trace, r, a, b - a, values))
    kept: dict[tuple[str, tuple[MacroStep, ...]], tuple[Macro, frozenset[str]]] = {}
    for (site, steps), occurrences in groups.items():
        tasks = frozenset(o.trace.task_id for o in occurrences)
        if len(tasks) < min_support:
            continue
        slots = _merge_slots(occurrences)
        if slots is None:
            continue
        kept[(site, steps)] = (_macro(site, steps, slots, occurrences, len(tasks)), tasks)
    result = []
    for (site, steps), (macro, tasks) in kept.items():
        if any(other_site == site and len(other) > len(steps) and other_tasks == tasks and _contains(other, steps)
               for (other_site, other), (_m, other_tasks) in kept.items()):
            continue  # part of a longer macro with the same support: the longer one covers it
        result.append(macro)
    result.sort(key=lambda m: (m.site, -len(m.steps), -m.support, m.id))
    return result


def _contains(longer: tuple, shorter: tuple) -> bool:
    n = len(shorter)
    return any(longer[i:i + n] == shorter for i in range(len(longer) - n + 1))


def _merge_slots(occurrences: list[_Occurrence]) -> dict[str, Slot] | None:
    names = sorted(occurrences[0].values, key=lambda s: int(s[1:]))
    slots = {}
    for name in names:
        variants: Counter[str] = Counter()
        values = []
        for o in occurrences:
            value = o.values[name]
            values.append(value)
            variant = goal_variant(o.trace.goal, value, o.trace.values)
            if variant is not None:
                variants[variant] += 1
        examples = tuple(dict.fromkeys(values))
        if variants:
            slots[name] = Slot(tuple(v for v, _n in variants.most_common()), None, examples)
        elif len(examples) == 1:
            slots[name] = Slot((), examples[0], examples)
        else:
            return None  # values differ and none of them came from the goal: nothing to bind from
    return slots


def _macro(site: str, steps: tuple[MacroStep, ...], slots: dict[str, Slot], occurrences: list[_Occurrence],
           support: int) -> Macro:
    blob = json.dumps([site, [attrs.astuple(s) for s in steps]], ensure_ascii=False)
    digest = hashlib.blake2b(blob.encode(), digest_size=4).hexdigest()
    firsts = [o.trace.runs[o.run][o.start] for o in occurrences]
    provenance = []
    seen = set()
    for o in occurrences:
        if (o.trace.source, o.run, o.start) in seen:
            continue
        seen.add((o.trace.source, o.run, o.start))
        provenance.append({"task_id": o.trace.task_id, "trajectory": o.trace.source, "goal": o.trace.goal})
    return Macro(
        id=f"{site}-{digest}",
        site=site,
        steps=steps,
        slots=slots,
        page_types=tuple(sorted({s.page_type for s in firsts})),
        paths=tuple(sorted({s.path for s in firsts})),
        support=support,
        provenance=tuple(provenance),
        step_paths=tuple(_step_paths(occurrences, k) for k in range(len(steps))),
    )


def _step_paths(occurrences: list[_Occurrence], k: int) -> tuple[str, ...]:
    """The pages step ``k`` was recorded on, slot values written as their slots ("/{s0}" for
    "/kettle"); ``("*",)`` when they still differ between occurrences (the page is per task)."""
    found = set()
    for o in occurrences:
        path = o.trace.runs[o.run][o.start + k].path
        for name, value in sorted(o.values.items(), key=lambda kv: -len(kv[1])):
            if len(value.strip()) >= 3:
                for form in dict.fromkeys((value, slug(value))):
                    path = re.sub(re.escape(form), "{" + name + "}", path, flags=re.I)
        found.add(path)
    return tuple(sorted(found)) if len(found) == 1 else ("*",)


def slug(text: str) -> str:
    """``"Acme Blender"`` → ``"acme-blender"`` (how sites often put a name in a URL)."""
    return re.sub(r"[^a-z0-9]+", "-", text.casefold()).strip("-")
