"""A stdlib HTTP server on 127.0.0.1, served from a daemon thread: one owner of start and close.

Environments that serve their pages to the browser (static task pages, scripted sites) and
tests that stand in for a remote API all need the same few lines: bind a free port on the
loopback interface, serve from a daemon thread, stop exactly once. :class:`LocalHTTPServer`
is those lines; the request handler (an ``http.server`` handler class, or a
``functools.partial`` of one) is the caller's.

This module is public, like :mod:`halo_core.testing` (``docs/reference.md``): plugins import it
directly. It uses the standard library only, so importing it loads nothing heavy.
"""

from __future__ import annotations

import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

__all__ = ["LocalHTTPServer", "closed_port", "send_body"]


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return  # the browser or client went away mid-response; harmless
        super().handle_error(request, client_address)


class LocalHTTPServer:
    """``handler`` served on ``127.0.0.1`` at a free port in a daemon thread.

    ``url`` is ``http://127.0.0.1:PORT`` (no trailing slash). It starts at once unless
    ``start=False``, in which case entering the context manager (or :meth:`start`) starts it.
    :meth:`close` stops it and is idempotent; the context manager closes it on exit.
    """

    def __init__(self, handler: Callable[..., BaseHTTPRequestHandler], *, name: str | None = None, start: bool = True,
                 poll_interval: float = 0.5) -> None:
        self.httpd = _QuietServer(("127.0.0.1", 0), handler)
        self.port: int = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": poll_interval},
                                        name=name or f"local-http-{self.port}", daemon=True)
        self._closed = False
        if start:
            self.start()

    def start(self) -> None:
        if not self._thread.is_alive() and not self._closed:
            self._thread.start()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._thread.is_alive():
            self.httpd.shutdown()
            self._thread.join(timeout=5)
        self.httpd.server_close()

    def __enter__(self) -> LocalHTTPServer:
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound once, then released)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def send_body(handler: BaseHTTPRequestHandler, status: int, body: str | bytes,
              content_type: str = "text/html; charset=utf-8", headers: dict[str, str] | None = None) -> None:
    """Send one whole response from ``handler``: status, ``Content-Type``, ``Content-Length``,
    ``headers``, then ``body`` (text is sent as UTF-8). A client that has already gone (it
    timed out) is not an error."""
    data = body.encode() if isinstance(body, str) else body
    try:
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(data)
    except (BrokenPipeError, ConnectionResetError):
        pass
