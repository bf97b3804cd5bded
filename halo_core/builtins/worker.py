"""The worker policy: the model that decides each step when nothing cheaper will.

Active when ``config.policy == "worker"`` (policy plugins such as the web clones'
expert take over for other values). ``trylast``: it is the bottom of the hierarchy.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs

from halo_core import hookimpl
from halo_core.actions import ActionError, extract_action, parse_action, validate_action
from halo_core.backends import Message, options_for
from halo_core.model import Decision, Observation, Usage


def choose_action(backend, messages: list[Message], observation: Observation,
                  resolve: Callable[[str, list[Message]], str | None] | None = None,
                  options: dict | None = None) -> tuple[str, Usage, str]:
    """Ask the model; on unusable output ask once more with the reason.

    Returns (action, usage, error). When the second answer is unusable too, ``action``
    is the model's raw text and ``error`` says why; the caller never sends it to the
    browser (see :func:`invalid_decision`). ``resolve`` turns a reply into action text
    first (``halo_resolve_output``); an :class:`ActionError` from it makes the reply unusable.
    ``options``: the backend's per-call options (``halo_call_options``), passed only when any.
    """
    usage = Usage()
    text = ""
    for attempt in range(2):
        completion = backend.complete(messages, options=options) if options else backend.complete(messages)
        usage = usage + completion.usage
        text = completion.text
        try:
            resolved = resolve(text, messages) if resolve is not None else None
            action = extract_action(text if resolved is None else resolved)
            validate_action(parse_action(action), observation.valid_bids)
            return action, usage, ""
        except ActionError as exc:
            error = str(exc)
            messages = list(messages) + [
                Message("assistant", text),
                Message("user", f"That reply is not usable: {error}. Reply with one valid action only."),
            ]
    return text, usage, error


#: the most of an unusable reply a trajectory keeps
MAX_INVALID_CHARS = 500


@hookimpl(trylast=True)
def halo_decide(observation, episode):
    config = episode.config
    if config.policy != "worker":
        return None
    backend = episode.backend("worker")
    messages = episode.runtime.hook.halo_build_messages(role="worker", observation=observation, episode=episode,
                                                        proposed=None, reason="")
    replies: list[str] = []

    def resolve(text: str, shown: list[Message]) -> str | None:
        resolved = episode.runtime.hook.halo_resolve_output(text=text, messages=shown, observation=observation,
                                                             episode=episode)
        if resolved is not None and resolved != text:
            replies.append(text)
        return resolved

    options = options_for(backend, episode.runtime.hook.halo_call_options(
        role="worker", backend=backend, messages=messages, observation=observation, episode=episode))
    action, usage, error = choose_action(backend, messages, observation, resolve, options)
    meta = {"model": getattr(backend, "name", ""), "prompt": messages[-1].content,
            "worker_usage": attrs.asdict(usage)}
    if replies and not error:
        meta["reply"] = replies[-1][:MAX_INVALID_CHARS]  # the reply as written, before its references were resolved
    if error:
        # the output contract: an unusable reply is recorded as such and never reaches the browser
        meta["parse_error"] = error
        meta["invalid_output"] = action[:MAX_INVALID_CHARS]
        return Decision("noop()", "worker", usage=usage, meta=meta)
    return Decision(action, "worker", usage=usage, meta=meta)


@hookimpl(trylast=True)
def halo_build_messages(role, observation, episode, proposed, reason):
    if role != "worker":
        return None
    from halo_core.prompts import worker_messages

    config = episode.config
    backend = episode.backend("worker")
    return worker_messages(episode.task.goal, observation, episode.history,
                           history_len=config.history_len, max_page_chars=config.max_page_chars,
                           images=config.use_screenshot and getattr(backend, "supports_images", False),
                           boxes=bool(config.get("prompt_boxes", False)),
                           grid=int(config.get("screenshot_grid", 0) or 0))


@hookimpl
def halo_addoption(register):
    register("prompt_boxes", type=bool, default=False,
             help="show the worker each element's box (viewport pixels) and the mouse and keyboard actions")
    register("screenshot_grid", type=int, default=0, minimum=0,
             help="draw a coordinate grid every N viewport pixels, labelled, on the screenshot the worker is "
                  "sent (with use_screenshot and a model that takes images), for naming points in mouse "
                  "actions; 0: off")


@hookimpl
def halo_register_decision_sources(register):
    register("worker", "the worker model chose the action")


@hookimpl
def halo_register_policies(register):
    register("worker", "a model (the worker backend) decides each step")


@hookimpl
def halo_register_modes(register):
    register("baseline_worker", description="worker only, no manager, no cache")


@hookimpl
def halo_episode_counters(episode):
    steps = [r for r in episode.history if r.decision.source == "worker" and "model" in r.decision.meta]
    if not steps:
        return None
    return {"worker_steps": len(steps),
            "invalid_outputs": sum(1 for r in steps if "invalid_output" in r.decision.meta)}


def _valid_action_rate(records):
    counters = [r.get("counters") or {} for r in records]
    steps = sum(float(c.get("worker_steps", 0) or 0) for c in counters)
    invalid = sum(float(c.get("invalid_outputs", 0) or 0) for c in counters)
    return (steps - invalid) / steps if steps else None


@hookimpl
def halo_register_metrics(register):
    register("valid_action_rate", _valid_action_rate, percent=True,
             description="worker replies that were a valid action for the page (after one re-ask)")
