"""Loopback servers speaking model-API wire formats, for tests.

``RecordingLoopback`` is the part every such server shares: it serves ``POST`` on
127.0.0.1 (:class:`halo_core.local_server.LocalHTTPServer`), records every request
(``requests``: path, lower-cased headers, JSON body), can be told to fail
(``push(status=429, headers=...)``, ``push(sleep=2.0)``, ``fail_always = 500``) and sends
JSON replies; a subclass answers one request in :meth:`RecordingLoopback.respond`.

``OpenAICompatibleLoopback`` answers ``POST /v1/chat/completions``
(``choices[0].message.content``, ``usage.prompt_tokens/completion_tokens``) and checks the
``Authorization: Bearer`` header. Error bodies echo the key the client sent, as careless
servers do, so a canary test can prove HALO never repeats it. The first-party
chat-completions backends' tests all use it; it is here so third-party backend plugins can
too, and so a backend plugin with another wire format can subclass ``RecordingLoopback``.

``shop_site()``, ``expert_action()`` and ``expert_reply()`` are a matching scripted site and "model".

``LoopbackBackendCase`` is one HTTP backend against its loopback server, and the ``check_*``
functions are the tests every such backend passes alike (retries, timeouts, unusable output,
a key that must never leak), so a backend plugin's suite states only what is its own.
"""

from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, Callable, Iterator

import attrs
import pytest

from halo_core.backends import BackendConfigError, BackendError, BackendSettings, Completion, Message
from halo_core.local_server import LocalHTTPServer, send_body
from halo_core.model import EpisodeResult, TaskSpec
from halo_core.testing import GraphEnvironment, Page, assert_key_never_leaks, make_runtime, within

#: what :meth:`RecordingLoopback.respond` returns: status, JSON payload, extra headers
Reply = tuple[int, dict[str, Any], dict[str, str] | None]


class RecordingLoopback:
    """A JSON-over-HTTP API stand-in on 127.0.0.1 that records requests and fails on demand.

    ``reply(body) -> str`` makes the model's text; ``key`` (when set) is the only key the
    subclass accepts. ``url`` is the base URL followed by :attr:`url_path`.
    """

    url_path = ""

    def __init__(self, reply: Callable[[dict], str], *, key: str | None = None) -> None:
        self.reply, self.key = reply, key
        self.requests: list[dict[str, Any]] = []
        self.faults: list[dict[str, Any]] = []
        self.fail_always: int | None = None
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                record = {"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}, "body": body}
                with server.lock:
                    server.requests.append(record)
                    fault = server.faults.pop(0) if server.faults else None
                if fault and fault.get("sleep"):
                    time.sleep(fault["sleep"])
                status, payload, headers = server.respond(record, fault)
                send_body(self, status, json.dumps(payload), "application/json", headers)

        self.server = LocalHTTPServer(Handler, start=False, poll_interval=0.05)

    def respond(self, record: dict[str, Any], fault: dict[str, Any] | None) -> Reply:
        """The reply to one recorded request (``fault``: the scripted fault popped for it)."""
        raise NotImplementedError

    @property
    def url(self) -> str:
        return self.server.url + self.url_path

    def push(self, **fault: Any) -> None:
        self.faults.append(fault)

    def __enter__(self):
        self.server.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.close()


class OpenAICompatibleLoopback(RecordingLoopback):
    url_path = "/v1"

    def __init__(self, reply: Callable[[dict], str], *, key: str | None = None, model_echo: str | None = None) -> None:
        super().__init__(reply, key=key)
        self.model_echo = model_echo

    def respond(self, record: dict[str, Any], fault: dict[str, Any] | None) -> Reply:
        path, body = record["path"], record["body"]
        sent_key = record["headers"].get("authorization", "").removeprefix("Bearer ").strip()
        if path.rstrip("/") != "/v1/chat/completions":
            return 404, {"error": {"message": f"no route {path}"}}, None
        if self.key is not None and sent_key != self.key:
            return 401, {"error": {"message": f"Incorrect API key provided: {sent_key}",
                                   "type": "invalid_request_error", "code": "invalid_api_key"}}, None
        if fault and fault.get("status"):
            return fault["status"], {"error": {"message": f"scripted failure (key {sent_key})"}}, fault.get("headers")
        if self.fail_always:
            return self.fail_always, {"error": {"message": f"always failing (key {sent_key})"}}, None
        text = self.reply(body)
        prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in body.get("messages", []))
        return 200, {
            "id": f"chatcmpl-{len(self.requests)}", "object": "chat.completion", "created": int(time.time()),
            "model": self.model_echo or body.get("model", ""),
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": len(text.split()),
                      "total_tokens": prompt_tokens + len(text.split())},
        }, None


# --------------------------------------------------------------------------- a scripted site

def shop_site() -> GraphEnvironment:
    """home → products → widget → cart (goal)."""
    pages = {
        "home": Page("Home", [("link", "Products", "products"), ("link", "About", "about")], heading="Welcome"),
        "about": Page("About", [("link", "Home", "home")], heading="About us"),
        "products": Page("Products", [("link", "Widget", "widget"), ("link", "Gadget", "gadget"),
                                      ("link", "Home", "home")], heading="All products"),
        "gadget": Page("Gadget", [("link", "Products", "products")], heading="Gadget"),
        "widget": Page("Widget", [("button", "Add to basket", "cart"), ("link", "Products", "products")],
                       heading="Widget"),
        "cart": Page("Your cart", [("button", "Checkout", "checkout")], heading="Cart"),
        "checkout": Page("Checkout", [], heading="Checkout"),
    }
    return GraphEnvironment(pages, goal_page="cart")


ROUTE = {"home": "Products", "products": "Widget", "widget": "Add to basket"}


def last_user_text(body: dict) -> str:
    """The text of the last user message (string content or text parts)."""
    for message in reversed(body.get("messages", [])):
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, list):
                return "\n".join(p.get("text", "") for p in content if p.get("type") == "text")
            return str(content)
    return ""


def chat_screenshot_url(request: dict[str, Any]) -> str:
    """The image data URL in a recorded chat-completions request's first user message: the
    screenshot a vision backend sent ("" when that message is text only)."""
    for message in request["body"].get("messages", []):
        if message.get("role") == "user":
            parts = message.get("content")
            if not isinstance(parts, list):
                return ""
            return next((p["image_url"]["url"] for p in parts if p.get("type") == "image_url"), "")
    return ""


def expert_action(prompt: str) -> tuple[str, str]:
    """(the name clicked, or "" at the goal; the action): the next step toward the cart, read off
    the prompt like a model would."""
    match = re.search(r"URL: (?:https?://[^/\s]+)?/(\w+)", prompt)
    page = match.group(1) if match else "home"
    if page == "cart":
        return "", "send_msg_to_user('Added the widget to the cart')"
    name = ROUTE.get(page, "Home")
    bid = re.search(r"\[(\w+)\] \w+ '" + re.escape(name) + "'", prompt)
    return name, f"click('{bid.group(1) if bid else '1'}')"


def expert_reply(prompt: str) -> str:
    """The next action toward the cart, with a sentence of reasoning before it."""
    name, action = expert_action(prompt)
    return f"I will click {name}.\n{action}" if name else action


# --------------------------------------------------------------------------- a backend against its loopback

#: retries without waiting, so failure tests stay fast
FAST = {"retry_base_s": 0.01}
CART_TASK = TaskSpec(id="graph.cart", goal="Put the widget in the cart", suite="graph")


def _expert(body: dict) -> str:
    return expert_reply(last_user_text(body))


@attrs.frozen
class LoopbackBackendCase:
    """An HTTP backend plugin's backend, served by its loopback server, for the shared checks.

    ``backend(model, settings)`` builds the backend (its class); ``loopback`` is its
    :class:`RecordingLoopback` class; ``plugin`` registers it under ``prefix``; ``key`` is the
    API key the tests set in ``key_env``; ``reply`` is the loopback's model by default (the
    expert on :func:`shop_site`).
    """

    backend: Callable[..., Any]
    loopback: Callable[..., RecordingLoopback]
    plugin: Any
    prefix: str
    model: str
    key: str
    key_env: str
    reply: Callable[[dict], str] = _expert

    def isolate(self, monkeypatch: pytest.MonkeyPatch, *unset: str) -> None:
        """Set the case's key in ``key_env`` and unset ``unset`` (the backend's base-URL variables)
        and ``HALO_PRICES``, so the machine's own settings do not reach the test."""
        monkeypatch.setenv(self.key_env, self.key)
        for name in (*unset, "HALO_PRICES"):
            monkeypatch.delenv(name, raising=False)

    def fixtures(self, *unset: str) -> tuple[Any, Any]:
        """The test module's two fixtures, to assign at module level
        (``_isolated, server = CASE.fixtures("MY_BASE_URL")``): an autouse one running
        :meth:`isolate` with ``unset``, and ``server``, the loopback serving :attr:`reply`."""

        @pytest.fixture(autouse=True, name="_isolated_backend_environment")
        def isolated(monkeypatch: pytest.MonkeyPatch) -> None:
            self.isolate(monkeypatch, *unset)

        @pytest.fixture(name="server")
        def server() -> Iterator[RecordingLoopback]:
            with self.serve() as srv:
                yield srv

        return isolated, server

    def serve(self, reply: Callable[[dict], str] | None = None, *, key: str | None = None) -> RecordingLoopback:
        """The loopback server (a context manager), accepting ``key`` (default: the case's)."""
        return self.loopback(reply or self.reply, key=self.key if key is None else key)

    def make(self, server: RecordingLoopback, model: str | None = None, **settings: Any) -> Any:
        """The backend against ``server``, retrying without waiting; ``settings``: BackendSettings'."""
        extra = {**FAST, **settings.pop("extra", {})}
        return self.backend(model or self.model, BackendSettings(base_url=server.url, extra=extra, **settings))

    def config(self, **overrides: Any):
        """The ``baseline_worker`` config with this backend as the worker (eight steps, no screenshot)."""
        from halo_core.config import mode_config

        base = dict(max_steps=8, use_screenshot=False, worker_backend=f"{self.prefix}:{self.model}")
        return mode_config("baseline_worker", env={}, **{**base, **overrides})

    def episode(self, backend: Any, data_dir: str | Path, *, runtime: Any = None, attempt: int = 0,
                **config: Any) -> EpisodeResult:
        """One episode of :data:`CART_TASK` on :func:`shop_site` with ``backend`` as the worker."""
        from halo_core.loop import run_episode

        return run_episode(CART_TASK, self.config(**config), shop_site(), runtime or make_runtime(self.plugin),
                           backends={"worker": backend}, data_dir=data_dir, attempt=attempt)


def check_persistent_500(case: LoopbackBackendCase, server: RecordingLoopback, data_dir: str | Path) -> None:
    """A server that always answers 500: the call fails after ``max_retries`` + 1 attempts, the
    episode ends in an error naming the status, and the next episode with the same backend runs."""
    runtime = make_runtime(case.plugin)
    server.fail_always = 500
    backend = case.make(server, max_retries=2)
    with pytest.raises(BackendError, match="after 3 attempts"):
        backend.complete([Message("user", "hi")])
    assert len(server.requests) == 3
    failed = case.episode(backend, data_dir, runtime=runtime)
    assert failed.terminated_by == "error" and not failed.success
    assert "BackendError" in failed.error and "500" in failed.error
    server.fail_always = None
    ok = case.episode(backend, data_dir, runtime=runtime, attempt=1)
    assert ok.success and ok.terminated_by == "message"


def check_timeout_is_retried_then_fails(case: LoopbackBackendCase, server: RecordingLoopback) -> None:
    """Two answers later than the client waits: one retry, then a "timed out" error, without
    waiting either answer out."""
    stall = within(1.5)  # waiting both stalls out would take 2 * stall
    server.push(sleep=stall)
    server.push(sleep=stall)
    started = time.monotonic()
    with pytest.raises(BackendError, match="timed out"):
        case.make(server, timeout_s=0.5, max_retries=1).complete([Message("user", "hi")])
    assert len(server.requests) == 2
    assert time.monotonic() - started < 2 * stall


def check_unusable_output_is_asked_again_once(case: LoopbackBackendCase, data_dir: str | Path,
                                              text: str = "I am not sure what to do here.",
                                              ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """A model that never names an action: one step asks twice, then records an action error.
    Returns the recorded requests and the step's trajectory record."""
    with case.serve(lambda body: text) as server:
        result = case.episode(case.make(server), data_dir, max_steps=1)
    assert len(server.requests) == 2 and result.usage.calls == 2 and result.terminated_by == "max_steps"
    step = [json.loads(line) for line in next(Path(data_dir).rglob("*.jsonl")).read_text().splitlines()][1]
    assert step["last_action_error"]
    return server.requests, step


def check_key_never_leaks(case: LoopbackBackendCase, monkeypatch: pytest.MonkeyPatch, data_dir: str | Path,
                          logs: Callable[[], str]) -> None:
    """:func:`halo_core.testing.assert_key_never_leaks` for ``case``: a canary key, set in the
    case's ``key_env``, against a server that rejects it and one that accepts it."""
    canary = "sk-canary-XXXX"
    monkeypatch.setenv(case.key_env, canary)
    runtime = make_runtime(case.plugin)

    def run(backend: Any, n: int) -> str:
        result = case.episode(backend, data_dir, runtime=runtime, attempt=n, max_steps=1)
        return result.error + json.dumps(dict(result.info))

    with case.serve(lambda body: "nothing", key="sk-other-000") as wrong, \
            case.serve(lambda body: "nothing", key=canary) as server:
        assert_key_never_leaks(canary, case.make, wrong, server, run, logs, data_dir)


def check_full_episode(case: LoopbackBackendCase, server: RecordingLoopback, monkeypatch: pytest.MonkeyPatch,
                       base_url_env: str, data_dir: str | Path) -> EpisodeResult:
    """The runtime builds the worker from its spec, pointed at ``server`` by ``base_url_env``,
    and the expert reaches the cart in four steps of one call each. Returns the result."""
    from halo_core.loop import run_episode

    monkeypatch.setenv(base_url_env, server.url)
    result = run_episode(CART_TASK, case.config(), shop_site(), make_runtime(case.plugin), data_dir=data_dir)
    assert result.success and result.terminated_by == "message", result.error
    assert result.steps == 4 and result.usage.calls == 4
    return result


def check_retried_until_answered(case: LoopbackBackendCase, server: RecordingLoopback, *statuses: int,
                                 prompt: str = "hi") -> Completion:
    """A 429 (``Retry-After: 0``) and then each of ``statuses`` (two retries in all at most) are
    retried until the server answers: one call, every attempt made. Returns the completion."""
    server.push(status=429, headers={"Retry-After": "0"})
    for status in statuses:
        server.push(status=status)
    completion = case.make(server, max_retries=2).complete([Message("user", prompt)])
    assert completion.usage.calls == 1 and len(server.requests) == 2 + len(statuses)
    return completion


def check_rejected_key_is_a_config_error(case: LoopbackBackendCase, server: RecordingLoopback,
                                         monkeypatch: pytest.MonkeyPatch, wrong_key: str) -> BackendConfigError:
    """``wrong_key`` in the case's ``key_env``: one request, no retry, and a configuration error
    naming the variable and the server (never the key). Returns the error."""
    monkeypatch.setenv(case.key_env, wrong_key)
    with pytest.raises(BackendConfigError) as info:
        case.make(server, max_retries=3).complete([Message("user", "hi")])
    message = str(info.value)
    assert message.startswith(f"{case.key_env} was rejected by 127.0.0.1:") and "(401)" in message
    assert wrong_key not in message and len(server.requests) == 1
    return info.value


def check_chat_completions_round_trip(case: LoopbackBackendCase, server: RecordingLoopback,
                                      served_model: str) -> tuple[Any, Completion, dict[str, Any]]:
    """One call to an :class:`OpenAICompatibleLoopback`: the path, the Bearer key, the model the
    server is asked for (``served_model``), the sampling settings and the system message go out,
    and the expert's click comes back. Returns the backend, the completion and the request body."""
    backend = case.make(server, temperature=0.3, seed=7, max_tokens=55)
    completion = backend.complete([Message("system", "Be brief."),
                                   Message("user", "URL: http://graph.test/home\n[1] link 'Products'")])
    assert completion.text.endswith("click('1')")
    (request,) = server.requests
    assert request["path"] == "/v1/chat/completions"
    assert request["headers"]["authorization"] == f"Bearer {case.key}"
    body = request["body"]
    assert body["model"] == served_model and body["temperature"] == 0.3 and body["seed"] == 7
    assert body["max_tokens"] == 55 and body["messages"][0] == {"role": "system", "content": "Be brief."}
    return backend, completion, body
