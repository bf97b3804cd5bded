"""Reward functions for GRPO, in trl's reward-function interface.

A reward function is called as ``f(prompts=..., completions=..., **columns)`` with one
entry per generated completion and returns one float per completion. Conversational
completions are ``[{"role": "assistant", "content": ...}]``.

Offline (no environment):

* :func:`action_validity_reward` — 1.0 when the reply holds an action the worker would
  accept: it parses (:func:`halo_core.actions.extract_action`, then ``parse_action``)
  and its bid, if it has one, is shown as ``[bid]`` on the prompt's page; else 0.0.
* :func:`action_match_reward` — against the recorded action (``expected_action``
  column): 1.0 exact (canonical form), 0.5 same verb and bid, 0.2 same verb, else 0.0.

Online (the environment judges): :class:`OnlineTaskReward`.
"""

from __future__ import annotations

import re
import tempfile
import threading
from collections.abc import Sequence
from typing import Any

from halo_core.api import ActionError, extract_action, parse_action

__all__ = ["OnlineTaskReward", "action_match_reward", "action_validity_reward", "completion_text", "page_bids"]

_PAGE_RE = re.compile(r"\n\nPage \([^)]*\):\n(.*?)\n\nPrevious actions:", re.DOTALL)
_BID_RE = re.compile(r"^\s*\[([^\]\s]+)\]", re.MULTILINE)


def completion_text(completion: Any) -> str:
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list) and completion:
        return str(completion[-1].get("content", ""))
    return ""


def _user_text(prompt: Any) -> str:
    if isinstance(prompt, str):
        return prompt
    return "\n".join(str(m.get("content", "")) for m in prompt if m.get("role") == "user")


def page_bids(prompt: Any) -> set[str]:
    """The bids shown on the page section of a worker prompt."""
    text = _user_text(prompt)
    match = _PAGE_RE.search(text)
    return set(_BID_RE.findall(match.group(1) if match else text))


def _action(text: str):
    try:
        return parse_action(extract_action(text))
    except ActionError:
        return None


def action_validity_reward(prompts: Sequence[Any], completions: Sequence[Any], **_: Any) -> list[float]:
    out = []
    for prompt, completion in zip(prompts, completions):
        action = _action(completion_text(completion))
        ok = action is not None and (action.bid is None or action.bid in page_bids(prompt))
        out.append(1.0 if ok else 0.0)
    return out


def action_match_reward(prompts: Sequence[Any], completions: Sequence[Any], expected_action: Sequence[str],
                        **_: Any) -> list[float]:
    out = []
    for completion, expected in zip(completions, expected_action):
        got, want = _action(completion_text(completion)), _action(expected or "")
        if got is None or want is None:
            out.append(0.0)
        elif got.to_string() == want.to_string():
            out.append(1.0)
        elif got.name == want.name and got.bid == want.bid:
            out.append(0.5)
        elif got.name == want.name:
            out.append(0.2)
        else:
            out.append(0.0)
    return out


class _Probe:
    """A decide plugin that plays one given action at one given step, and nothing else."""

    def __init__(self) -> None:
        self.step: int = -1
        self.action: str = ""

    from halo_core import hookimpl as _hookimpl

    @_hookimpl(tryfirst=True)
    def halo_decide(self, observation, episode):
        from halo_core.api import Decision

        if episode.step_idx == self.step:
            return Decision(self.action, "worker", meta={"policy": "grpo_probe"})
        return None


class OnlineTaskReward:
    """Reward = the task's success in the live environment when the completion is played.

    For a dataset row (``task_id``, ``step_idx``: the step the prompt was logged at), it
    runs a real episode of that task: the continuation policy (``policy``, default the
    web clones' ``expert``) plays steps ``0 .. step_idx-1`` — for rows exported from
    expert demonstrations this re-creates the logged state —, the completion is played
    as the action of step ``step_idx``, and the same policy continues until the episode
    ends (or ``max_steps``). The reward is 1.0 when the environment scores the episode
    a success, else 0.0. So it answers "is the task still solved after this action?":
    a harmful action (wrong link, wrong text typed) fails, while a harmless one (e.g. an
    invalid bid, which changes nothing) still succeeds — combine it with
    :func:`action_validity_reward` to penalise those. Results are cached per
    (task, step, action) since groups repeat actions; one environment is reused.
    """

    __name__ = "online_task_success"

    def __init__(self, suite: str = "webclones", policy: str = "expert", max_steps: int = 30,
                 runtime=None, data_dir: str | None = None) -> None:
        from halo_core.api import Runtime, make_plugin_manager

        self.probe = _Probe()
        self.runtime = runtime or Runtime(make_plugin_manager(extra=(self.probe,)))
        if runtime is not None:
            self.runtime.pm.register(self.probe)
        self.suite = self.runtime.suite(suite)
        self.policy, self.max_steps = policy, max_steps
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="halo_grpo_online_")
        self.cache: dict[tuple[str, int, str], float] = {}
        self.episodes = 0
        self._env = None
        self._lock = threading.Lock()

    def _config(self):
        from halo_core.api import mode_config

        return mode_config("baseline_worker", policy=self.policy, max_steps=self.max_steps, use_manager=False,
                           use_vac=False, use_macros=False, use_recovery=False, use_screenshot=False)

    def play(self, task_id: str, step_idx: int, action: str) -> float:
        from halo_core.api import EnvSettings, run_episode

        key = (task_id, int(step_idx), action)
        if key in self.cache:
            return self.cache[key]
        with self._lock:
            task = self.suite.resolve(task_id)
            if self._env is None:
                self._env = self.suite.make_environment(task, EnvSettings(headless=True, screenshot=False))
            self.probe.step, self.probe.action = int(step_idx), action
            try:
                result = run_episode(task, self._config(), self._env, self.runtime, run_id="grpo_online",
                                     attempt=self.episodes, data_dir=self.data_dir)
            finally:
                self.probe.step = -1
            self.episodes += 1
            if result.terminated_by in ("error", "init_error"):
                self.close()  # do not trust the environment again
            reward = 1.0 if result.success else 0.0
        self.cache[key] = reward
        return reward

    def __call__(self, prompts: Sequence[Any], completions: Sequence[Any], task_id: Sequence[str],
                 step_idx: Sequence[int], **_: Any) -> list[float]:
        out = []
        for completion, task, step in zip(completions, task_id, step_idx):
            try:
                action = extract_action(completion_text(completion))
            except ActionError:
                action = completion_text(completion).strip().splitlines()[0] if completion_text(completion).strip() else ""
            out.append(self.play(task, step, action))
        return out

    def close(self) -> None:
        if self._env is not None:
            try:
                self._env.close()
            finally:
                self._env = None
