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
"""

from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler
from typing import Any, Callable

from halo_core.local_server import LocalHTTPServer
from halo_core.testing import GraphEnvironment, Page

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
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for k, v in (headers or {}).items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client timed out and left
                    pass

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
