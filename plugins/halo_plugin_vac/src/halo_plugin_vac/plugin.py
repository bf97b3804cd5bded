"""Entry point ``vac``: the Verified Action Cache as a layer of the decision hierarchy.

* ``halo_decide`` (an ordinary implementation: after macro replay, before recovery and
  the worker) replays a *verified* cached action for the current state, re-resolved
  onto the current page's bids; otherwise it counts a miss and lets the next layer decide.
* ``halo_episode_end`` credits the episode's outcome to the actions it executed:
  promotes them when the episode succeeded, counts failures against them otherwise,
  evicts per the rule in :mod:`halo_plugin_vac._store`.
* ``halo_register_commands`` adds ``halo cache stats|clear|export``.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from halo_core import hookimpl
from halo_core.actions import TERMINAL_ACTIONS
from halo_core.model import Decision, Observation

from halo_plugin_vac._forms import ActionForm, action_form
from halo_plugin_vac._store import Candidate, open_store

STATE_KEY = "vac"
_PRIVATE = "vac.private"


def scope_key(episode, observation: Observation | None = None) -> str:
    """The cache partition: the task goal (``cache_scope="task"``) or the site."""
    task = episode.task
    if episode.config.cache_scope == "site":
        site = task.site or (urlsplit(observation.url).hostname if observation is not None else "") or task.suite
        return f"site:{site}"
    return f"goal:{' '.join(task.goal.split())}"


def cacheable(form: ActionForm, scope_is_task: bool) -> bool:
    """Terminal actions carry a task's answer: cached only per goal, never across a site."""
    if form.verb in TERMINAL_ACTIONS:
        return scope_is_task
    return form.verb != "noop"


def _counters(episode) -> dict:
    state = episode.state.get(STATE_KEY)
    if not isinstance(state, dict):
        state = episode.state[STATE_KEY] = {"lookups": 0, "hits": 0, "misses": 0, "skipped": 0,
                                            "promoted": 0, "failed": 0, "evicted": 0}
    return state


def _private(episode) -> dict:
    return episode.state.setdefault(_PRIVATE, {"hit_keys": [], "bad_keys": set()})


def _postcondition_ok(record) -> bool:
    return not record.error and all(v.ok for v in record.verdicts if v.check == "postcondition")


@hookimpl
def halo_episode_start(episode):
    if episode.config.use_vac:
        _counters(episode)
        _private(episode)


@hookimpl
def halo_decide(observation, episode):
    config = episode.config
    if not config.use_vac:
        return None
    counters, private = _counters(episode), _private(episode)
    counters["lookups"] += 1
    history = episode.history
    if history and history[-1].decision.source == "vac" and not _postcondition_ok(history[-1]):
        # a replay that failed in this episode is not tried again in it
        private["bad_keys"].add(history[-1].decision.meta.get("cache_key"))
    scope = scope_key(episode, observation)
    store = open_store(config.cache_path)
    entries = store.lookup(scope, observation.fingerprint)
    skip_reason = "" if entries else "no verified entry"
    for entry in entries:
        key = f"{entry.fingerprint}:{entry.action_key}"
        form = ActionForm.from_key(entry.action_key)
        if not cacheable(form, config.cache_scope == "task"):
            skip_reason = "terminal action outside its goal"
            continue
        if key in private["bad_keys"]:
            skip_reason = "failed earlier in this episode"
            continue
        action = form.resolve(observation)
        if action is None:
            skip_reason = f"element {form.role} {form.name!r} is not on the page"
            continue
        if episode.state.get("loop"):
            skip_reason = f"loop: {episode.state['loop']}"
            continue
        if history and history[-1].fingerprint == observation.fingerprint and history[-1].decision.action == action:
            skip_reason = "would repeat the last action in the same state"
            continue
        counters["hits"] += 1
        private["hit_keys"].append((scope, entry.fingerprint, entry.action_key))
        return Decision(action, "vac", reason="verified action cache",
                        meta={"cache_key": key, "entry_successes": entry.successes,
                              "entry_failures": entry.failures, "cache_scope": config.cache_scope})
    counters["misses"] += 1
    if entries:
        counters["skipped"] += 1
    private["last_miss"] = skip_reason
    return None


def episode_candidates(episode) -> tuple[list[Candidate], list[Candidate]]:
    """(verified-ok candidates, failed actions) of the episode, each once, bid-free."""
    scope_is_task = episode.config.cache_scope == "task"
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
    if not episode.config.use_vac:
        return
    counters, private = _counters(episode), _private(episode)
    good, bad = episode_candidates(episode)
    if result.success:
        promote, fail = good, bad
    else:
        promote, fail = [], bad + good
    outcome = open_store(episode.config.cache_path).record(promote=promote, fail=fail, hits=private["hit_keys"])
    counters["promoted"] += outcome.promoted
    counters["failed"] += outcome.failed
    counters["evicted"] += outcome.evicted
    episode.log({"type": "vac_summary", "task_id": episode.task.id, "success": result.success,
                 "cache_path": str(episode.config.cache_path), "cache_scope": episode.config.cache_scope,
                 **counters})


@hookimpl
def halo_register_commands(cli):
    from halo_plugin_vac.cli import cache

    cli.add_command(cache)
