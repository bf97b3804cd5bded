"""``halo export``: turn trajectory logs into BC and DPO datasets.

Pure Python and JSON (no torch): reads ``data/trajectories/<mode>/<run_id>/*.jsonl``
through :mod:`halo_core.trajectory` (the one reader of the format) and writes, in the
output directory:

``bc.jsonl`` / ``bc_val.jsonl``
    one example per step of a *successful* episode whose action did not error, in the
    prompt-completion conversational format trl's ``SFTTrainer`` reads directly::

        {"prompt": [{"role": "system", ...}, {"role": "user", ...}],
         "completion": [{"role": "assistant", "content": "click('12')"}], ...}

``dpo.jsonl`` / ``dpo_val.jsonl``
    preference pairs for trl's ``DPOTrainer``::

        {"prompt": [...], "chosen": [{"role": "assistant", ...}], "rejected": [{"role": "assistant", ...}], ...}

``summary.json``
    what was read, left out (and why) and written; the runs and tasks used (also printed).

Which episodes: every trajectory under ``--trajectories``, narrowed by ``--mode``,
``--run-id`` and ``--policy``; debug runs (``halo run``'s ``debug_*`` run ids) only with
``--include-debug`` or when named by ``--run-id``; and by the suite's split
(``--split``, default ``train``): the split recorded in the episode's ``episode_start``,
else the task's split as its installed suite reports it. Tasks of suites without splits
count as ``train``. Held-out test tasks therefore never reach training data by default.

Prompts are what the worker sends: the user prompt logged in ``decision_meta.prompt``
when the worker decided the step, otherwise rebuilt with
:func:`halo_core.prompts.worker_messages` from the recorded step (observation text,
elements, URL, page type, previous error) and the episode's previous steps, with the
episode's own ``history_len`` and ``max_page_chars``. One difference: URLs are made
site-relative (``http://127.0.0.1:43121/cart`` → ``/cart``) for loopback origins and the
episode's own site origin, so the same state served on another port gives the same
prompt and de-duplication sees it. Completions are the logged action in canonical form
(``parse_action(...).to_string()``), which is what the worker's action extraction
produces from model output.

The train/validation split is **by task**: every example of a task lands in the same
split, so validation measures generalisation to unseen tasks.

Pairing strategies for DPO (``--pairing-strategy``, repeatable):

``progress_ranked``
    actions taken in the same state (same goal and state fingerprint, possibly from
    different episodes) are ranked by (action did not error, episode succeeded, fewer
    steps left to the end of a successful episode); every pair of different actions
    with a strictly better and a worse rank becomes a pair. Two failed, error-free
    actions are not ranked (nothing says which led further).
``success_vs_failure``
    chosen: an error-free step of a successful episode; rejected: a different action
    taken in the same state in a failed episode, or one that errored. When no real
    negative exists and synthetic negatives are on (``--synthetic-negatives``, default),
    the rejected action is the chosen one aimed at a bid that is not on the page
    (``source: synthetic_invalid_bid``); real pairs have ``source: real``.

Extra columns (``task_id``, ``source``, ...) ride along; trl ignores them.
"""

from __future__ import annotations

import json
import random
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import attrs
import click

from halo_core.actions import ActionError, parse_action
from halo_core.prompts import origin_of, site_relative  # noqa: F401  (re-exported)
from halo_core.prompts import MAX_PAGE_CHARS, WORKER_SYSTEM, worker_messages
from halo_core.trajectory import RecordedEpisode, Step, TrajectoryError, iter_episodes

__all__ = [
    "PAIRING_STRATEGIES",
    "SPLITS",
    "ExportEpisode",
    "ExportResult",
    "export_command",
    "export_datasets",
    "read_episodes",
    "site_relative",
    "step_messages",
]

PAIRING_STRATEGIES = ("progress_ranked", "success_vs_failure", "on_policy")
#: the decision_meta key holding the expert's action at a state the model decided (DAgger)
EXPERT_LABEL = "expert_action"
SPLITS = ("train", "test", "all")
DEBUG_RUN_PREFIX = "debug_"


# --------------------------------------------------------------------------- prompts


# site-relative URLs live with the prompts: the worker sends exactly what export writes
_origin = origin_of


def step_messages(goal: str, step: Step, previous: Sequence[Step], history_len: int,
                  max_page_chars: int = MAX_PAGE_CHARS) -> list[dict[str, str]]:
    """The worker's messages for ``step`` (system + user), as dicts.

    Uses the logged prompt when there is one; otherwise renders it with
    :func:`halo_core.prompts.worker_messages` from the recorded step and the steps
    before it.
    """
    if step.logged_prompt:
        return [{"role": "system", "content": WORKER_SYSTEM}, {"role": "user", "content": step.logged_prompt}]
    return [{"role": m.role, "content": m.content}
            for m in worker_messages(goal, step.observation(), previous, history_len=history_len, images=False,
                                     max_page_chars=max_page_chars)]


# --------------------------------------------------------------------------- reading


@attrs.frozen
class ExportEpisode:
    """A recorded episode as export uses it: its suite split and one prompt per step
    (site-relative)."""

    recorded: RecordedEpisode
    split: str
    prompts: tuple[list[dict[str, str]], ...]

    @property
    def task_id(self) -> str:
        return self.recorded.task_id

    @property
    def goal(self) -> str:
        return self.recorded.goal

    @property
    def steps(self) -> tuple[Step, ...]:
        return self.recorded.steps

    @property
    def success(self) -> bool | None:
        return self.recorded.success

    @property
    def complete(self) -> bool:
        return self.recorded.complete


def _prepare(episode: RecordedEpisode, split: str) -> ExportEpisode:
    config = episode.start.config
    history_len = int(config.get("history_len", 5))
    max_page_chars = int(config.get("max_page_chars", MAX_PAGE_CHARS))
    origins = [_origin(episode.start.start_url)] + [_origin(s.url) for s in episode.steps[:1]]
    steps = episode.steps
    prompts = tuple(
        [{"role": m["role"], "content": site_relative(m["content"], origins)}
         for m in step_messages(episode.goal, step, steps[:i], history_len, max_page_chars)]
        for i, step in enumerate(steps))
    return ExportEpisode(episode, split, prompts)


class _SuiteSplits:
    """A task's split from its installed suite, for trajectories that did not record it."""

    def __init__(self, runtime: Any = None) -> None:
        self._runtime = runtime
        self._cache: dict[str, str] = {}

    def __call__(self, task_id: str) -> str:
        if task_id not in self._cache:
            from halo_core.env.protocol import TaskNotFound

            if self._runtime is None:
                from halo_core.runtime import Runtime

                self._runtime = Runtime()
            try:
                _suite, task = self._runtime.resolve_task(task_id)
                self._cache[task_id] = task.split or ""
            except TaskNotFound:
                self._cache[task_id] = ""  # no installed suite knows it: it has no split
        return self._cache[task_id]


def read_episodes(root: str | Path, modes: Sequence[str] = (), *, run_ids: Sequence[str] = (),
                  skip_bad_lines: bool = False) -> list[ExportEpisode]:
    """Every episode under ``root`` (all splits), with its prompts; ``split`` as recorded."""
    return [_prepare(e, e.start.split or "")
            for e in iter_episodes(root, mode=modes or None, run_id=run_ids or None, skip_bad_lines=skip_bad_lines)]


def _in_split(task_split: str, wanted: str) -> bool:
    if wanted == "all":
        return True
    return task_split == wanted or (wanted == "train" and not task_split)


# --------------------------------------------------------------------------- examples


def _canonical(action: str) -> str:
    try:
        return parse_action(action).to_string()
    except ActionError:
        return (action or "").strip()


def _parses(action: str) -> bool:
    try:
        parse_action(action)
        return True
    except ActionError:
        return False


def _assistant(text: str) -> list[dict[str, str]]:
    return [{"role": "assistant", "content": text}]


def _label(step: Step) -> str | None:
    """The expert's action recorded at a step the model decided (DAgger), canonical, or None."""
    meta = step.decision_meta if isinstance(step.decision_meta, Mapping) else {}
    label = meta.get(EXPERT_LABEL)
    return _canonical(label) if isinstance(label, str) and _parses(label) else None


def relabelled_examples(episodes: Iterable[ExportEpisode]) -> list[dict[str, Any]]:
    """BC examples from every step that carries an expert label, in successful and failed
    episodes alike: the prompt the model saw, the expert's action as the completion."""
    out = []
    for ep in episodes:
        for step, prompt in zip(ep.steps, ep.prompts):
            label = _label(step)
            if label is not None:
                out.append({"prompt": prompt, "completion": _assistant(label), "task_id": ep.task_id,
                            "step_idx": step.step_idx, "mode": ep.recorded.mode, "run_id": ep.recorded.run_id,
                            "action_source": "expert_label"})
    return out


def on_policy_pairs(episodes: Iterable[ExportEpisode]) -> list[dict[str, Any]]:
    """DPO pairs from the model's own mistakes: at a step whose expert label differs from
    the action the model took, chosen = the expert's action, rejected = the model's."""
    out = []
    for ep in episodes:
        for step, prompt in zip(ep.steps, ep.prompts):
            label = _label(step)
            taken = _canonical(step.action) if _parses(step.action) else None
            if label is None or taken is None or taken == label:
                continue
            out.append({"prompt": prompt, "chosen": _assistant(label), "rejected": _assistant(taken),
                        "task_id": ep.task_id, "strategy": "on_policy", "source": "real", "step_idx": step.step_idx,
                        "rejected_error": step.error or ""})
    return out


def bc_examples(episodes: Iterable[ExportEpisode]) -> list[dict[str, Any]]:
    out = []
    for ep in episodes:
        if not ep.success:
            continue
        for step, prompt in zip(ep.steps, ep.prompts):
            if _label(step) is not None:
                continue  # a labelled step is exported with its label (relabelled_examples)
            if step.error or not _parses(step.action):
                continue
            out.append({"prompt": prompt, "completion": _assistant(_canonical(step.action)),
                        "task_id": ep.task_id, "step_idx": step.step_idx, "mode": ep.recorded.mode,
                        "run_id": ep.recorded.run_id, "action_source": step.source})
    return out


@attrs.define
class _Candidate:
    episode: ExportEpisode
    step: Step
    prompt: list[dict[str, str]]
    remaining: int

    @property
    def action(self) -> str:
        return _canonical(self.step.action)

    @property
    def rank(self) -> tuple:
        ok = not self.step.error and _parses(self.step.action)
        success = bool(self.episode.success)
        return (ok, success, -self.remaining if (ok and success) else 0)


def _states(episodes: Iterable[ExportEpisode]) -> dict[tuple[str, str], list[_Candidate]]:
    groups: dict[tuple[str, str], list[_Candidate]] = defaultdict(list)
    for ep in episodes:
        if not ep.complete:
            continue
        n = len(ep.steps)
        for i, (step, prompt) in enumerate(zip(ep.steps, ep.prompts)):
            key = (ep.goal, step.fingerprint or prompt[-1]["content"])
            groups[key].append(_Candidate(ep, step, prompt, n - i))
    return groups


def _pair(chosen: _Candidate, rejected_action: str, strategy: str, source: str, **extra: Any) -> dict[str, Any]:
    return {"prompt": chosen.prompt, "chosen": _assistant(chosen.action), "rejected": _assistant(rejected_action),
            "task_id": chosen.episode.task_id, "strategy": strategy, "source": source,
            "step_idx": chosen.step.step_idx, **extra}


def progress_ranked_pairs(groups: dict[tuple[str, str], list[_Candidate]]) -> list[dict[str, Any]]:
    out = []
    for candidates in groups.values():
        for a in candidates:
            if not a.rank[0] or not a.episode.success:
                continue  # only error-free steps of successful episodes are chosen
            for b in candidates:
                if a.action != b.action and a.rank > b.rank:
                    out.append(_pair(a, b.action, "progress_ranked", "real", rejected_task_id=b.episode.task_id))
    return out


def synthetic_invalid(action: str, valid_bids: Sequence[str], rng: random.Random) -> str:
    """``action`` aimed at an element id that is not on the page (or a click on one)."""
    numeric = [int(b) for b in valid_bids if str(b).isdigit()]
    bid = str((max(numeric) if numeric else 0) + rng.randint(1, 50))
    while bid in valid_bids:
        bid = str(int(bid) + 1)
    try:
        parsed = parse_action(action)
    except ActionError:
        return f"click('{bid}')"
    if parsed.bid is not None:
        return attrs.evolve(parsed, args=(bid,) + tuple(parsed.args[1:])).to_string()
    return f"click('{bid}')"


def success_vs_failure_pairs(groups: dict[tuple[str, str], list[_Candidate]], *, synthetic: bool,
                             rng: random.Random) -> list[dict[str, Any]]:
    out = []
    for candidates in groups.values():
        negatives = [c for c in candidates if not c.episode.success or not c.rank[0]]
        for a in candidates:
            if not a.episode.success or not a.rank[0]:
                continue
            real = sorted({b.action for b in negatives if b.action != a.action})
            for action in real:
                out.append(_pair(a, action, "success_vs_failure", "real"))
            if not real and synthetic:
                out.append(_pair(a, synthetic_invalid(a.action, a.step.valid_bids, rng), "success_vs_failure",
                                 "synthetic_invalid_bid"))
    return out


def _dedupe(rows: list[dict[str, Any]], fields: Sequence[str]) -> tuple[list[dict[str, Any]], int]:
    seen: set[str] = set()
    out = []
    for row in rows:
        key = json.dumps([row[f] for f in fields], sort_keys=True)
        if key in seen:
            continue
        seen.add(key)
        out.append(row)
    return out, len(rows) - len(out)


def split_tasks(tasks: Iterable[str], val_fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """(train, val) task ids; no task in both. At least one val task when the fraction
    is positive and there are two or more tasks."""
    ordered = sorted(set(tasks))
    rng = random.Random(seed)
    rng.shuffle(ordered)
    n_val = round(len(ordered) * val_fraction)
    if val_fraction > 0 and n_val == 0 and len(ordered) >= 2:
        n_val = 1
    n_val = min(n_val, max(0, len(ordered) - 1))
    return sorted(ordered[n_val:]), sorted(ordered[:n_val])


# --------------------------------------------------------------------------- export


@attrs.define
class ExportResult:
    out_dir: Path
    summary: dict[str, Any]

    @property
    def files(self) -> dict[str, Path]:
        return {k: Path(v) for k, v in self.summary["files"].items()}


def _write_jsonl(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    tmp.replace(path)


@attrs.define
class _Selection:
    """Which episodes export uses, and how many it left out for each reason."""

    used: list[ExportEpisode] = attrs.field(factory=list)
    read: int = 0
    excluded: Counter = attrs.field(factory=Counter)
    bad_lines: int = 0


def select_episodes(trajectories: str | Path, *, modes: Sequence[str] = (), run_ids: Sequence[str] = (),
                    policies: Sequence[str] = (), split: str = "train", include_debug: bool = False,
                    skip_bad_lines: bool = False, task_split: Callable[[str], str] | None = None) -> _Selection:
    """The episodes under ``trajectories`` that pass the filters (see the module docstring)."""
    if split not in SPLITS:
        raise ValueError(f"split={split!r} is not allowed: expected one of {', '.join(SPLITS)}")
    task_split = task_split or _SuiteSplits()
    chosen = _Selection()
    for episode in iter_episodes(trajectories, mode=modes or None, run_id=run_ids or None,
                                 skip_bad_lines=skip_bad_lines):
        chosen.read += 1
        chosen.bad_lines += episode.bad_lines
        if episode.run_id.startswith(DEBUG_RUN_PREFIX) and not include_debug and episode.run_id not in run_ids:
            chosen.excluded["debug_run"] += 1
            continue
        if policies and episode.start.policy not in policies:
            chosen.excluded["policy"] += 1
            continue
        recorded = episode.start.split
        this_split = recorded if recorded is not None else task_split(episode.task_id)
        if not _in_split(this_split, split):
            chosen.excluded[f"split_{this_split or 'none'}"] += 1
            continue
        chosen.used.append(_prepare(episode, this_split))
    return chosen


def export_datasets(trajectories: str | Path, out_dir: str | Path, *, modes: Sequence[str] = (),
                    run_ids: Sequence[str] = (), policies: Sequence[str] = (), split: str = "train",
                    include_debug: bool = False, skip_bad_lines: bool = False,
                    pairing_strategies: Sequence[str] = ("progress_ranked",), synthetic_negatives: bool = True,
                    val_fraction: float = 0.2, seed: int = 0, runtime: Any = None,
                    prompt_style: str | None = None,
                    rewrite: Callable[[list[dict], str | None], tuple[list[dict], str | None]] | None = None,
                    ) -> ExportResult:
    """Read trajectories, write ``bc*.jsonl``, ``dpo*.jsonl`` and ``summary.json`` to ``out_dir``.

    ``runtime`` resolves the split of tasks whose trajectories did not record one (a
    :class:`~halo_core.runtime.Runtime` is made when needed and none is given).
    ``prompt_style`` names a style a plugin registered (``halo_register_prompt_styles``);
    its ``rewrite(prompt, completion)`` turns every example into the prompts and replies a
    worker of that style sees and writes (``rewrite`` passes the function itself).

    :raises TrajectoryError: a damaged trajectory line, unless ``skip_bad_lines``.
    """
    unknown = [s for s in pairing_strategies if s not in PAIRING_STRATEGIES]
    if unknown:
        raise ValueError(f"unknown pairing strategy {unknown[0]!r}; allowed: {', '.join(PAIRING_STRATEGIES)}")
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction={val_fraction} is not allowed: expected a number in [0, 1)")
    selection = select_episodes(trajectories, modes=modes, run_ids=run_ids, policies=policies, split=split,
                                include_debug=include_debug, skip_bad_lines=skip_bad_lines,
                                task_split=_SuiteSplits(runtime))
    episodes = selection.used
    complete = [e for e in episodes if e.complete]
    rng = random.Random(seed)

    if prompt_style and rewrite is None:
        styles = prompt_styles(runtime)
        rewrite = styles.get(prompt_style)
        if rewrite is None:
            raise ValueError(f"unknown prompt style {prompt_style!r}; installed: "
                             f"{', '.join(sorted(styles)) or 'none'}")
    bc_rows = bc_examples(complete) + relabelled_examples(complete)
    groups = _states(complete)
    pairs: list[dict[str, Any]] = []
    for strategy in pairing_strategies:
        if strategy == "progress_ranked":
            pairs += progress_ranked_pairs(groups)
        elif strategy == "on_policy":
            pairs += on_policy_pairs(complete)
        else:
            pairs += success_vs_failure_pairs(groups, synthetic=synthetic_negatives, rng=rng)
    if rewrite is not None:
        bc_rows, pairs = _rewritten(bc_rows, pairs, rewrite)
    bc, bc_dupes = _dedupe(bc_rows, ("prompt", "completion"))
    pairs, dpo_dupes = _dedupe(pairs, ("prompt", "chosen", "rejected"))

    all_tasks = {e.task_id for e in complete}
    train_tasks, val_tasks = split_tasks(all_tasks, val_fraction, seed)
    val_set = set(val_tasks)
    splits = {
        "bc": [r for r in bc if r["task_id"] not in val_set],
        "bc_val": [r for r in bc if r["task_id"] in val_set],
        "dpo": [r for r in pairs if r["task_id"] not in val_set],
        "dpo_val": [r for r in pairs if r["task_id"] in val_set],
    }
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = {}
    for name, rows in splits.items():
        path = out / f"{name}.jsonl"
        _write_jsonl(path, rows)
        files[name] = str(path)

    def by(rows, key):
        return dict(sorted(Counter(r[key] for r in rows).items()))

    runs: dict[tuple[str, str], dict[str, Any]] = {}
    for e in episodes:
        run = runs.setdefault((e.recorded.run_id, e.recorded.mode), {
            "run_id": e.recorded.run_id, "mode": e.recorded.mode, "policy": e.recorded.start.policy,
            "episodes": 0, "tasks": set()})
        run["episodes"] += 1
        run["tasks"].add(e.task_id)
    summary = {
        "trajectories": str(trajectories),
        "modes": list(modes),
        "run_ids": list(run_ids),
        "policies": list(policies),
        "split": split,
        "include_debug": include_debug,
        "episodes_read": selection.read,
        "episodes_excluded": dict(sorted(selection.excluded.items())),
        "episodes_used": len(episodes),
        "bad_lines_skipped": selection.bad_lines,
        "episodes_incomplete": len(episodes) - len(complete),
        "episodes_successful": sum(1 for e in complete if e.success),
        "episodes_failed": sum(1 for e in complete if not e.success),
        "steps_read": sum(len(e.steps) for e in complete),
        "steps_with_logged_prompt": sum(1 for e in complete for s in e.steps if s.logged_prompt),
        "bc_examples": {"train": len(splits["bc"]), "val": len(splits["bc_val"])},
        "bc_examples_relabelled": sum(1 for r in bc if r.get("action_source") == "expert_label"),
        "prompt_style": prompt_style or (getattr(rewrite, "__name__", "custom") if rewrite else "default"),
        "bc_duplicates_dropped": bc_dupes,
        "dpo_pairs": {"train": len(splits["dpo"]), "val": len(splits["dpo_val"])},
        "dpo_pairs_by_strategy": by(pairs, "strategy"),
        "dpo_pairs_by_source": by(pairs, "source"),
        "dpo_duplicates_dropped": dpo_dupes,
        "pairing_strategies": list(pairing_strategies),
        "synthetic_negatives": synthetic_negatives,
        "val_fraction": val_fraction,
        "seed": seed,
        "runs": [{**r, "tasks": sorted(r["tasks"])} for _key, r in sorted(runs.items())],
        "task_splits": dict(sorted({e.task_id: e.split for e in episodes}.items())),
        "tasks": {"train": train_tasks, "val": val_tasks},
        "files": files,
    }
    from halo_core.evaluation.store import atomic_write_text

    atomic_write_text(out / "summary.json", json.dumps(summary, indent=2) + "\n")  # readers see it whole
    return ExportResult(out, summary)


class _PromptStyles:
    """The prompt styles registry: {name: rewrite}, each name owned by one plugin."""

    def __init__(self) -> None:
        self.styles: dict[str, Callable] = {}
        self.owners: dict[str, str] = {}
        self._current_plugin = ""

    def register(self, name: str, rewrite: Callable, description: str = "") -> None:
        from halo_core.registries import DuplicateNameError

        if name in self.styles:
            raise DuplicateNameError("prompt style", name, self.owners[name], self._current_plugin)
        self.styles[name] = rewrite
        self.owners[name] = self._current_plugin


def prompt_styles(runtime: Any = None) -> dict[str, Callable]:
    """{name: rewrite} of the prompt styles plugins registered (``halo_register_prompt_styles``);
    a name registered twice is a :class:`~halo_core.registries.DuplicateNameError` naming both."""
    from halo_core.registries import collect

    if runtime is None:
        from halo_core.runtime import Runtime

        runtime = Runtime()
    registry = _PromptStyles()
    return collect(runtime.pm, "halo_register_prompt_styles", registry, registry.register).styles


def _rewritten(bc: list[dict[str, Any]], pairs: list[dict[str, Any]], rewrite: Callable):
    """BC rows and DPO pairs in a prompt style: each prompt rewritten, each reply with it."""
    out_bc = []
    for row in bc:
        prompt, completion = rewrite(row["prompt"], row["completion"][0]["content"])
        out_bc.append({**row, "prompt": prompt, "completion": _assistant(completion)})
    out_pairs = []
    for row in pairs:
        prompt, chosen = rewrite(row["prompt"], row["chosen"][0]["content"])
        _prompt, rejected = rewrite(row["prompt"], row["rejected"][0]["content"])
        out_pairs.append({**row, "prompt": prompt, "chosen": _assistant(chosen), "rejected": _assistant(rejected)})
    return out_bc, out_pairs


def format_summary(summary: dict[str, Any]) -> str:
    tasks = summary["tasks"]
    excluded = summary.get("episodes_excluded") or {}
    lines = [
        f"episodes read: {summary['episodes_read']}, used: {summary['episodes_used']} "
        f"({summary['episodes_successful']} successful, {summary['episodes_failed']} failed, "
        f"{summary['episodes_incomplete']} incomplete); split {summary['split']}"
        + (f"; left out: {', '.join(f'{k} {v}' for k, v in excluded.items())}" if excluded else ""),
        "runs: " + (", ".join(f"{r['run_id']} ({r['mode']}, {r['episodes']} episodes)" for r in summary["runs"])
                    or "none"),
        f"steps read: {summary['steps_read']} ({summary['steps_with_logged_prompt']} with the worker's logged prompt)"
        + (f"; {summary['bad_lines_skipped']} damaged line(s) skipped" if summary.get("bad_lines_skipped") else ""),
        f"BC examples: train {summary['bc_examples']['train']}, val {summary['bc_examples']['val']} "
        f"({summary['bc_duplicates_dropped']} duplicates dropped)",
        f"DPO pairs: train {summary['dpo_pairs']['train']}, val {summary['dpo_pairs']['val']} "
        f"({summary['dpo_duplicates_dropped']} duplicates dropped); by strategy "
        f"{summary['dpo_pairs_by_strategy'] or '{}'}; by source {summary['dpo_pairs_by_source'] or '{}'}",
        f"tasks: train {len(tasks['train'])}, val {len(tasks['val'])}"
        + (f" (val: {', '.join(tasks['val'])})" if tasks["val"] else ""),
        "wrote: " + ", ".join(summary["files"].values()) + f", {Path(next(iter(summary['files'].values()))).parent / 'summary.json'}",
    ]
    return "\n".join(lines)


# --------------------------------------------------------------------------- CLI


def _names(values: Sequence[str]) -> tuple[str, ...]:
    return tuple(v.strip() for item in values for v in item.split(",") if v.strip())


@click.command("export")
@click.option("--trajectories", default="data/trajectories", show_default=True, type=click.Path(),
              help="Trajectory directory (data/trajectories/<mode>/<run_id>/*.jsonl) or one file.")
@click.option("--mode", "--modes", "modes", multiple=True,
              help="Only these modes (repeatable or comma-separated; default: every mode).")
@click.option("--run-id", "run_ids", multiple=True,
              help="Only these runs (repeatable or comma-separated; default: every run but debug runs).")
@click.option("--policy", "policies", multiple=True,
              help="Only episodes played by these policies (worker, expert, ...; repeatable or comma-separated).")
@click.option("--split", type=click.Choice(SPLITS), default="train", show_default=True,
              help="Tasks of this suite split; tasks of suites without splits count as train.")
@click.option("--include-debug", is_flag=True,
              help="Also use debug runs (`halo run`'s debug_* run ids), left out by default.")
@click.option("--skip-bad-lines", is_flag=True,
              help="Skip damaged trajectory lines (counted in the summary) instead of stopping at the first.")
@click.option("--out", "out_dir", default="data/datasets", show_default=True, type=click.Path(file_okay=False),
              help="Where bc.jsonl, bc_val.jsonl, dpo.jsonl, dpo_val.jsonl and summary.json go.")
@click.option("--pairing-strategy", "strategies", multiple=True, type=click.Choice(PAIRING_STRATEGIES),
              help="DPO pairing (repeatable; default progress_ranked).")
@click.option("--synthetic-negatives/--no-synthetic-negatives", default=True, show_default=True,
              help="success_vs_failure: a bid not on the page as the rejected action when no real negative exists.")
@click.option("--val-fraction", type=click.FloatRange(0.0, 1.0, max_open=True), default=0.2, show_default=True,
              help="Fraction of tasks held out for validation (split by task).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the task split.")
@click.option("--prompt-style", default=None,
              help="Write prompts and replies in a prompt style a plugin registered (halo_register_prompt_styles), "
                   "as a worker of that style sees and writes them.")
def export_command(trajectories, modes, run_ids, policies, split, include_debug, skip_bad_lines, out_dir, strategies,
                   synthetic_negatives, val_fraction, seed, prompt_style) -> None:
    """Export BC and DPO datasets (trl's conversational formats) from trajectories."""
    from halo_core.cli import HaloError, console

    try:
        result = export_datasets(trajectories, out_dir, modes=_names(modes), run_ids=_names(run_ids),
                                 policies=_names(policies), split=split, include_debug=include_debug,
                                 skip_bad_lines=skip_bad_lines, pairing_strategies=strategies or ("progress_ranked",),
                                 synthetic_negatives=synthetic_negatives, val_fraction=val_fraction, seed=seed,
                                 prompt_style=prompt_style)
    except (FileNotFoundError, TrajectoryError, ValueError) as exc:
        raise HaloError(str(exc)) from None
    except OSError as exc:  # a read-only or full --out
        raise HaloError(f"cannot write {exc.filename or out_dir}: {exc.strerror or exc}; "
                        f"pass --out DIR on a disk you can write to") from None
    summary = result.summary
    console.print(format_summary(summary), markup=False)  # mode and run names come from folder names
    if not summary["episodes_read"]:
        raise HaloError(f"no trajectories found under {trajectories}")
    if not summary["episodes_used"]:
        excluded = summary["episodes_excluded"]
        hint = "; pass --include-debug to use debug runs" if excluded.get("debug_run") else ""
        hint += "; try --split all" if any(k.startswith("split_") for k in excluded) else ""
        raise HaloError(f"no episodes left after the filters (left out: {excluded}){hint}")

