"""The REAL Bench web-clone protocol on top of the core's :class:`BrowserEnvironment`.

Public: any suite of REAL-format sites (the web clones, a new benchmark) subclasses
:class:`RealProtocolEnvironment` from here. Importing this module needs no agisdk.

A REAL clone is configured for a task by visiting
``{base}/config?run_id=…&task_id=…&latency=0``; its state at the end of an episode
is the JSON inside the ``<pre>`` of ``{base}/finish``. Scoring that state is the
job of a ``scorer`` supplied by the suite.
"""

from __future__ import annotations

import json
import time
from typing import Any, Callable, Mapping
from urllib.parse import quote, urlsplit

from halo_core.api import (
    BrowserEnvironment, EnvironmentDead, EnvSettings, Evaluation, TaskSpec, playwright_errors)
from halo_core.api import playwright_error_line as one_line

__all__ = ["RealProtocolEnvironment", "Scorer"]

Scorer = Callable[[TaskSpec, Mapping[str, Any], str, bool], Evaluation]

_NET_REASONS = {
    "ERR_CONNECTION_REFUSED": "connection refused",
    "ERR_NAME_NOT_RESOLVED": "host name not resolved",
    "ERR_CONNECTION_TIMED_OUT": "connection timed out",
    "ERR_TIMED_OUT": "timed out",
    "ERR_ADDRESS_UNREACHABLE": "address unreachable",
    "ERR_CONNECTION_RESET": "connection reset",
    "ERR_CONNECTION_CLOSED": "connection closed",
    "ERR_EMPTY_RESPONSE": "empty response",
    "ERR_INTERNET_DISCONNECTED": "no network",
    "ERR_PROXY_CONNECTION_FAILED": "proxy connection failed",
    "ERR_CERT_": "TLS certificate error",
    "ERR_SSL_": "TLS error",
}


def _default_task_id(task: TaskSpec) -> str:
    return str(task.raw.get("id", task.id)) if task.raw else task.id


def _default_base(task: TaskSpec) -> str:
    return task.start_url


def _why(exc: BaseException) -> str:
    text = str(exc)
    for code, reason in _NET_REASONS.items():
        if code in text:
            return reason
    if "Timeout" in text:
        return "no answer in time"
    return one_line(exc, 200)


class RealProtocolEnvironment(BrowserEnvironment):
    """A REAL web clone: ``/config`` on reset, ``/finish`` to score."""

    def __init__(
        self,
        settings: EnvSettings | None = None,
        *,
        scorer: Scorer | None = None,
        base_url: Callable[[TaskSpec], str] | str | None = None,
        config_task_id: Callable[[TaskSpec], str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(settings, **kwargs)
        self.scorer = scorer
        self._base_url = base_url if base_url is not None else _default_base
        self._config_task_id = config_task_id or _default_task_id
        self.base: str = ""
        self._background = None

    # ------------------------------------------------------------------ helpers

    def base_for(self, task: TaskSpec) -> str:
        base = self._base_url(task) if callable(self._base_url) else self._base_url
        base = (base or "").rstrip("/")
        if not base:
            raise EnvironmentDead(f"task {task.id} has no site URL (start_url is empty)")
        parts = urlsplit(base)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise EnvironmentDead(f"task {task.id}: site URL {base!r} is not an http(s) URL")
        return base

    def site_page(self):
        """The background page the site protocol (``/config``, ``/finish``) runs in; the agent never sees it."""
        page = self._background
        if page is None or page.is_closed():
            page = self.background_page()
            self._background = page
        return page

    _background_page = site_page

    def allowed_origins(self, task: TaskSpec) -> tuple[str, ...]:
        """The start page's origin and the site's (``/config`` and ``/finish`` live there)."""
        return (*super().allowed_origins(task), self.base_for(task))

    # ------------------------------------------------------------------ episode API

    def open_task(self, task: TaskSpec) -> None:
        """``/config`` in the background page, then the start page in the agent's."""
        base = self.base_for(task)
        self.base = base
        self._background = None
        deadline = time.monotonic() + float(self.settings.init_timeout_s)

        def left_ms() -> float:
            return max(500.0, (deadline - time.monotonic()) * 1000.0)

        task_id = self._config_task_id(task)
        config_url = (
            f"{base}/config?run_id={quote(str(self.settings.run_id), safe='')}"
            f"&task_id={quote(str(task_id), safe='.-_')}&latency=0"
        )
        bg = self.site_page()
        try:
            response = bg.goto(config_url, wait_until="domcontentloaded", timeout=left_ms())
        except playwright_errors() as exc:
            self.raise_if_dead(exc)
            raise EnvironmentDead(f"site {base} is unreachable: {_why(exc)}") from None
        status = response.status if response is not None else 0
        if status == 451:
            raise EnvironmentDead(f"site {base} refuses service (HTTP 451) for task {task_id}")
        if status >= 400:
            raise EnvironmentDead(f"site {base} answered HTTP {status} to {config_url}")
        try:  # the config page may store its state from script: let it finish
            bg.wait_for_load_state("networkidle", timeout=min(2000.0, left_ms()))
        except playwright_errors() as exc:
            self.raise_if_dead(exc)
        start_url = task.start_url or base
        try:
            response = self.page.goto(start_url, wait_until="domcontentloaded", timeout=left_ms())
        except playwright_errors() as exc:
            self.raise_if_dead(exc)
            raise EnvironmentDead(f"site {base} is unreachable: {_why(exc)}") from None
        if response is not None and response.status == 451:
            raise EnvironmentDead(f"site {base} refuses service (HTTP 451)")
        self.wait_load(self.page)

    def finish_state(self) -> dict:
        """The site's ``/finish`` JSON, read in a background page (the agent's page is untouched)."""
        if self.context is None:
            raise EnvironmentDead("finish_state() before reset(): no episode is running")
        self.check_alive()
        page = self.site_page()
        timeout = max(2000.0, float(self.settings.navigation_timeout_ms))
        try:
            response = page.goto(f"{self.base}/finish", wait_until="domcontentloaded", timeout=timeout)
            if response is not None and response.status >= 400:
                raise EnvironmentDead(f"site {self.base} answered HTTP {response.status} to /finish")
            pre = page.locator("pre").first
            pre.wait_for(state="attached", timeout=timeout)
            text = pre.inner_text(timeout=timeout)
        except playwright_errors() as exc:
            self.raise_if_dead(exc)
            raise EnvironmentDead(f"cannot read {self.base}/finish: {one_line(exc)}") from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise EnvironmentDead(f"{self.base}/finish is not JSON: {exc.msg} (first 80 chars: {text[:80]!r})") from None
        if not isinstance(data, dict):
            raise EnvironmentDead(f"{self.base}/finish holds a {type(data).__name__}, not an object")
        return data

    def evaluate(self, final_message: str, infeasible: bool) -> Evaluation:
        if self.scorer is None:
            raise NotImplementedError("RealProtocolEnvironment needs a scorer to evaluate episodes")
        if self.task is None:
            raise EnvironmentDead("evaluate() before reset(): no episode is running")
        finish = self.finish_state()
        return self.scorer(self.task, finish, final_message, infeasible)
