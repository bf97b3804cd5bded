"""A MiniWoB++ episode in HALO's browser environment.

``reset`` opens the task's page from a local server, starts the episode with the
task's seed through MiniWoB's own JavaScript (``Math.seedrandom``, ``core.setDataMode``,
``core.startEpisodeReal`` — never a click on the START cover, which would draw an
unseeded problem), and reports the page's utterance as ``RawObservation.goal``. After
every action the page's end-of-episode globals are read: when MiniWoB has ended the
episode the observation says ``terminated`` (``truncated`` if its own timer fired)
and carries MiniWoB's reward, and the loop stops.

MiniWoB's per-episode time limit (10–30 s of wall time, made for RL agents acting in
milliseconds) is raised to :data:`EPISODE_MAX_MS` so a model's thinking time never
fails an episode; HALO's own ``max_steps`` bounds it instead. The reward reported is
MiniWoB's raw reward (``WOB_RAW_REWARD_GLOBAL``, in [-1, 1], no time penalty);
success is raw reward > 0, MiniWoB's own convention.

When the agent's page still shows the same task's page when the next episode starts (the
same worker plays several seeds of one task in a row), the new episode starts on that page
the way the ``miniwob`` package's own driver does (``core.endEpisode(0)``, then the seed,
the data mode and ``core.startEpisodeReal()``, no reload): MiniWoB's tasks are written for
many episodes per page (``genProblem`` rebuilds the task area and clears its own timers).
A reset that reloads costs about 0.45 s of browser CPU, one in place about 0.1 s;
``bench/check_miniwob_restart.py`` plays every expert-covered task both ways and compares
the trajectories. The tasks where they differed (:data:`.catalogue.RELOAD_EACH_EPISODE`:
widgets that keep state outside the task area, timing-driven tasks) always reload.
``restart_in_place=False`` (plugin option ``miniwob_restart_in_place``) reloads every episode.

An action waits at most :data:`ACTION_TIMEOUT_MS` (2 s; plugin option
``miniwob_action_timeout_ms``) for its element to become actionable, where the browser
environment's default is 5 s: the pages are local and static, so an element that is covered
or hidden now stays so (a model clicking a button that another covers spent 12 x 5 s on one
episode), and the task animations (accordions, date pickers) end well within it.

Every observation's ``info`` (Gymnasium's) carries the instance's facts — ``seed``,
``instruction``, ``done``, ``raw_reward`` — and ``page_reader``, this environment, through
which a plugin written for MiniWoB (the scripted expert) reads the live page the way a human
demonstrator looks at the screen.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

import attrs

from halo_core.api import BrowserEnvironment, ScriptError, playwright_error_line as one_line, playwright_errors
from halo_core.api import EnvSettings, EnvironmentDead, Evaluation, RawObservation, TaskSpec

from .catalogue import PREFIX, RELOAD_EACH_EPISODE, parse_task_id, split_of
from .server import PageServer, start_server

__all__ = ["ACTION_TIMEOUT_MS", "EPISODE_MAX_MS", "EpisodeState", "MiniwobEnvironment"]

#: MiniWoB's episode time limit while HALO drives it (milliseconds): 30 minutes
EPISODE_MAX_MS = 30 * 60 * 1000
_READY_TIMEOUT_MS = 5000
# the pages come from a server in this process, so a slow first load (a fresh browser
# fetching the task's scripts) means a busy machine, not a dead site: wait longer for it
_PAGE_LOAD_TIMEOUT_MS = 30000
#: how long an action waits for its element to become actionable (see the module docstring)
ACTION_TIMEOUT_MS = 2000

_START_EPISODE = resources.files(__package__).joinpath("start_episode.js").read_text()
_EPISODE_STATE = resources.files(__package__).joinpath("episode_state.js").read_text()
#: true once the started task has drawn its problem (tasks without the flag are ready at once)
_TASK_READY = "() => typeof WOB_TASK_READY === 'undefined' || !!WOB_TASK_READY"
#: end the page's running episode without a reward (the miniwob driver's ``force_stop``); false
#: when the page holds no started MiniWoB task
_FORCE_STOP = "() => { if (typeof core === 'undefined' || !core.cover_div) return false; core.endEpisode(0); return true; }"


@attrs.frozen
class EpisodeState:
    """MiniWoB's end-of-episode globals as last read."""

    done: bool = False
    raw_reward: float = 0.0
    reward: float = 0.0  # time-scaled (core.js), reported for reference only
    reason: str = ""

    @property
    def timed_out(self) -> bool:
        return self.done and self.reason == "timed out"


class MiniwobEnvironment(BrowserEnvironment):
    """One Chromium, one page server and one browser context, reused across episodes.

    MiniWoB pages keep no state outside their document (no cookies, no storage), and
    every reset loads the task's page anew or restarts it in place, so the context is kept
    (:attr:`~halo_core.env.browser.BrowserEnvironment.reuse_context`): a reset then
    skips opening a context and loads the page's scripts from the HTTP cache.
    """

    reuse_context = True

    def __init__(self, settings: EnvSettings | None = None, *, episode_max_ms: int = EPISODE_MAX_MS,
                 restart_in_place: bool = True, action_timeout_ms: int | None = None, **kwargs: Any) -> None:
        if action_timeout_ms is not None:
            settings = attrs.evolve(settings or EnvSettings(), action_timeout_ms=int(action_timeout_ms))
        super().__init__(settings, **kwargs)
        self.episode_max_ms = int(episode_max_ms)
        self.restart_in_place = bool(restart_in_place)
        #: how the episodes of this environment started: page loads and restarts in place
        self.starts = {"loaded": 0, "in_place": 0}
        self.server: PageServer | None = None
        self.seed: int | None = None
        self.instruction = ""
        self.state = EpisodeState()
        self._episodes_at_start = 0

    # ------------------------------------------------------------------ task → page

    def _server(self) -> PageServer:
        if self.server is None:
            self.server = start_server()
        return self.server

    def task_name(self, task: TaskSpec) -> str:
        """The MiniWoB page of ``task`` (``raw["name"]``, else parsed from a ``miniwob.`` id)."""
        name = task.raw.get("name")
        if name:
            return str(name)
        if task.id.startswith(PREFIX):
            return parse_task_id(task.id)[0]
        raise EnvironmentDead(f"task {task.id!r} is not a MiniWoB task (ids look like miniwob.click-button@3)")

    def task_seed(self, task: TaskSpec) -> int:
        """The instance seed: the task's, else ``EnvSettings.seed`` (``--task-seed``), else 0."""
        if task.seed is not None:
            return int(task.seed)
        return int(self.settings.seed) if self.settings.seed is not None else 0

    def allowed_origins(self, task: TaskSpec) -> tuple[str, ...]:
        return (self._server().url,)

    # ------------------------------------------------------------------ episode API

    def reset(self, task: TaskSpec) -> RawObservation:
        self.state = EpisodeState()
        self.instruction = ""
        self.begin_episode(task)
        self.open_task(task)
        return attrs.evolve(self.observe(), goal=self.instruction, reward=0.0, info=self.info())

    def info(self) -> dict[str, Any]:
        """The facts every observation carries in ``info`` (see the module docstring)."""
        state = self.state
        return {"seed": self.seed, "instruction": self.instruction, "done": state.done,
                "raw_reward": state.raw_reward, "page_reader": self}

    def open_task(self, task: TaskSpec) -> None:
        name = self.task_name(task)
        self.seed = seed = self.task_seed(task)
        if self.restart_in_place and self._restart(name, seed):
            self.starts["in_place"] += 1
            return
        page = self.page
        load_ms = max(self.settings.navigation_timeout_ms, _PAGE_LOAD_TIMEOUT_MS)
        self.navigate(self._server().page_url(name), what=f"MiniWoB page {name}", timeout_ms=load_ms)
        self.starts["loaded"] += 1
        try:
            # window.onload runs core.startEpisode(), which builds the cover and display
            page.wait_for_function("() => typeof core !== 'undefined' && !!core.cover_div",
                                   timeout=load_ms)
        except playwright_errors() as exc:
            self.raise_if_dead(exc)
            raise EnvironmentDead(f"MiniWoB page {name} did not start: {one_line(exc)}") from None
        try:
            self.run_script(_START_EPISODE, self._start_args(seed))
        except ScriptError as exc:
            raise EnvironmentDead(f"MiniWoB task {name} (seed {seed}) failed to start: {exc}") from None
        try:
            page.wait_for_function(_TASK_READY, timeout=_READY_TIMEOUT_MS)
        except playwright_errors() as exc:
            self.raise_if_dead(exc)
            raise EnvironmentDead(f"MiniWoB task {name} (seed {seed}) never became ready: {one_line(exc)}") from None
        self._note_start()

    def _restart(self, name: str, seed: int) -> bool:
        """Start the next episode on the page already open, if it is ``name``'s page as loaded
        (not navigated away, not crashed, MiniWoB's ``core`` present); False to load it anew."""
        if name in RELOAD_EACH_EPISODE or self.server is None or self.page.url != self.server.page_url(name):
            return False
        try:
            if not self.page.evaluate(_FORCE_STOP):
                return False
            self.run_script(_START_EPISODE, self._start_args(seed))
            self.renumber_elements()  # the new problem's elements get the ids a fresh page gives them
            self.page.wait_for_function(_TASK_READY, timeout=_READY_TIMEOUT_MS)
        except ScriptError:
            return False  # the page is in no state to reuse: load it anew
        except playwright_errors() as exc:
            self.raise_if_dead(exc)
            return False
        self._note_start()
        return True

    def _start_args(self, seed: int) -> dict[str, Any]:
        """The argument of ``start_episode.js`` for ``seed``."""
        return {"seed": seed, "mode": split_of(seed), "maxTimeMs": self.episode_max_ms}

    def _note_start(self) -> None:
        """Read the started episode's instruction and MiniWoB's count of ended episodes."""
        state = self._read_state()
        self._episodes_at_start = int(state.get("episodes", 0))
        self.instruction = str(state.get("utterance") or "")

    def step(self, action: str) -> RawObservation:
        raw = super().step(action)
        if not self.state.done:
            self.state = self._episode_state()
        state = self.state
        return attrs.evolve(raw, terminated=state.done and not state.timed_out, truncated=state.timed_out,
                            reward=state.raw_reward, info=self.info())

    def evaluate(self, final_message: str, infeasible: bool) -> Evaluation:
        """MiniWoB's own verdict: raw reward > 0 is success; an episode MiniWoB did not end scores 0."""
        state = self.state if self.state.done or self.context is None else self._episode_state()
        info = {"seed": self.seed, "done": state.done, "raw_reward": state.raw_reward,
                "time_scaled_reward": state.reward, "reason": state.reason, "instruction": self.instruction}
        return Evaluation(reward=max(0.0, state.raw_reward), success=state.done and state.raw_reward > 0, info=info)

    def close(self) -> None:
        try:
            super().close()
        finally:
            if self.server is not None:
                self.server.close()
                self.server = None

    # ------------------------------------------------------------------ MiniWoB's globals

    def _read_state(self) -> dict:
        try:
            return dict(self.page.evaluate(_EPISODE_STATE) or {})
        except playwright_errors() as exc:
            self.raise_if_dead(exc)
            return {}

    def _episode_state(self) -> EpisodeState:
        state = self._read_state()
        # WOB_EPISODE_ID counts ended episodes: it moves even if a START click began another
        ended = bool(state.get("done")) or int(state.get("episodes", 0)) > self._episodes_at_start
        if not ended:
            return EpisodeState()
        return EpisodeState(done=True, raw_reward=float(state.get("rawReward", 0.0)),
                            reward=float(state.get("reward", 0.0)), reason=str(state.get("reason", "")))
