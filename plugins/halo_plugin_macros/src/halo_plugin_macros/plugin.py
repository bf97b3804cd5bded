"""Entry point ``macros``: verified replay of mined macros, the top of the decision hierarchy.

A macro starts (``halo_decide``, ``tryfirst``) only when the page fits its precondition
(page type, URL path, the first step's element present) and all of its slots bind from
the goal, none of them empty. Each following step runs only if the previous macro step's
postcondition held, the live page is one the step was recorded on (its URL path), and its
element (role and name) is on the page; on the first mismatch the macro is aborted and
the next layer decides, the same step.

Steps that commit (:data:`COMMIT_ACTION`: place an order, pay, purchase, send, submit,
confirm, delete) are never replayed: the macro stops before one and hands control back,
so the worker and the manager gate's high-stakes review take that step with the page in
front of them. And once an action committed in an episode, no macro starts again in it:
a replay after an order is how one goal becomes two orders.
"""

from __future__ import annotations

import re
from typing import Any

from halo_core import hookimpl
from halo_core.api import Action, ActionError, Decision, Element, Observation, StashKey, parse_action

from halo_plugin_macros._library import Macro, MacroStep, load_macros
from halo_plugin_macros._library import _SLOT
from halo_plugin_macros._mining import site_of, slug, url_path

#: the episode's macro state and counters
STATE = StashKey[dict]()
#: element names whose click commits (the manager gate's high-stakes actions, less navigation and log-in)
COMMIT_ACTION = re.compile(r"place (?:the |my |your )?order|order now|pay\b|purchase|buy now|send|submit|confirm|"
                           r"delete", re.I)


def macros_path(episode):
    """The macro library: ``macros_path`` when set, else ``<data dir>/cache/macros.json``."""
    from pathlib import Path

    configured = episode.config.get("macros_path") or ""
    return Path(configured) if configured else Path(episode.data_dir) / "cache" / "macros.json"


def _norm(text: str) -> str:
    words = re.sub(r"\s+", " ", text.strip().casefold()).split(" ")
    return " ".join(w[:-1] if len(w) > 3 and w.endswith("s") else w for w in words)


def find_element(observation: Observation, role: str, name: str) -> Element | None:
    """The element with this role and name; plural and case differences are tolerated
    ("ZenFlow Yoga Mats" from a goal finds link "ZenFlow Yoga Mat")."""
    exact = observation.find(role, name)
    if exact is not None:
        return exact
    want = _norm(name)
    return next((e for e in observation.elements if e.role == role and _norm(e.name) == want), None)


def step_action(step: MacroStep, bindings: dict[str, str], observation: Observation) -> str | None:
    """The step's action on ``observation``; None when its element is not there, or when its verb
    is not grounded in one element (a point, the focused element, a drag: a library edited by
    hand may hold one), which a macro never replays."""
    if not Action(step.verb).is_grounded:
        return None
    name, value = step.render(bindings)
    element = find_element(observation, step.role, name)
    if element is None:
        return None
    args: tuple[Any, ...] = (element.bid,) if value is None else (element.bid, value)
    return Action(step.verb, args).to_string()


def _state(episode) -> dict:
    state = episode.stash.get(STATE, None)
    if state is None:
        state = episode.stash[STATE] = {"started": 0, "completed": 0, "aborted": 0, "steps": 0,
                                            "verified_steps": 0, "misses": 0, "handed_back": 0, "commits": 0,
                                            "active": None, "tried": [], "done": [], "aborts": []}
    return state


def _previous_ok(episode) -> bool:
    last = episode.history[-1] if episode.history else None
    if last is None or last.error:
        return False
    return all(v.ok for v in last.verdicts if v.check == "postcondition")


def _site(episode, observation: Observation) -> str:
    return episode.task.site or site_of(episode.task.id)


def _abort(state: dict, active: dict, reason: str) -> None:
    state["aborted"] += 1
    state["aborts"].append({"macro": active["id"], "step": active["step"], "reason": reason})
    state["active"] = None


def _complete(state: dict, active: dict) -> None:
    state["completed"] += 1
    state["done"].append([active["id"], active["bindings"]])
    state["active"] = None


def _continue(observation: Observation, episode, state: dict) -> Decision | None:
    active = state["active"]
    last = episode.history[-1] if episode.history else None
    if last is None or last.decision.meta.get("macro") != active["id"] or last.decision.source != "macro":
        _abort(state, active, "another layer acted in between")
        return None
    if not _previous_ok(episode):
        _abort(state, active, f"step {active['step']} did not verify: {last.error or 'postcondition failed'}")
        return None
    state["verified_steps"] += 1
    macro: Macro = active["macro"]
    i = active["step"] + 1
    if i >= len(macro.steps):
        _complete(state, active)
        return None
    step = macro.steps[i]
    if commits(step, active["bindings"]):
        state["handed_back"] += 1  # its work up to the commit is done; the commit is the agent's to take
        _complete(state, active)
        return None
    path = url_path(observation.url)
    if macro.step_paths and not path_fits(macro.step_paths[i], path, active["bindings"]):
        _abort(state, active, f"step {i}: recorded on {', '.join(macro.step_paths[i])}, the page is {path}")
        return None
    action = step_action(step, active["bindings"], observation)
    if action is None:
        _abort(state, active, f"step {i}: {step.role} {step.render(active['bindings'])[0]!r} is not on the page")
        return None
    active["step"] = i
    state["steps"] += 1
    return Decision(action, "macro", reason=f"macro {macro.id} step {i + 1}/{len(macro.steps)}",
                    meta={"macro": macro.id, "step": i, "of": len(macro.steps), "bindings": dict(active["bindings"])})


def path_fits(templates: tuple[str, ...], path: str, bindings: dict[str, str]) -> bool:
    """Whether the live page's ``path`` is one a step was recorded on (``"*"``: any page)."""
    for template in templates:
        if template == "*":
            return True
        for render in (lambda v: v, slug):
            expected = _SLOT.sub(lambda m: render(bindings.get(m.group(1), "")), template)
            if expected.casefold() == path.casefold():
                return True
    return False


def commits(step: MacroStep, bindings: dict[str, str]) -> bool:
    """Whether replaying ``step`` would commit (order, pay, send, submit, …)."""
    return step.verb in ("click", "press", "dblclick") and bool(COMMIT_ACTION.search(step.render(bindings)[0]))


def _start(observation: Observation, episode, state: dict) -> Decision | None:
    if state["commits"]:
        return None  # something was already ordered/sent in this episode: no replay towards another
    site = _site(episode, observation)
    path = url_path(observation.url)
    for macro in load_macros(macros_path(episode)):
        if macro.site != site or observation.page_type not in macro.page_types or path not in macro.paths:
            continue
        tried = (macro.id, observation.fingerprint)
        if list(tried) in state["tried"] or any(a["macro"] == macro.id for a in state["aborts"]):
            continue  # an aborted macro does not fit this episode; a finished one is not rerun from the same state
        bindings = macro.bind(episode.task.goal)
        if bindings is None:
            continue
        if [macro.id, bindings] in state["done"]:
            continue  # it already did exactly this work in this episode
        if commits(macro.steps[0], bindings):
            continue
        action = step_action(macro.steps[0], bindings, observation)
        if action is None:
            continue
        state["tried"].append(list(tried))
        state["active"] = {"id": macro.id, "macro": macro, "step": 0, "bindings": bindings}
        state["started"] += 1
        state["steps"] += 1
        return Decision(action, "macro", reason=f"macro {macro.id} step 1/{len(macro.steps)}",
                        meta={"macro": macro.id, "step": 0, "of": len(macro.steps), "bindings": bindings,
                              "support": macro.support})
    state["misses"] += 1
    return None


@hookimpl(tryfirst=True)
def halo_decide(observation, episode):
    if not episode.config.get("use_macros"):
        return None
    state = _state(episode)
    if state["active"] is not None:
        decision = _continue(observation, episode, state)
        if decision is not None:
            return decision
    if observation.annotations.get("loop"):
        return None  # a loop is the gate's and recovery's business; a macro would only add to it
    return _start(observation, episode, state)


@hookimpl
def halo_verify(before, decision, after, episode):
    """Count the episode's actions that committed (whoever decided them), so no macro starts after one."""
    if not episode.config.get("use_macros") or after.last_action_error:
        return None
    try:
        bid = parse_action(decision.action).bid
    except ActionError:
        return None
    target = next((e for e in before.elements if e.bid == bid), None) if bid else None
    if target is not None and COMMIT_ACTION.search(target.name):
        _state(episode)["commits"] += 1
    return None


@hookimpl
def halo_episode_end(episode, result):
    if not episode.config.get("use_macros"):
        return
    state = _state(episode)
    active = state["active"]
    if active is not None:
        last = episode.history[-1] if episode.history else None
        finished = (active["step"] == len(active["macro"].steps) - 1 and last is not None
                    and last.decision.meta.get("macro") == active["id"] and _previous_ok(episode))
        if finished:  # its last step was the episode's last step
            state["verified_steps"] += 1
            _complete(state, active)
        else:  # the episode ended mid-macro (e.g. max steps)
            _abort(state, active, "episode ended")
    summary = {k: v for k, v in state.items() if k not in ("active", "tried", "done")}
    episode.log({"type": "macro_summary", "task_id": episode.task.id, "success": result.success, **summary})


@hookimpl
def halo_register_commands(cli):
    from halo_plugin_macros.cli import macros

    cli.add_command(macros)


@hookimpl
def halo_addoption(register):
    register("use_macros", type=bool, default=False, help="replay mined macro skills (top of the hierarchy)")
    register("macros_path", type=str, default="",
             help="macro library (default: <data dir>/cache/macros.json)")


@hookimpl
def halo_register_decision_sources(register):
    register("macro", "a step of a mined macro skill")


@hookimpl
def halo_register_modes(register):
    register("hierarchy_vac_macros", description="full HALO: worker + manager + caches + macros",
             base=("hierarchy_vac", "hierarchy_mgr_gate"), use_macros=True)
    register("cache_only", extend=True, use_macros=True)


@hookimpl
def halo_episode_counters(episode):
    if not episode.config.get("use_macros"):
        return None
    return {"macro_steps": sum(1 for r in episode.history if r.decision.source == "macro")}


@hookimpl
def halo_register_metrics(register):
    register("macro_steps", lambda records: sum(float((r.get("counters") or {}).get("macro_steps", r.get(
        "macro_steps", 0)) or 0) for r in records), description="total steps replayed by macro skills")
