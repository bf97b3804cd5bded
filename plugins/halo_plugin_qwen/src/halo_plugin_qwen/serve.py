"""Run ``transformers serve`` (the real CLI) on a loopback port, for tests and smoke runs.

``transformers serve`` (transformers >= 5, needs ``fastapi`` and ``uvicorn``) exposes an
OpenAI-compatible ``POST /v1/chat/completions`` (with ``usage``) and ``GET /health``.
It loads whatever the request's ``model`` names with ``from_pretrained``, so a local
directory works offline (``HF_HUB_OFFLINE=1``): an absolute path, or a path relative to
the server's working directory. That second form is how a LoRA *name* is served here
the way ``vllm serve --lora-modules name=path`` would: save the merged model as
``<cwd>/<name>`` and request ``model=<name>``. It does not load bare PEFT adapter
directories, and ``GET /v1/models`` lists only hub-cache models (it errors offline).
At ``--log-level info`` each request is logged as ``[Request received] Model: <model>@main``.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
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


class TransformersServe:
    """``with TransformersServe(cwd) as server: server.url`` — started, healthy, stopped on exit."""

    def __init__(self, cwd: str | os.PathLike, *, port: int | None = None, log_path: str | os.PathLike | None = None,
                 startup_timeout: float = 180.0, extra_args: tuple[str, ...] = ()) -> None:
        self.cwd = Path(cwd)
        self.port = port or free_port()
        self.log_path = Path(log_path) if log_path else self.cwd / "transformers-serve.log"
        self.startup_timeout = startup_timeout
        self.extra_args = extra_args
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def received_models(self) -> list[str]:
        """The ``model`` of every chat request the server logged, without ``@revision``."""
        marker = "[Request received] Model: "
        out = []
        for line in self.log_text().splitlines():
            if marker in line:
                out.append(line.split(marker, 1)[1].split(",", 1)[0].rsplit("@", 1)[0])
        return out

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
                        return self
            except OSError:
                time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"transformers serve did not become healthy in {self.startup_timeout}s:\n"
                           f"{self.log_text()[-3000:]}")

    def stop(self) -> None:
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
