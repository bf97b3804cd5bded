"""Helpers for testing HALO plugins: a pytest plugin (entry point ``pytest11``).

For plugin authors:

* :func:`check_environment` and :func:`check_backend` — conformance checks to run
  against your own environment or backend in your own suite.
* :class:`GraphEnvironment` — a small in-memory environment (pages, links, forms)
  that follows the environment protocol, for testing decide/verify plugins without
  a browser.
* :class:`ScriptedBackend` — an in-process backend answering from a function, for
  testing policies without a model.
* fixtures ``halo_runtime`` (a runtime with only the built-ins plus the plugins you
  pass), ``graph_env`` and ``scripted_backend``.
* :func:`serve_html` — HTML pages served on 127.0.0.1 for a browser test, their URL yielded.
* :func:`within` — a wall-clock bound scaled by the machine's load, so a test asserting
  "this did not wait out a timeout" does not fail only because the CPU is busy.
"""

from __future__ import annotations

import contextlib
import os
import re
from http.server import BaseHTTPRequestHandler
from typing import Any, Callable, Iterator, Sequence

import attrs
import pytest

from halo_core.actions import ActionError, parse_action, validate_action
from halo_core.backends import Backend, BackendSettings, Completion, Message
from halo_core.env.protocol import EnvironmentDead
from halo_core.local_server import LocalHTTPServer, send_body
from halo_core.model import AXNode, Evaluation, RawObservation, TaskSpec, Usage

__all__ = ["GraphEnvironment", "Page", "ScriptedBackend", "check_backend", "check_environment", "make_runtime"]


# --------------------------------------------------------------------------- conformance


def check_environment(env, task: TaskSpec) -> None:
    """Assert that ``env`` follows HALO's environment protocol on ``task``.

    Resets, takes an invalid action (must be reported, not raised), a no-op, a
    terminal message, evaluates and closes twice.
    """
    raw = env.reset(task)
    assert isinstance(raw, RawObservation), f"reset() must return RawObservation, got {type(raw).__name__}"
    assert isinstance(raw.goal, str), "RawObservation.goal (the instruction at reset) must be a string"
    assert isinstance(raw.terminated, bool) and isinstance(raw.truncated, bool), "terminated/truncated must be bools"
    assert not raw.terminated and not raw.truncated, "an episode must not be over at reset"
    assert isinstance(raw.url, str) and raw.url, "observation needs a URL"
    assert all(isinstance(n, AXNode) for n in raw.axtree), "axtree must hold AXNode items"
    bids = [n.bid for n in raw.axtree if n.bid]
    assert len(bids) == len(set(bids)), "bids must be unique within an observation"
    bad = env.step("click('definitely-not-a-bid')")
    assert isinstance(bad, RawObservation), "step() must return RawObservation"
    assert bad.last_action_error, "an action on an unknown bid must set last_action_error"
    garbage = env.step("this is not an action")
    assert garbage.last_action_error, "an unparseable action must set last_action_error"
    ok = env.step("noop()")
    assert not ok.last_action_error, f"noop() failed: {ok.last_action_error}"
    env.step("send_msg_to_user('done')")
    evaluation = env.evaluate("done", False)
    assert isinstance(evaluation, Evaluation), "evaluate() must return Evaluation"
    assert 0.0 <= evaluation.reward, "reward must be non-negative"
    env.close()
    env.close()  # idempotent


def _page_key(raw: RawObservation) -> tuple:
    return raw.goal, tuple((n.role, n.name, n.value) for n in raw.axtree)


def check_seeded_environment(env, task: TaskSpec, seeds: tuple[int, ...] = (1, 2, 3)) -> None:
    """Assert that a procedurally generated environment is deterministic per seed
    (Gymnasium's reset-determinism check): the same ``task.seed`` gives the same
    instruction and page twice, and different seeds give different instances."""
    import attrs as _attrs

    seen = {}
    for seed in seeds:
        instance = _attrs.evolve(task, seed=seed)
        first = _page_key(env.reset(instance))
        again = _page_key(env.reset(instance))
        assert first == again, f"seed {seed}: two resets gave different instructions or pages"
        seen[seed] = first
    if len(seeds) > 1:
        assert len(set(seen.values())) > 1, f"seeds {seeds} all gave the same instance: is the seed used?"
    env.close()


def check_backend(backend: Backend) -> None:
    """Assert that ``backend`` follows HALO's backend protocol (makes one call)."""
    assert isinstance(getattr(backend, "name", None), str) and ":" in backend.name, "name must be prefix:model"
    assert isinstance(getattr(backend, "supports_images", None), bool), "supports_images must be a bool"
    completion = backend.complete([Message("system", "Reply with one action."), Message("user", "Goal: say hi")])
    assert isinstance(completion, Completion), "complete() must return Completion"
    assert isinstance(completion.text, str), "Completion.text must be str"
    u = completion.usage
    assert isinstance(u, Usage) and u.calls >= 1, "usage must count the call"
    assert u.tokens_in >= 0 and u.tokens_out >= 0 and u.cost >= 0 and u.latency_ms >= 0


def assert_key_never_leaks(canary: str, make_backend: Callable[..., Any], wrong_server: Any, server: Any,
                           run: Callable[[Any, int], str], logs: Callable[[], str], data_dir) -> None:
    """Drive a backend through the failures that tend to echo an API key — a rejected key,
    a persistent 500, a 400, timeouts — and assert ``canary`` (the configured key) appears in
    no error, traceback, result, log line or trajectory.

    ``make_backend(server, **settings)`` builds the backend against a loopback server that
    speaks its wire protocol (``fail_always``, ``push(sleep=...)``); ``run(backend, attempt)``
    runs one episode with it and returns the text it produced (error and info); ``logs()``
    returns what logging captured.
    """
    import traceback as _traceback

    texts: list[str] = []

    def attempt(backend, n: int) -> None:
        try:
            backend.complete([Message("user", "hi")])
        except Exception as exc:  # the backend's own error type
            texts.append(str(exc) + "".join(_traceback.format_exception(exc)))
        texts.append(run(backend, n))

    attempt(make_backend(wrong_server), 0)
    server.fail_always = 500
    attempt(make_backend(server, max_retries=1), 1)
    server.fail_always = 400
    attempt(make_backend(server, max_retries=1), 2)
    server.fail_always = None
    for _ in range(4):
        server.push(sleep=0.6)
    attempt(make_backend(server, max_retries=1, timeout_s=0.3), 3)
    attempt(make_backend(server), 4)
    for text in texts:
        assert canary not in text, text[:500]
    assert canary not in logs()
    from pathlib import Path as _Path

    for path in _Path(data_dir).rglob("*.jsonl"):
        assert canary not in path.read_text()


# --------------------------------------------------------------------------- GraphEnvironment


@attrs.define
class Page:
    """A page of a :class:`GraphEnvironment`: a title and its controls.

    ``controls`` are ``(role, name, target)``: a link/button navigates to page
    ``target``; a textbox (target None) can be filled.
    """

    title: str
    controls: list[tuple[str, str, str | None]] = attrs.field(factory=list)
    heading: str = ""


class GraphEnvironment:
    """An in-memory site: pages connected by links and buttons.

    Success is reaching ``goal_page`` and sending a message, or, for retrieval
    tasks, sending a message containing ``answer``.
    """

    def __init__(self, pages: dict[str, Page], start: str = "home", *, goal_page: str | None = None,
                 answer: str | None = None, host: str = "graph.test") -> None:
        self.pages, self.start, self.goal_page, self.answer, self.host = pages, start, goal_page, answer, host
        self.current = start
        self.values: dict[str, str] = {}
        self.visited: list[str] = []
        self.dead = False
        self.closed = 0
        self.message = ""

    def kill(self) -> None:
        """Simulate the environment dying (as a crashed browser would)."""
        self.dead = True

    def _observe(self, action: str = "", error: str = "") -> RawObservation:
        page = self.pages[self.current]
        nodes = [AXNode("RootWebArea", page.title, depth=0)]
        if page.heading:
            nodes.append(AXNode("heading", page.heading, depth=1))
        for i, (role, name, _target) in enumerate(page.controls):
            key = f"{self.current}:{i}"
            nodes.append(AXNode(role, name, bid=str(i + 1), value=self.values.get(key, ""), depth=1))
        return RawObservation(url=f"http://{self.host}/{self.current}", title=page.title, axtree=tuple(nodes),
                              last_action=action, last_action_error=error)

    def reset(self, task: TaskSpec) -> RawObservation:
        if self.dead:
            raise EnvironmentDead("graph environment is dead")
        self.current, self.values, self.visited, self.message = self.start, {}, [self.start], ""
        return self._observe()

    def step(self, action: str) -> RawObservation:
        if self.dead:
            raise EnvironmentDead("graph environment died mid-episode")
        page = self.pages[self.current]
        valid = [str(i + 1) for i in range(len(page.controls))]
        try:
            parsed = parse_action(action)
            validate_action(parsed, valid)
        except ActionError as exc:
            return self._observe(action, str(exc))
        if parsed.bid is not None:
            role, _name, target = page.controls[int(parsed.bid) - 1]
            if parsed.name == "fill":
                self.values[f"{self.current}:{int(parsed.bid) - 1}"] = str(parsed.args[1])
            elif parsed.name == "click" and target:
                self.current = target
                self.visited.append(target)
        elif parsed.name == "go_back" and len(self.visited) > 1:
            self.visited.pop()
            self.current = self.visited[-1]
        elif parsed.is_terminal:
            self.message = str(parsed.args[0])
        return self._observe(action)

    def evaluate(self, final_message: str, infeasible: bool) -> Evaluation:
        if self.answer is not None:
            ok = self.answer.lower() in (final_message or "").lower()
        else:
            ok = self.goal_page is not None and self.current == self.goal_page and not infeasible
        return Evaluation(reward=1.0 if ok else 0.0, success=ok, info={"page": self.current})

    def close(self) -> None:
        self.closed += 1


# --------------------------------------------------------------------------- ScriptedBackend


class ScriptedBackend:
    """A backend answering from ``reply(messages) -> str`` in-process; counts calls.

    ``tokens`` are counted as whitespace-separated words, so accounting is exercised.
    """

    supports_images = False

    def __init__(self, reply: Callable[[Sequence[Message]], str] | Sequence[str], name: str = "scripted:test",
                 cost_per_call: float = 0.0) -> None:
        if not callable(reply):
            answers = list(reply)
            reply = lambda messages: answers.pop(0) if answers else "noop()"  # noqa: E731
        self.reply, self.name, self.cost_per_call = reply, name, cost_per_call
        self.calls: list[list[Message]] = []

    def complete(self, messages: Sequence[Message], **options: Any) -> Completion:
        self.calls.append(list(messages))
        text = self.reply(messages)
        tokens_in = sum(len(m.content.split()) for m in messages)
        return Completion(text, Usage(calls=1, tokens_in=tokens_in, tokens_out=len(text.split()),
                                      cost=self.cost_per_call, latency_ms=0.0), model=self.name)

    def check(self) -> None:
        return None


def goal_of(messages: Sequence[Message]) -> str:
    match = re.search(r"Goal: (.*)", messages[-1].content)
    return match.group(1) if match else ""


def make_runtime(*plugins: Any, entrypoints: bool = False):
    """A Runtime with the built-ins, optionally the installed plugins, plus ``plugins``."""
    from halo_core.plugins import make_plugin_manager
    from halo_core.runtime import Runtime

    return Runtime(make_plugin_manager(load_entrypoints=entrypoints, extra=plugins))


# --------------------------------------------------------------------------- wall-clock bounds


def load_factor() -> float:
    """How many times slower than idle this machine runs now: a multiplier for a test's
    wall-clock bounds, so they hold beside a CPU hog or a second test run.

    ``HALO_TEST_TIME_FACTOR`` when set; else the one-minute load average per usable CPU,
    between 1 (a quiet machine keeps the bound as written) and 20.
    """
    raw = os.environ.get("HALO_TEST_TIME_FACTOR", "").strip()
    if raw:
        return max(1.0, float(raw))
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        cpus = os.cpu_count() or 1
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):
        return 1.0
    return min(20.0, max(1.0, load / max(1, cpus)))


def within(seconds: float) -> float:
    """``seconds`` scaled by :func:`load_factor`: ``assert elapsed < within(2.0)``."""
    return seconds * load_factor()


# --------------------------------------------------------------------------- fixtures


@pytest.fixture
def halo_runtime():
    """A factory: ``halo_runtime(plugin, ...)`` → Runtime with the built-ins and those plugins."""
    return make_runtime


@pytest.fixture
def scripted_backend():
    """A factory for :class:`ScriptedBackend`."""
    return ScriptedBackend


@pytest.fixture
def graph_env():
    """A factory for :class:`GraphEnvironment`."""
    return GraphEnvironment


__all__ += ["goal_of", "BackendSettings", "load_factor", "serve_html", "within"]


@contextlib.contextmanager
def serve_html(page: str | dict[str, str], hits: list[str] | None = None) -> Iterator[str]:
    """HTML served on 127.0.0.1, its URL (ending in ``/``) yielded; stopped on exit. ``page`` is one
    page for every path, or {path: page} (other paths get 404). ``hits`` collects every request's path."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            if hits is not None:
                hits.append(self.path)
            body = page.get(self.path) if isinstance(page, dict) else page
            if body is None:
                self.send_error(404)
                return
            send_body(self, 200, body)

        def log_message(self, *args) -> None:
            pass

    with LocalHTTPServer(Handler) as server:
        yield server.url + "/"
