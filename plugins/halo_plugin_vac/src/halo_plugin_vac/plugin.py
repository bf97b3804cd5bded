"""Entry point ``vac``: the Verified Action Cache as a layer of the decision hierarchy.

* ``halo_decide`` (an ordinary implementation: after macro replay, before recovery and
  the worker) replays a *verified* cached action for the current state, re-resolved
  onto the current page's bids; otherwise it counts a miss and lets the next layer decide.
* ``halo_episode_end`` credits the episode's outcome to the actions it executed:
  promotes them when the episode succeeded, counts failures against them otherwise,
  evicts per the rule in :mod:`halo_plugin_vac._store`.
* ``halo_register_commands`` adds ``halo cache stats|clear|export``.
* It declares its options (``use_vac``, ``cache_scope``, ``cache_path``), the ``vac``
  decision source, the ``hierarchy_vac`` and ``cache_only`` modes, the ``cache_hits`` /
  ``cache_misses`` counters and the ``cache_hit_rate`` / ``cache_hits_per_step`` columns.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

from halo_core import hookimpl
from halo_core.api import TERMINAL_ACTIONS, Action, Decision, Observation, StashKey

from halo_plugin_vac._forms import ActionForm, action_form
from halo_plugin_vac._store import Candidate, open_store

#: the episode's cache counters (lookups, hits, misses, skipped, promoted, failed, evicted)
COUNTERS = StashKey[dict]()
_PRIVATE = StashKey[dict]()


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name).strip(".") or "_"


def cache_path(episode) -> Path:
    """The cache file of this episode.

    * ``cache_path`` set: that file (the user chose it);
    * ``shared_cache``: ``<data dir>/cache/vac.sqlite``, shared by every run and mode;
    * otherwise ``<data dir>/cache/<mode>/<run id>/vac.sqlite``: private to the run and the
      mode, so an evaluation of one agent can never replay another's actions
      (``cache_from`` seeds it with a copy of another cache, on purpose and labelled).
    """
    config = episode.config
    configured = config.get("cache_path") or ""
    if configured:
        return Path(configured)
    root = Path(episode.data_dir) / "cache"
    if config.get("shared_cache"):
        return root / "vac.sqlite"
    return root / _safe(config.mode) / _safe(episode.run_id) / "vac.sqlite"


def cache_origin(config) -> str:
    """How this mode's cache relates to other runs: isolated, shared, from:<path> or file:<path>."""
    if config.get("cache_path"):
        return f"file:{config.get('cache_path')}"
    if config.get("shared_cache"):
        return "shared"
    if config.get("cache_from"):
        return f"from:{config.get('cache_from')}"
    return "isolated"


def _seed_from(path: Path, source: str) -> None:
    """Copy ``source`` into a new run cache once (SQLite's backup API: consistent under WAL)."""
    import sqlite3

    if path.exists():
        return
    if not Path(source).is_file():
        raise FileNotFoundError(f"cache_from={source!r}: no such cache file")
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + f".seed-{os.getpid()}")
    with sqlite3.connect(source) as src, sqlite3.connect(partial) as dst:
        src.backup(dst)
    try:
        os.link(partial, path)  # first writer wins; others keep the winner's copy
    except FileExistsError:
        pass
    finally:
        partial.unlink(missing_ok=True)


def _open(episode):
    path = cache_path(episode)
    source = episode.config.get("cache_from") or ""
    if source and not episode.config.get("cache_path") and not episode.config.get("shared_cache"):
        _seed_from(path, source)
    store = open_store(path, quarantine=True)
    moved = getattr(store, "quarantined", None)
    if moved is not None and not _private(episode).get("told"):
        _private(episode)["told"] = True
        episode.log({"type": "vac_quarantine", "cache_path": str(path), "moved_to": str(moved),
                     "message": f"damaged cache {path} moved to {moved}; a new cache was started"})
    return store


def scope_key(episode, observation: Observation | None = None) -> str:
    """The cache partition: the task goal (``cache_scope="task"``) or the site."""
    task = episode.task
    if episode.config.get("cache_scope") == "site":
        site = task.site or (urlsplit(observation.url).hostname if observation is not None else "") or task.suite
        return f"site:{site}"
    return f"goal:{' '.join(task.goal.split())}"


def cacheable(form: ActionForm, scope_is_task: bool) -> bool:
    """Terminal actions carry a task's answer: cached only per goal, never across a site.
    Actions not grounded in the page's elements (a point, the focused element) never are,
    whatever a seeded cache file holds."""
    if form.verb in TERMINAL_ACTIONS:
        return scope_is_task
    return form.verb != "noop" and Action(form.verb).is_grounded


def _counters(episode) -> dict:
    return episode.stash.setdefault(COUNTERS, {"lookups": 0, "hits": 0, "misses": 0, "skipped": 0,
                                               "promoted": 0, "failed": 0, "evicted": 0})


def _private(episode) -> dict:
    return episode.stash.setdefault(_PRIVATE, {"hit_keys": [], "bad_keys": set()})


def _postcondition_ok(record) -> bool:
    return not record.error and all(v.ok for v in record.verdicts if v.check == "postcondition")


@hookimpl
def halo_episode_start(episode):
    if episode.config.get("use_vac"):
        _counters(episode)
        _private(episode)
        origin = cache_origin(episode.config)
        episode.log({"type": "notice", "plugin": "vac", "cache_path": str(cache_path(episode)),
                     "cache_origin": origin,
                     "message": f"verified action cache: {cache_path(episode)} ({origin}"
                                f"{'' if origin != 'isolated' else ': private to this run and mode'})"})


@hookimpl
def halo_decide(observation, episode):
    config = episode.config
    if not config.get("use_vac"):
        return None
    counters, private = _counters(episode), _private(episode)
    counters["lookups"] += 1
    history = episode.history
    if history and history[-1].decision.source == "vac" and not _postcondition_ok(history[-1]):
        # a replay that failed in this episode is not tried again in it
        private["bad_keys"].add(history[-1].decision.meta.get("cache_key"))
    scope = scope_key(episode, observation)
    store = _open(episode)
    entries = store.lookup(scope, observation.fingerprint)
    skip_reason = "" if entries else "no verified entry"
    for entry in entries:
        key = f"{entry.fingerprint}:{entry.action_key}"
        form = ActionForm.from_key(entry.action_key)
        if not cacheable(form, config.get("cache_scope") == "task"):
            skip_reason = ("terminal action outside its goal" if form.verb in TERMINAL_ACTIONS
                           else "not grounded in the page's elements")
            continue
        if key in private["bad_keys"]:
            skip_reason = "failed earlier in this episode"
            continue
        action = form.resolve(observation)
        if action is None:
            skip_reason = f"element {form.role} {form.name!r} is not on the page"
            continue
        if observation.annotations.get("loop"):
            skip_reason = f"loop: {observation.annotations['loop']}"
            continue
        if history and history[-1].fingerprint == observation.fingerprint and history[-1].decision.action == action:
            skip_reason = "would repeat the last action in the same state"
            continue
        counters["hits"] += 1
        private["hit_keys"].append((scope, entry.fingerprint, entry.action_key))
        return Decision(action, "vac", reason="verified action cache",
                        meta={"cache_hit": True, "cache_key": key, "entry_successes": entry.successes,
                              "entry_failures": entry.failures, "cache_scope": config.get("cache_scope")})
    counters["misses"] += 1
    if entries:
        counters["skipped"] += 1
    private["last_miss"] = skip_reason
    return None


def episode_candidates(episode) -> tuple[list[Candidate], list[Candidate]]:
    """(verified-ok candidates, failed actions) of the episode, each once, bid-free."""
    scope_is_task = episode.config.get("cache_scope") == "task"
    ok: dict[tuple, Candidate] = {}
    bad: dict[tuple, Candidate] = {}
    for i, record in enumerate(episode.history):
        if i >= len(episode.observations):
            break
        before = episode.observations[i]
        form = action_form(record.decision.action, before)
        if form is None or not cacheable(form, scope_is_task):
            continue
        candidate = Candidate(scope=scope_key(episode, before), fingerprint=record.fingerprint,
                              action_key=form.key, example_action=record.decision.action, verb=form.verb,
                              page_url=record.url, task_id=episode.task.id)
        ident = (candidate.scope, candidate.fingerprint, candidate.action_key)
        # a loop verdict does not disqualify: the detector also flags legitimate returns to a page
        # (e.g. back to an event after saving it); replay itself is skipped while a loop is flagged
        if _postcondition_ok(record):
            ok[ident] = candidate
        else:
            bad[ident] = candidate
    for ident in bad:
        ok.pop(ident, None)
    return list(ok.values()), list(bad.values())


@hookimpl
def halo_episode_end(episode, result):
    if not episode.config.get("use_vac"):
        return
    counters, private = _counters(episode), _private(episode)
    good, bad = episode_candidates(episode)
    if result.success:
        promote, fail = good, bad
    else:
        promote, fail = [], bad + good
    outcome = _open(episode).record(promote=promote, fail=fail, hits=private["hit_keys"])
    counters["promoted"] += outcome.promoted
    counters["failed"] += outcome.failed
    counters["evicted"] += outcome.evicted
    episode.log({"type": "vac_summary", "task_id": episode.task.id, "success": result.success,
                 "cache_path": str(cache_path(episode)), "cache_origin": cache_origin(episode.config), "cache_scope": episode.config.get("cache_scope"),
                 **counters})


@hookimpl
def halo_register_commands(cli):
    from halo_plugin_vac.cli import cache

    cli.add_command(cache)


@hookimpl
def halo_addoption(register):
    register("use_vac", type=bool, default=False, aliases=("use_cache",),
             help="consult and update the verified action cache")
    register("cache_scope", type=str, default="task", choices=("task", "site"), flag="--cache-scope",
             help="cache partition: per task goal, or shared across a site's tasks")
    register("cache_path", type=str, default="",
             help="cache file (default: private to the run and mode, <data dir>/cache/<mode>/<run id>/vac.sqlite)")
    register("shared_cache", type=bool, default=False, flag="--shared-cache",
             help="share one cache (<data dir>/cache/vac.sqlite) across runs and modes; results say so")
    register("cache_from", type=str, default="", flag="--cache-from",
             help="seed this run's private cache with a copy of another cache file; results say so")


@hookimpl
def halo_register_decision_sources(register):
    register("vac", "a verified action replayed from the cache")


@hookimpl
def halo_register_modes(register):
    register("hierarchy_vac", description="worker + manager gate + verified action cache",
             base="hierarchy_mgr_gate", use_vac=True)
    register("cache_only", description="ablation: worker + caches, no manager", base="baseline_worker",
             use_vac=True)


@hookimpl
def halo_episode_counters(episode):
    if not episode.config.get("use_vac"):
        return None
    counters = _counters(episode)
    return {"cache_hits": counters["hits"], "cache_misses": counters["misses"],
            "cache_isolated": int(cache_origin(episode.config) == "isolated")}


def _sum(records, name):
    return sum(float((r.get("counters") or {}).get(name, r.get(name, 0)) or 0) for r in records)


def _cache_hit_rate(records):
    hits = _sum(records, "cache_hits")
    lookups = hits + _sum(records, "cache_misses")
    return hits / lookups if lookups else None


def _cache_hits_per_step(records):
    steps = sum(int(r.get("steps", 0) or 0) for r in records)
    return _sum(records, "cache_hits") / steps if steps else None


def _cache_reuse(records):
    """'no' when every cached episode of the row used a cache private to its run and mode."""
    flags = [(r.get("counters") or {}).get("cache_isolated") for r in records]
    flags = [f for f in flags if f is not None]
    if not flags:
        return None
    return "no" if all(flags) else "yes" if not any(flags) else "partly"


@hookimpl
def halo_register_metrics(register):
    register("cache_reused", _cache_reuse,
             description="whether the cache held entries from other runs or modes (--shared-cache, --cache-from)")
    register("cache_hit_rate", _cache_hit_rate, percent=True,
             description="VAC hits / VAC lookups (hits + misses); empty when the cache was never consulted")
    register("cache_hits_per_step", _cache_hits_per_step, percent=True,
             description="VAC hits / steps: the share of all steps the cache decided")
