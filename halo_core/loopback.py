"""A loopback server speaking the chat-completions wire format, for tests.

``OpenAICompatibleLoopback`` (stdlib only) answers ``POST /v1/chat/completions``
(``choices[0].message.content``, ``usage.prompt_tokens/completion_tokens``), checks the
``Authorization: Bearer`` header, records every request, and can be told to fail:
``push(status=429, headers=...)``, ``push(sleep=2.0)``, ``fail_always = 500``. Error
bodies echo the key the client sent, as careless servers do, so a canary test can
prove HALO never repeats it. The first-party chat-completions backends' tests all use it;
it is here so third-party backend plugins can too.

``shop_site()`` and ``expert_reply()`` are a matching scripted site and "model".
"""

from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

from halo_core.testing import GraphEnvironment, Page


class OpenAICompatibleLoopback:
    def __init__(self, reply: Callable[[dict], str], *, key: str | None = None, model_echo: str | None = None) -> None:
        self.reply, self.key, self.model_echo = reply, key, model_echo
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
                sent_key = record["headers"].get("authorization", "").removeprefix("Bearer ").strip()
                if self.path.rstrip("/") != "/v1/chat/completions":
                    return self._send(404, {"error": {"message": f"no route {self.path}"}})
                if server.key is not None and sent_key != server.key:
                    return self._send(401, {"error": {"message": f"Incorrect API key provided: {sent_key}",
                                                      "type": "invalid_request_error", "code": "invalid_api_key"}})
                if fault and fault.get("status"):
                    return self._send(fault["status"], {"error": {"message": f"scripted failure (key {sent_key})"}},
                                      fault.get("headers") or {})
                if server.fail_always:
                    return self._send(server.fail_always, {"error": {"message": f"always failing (key {sent_key})"}})
                text = server.reply(body)
                prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in body.get("messages", []))
                self._send(200, {
                    "id": f"chatcmpl-{len(server.requests)}", "object": "chat.completion", "created": int(time.time()),
                    "model": server.model_echo or body.get("model", ""),
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": text}}],
                    "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": len(text.split()),
                              "total_tokens": prompt_tokens + len(text.split())},
                })

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
                except (BrokenPipeError, ConnectionResetError):  # the client timed out and left
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def push(self, **fault: Any) -> None:
        self.faults.append(fault)

    def __enter__(self) -> OpenAICompatibleLoopback:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


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


def expert_reply(prompt: str) -> str:
    """The next action toward the cart, read off the prompt like a model would."""
    match = re.search(r"URL: (?:https?://[^/\s]+)?/(\w+)", prompt)
    page = match.group(1) if match else "home"
    if page == "cart":
        return "send_msg_to_user('Added the widget to the cart')"
    name = ROUTE.get(page, "Home")
    bid = re.search(r"\[(\w+)\] \w+ '" + re.escape(name) + "'", prompt)
    return f"I will click {name}.\nclick('{bid.group(1) if bid else '1'}')"
