"""What every remote model backend shares: retries, secrets, prices, accounting, wire helpers.

Backend plugins build on :class:`RemoteBackend`, which gives each of them the same behaviour:

* **Retries.** 429, 408/409, 5xx, connection errors and timeouts are retried with
  exponential backoff and jitter, at most ``settings.max_retries`` times, honouring a
  ``Retry-After`` header (seconds or an HTTP date; ``retry-after-ms`` too). The client
  libraries' own retries must be off (``max_retries=0``) so this policy is the one in
  force. When the retries are spent a :class:`~halo_core.backends.BackendError` with a
  one-line message is raised.
* **Keys.** A missing key is a :class:`~halo_core.backends.BackendConfigError` naming
  the variable (from ``check()``, which spends no tokens); a key the server rejects
  (401/403) is one too, raised at once without retrying. A key never appears in a
  message, a log record or an exception: every text leaving this module goes through
  :func:`redact`, and errors are raised outside the client's exception context so no
  traceback carries the client's own message.
* **Accounting.** Each call returns ``Usage(calls=1, tokens_in, tokens_out, cost,
  latency_ms)``; cost comes from the backend class's ``default_prices`` ($ per 1M
  input/output tokens; each backend plugin owns its provider's prices), overridden by the
  JSON file named by ``HALO_PRICES`` and then by ``settings.prices``. An unknown model costs 0 and says so once (``warnings``).
  ``latency_ms`` is the wall time of the whole call, retries and waits included.

Settings read from ``BackendSettings.extra`` (all optional):

``retry_base_s`` (0.5)
    first backoff delay; doubled each retry, capped by ``retry_cap_s`` (30).
``max_retry_after_s`` (120)
    the longest ``Retry-After`` honoured; longer waits are cut to this.
``supports_images``
    force whether screenshots are sent (default: per backend and model).
``api_key_env``
    read the key from this variable instead of the backend's default one.
"""

from __future__ import annotations

import base64
import email.utils
import json
import logging
import os
import random
import re
import time
import warnings
from datetime import timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence
from urllib.parse import urlsplit

import attrs

from halo_core.backends import BackendConfigError, BackendError, BackendSettings, Completion, Message, parse_options
from halo_core.model import Usage
from halo_core.secrets import env_secrets

log = logging.getLogger("halo.backends")

__all__ = [
    "Failure", "PriceWarning", "RedactingFilter", "RemoteBackend", "RetryPolicy",
    "field", "install_log_redaction",
    "backoff_delay", "call_with_retries", "classify_exception", "compute_cost", "data_url", "host_of",
    "chat_messages", "chat_request", "chat_response", "image_mime", "load_prices", "one_line", "parse_retry_after", "price_for", "redact",
    "retry_after_from_headers",
]

# --------------------------------------------------------------------------- secrets

_SECRET_PATTERNS = (
    re.compile(r"\b(?:sk|pk|rk)-[A-Za-z0-9_\-]{6,}"),
    re.compile(r"(?i)\bbearer\s+[A-Za-z0-9_\-\.=:/+]{6,}"),
    re.compile(r"(?i)((?:x-)?api[_-]?key[\"']?\s*[:=]\s*[\"']?)[^\s\"',}]{4,}"),
)
_env_secrets = env_secrets


def redact(text: Any, secrets: Iterable[str | None] = ()) -> str:
    """``text`` with every known secret and anything shaped like a key replaced by ``***``.

    Known secrets are those passed plus the values of ``*_API_KEY``/``*_TOKEN``/``*_SECRET``
    environment variables.
    """
    text = str(text)
    for secret in sorted({s for s in (*secrets, *_env_secrets()) if s and len(s) >= 4}, key=len, reverse=True):
        text = text.replace(secret, "***")
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(lambda m: (m.group(1) if m.groups() else "") + "***", text)
    return text


def one_line(text: Any, limit: int = 300, secrets: Iterable[str | None] = ()) -> str:
    """A redacted single line of at most ``limit`` characters."""
    flat = " ".join(redact(text, secrets).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def host_of(url: str | None) -> str:
    """``host[:port]`` of a URL, for messages (never the path or query)."""
    if not url:
        return "?"
    parts = urlsplit(url if "://" in url else f"http://{url}")
    return parts.netloc.rsplit("@", 1)[-1] or url


class RedactingFilter(logging.Filter):
    """Scrubs keys from log records (message, arguments, exception text) in place.

    Client libraries log raw server replies at DEBUG, and a careless server echoes the
    key it was sent; this filter keeps such records from carrying it anywhere.
    """

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        super().__init__("halo-redact")
        self.secrets = tuple(s for s in secrets if s)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 — a broken record is the handler's problem
            return True
        clean = redact(message, self.secrets)
        if clean != message:
            record.msg, record.args = clean, ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, self.secrets)
        if record.stack_info:
            record.stack_info = redact(record.stack_info, self.secrets)
        return True


def install_log_redaction(*names: str) -> None:
    """Put a :class:`RedactingFilter` on each named logger (once)."""
    for name in names:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in logger.filters):
            logger.addFilter(RedactingFilter())


# --------------------------------------------------------------------------- retries

RETRYABLE_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504, 520, 522, 524, 529})


@attrs.frozen
class Failure:
    """What went wrong with one attempt, in terms the retry policy understands."""

    kind: str  # status | timeout | connection | other
    status: int | None = None
    retry_after: float | None = None
    detail: str = ""

    @property
    def retryable(self) -> bool:
        if self.kind in ("timeout", "connection"):
            return True
        if self.kind == "status" and self.status is not None:
            return self.status in RETRYABLE_STATUS or self.status >= 500
        return False

    @property
    def auth(self) -> bool:
        return self.kind == "status" and self.status in (401, 403)

    def describe(self) -> str:
        if self.kind == "status":
            return f"HTTP {self.status}" + (f": {self.detail}" if self.detail else "")
        if self.kind == "timeout":
            return "timed out" + (f" ({self.detail})" if self.detail else "")
        if self.kind == "connection":
            return "connection failed" + (f" ({self.detail})" if self.detail else "")
        return self.detail or "unexpected error"


def parse_retry_after(value: Any, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value: delta-seconds or an HTTP date."""
    if value is None:
        return None
    text = str(value).strip()
    if not text:
        return None
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    now_ts = time.time() if now is None else now
    return max(0.0, when.timestamp() - now_ts)


def retry_after_from_headers(headers: Any, now: float | None = None) -> float | None:
    """``retry-after-ms`` or ``Retry-After`` from a headers mapping (any case)."""
    if not headers:
        return None
    try:
        items = {str(k).lower(): v for k, v in dict(headers).items()}
    except Exception:
        return None
    ms = items.get("retry-after-ms")
    if ms is not None:
        try:
            return max(0.0, float(ms) / 1000.0)
        except ValueError:
            pass
    return parse_retry_after(items.get("retry-after"), now)


_TIMEOUT_NAMES = ("timeout", "timedout", "readtimeout", "connecttimeout")
_CONNECTION_NAMES = ("connectionerror", "connecterror", "apiconnectionerror", "remoteprotocolerror",
                     "connectionrefusederror", "connectionreseterror", "urlerror", "networkerror",
                     "serviceunavailableerror", "internalservererror", "badgatewayerror")


def _error_detail(exc: BaseException) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, Mapping):
        inner = body.get("error", body)
        if isinstance(inner, Mapping):
            message = inner.get("message") or inner.get("detail") or inner.get("type")
            if message:
                return str(message)
        elif inner:
            return str(inner)
    message = getattr(exc, "message", None)
    return str(message if message else exc)


def classify_exception(exc: BaseException) -> Failure:
    """Map a client library's exception (a provider SDK's, httpx's, urllib's) to a Failure.

    Duck-typed on ``status_code`` / ``response`` and the exception class names, so it
    needs none of those libraries imported.
    """
    names = [c.__name__.lower() for c in type(exc).__mro__]
    response = getattr(exc, "response", None)
    status = getattr(exc, "status_code", None)
    if status is None:
        status = getattr(exc, "code", None) if "httperror" in names else None
    if status is None and response is not None:
        status = getattr(response, "status_code", None)
    header_sources = (getattr(response, "headers", None), getattr(exc, "headers", None),
                      getattr(exc, "litellm_response_headers", None))
    detail = _error_detail(exc)
    if any(n in _TIMEOUT_NAMES or n.endswith("timeouterror") or n.endswith("timeout") for n in names) \
            or isinstance(exc, TimeoutError):
        return Failure("timeout", detail=type(exc).__name__)
    if isinstance(status, int) and 100 <= status < 600:
        retry_after = None
        for headers in header_sources:
            try:
                retry_after = retry_after_from_headers(headers)
            except Exception:  # noqa: BLE001 — odd header objects
                retry_after = None
            if retry_after is not None:
                break
        return Failure("status", status=status, retry_after=retry_after, detail=detail)
    if any(n in _CONNECTION_NAMES for n in names) or isinstance(exc, ConnectionError):
        return Failure("connection", detail=type(exc).__name__)
    return Failure("other", detail=f"{type(exc).__name__}: {detail}")


@attrs.frozen
class RetryPolicy:
    max_retries: int = 4
    base_s: float = 0.5
    cap_s: float = 30.0
    max_retry_after_s: float = 120.0

    @classmethod
    def from_settings(cls, settings: BackendSettings) -> RetryPolicy:
        extra = settings.extra or {}
        return cls(max_retries=max(0, int(settings.max_retries)),
                   base_s=float(extra.get("retry_base_s", 0.5)),
                   cap_s=float(extra.get("retry_cap_s", 30.0)),
                   max_retry_after_s=float(extra.get("max_retry_after_s", 120.0)))


def backoff_delay(retry: int, policy: RetryPolicy, retry_after: float | None = None,
                  rng: random.Random | None = None) -> float:
    """Seconds to wait before retry number ``retry`` (0-based).

    The server's ``Retry-After`` wins when given (capped by ``max_retry_after_s``);
    otherwise ``base * 2**retry`` capped by ``cap_s``, with "equal jitter" (half fixed,
    half random) so concurrent clients spread out.
    """
    if retry_after is not None:
        return min(max(0.0, retry_after), policy.max_retry_after_s)
    delay = min(policy.cap_s, policy.base_s * (2 ** retry))
    return delay / 2 + (rng or random).uniform(0, delay / 2)


def call_with_retries(fn: Callable[[], Any], *, policy: RetryPolicy, name: str, host: str,
                      key_var: str | None = None, secrets: Iterable[str | None] = (),
                      classify: Callable[[BaseException], Failure] = classify_exception,
                      sleep: Callable[[float], None] | None = None) -> Any:
    """Call ``fn()`` under HALO's retry policy; see the module docstring.

    Raises BackendConfigError for a rejected key (no retry), BackendError for any
    other failure that is final. Exceptions are raised outside the client's
    exception context, so no traceback shows the client's own text.
    """
    secrets = tuple(secrets)
    attempts = policy.max_retries + 1
    failure: Failure | None = None
    for attempt in range(attempts):
        try:
            return fn()
        except (BackendError, KeyboardInterrupt):
            raise
        except Exception as exc:  # noqa: BLE001 — classified below
            failure = classify(exc)
        if failure.auth:
            what = f"{key_var} was rejected" if key_var else "the request was rejected"
            error: BackendError = BackendConfigError(f"{what} by {host} ({failure.status})")
            break
        if not failure.retryable:
            error = BackendError(one_line(f"{name}: {host} failed: {failure.describe()}", secrets=secrets))
            break
        if attempt + 1 >= attempts:
            error = BackendError(one_line(
                f"{name}: {host} failed after {attempts} attempt{'s' if attempts > 1 else ''}: {failure.describe()}",
                secrets=secrets))
            break
        delay = backoff_delay(attempt, policy, failure.retry_after)
        log.warning("%s", one_line(f"{name}: {host} {failure.describe()}; retry {attempt + 1}/{policy.max_retries} "
                                   f"in {delay:.2f}s", secrets=secrets))
        (sleep or time.sleep)(delay)
    raise error  # outside the except block: no chained client exception in tracebacks


# --------------------------------------------------------------------------- prices

class PriceWarning(UserWarning):
    """A model has no known price; its calls are counted as costing 0."""


_warned_models: set[str] = set()


def _as_pair(value: Any) -> tuple[float, float]:
    if isinstance(value, Mapping):
        return float(value.get("input", value.get("in", 0.0))), float(value.get("output", value.get("out", 0.0)))
    a, b = value
    return float(a), float(b)


def load_prices(settings: BackendSettings | None = None,
                defaults: Mapping[str, tuple[float, float]] | None = None) -> dict[str, tuple[float, float]]:
    """``defaults`` (a backend's own table), then the ``HALO_PRICES`` JSON file, then
    ``settings.prices``.

    Each maps a model (or a prefix of its name; the longest matching one wins, so
    ``"model-x"`` prices ``"model-x-2024-07-18"``) to ``[in, out]`` or
    ``{"input": …, "output": …}`` in $ per 1M tokens.
    """
    prices = {str(k): _as_pair(v) for k, v in (defaults or {}).items()}
    path = os.environ.get("HALO_PRICES", "").strip()
    if path:
        try:
            data = json.loads(Path(path).read_text())
            prices.update({str(k): _as_pair(v) for k, v in data.items()})
        except (OSError, ValueError, TypeError, AttributeError) as exc:
            raise BackendConfigError(f"HALO_PRICES={path!r} is not a readable JSON price table: "
                                     f"{type(exc).__name__}: {exc}") from None
    if settings is not None and settings.prices:
        prices.update({str(k): _as_pair(v) for k, v in settings.prices.items()})
    return prices


def _model_keys(model: str) -> list[str]:
    keys = [model]
    if "/" in model:  # litellm "openai/gpt-4o", vLLM "Qwen/Qwen2.5-3B"
        keys.append(model.rsplit("/", 1)[-1])
    return keys


def price_for(model: str, prices: Mapping[str, tuple[float, float]]) -> tuple[float, float] | None:
    """The price of ``model``: exact match, else the longest known prefix, else None."""
    for key in _model_keys(model):
        if key in prices:
            return prices[key]
    best = None
    for key in _model_keys(model):
        for known in prices:
            if key.startswith(known) and (best is None or len(known) > len(best)):
                best = known
    return prices[best] if best is not None else None


def compute_cost(model: str, tokens_in: int, tokens_out: int, prices: Mapping[str, tuple[float, float]], *,
                 free: bool = False, label: str = "") -> float:
    """$ for one call; an unknown model costs 0 (and warns once unless ``free``)."""
    price = price_for(model, prices)
    if price is None:
        if not free and model not in _warned_models:
            _warned_models.add(model)
            warnings.warn(f"no price known for model {label or model!r}: its calls are counted as $0 "
                          "(set HALO_PRICES or settings.prices)", PriceWarning, stacklevel=3)
        return 0.0
    return (tokens_in * price[0] + tokens_out * price[1]) / 1_000_000


# --------------------------------------------------------------------------- wire formats


def image_mime(data: bytes) -> str:
    if data.startswith(b"\x89PNG"):
        return "image/png"
    if data.startswith(b"\xff\xd8"):
        return "image/jpeg"
    if data.startswith(b"GIF8"):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return "image/png"


def data_url(data: bytes) -> str:
    return f"data:{image_mime(data)};base64,{base64.b64encode(data).decode('ascii')}"


def chat_messages(messages: Sequence[Message], *, images: bool) -> list[dict[str, Any]]:
    """Messages in the chat-completions wire format that hosted APIs, proxies and self-hosted
    servers share: ``{"role", "content"}``, images as ``image_url`` data-URL parts."""
    out = []
    for m in messages:
        if images and m.images:
            parts: list[dict[str, Any]] = [{"type": "text", "text": m.content}]
            parts += [{"type": "image_url", "image_url": {"url": data_url(img)}} for img in m.images]
            out.append({"role": m.role, "content": parts})
        else:
            out.append({"role": m.role, "content": m.content})
    return out


def chat_request(model: str, messages: Sequence[Message], options: Mapping[str, Any], *,
                 max_tokens_param: str = "max_tokens") -> dict[str, Any]:
    """A chat-completions request body: model, :func:`chat_messages`, temperature, the token
    limit under ``max_tokens_param``, and the seed when one is set (``options`` as
    :meth:`RemoteBackend._request` receives them). Backends add their own keys to it."""
    body: dict[str, Any] = {
        "model": model,
        "messages": chat_messages(messages, images=options["images"]),
        "temperature": options["temperature"],
        max_tokens_param: options["max_tokens"],
    }
    if options.get("seed") is not None:
        body["seed"] = options["seed"]
    return body


def chat_response(response: Any) -> tuple[str, int, int, str]:
    """(text, prompt_tokens, completion_tokens, model) of a chat-completions response, as an
    object or a dict: what :meth:`RemoteBackend._parse` returns."""
    choices = field(response, "choices", default=[])
    text = field(choices[0], "message", "content", default="") if choices else ""
    return (text, int(field(response, "usage", "prompt_tokens", default=0) or 0),
            int(field(response, "usage", "completion_tokens", default=0) or 0), field(response, "model", default=""))


def field(obj: Any, *names: str, default: Any = None) -> Any:
    """``obj.a.b`` or ``obj["a"]["b"]``, whichever the response object supports."""
    for name in names:
        if obj is None:
            return default
        if isinstance(obj, Mapping):
            obj = obj.get(name)
        else:
            obj = getattr(obj, name, None)
    return default if obj is None else obj


# --------------------------------------------------------------------------- the base class


class RemoteBackend:
    """Base of HALO's model backends: ``complete()`` with retries and accounting.

    Subclasses set ``prefix`` and implement :meth:`_request` (one attempt; raise the
    client's exception on failure) and :meth:`_parse` (→ text, tokens_in, tokens_out,
    response model). They may override :meth:`check`, :meth:`_default_images` and
    :meth:`_host`.
    """

    prefix: str = "remote"
    #: the environment variable holding the key, or None when no key is used
    key_var: str | None = None
    #: self-hosted models: no price means $0 without a warning
    free: bool = False
    #: model (or name prefix) → $ per 1M (input, output) tokens: the provider's list prices,
    #: owned by the backend plugin (``HALO_PRICES`` and ``settings.prices`` override them)
    default_prices: Mapping[str, tuple[float, float]] = {}
    #: loggers of the client library, scrubbed of keys (see :class:`RedactingFilter`)
    log_names: tuple[str, ...] = ("httpx", "httpcore")

    def __init__(self, model: str, settings: BackendSettings | None = None) -> None:
        self.model = model
        self.settings = settings or BackendSettings()
        self.name = f"{self.prefix}:{model}"
        self.policy = RetryPolicy.from_settings(self.settings)
        self.prices = load_prices(self.settings, self.default_prices)
        forced = (self.settings.extra or {}).get("supports_images")
        wants = self._default_images() if forced is None else bool(forced)
        self.supports_images: bool = bool(self.settings.images and wants)
        install_log_redaction("halo", *self.log_names)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"

    # -- for subclasses
    def _default_images(self) -> bool:
        return False

    def _host(self) -> str:
        return "?"

    def _key(self) -> str | None:
        """The API key from ``key_var``'s environment variable, or None when unset or unused."""
        return (os.environ.get(self.key_var, "").strip() or None) if self.key_var else None

    def _secrets(self) -> tuple[str | None, ...]:
        return (self._key(),)

    def _request(self, messages: Sequence[Message], options: dict[str, Any]) -> Any:
        raise NotImplementedError

    def _parse(self, response: Any) -> tuple[str, int, int, str]:
        raise NotImplementedError

    def _cost(self, tokens_in: int, tokens_out: int) -> float:
        return compute_cost(self.model, tokens_in, tokens_out, self.prices, free=self.free, label=self.name)

    # -- the protocol
    def check(self) -> None:
        return None

    def complete(self, messages: Sequence[Message], *, temperature: float | None = None,
                 seed: int | None = None, max_tokens: int | None = None,
                 options: Mapping[str, Any] | None = None) -> Completion:
        s = self.settings
        options = {
            "temperature": s.temperature if temperature is None else temperature,
            "seed": s.seed if seed is None else seed,
            "max_tokens": s.max_tokens if max_tokens is None else max_tokens,
            "images": self.supports_images,
            "call": parse_options(self, options),  # the declared per-call options (``Options``), or None
        }
        started = time.perf_counter()
        response = call_with_retries(lambda: self._request(messages, options), policy=self.policy, name=self.name,
                                     host=self._host(), key_var=self.key_var, secrets=self._secrets())
        latency_ms = (time.perf_counter() - started) * 1000.0
        try:
            text, tokens_in, tokens_out, model = self._parse(response)
        except BackendError:
            raise
        except Exception as exc:  # noqa: BLE001
            problem = one_line(f"{self.name}: unreadable response from {self._host()}: {type(exc).__name__}: {exc}",
                               secrets=self._secrets())
        else:
            cost = self._cost(int(tokens_in), int(tokens_out))
            usage = Usage(calls=1, tokens_in=int(tokens_in), tokens_out=int(tokens_out), cost=cost,
                          latency_ms=latency_ms)
            return Completion(text or "", usage, model=model or self.model, raw=response)
        raise BackendError(problem)
