"""A static file server for the MiniWoB++ pages on 127.0.0.1.

The pages load their scripts with relative URLs (``../core/core.js``), so they are
served from the package's ``html`` folder over HTTP: a task then has one ordinary
origin that the browser environment's navigation policy can allow, and no
``file://`` URLs are needed.
"""

from __future__ import annotations

import functools
from http.server import SimpleHTTPRequestHandler
from pathlib import Path

from halo_core.api import LocalHTTPServer

__all__ = ["PageServer", "start_server"]


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args) -> None:  # noqa: A002 - the stdlib's signature
        pass

    def end_headers(self) -> None:
        # the pages never change while served; let the browser keep them between episodes
        self.send_header("Cache-Control", "max-age=3600")
        super().end_headers()


class PageServer(LocalHTTPServer):
    """The ``html`` folder on 127.0.0.1 (:class:`~halo_core.local_server.LocalHTTPServer`);
    ``close()`` stops it (idempotent)."""

    def __init__(self, root: Path) -> None:
        super().__init__(functools.partial(_QuietHandler, directory=str(root)), name="miniwob-pages")

    def page_url(self, task_name: str) -> str:
        return f"{self.url}/miniwob/{task_name}.html"


def start_server(root: Path | None = None) -> PageServer:
    """Serve ``root`` (default: the installed miniwob package's ``html`` folder)."""
    if root is None:
        from .catalogue import html_dir

        root = html_dir()
    return PageServer(root)
