"""A loopback Anthropic Messages API server (stdlib only) and a scripted site for the tests.

``AnthropicLoopback`` speaks ``POST /v1/messages`` in the real wire format (``content``
blocks, ``usage.input_tokens/output_tokens``), insists on the ``x-api-key`` and
``anthropic-version`` headers, records every request, and fails on demand:
``push(status=429, headers=...)``, ``push(sleep=...)``, ``fail_always = 500``. Error
bodies echo the key the client sent, so the canary test proves HALO never repeats it.
"""

from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

from halo_core.testing import GraphEnvironment, Page

ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
               429: "rate_limit_error", 500: "api_error", 529: "overloaded_error"}


class AnthropicLoopback:
    def __init__(self, reply: Callable[[dict], str], *, key: str | None = None) -> None:
        self.reply, self.key = reply, key
        self.requests: list[dict[str, Any]] = []
        self.faults: list[dict[str, Any]] = []
        self.fail_always: int | None = None
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                headers = {k.lower(): v for k, v in self.headers.items()}
                with server.lock:
                    server.requests.append({"path": self.path, "headers": headers, "body": body})
                    fault = server.faults.pop(0) if server.faults else None
                if fault and fault.get("sleep"):
                    time.sleep(fault["sleep"])
                sent_key = headers.get("x-api-key", "")
                if self.path.rstrip("/") != "/v1/messages":
                    return self._error(404, f"no route {self.path}")
                if not headers.get("anthropic-version"):
                    return self._error(400, "anthropic-version header is required")
                if server.key is not None and sent_key != server.key:
                    return self._error(401, f"invalid x-api-key {sent_key}")
                if "max_tokens" not in body or not body.get("messages"):
                    return self._error(400, "max_tokens and messages are required")
                if any(m.get("role") == "system" for m in body["messages"]):
                    return self._error(400, "messages: system is not a valid role; use the system parameter")
                if fault and fault.get("status"):
                    return self._error(fault["status"], f"scripted failure (key {sent_key})", fault.get("headers"))
                if server.fail_always:
                    return self._error(server.fail_always, f"always failing (key {sent_key})")
                text = server.reply(body)
                tokens_in = len(str(body.get("system", "")).split()) + sum(
                    len(b.get("text", "").split()) for m in body["messages"] for b in _blocks(m))
                self._send(200, {
                    "id": f"msg_{len(server.requests)}", "type": "message", "role": "assistant",
                    "model": body.get("model"), "stop_reason": "end_turn", "stop_sequence": None,
                    "content": [{"type": "text", "text": text}],
                    "usage": {"input_tokens": tokens_in, "output_tokens": len(text.split())},
                })

            def _error(self, status, message, headers=None):
                self._send(status, {"type": "error", "error": {"type": ERROR_TYPES.get(status, "api_error"),
                                                               "message": message}}, headers)

            def _send(self, status, payload, headers=None):
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for k, v in (headers or {}).items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def push(self, **fault: Any) -> None:
        self.faults.append(fault)

    def __enter__(self) -> AnthropicLoopback:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _blocks(message: dict) -> list[dict]:
    content = message.get("content")
    return [{"type": "text", "text": content}] if isinstance(content, str) else list(content or [])


def last_user_text(body: dict) -> str:
    for message in reversed(body.get("messages", [])):
        if message.get("role") == "user":
            return "\n".join(b.get("text", "") for b in _blocks(message) if b.get("type") == "text")
    return ""


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


def expert_reply(prompt: str) -> str:
    match = re.search(r"URL: (?:https?://[^/\s]+)?/(\w+)", prompt)
    page = match.group(1) if match else "home"
    if page == "cart":
        return "send_msg_to_user('Added the widget to the cart')"
    name = ROUTE.get(page, "Home")
    bid = re.search(r"\[(\w+)\] \w+ '" + re.escape(name) + "'", prompt)
    return f"Next I click {name}.\n```\nclick('{bid.group(1) if bid else '1'}')\n```"
