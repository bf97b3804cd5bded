"""A loopback Anthropic Messages API server and a scripted site for the tests.

``AnthropicLoopback`` (a :class:`halo_core.loopback.RecordingLoopback`) speaks
``POST /v1/messages`` in the real wire format (``content`` blocks, ``usage.input_tokens/output_tokens``), insists on the ``x-api-key`` and
``anthropic-version`` headers, records every request, and fails on demand:
``push(status=429, headers=...)``, ``push(sleep=...)``, ``fail_always = 500``. Error
bodies echo the key the client sent, so the canary test proves HALO never repeats it.
"""

from __future__ import annotations

from typing import Any

from halo_core.loopback import RecordingLoopback, Reply, expert_action

ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
               429: "rate_limit_error", 500: "api_error", 529: "overloaded_error"}


class AnthropicLoopback(RecordingLoopback):
    def respond(self, record: dict[str, Any], fault: dict[str, Any] | None) -> Reply:
        path, headers, body = record["path"], record["headers"], record["body"]
        sent_key = headers.get("x-api-key", "")
        if path.rstrip("/") != "/v1/messages":
            return _error(404, f"no route {path}")
        if not headers.get("anthropic-version"):
            return _error(400, "anthropic-version header is required")
        if self.key is not None and sent_key != self.key:
            return _error(401, f"invalid x-api-key {sent_key}")
        if "max_tokens" not in body or not body.get("messages"):
            return _error(400, "max_tokens and messages are required")
        if any(m.get("role") == "system" for m in body["messages"]):
            return _error(400, "messages: system is not a valid role; use the system parameter")
        if fault and fault.get("status"):
            return _error(fault["status"], f"scripted failure (key {sent_key})", fault.get("headers"))
        if self.fail_always:
            return _error(self.fail_always, f"always failing (key {sent_key})")
        text = self.reply(body)
        tokens_in = len(str(body.get("system", "")).split()) + sum(
            len(b.get("text", "").split()) for m in body["messages"] for b in _blocks(m))
        return 200, {
            "id": f"msg_{len(self.requests)}", "type": "message", "role": "assistant",
            "model": body.get("model"), "stop_reason": "end_turn", "stop_sequence": None,
            "content": [{"type": "text", "text": text}],
            "usage": {"input_tokens": tokens_in, "output_tokens": len(text.split())},
        }, None


def _error(status: int, message: str, headers: dict | None = None) -> Reply:
    return status, {"type": "error", "error": {"type": ERROR_TYPES.get(status, "api_error"), "message": message}}, headers


def _blocks(message: dict) -> list[dict]:
    content = message.get("content")
    return [{"type": "text", "text": content}] if isinstance(content, str) else list(content or [])


def last_user_text(body: dict) -> str:
    for message in reversed(body.get("messages", [])):
        if message.get("role") == "user":
            return "\n".join(b.get("text", "") for b in _blocks(message) if b.get("type") == "text")
    return ""


def expert_reply(prompt: str) -> str:
    """The shared scripted expert's next action, fenced as Claude tends to write it."""
    name, action = expert_action(prompt)
    return f"Next I click {name}.\n```\n{action}\n```" if name else action
