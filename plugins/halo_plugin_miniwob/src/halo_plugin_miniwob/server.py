"""A static file server for the MiniWoB++ pages on 127.0.0.1.

The pages load their scripts with relative URLs (``../core/core.js``), so they are
served from the package's ``html`` folder over HTTP: a task then has one ordinary
origin that the browser environment's navigation policy can allow, and no
``file://`` URLs are needed.
"""

from __future__ import annotations

import functools
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

__all__ = ["PageServer", "start_server"]


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args) -> None:  # noqa: A002 - the stdlib's signature
        pass

    def end_headers(self) -> None:
        # the pages never change while served; let the browser keep them between episodes
        self.send_header("Cache-Control", "max-age=3600")
        super().end_headers()


class PageServer:
    """``ThreadingHTTPServer`` in a daemon thread; ``close()`` stops it (idempotent)."""

    def __init__(self, root: Path) -> None:
        handler = functools.partial(_QuietHandler, directory=str(root))
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="miniwob-pages", daemon=True)
        self._thread.start()
        self._closed = False

    def page_url(self, task_name: str) -> str:
        return f"{self.url}/miniwob/{task_name}.html"

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> PageServer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def start_server(root: Path | None = None) -> PageServer:
    """Serve ``root`` (default: the installed miniwob package's ``html`` folder)."""
    if root is None:
        from .catalogue import html_dir

        root = html_dir()
    return PageServer(root)
