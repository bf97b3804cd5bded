"""halo_core.backends_http: the retry policy, Retry-After, redaction and prices (no network)."""

from __future__ import annotations

import email.utils
import logging
import random

import pytest

from halo_core.backends import BackendConfigError, BackendError, Message
from halo_core.backends_http import (
    Failure,
    RedactingFilter,
    RetryPolicy,
    backoff_delay,
    call_with_retries,
    classify_exception,
    parse_retry_after,
    price_for,
    redact,
    retry_after_from_headers,
)


def test_parse_retry_after_seconds_and_http_date():
    assert parse_retry_after("0") == 0.0 and parse_retry_after("2.5") == 2.5
    now = 1_700_000_000.0
    assert parse_retry_after(email.utils.formatdate(now + 30, usegmt=True), now=now) == pytest.approx(30)
    assert parse_retry_after(email.utils.formatdate(now - 30, usegmt=True), now=now) == 0.0
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None
    assert retry_after_from_headers({"Retry-After-Ms": "1500", "Retry-After": "9"}) == 1.5
    assert retry_after_from_headers({"retry-after": "4"}) == 4.0


def test_backoff_is_exponential_with_jitter_and_honours_retry_after():
    policy = RetryPolicy(base_s=1.0, cap_s=8.0, max_retry_after_s=60.0)
    rng = random.Random(0)
    for retry, full in enumerate([1, 2, 4, 8, 8]):
        delays = {backoff_delay(retry, policy, rng=rng) for _ in range(20)}
        assert all(full / 2 <= d <= full for d in delays) and len(delays) > 1
    assert backoff_delay(3, policy, retry_after=5.0) == 5.0
    assert backoff_delay(3, policy, retry_after=600.0) == 60.0


class StatusError(Exception):
    def __init__(self, status, headers=None):
        super().__init__(f"HTTP {status} for key sk-secret-abcdef123")
        self.status_code = status
        self.response = type("R", (), {"headers": headers or {}, "status_code": status})()


def test_call_with_retries_policy():
    slept = []
    calls = []

    def flaky(*errors):
        errors = list(errors)

        def fn():
            calls.append(1)
            if errors:
                raise errors.pop(0)
            return "ok"
        return fn

    policy = RetryPolicy(max_retries=2, base_s=0.0)
    assert call_with_retries(flaky(StatusError(429, {"retry-after": "7"}), TimeoutError()), policy=policy,
                             name="t", host="h", sleep=slept.append) == "ok"
    assert slept[0] == 7.0 and len(calls) == 3
    calls.clear()
    with pytest.raises(BackendError) as info:
        call_with_retries(flaky(*[StatusError(502)] * 5), policy=policy, name="t", host="h", sleep=slept.append)
    assert len(calls) == 3 and "after 3 attempts" in str(info.value) and "sk-secret" not in str(info.value)
    assert info.value.__context__ is None and info.value.__cause__ is None
    calls.clear()
    with pytest.raises(BackendConfigError, match=r"^MY_KEY was rejected by h \(403\)$"):
        call_with_retries(flaky(StatusError(403)), policy=policy, name="t", host="h", key_var="MY_KEY")
    assert len(calls) == 1


def test_classify_exception():
    assert classify_exception(TimeoutError()).kind == "timeout"
    assert classify_exception(ConnectionRefusedError()).kind == "connection"
    assert classify_exception(StatusError(529)).retryable
    assert not classify_exception(StatusError(400)).retryable
    assert classify_exception(StatusError(401)).auth
    assert classify_exception(ValueError("x")) == Failure("other", detail="ValueError: x")


def test_redaction(monkeypatch):
    monkeypatch.setenv("SOME_API_KEY", "abc123-very-secret")
    text = "key abc123-very-secret, sk-proj-ABCDEFGH, Authorization: Bearer tok_123456789, api_key=zzzzzzzz"
    clean = redact(text)
    for secret in ("abc123-very-secret", "sk-proj-ABCDEFGH", "tok_123456789", "zzzzzzzz"):
        assert secret not in clean
    record = logging.LogRecord("x", logging.DEBUG, __file__, 1, "sent %s", ("abc123-very-secret",), None)
    assert RedactingFilter().filter(record) and "abc123" not in record.getMessage()


def test_price_lookup_longest_prefix():
    prices = {"gpt-4o": (1, 1), "gpt-4o-mini": (2, 2)}
    assert price_for("gpt-4o-mini-2024-07-18", prices) == (2, 2)
    assert price_for("openai/gpt-4o-2024-08-06", prices) == (1, 1)
    assert price_for("llama", prices) is None
