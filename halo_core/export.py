"""``halo export``: turn trajectory logs into BC and DPO datasets.

Pure Python and JSON (no torch): reads ``data/trajectories/<mode>/<run_id>/*.jsonl``
(the JSONL logger's ``episode_start`` / ``step`` / ``episode_end`` events) and writes,
in the output directory:

``bc.jsonl`` / ``bc_val.jsonl``
    one example per step of a *successful* episode whose action did not error, in the
    prompt-completion conversational format trl's ``SFTTrainer`` reads directly::

        {"prompt": [{"role": "system", ...}, {"role": "user", ...}],
         "completion": [{"role": "assistant", "content": "click('12')"}], ...}

``dpo.jsonl`` / ``dpo_val.jsonl``
    preference pairs for trl's ``DPOTrainer``::

        {"prompt": [...], "chosen": [{"role": "assistant", ...}], "rejected": [{"role": "assistant", ...}], ...}

``summary.json``
    what was read and written (also printed).

Prompts are exactly what the worker sends: the user prompt logged in
``decision_meta.prompt`` when the worker decided the step, otherwise rebuilt with
:func:`halo_core.prompts.worker_messages` from the logged observation text, URL, page
type, previous error and the episode's previous actions (with the episode's own
``history_len``). Completions are the logged action in canonical form
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
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import attrs
import click

from halo_core.actions import ActionError, parse_action
from halo_core.model import DECISION_SOURCES, Decision, Observation, StepRecord
from halo_core.prompts import MAX_PAGE_CHARS, WORKER_SYSTEM, worker_messages

__all__ = [
    "PAIRING_STRATEGIES",
    "EpisodeLog",
    "ExportResult",
    "LoggedStep",
    "export_command",
    "export_datasets",
    "read_episodes",
    "step_messages",
]

PAIRING_STRATEGIES = ("progress_ranked", "success_vs_failure")


# --------------------------------------------------------------------------- reading


@attrs.define
class LoggedStep:
    step_idx: int
    action: str
    source: str
    error: str
    url: str
    fingerprint: str
    page_type: str
    obs_summary: str
    valid_bids: tuple[str, ...]
    logged_prompt: str | None  # decision_meta.prompt, when the worker decided
    prompt: list[dict[str, str]] = attrs.field(factory=list)  # filled by read_episodes


@attrs.define
class EpisodeLog:
    path: Path
    task_id: str
    goal: str
    mode: str
    run_id: str
    attempt: int
    history_len: int
    success: bool | None  # None: no episode_end (incomplete)
    terminated_by: str
    steps: list[LoggedStep]
    max_page_chars: int = MAX_PAGE_CHARS

    @property
    def complete(self) -> bool:
        return self.success is not None


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


def _record(step: LoggedStep) -> StepRecord:
    source = step.source if step.source in DECISION_SOURCES else "worker"
    return StepRecord(step_idx=step.step_idx, url=step.url, fingerprint=step.fingerprint, page_type=step.page_type,
                      decision=Decision(step.action, source), error=step.error, verdicts=(), elapsed_ms=0.0,
                      manager_called=False, cache_hit=False)


def step_messages(goal: str, step: LoggedStep, previous: Sequence[LoggedStep], history_len: int,
                  max_page_chars: int = MAX_PAGE_CHARS) -> list[dict[str, str]]:
    """The worker's messages for ``step`` (system + user), as dicts.

    Uses the logged prompt when there is one; otherwise rebuilds it with
    :func:`halo_core.prompts.worker_messages` from what the step logged.
    """
    if step.logged_prompt:
        return [{"role": "system", "content": WORKER_SYSTEM}, {"role": "user", "content": step.logged_prompt}]
    observation = Observation(url=step.url, title="", text=step.obs_summary, elements=(), page_type=step.page_type,
                              fingerprint=step.fingerprint,
                              last_action_error=previous[-1].error if previous else "")
    history = [_record(s) for s in previous]
    return [{"role": m.role, "content": m.content}
            for m in worker_messages(goal, observation, history, history_len=history_len, images=False,
                                     max_page_chars=max_page_chars)]


def _episode_files(root: Path, modes: Sequence[str]) -> Iterator[Path]:
    if root.is_file():
        yield root
        return
    for path in sorted(root.rglob("*.jsonl")):
        rel = path.relative_to(root).parts
        if modes and not (set(rel[:-1]) & set(modes)):
            continue
        yield path


def read_episode(path: Path) -> EpisodeLog | None:
    """One trajectory file; None when it has no ``episode_start`` (not a trajectory)."""
    start: dict[str, Any] | None = None
    end: dict[str, Any] | None = None
    raw_steps: list[dict[str, Any]] = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            line = line.strip()
            if not line:
                continue
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue  # a torn last line of an interrupted run
            kind = event.get("type")
            if kind == "episode_start":
                start = event
            elif kind == "step":
                raw_steps.append(event)
            elif kind == "episode_end":
                end = event
    if start is None:
        return None
    config = start.get("config") or {}
    steps = [LoggedStep(step_idx=int(e.get("step_idx", i)), action=str(e.get("action") or ""),
                        source=str(e.get("action_source") or "worker"), error=str(e.get("last_action_error") or ""),
                        url=str(e.get("url") or ""), fingerprint=str(e.get("fingerprint") or ""),
                        page_type=str(e.get("page_type") or ""), obs_summary=str(e.get("obs_summary") or ""),
                        valid_bids=tuple(str(b) for b in e.get("valid_bids") or ()),
                        logged_prompt=(e.get("decision_meta") or {}).get("prompt") or None)
             for i, e in enumerate(raw_steps)]
    steps.sort(key=lambda s: s.step_idx)
    episode = EpisodeLog(path=path, task_id=str(start.get("task_id") or ""), goal=str(start.get("goal") or ""),
                         mode=str(start.get("mode") or ""), run_id=str(start.get("run_id") or ""),
                         attempt=int(start.get("attempt_idx") or 0), history_len=int(config.get("history_len", 5)),
                         max_page_chars=int(config.get("max_page_chars", MAX_PAGE_CHARS)),
                         success=None if end is None else bool(end.get("success")),
                         terminated_by=str((end or {}).get("terminated_by") or ""), steps=steps)
    for i, step in enumerate(steps):
        step.prompt = step_messages(episode.goal, step, steps[:i], episode.history_len, episode.max_page_chars)
    return episode


def read_episodes(root: str | Path, modes: Sequence[str] = ()) -> list[EpisodeLog]:
    root = Path(root)
    if not root.exists():
        raise FileNotFoundError(f"trajectories {str(root)!r} do not exist")
    episodes = []
    for path in _episode_files(root, modes):
        episode = read_episode(path)
        if episode is not None and (not modes or root.is_dir() or episode.mode in modes):
            episodes.append(episode)
    return episodes


# --------------------------------------------------------------------------- examples


def _assistant(text: str) -> list[dict[str, str]]:
    return [{"role": "assistant", "content": text}]


def bc_examples(episodes: Iterable[EpisodeLog]) -> list[dict[str, Any]]:
    out = []
    for ep in episodes:
        if not ep.success:
            continue
        for step in ep.steps:
            if step.error or not _parses(step.action):
                continue
            out.append({"prompt": step.prompt, "completion": _assistant(_canonical(step.action)),
                        "task_id": ep.task_id, "step_idx": step.step_idx, "mode": ep.mode, "run_id": ep.run_id,
                        "action_source": step.source})
    return out


@attrs.define
class _Candidate:
    episode: EpisodeLog
    step: LoggedStep
    remaining: int

    @property
    def action(self) -> str:
        return _canonical(self.step.action)

    @property
    def rank(self) -> tuple:
        ok = not self.step.error and _parses(self.step.action)
        success = bool(self.episode.success)
        return (ok, success, -self.remaining if (ok and success) else 0)


def _states(episodes: Iterable[EpisodeLog]) -> dict[tuple[str, str], list[_Candidate]]:
    groups: dict[tuple[str, str], list[_Candidate]] = defaultdict(list)
    for ep in episodes:
        if not ep.complete:
            continue
        n = len(ep.steps)
        for i, step in enumerate(ep.steps):
            key = (ep.goal, step.fingerprint or f"{step.url}#{step.obs_summary}")
            groups[key].append(_Candidate(ep, step, n - i))
    return groups


def _pair(chosen: _Candidate, rejected_action: str, strategy: str, source: str, **extra: Any) -> dict[str, Any]:
    return {"prompt": chosen.step.prompt, "chosen": _assistant(chosen.action), "rejected": _assistant(rejected_action),
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


def export_datasets(trajectories: str | Path, out_dir: str | Path, *, modes: Sequence[str] = (),
                    pairing_strategies: Sequence[str] = ("progress_ranked",), synthetic_negatives: bool = True,
                    val_fraction: float = 0.2, seed: int = 0) -> ExportResult:
    """Read trajectories, write ``bc*.jsonl``, ``dpo*.jsonl`` and ``summary.json`` to ``out_dir``."""
    unknown = [s for s in pairing_strategies if s not in PAIRING_STRATEGIES]
    if unknown:
        raise ValueError(f"unknown pairing strategy {unknown[0]!r}; allowed: {', '.join(PAIRING_STRATEGIES)}")
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction={val_fraction} is not allowed: expected a number in [0, 1)")
    episodes = read_episodes(trajectories, modes)
    complete = [e for e in episodes if e.complete]
    rng = random.Random(seed)

    bc, bc_dupes = _dedupe(bc_examples(complete), ("prompt", "completion"))
    groups = _states(complete)
    pairs: list[dict[str, Any]] = []
    for strategy in pairing_strategies:
        if strategy == "progress_ranked":
            pairs += progress_ranked_pairs(groups)
        else:
            pairs += success_vs_failure_pairs(groups, synthetic=synthetic_negatives, rng=rng)
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

    summary = {
        "trajectories": str(trajectories),
        "modes": list(modes),
        "episodes_read": len(episodes),
        "episodes_incomplete": len(episodes) - len(complete),
        "episodes_successful": sum(1 for e in complete if e.success),
        "episodes_failed": sum(1 for e in complete if not e.success),
        "steps_read": sum(len(e.steps) for e in complete),
        "steps_with_logged_prompt": sum(1 for e in complete for s in e.steps if s.logged_prompt),
        "bc_examples": {"train": len(splits["bc"]), "val": len(splits["bc_val"])},
        "bc_duplicates_dropped": bc_dupes,
        "dpo_pairs": {"train": len(splits["dpo"]), "val": len(splits["dpo_val"])},
        "dpo_pairs_by_strategy": by(pairs, "strategy"),
        "dpo_pairs_by_source": by(pairs, "source"),
        "dpo_duplicates_dropped": dpo_dupes,
        "pairing_strategies": list(pairing_strategies),
        "synthetic_negatives": synthetic_negatives,
        "val_fraction": val_fraction,
        "seed": seed,
        "tasks": {"train": train_tasks, "val": val_tasks},
        "files": files,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return ExportResult(out, summary)


def format_summary(summary: dict[str, Any]) -> str:
    tasks = summary["tasks"]
    lines = [
        f"episodes read: {summary['episodes_read']} ({summary['episodes_successful']} successful, "
        f"{summary['episodes_failed']} failed, {summary['episodes_incomplete']} incomplete)",
        f"steps read: {summary['steps_read']} ({summary['steps_with_logged_prompt']} with the worker's logged prompt)",
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


@click.command("export")
@click.option("--trajectories", default="data/trajectories", show_default=True, type=click.Path(),
              help="Trajectory directory (data/trajectories/<mode>/<run_id>/*.jsonl) or one file.")
@click.option("--modes", "modes", multiple=True,
              help="Only these modes (repeatable or comma-separated; default: every mode).")
@click.option("--out", "out_dir", default="data/datasets", show_default=True, type=click.Path(file_okay=False),
              help="Where bc.jsonl, bc_val.jsonl, dpo.jsonl, dpo_val.jsonl and summary.json go.")
@click.option("--pairing-strategy", "strategies", multiple=True, type=click.Choice(PAIRING_STRATEGIES),
              help="DPO pairing (repeatable; default progress_ranked).")
@click.option("--synthetic-negatives/--no-synthetic-negatives", default=True, show_default=True,
              help="success_vs_failure: a bid not on the page as the rejected action when no real negative exists.")
@click.option("--val-fraction", type=click.FloatRange(0.0, 1.0, max_open=True), default=0.2, show_default=True,
              help="Fraction of tasks held out for validation (split by task).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the task split.")
def export_command(trajectories, modes, out_dir, strategies, synthetic_negatives, val_fraction, seed) -> None:
    """Export BC and DPO datasets (trl's conversational formats) from trajectories."""
    from halo_core.cli import HaloError, console

    modes = tuple(m.strip() for item in modes for m in item.split(",") if m.strip())
    try:
        result = export_datasets(trajectories, out_dir, modes=modes, pairing_strategies=strategies or ("progress_ranked",),
                                 synthetic_negatives=synthetic_negatives, val_fraction=val_fraction, seed=seed)
    except (FileNotFoundError, ValueError) as exc:
        raise HaloError(str(exc)) from None
    console.print(format_summary(result.summary))
    if not result.summary["episodes_read"]:
        raise HaloError(f"no trajectories found under {trajectories}")


def _register() -> None:
    from halo_core.cli import cli

    if "export" not in cli.commands:
        cli.add_command(export_command)


_register()
