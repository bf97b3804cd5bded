"""Run ``transformers serve`` (the real CLI) on a loopback port, for tests and smoke runs.

``transformers serve`` (transformers >= 5, needs ``fastapi`` and ``uvicorn``) exposes an
OpenAI-compatible ``POST /v1/chat/completions`` (with ``usage``) and ``GET /health``.
It loads whatever the request's ``model`` names with ``from_pretrained``, so a local
directory works offline (``HF_HUB_OFFLINE=1``): an absolute path, or a path relative to
the server's working directory. That second form is how a LoRA *name* is served here
the way ``vllm serve --lora-modules name=path`` would: save the merged model as
``<cwd>/<name>`` and request ``model=<name>``. It does not load bare PEFT adapter
directories, and ``GET /v1/models`` lists only hub-cache models (it errors offline).

``TransformersServe.url`` points at a small recording proxy in front of the server, so a
test checks what the server was sent from the requests themselves (``received_models()``)
and never from the server's log, whose wording changes between transformers releases.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve_command() -> list[str]:
    exe = shutil.which("transformers", path=str(Path(sys.executable).parent)) or shutil.which("transformers")
    if exe:
        return [exe, "serve"]
    return [sys.executable, "-c", "import sys; from transformers.cli.transformers import main; sys.exit(main())",
            "serve"]


# Headers that describe one hop's connection, not the message; the proxy sets its own.
_HOP_HEADERS = frozenset({"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer",
                          "upgrade", "content-length", "host"})


class RecordingProxy:
    """A loopback HTTP proxy that forwards every request to ``upstream`` and keeps a copy of it.

    ``requests`` holds ``(method, path, body)`` for each request in the order they arrived;
    responses (status, headers, body) are relayed unchanged, a streamed one after it ends.
    """

    def __init__(self, upstream_port: int, *, timeout: float = 600.0) -> None:
        self.upstream_port = upstream_port
        self.timeout = timeout
        self.requests: list[tuple[str, str, bytes]] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        assert self._server is not None, "RecordingProxy is not started"
        return self._server.server_address[1]

    def start(self) -> RecordingProxy:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _forward(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with proxy._lock:
                    proxy.requests.append((self.command, self.path, body))
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_HEADERS}
                upstream = http.client.HTTPConnection("127.0.0.1", proxy.upstream_port, timeout=proxy.timeout)
                try:
                    upstream.request(self.command, self.path, body=body or None, headers=headers)
                    response = upstream.getresponse()
                    payload = response.read()
                    self.send_response(response.status, response.reason)
                    for key, value in response.getheaders():
                        if key.lower() not in _HOP_HEADERS:
                            self.send_header(key, value)
                except OSError as exc:
                    payload = f"recording proxy: upstream 127.0.0.1:{proxy.upstream_port}: {exc}".encode()
                    self.send_response(502)
                    self.send_header("Content-Type", "text/plain")
                finally:
                    upstream.close()
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _forward

            def log_message(self, *args) -> None:  # quiet: tests read self.requests
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="recording-proxy", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def json_bodies(self, path_suffix: str) -> list[dict]:
        """The JSON body of every request whose path ends with ``path_suffix``, in arrival order."""
        with self._lock:
            bodies = [body for _, path, body in self.requests if path.split("?", 1)[0].endswith(path_suffix)]
        return [json.loads(body) for body in bodies]


class TransformersServe:
    """``with TransformersServe(cwd) as server: server.url`` — started, healthy, stopped on exit.

    ``url`` goes through a :class:`RecordingProxy`; ``direct_url`` reaches the server itself.
    """

    def __init__(self, cwd: str | os.PathLike, *, port: int | None = None, log_path: str | os.PathLike | None = None,
                 startup_timeout: float = 180.0, extra_args: tuple[str, ...] = ()) -> None:
        self.cwd = Path(cwd)
        self.port = port or free_port()
        self.log_path = Path(log_path) if log_path else self.cwd / "transformers-serve.log"
        self.startup_timeout = startup_timeout
        self.extra_args = extra_args
        self.process: subprocess.Popen | None = None
        self.proxy: RecordingProxy | None = None

    @property
    def url(self) -> str:
        assert self.proxy is not None, "TransformersServe is not started"
        return f"http://127.0.0.1:{self.proxy.port}/v1"

    @property
    def direct_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def received_models(self) -> list[str]:
        """The ``model`` field of every chat-completion request sent to ``url``, in order."""
        assert self.proxy is not None, "TransformersServe is not started"
        return [str(body.get("model")) for body in self.proxy.json_bodies("/chat/completions")]

    def start(self) -> TransformersServe:
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
               "PYTHONUNBUFFERED": "1"}
        log = open(self.log_path, "ab")
        cmd = [*serve_command(), "--host", "127.0.0.1", "--port", str(self.port), "--log-level", "info",
               *self.extra_args]
        self.process = subprocess.Popen(cmd, cwd=self.cwd, env=env, stdout=log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"transformers serve exited with {self.process.returncode}:\n"
                                   f"{self.log_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=2) as response:
                    if response.status == 200:
                        self.proxy = RecordingProxy(self.port).start()
                        return self
            except OSError:
                time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"transformers serve did not become healthy in {self.startup_timeout}s:\n"
                           f"{self.log_text()[-3000:]}")

    def stop(self) -> None:
        proxy, self.proxy = self.proxy, None
        if proxy is not None:
            proxy.stop()
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        try:
            os.killpg(process.pid, signal.SIGTERM)  # its own session: the server and its workers only
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)

    def __enter__(self) -> TransformersServe:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
