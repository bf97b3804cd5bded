"""Progress of a run: a live bar on a terminal, one plain line per episode otherwise.

Task ids and error messages are not HALO's text (a model reply, a page, a suite wrote
them): they are printed as written — no markup, no emoji codes — and redacted.
"""

from __future__ import annotations

import sys
import time
from typing import Any, Mapping

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from halo_core.evaluation.metrics import episode_kind
from halo_core.secrets import redact_console

__all__ = ["RunProgress"]

_LABEL = {"success": "SUCCESS", "failure": "FAILURE", "error": "ERROR", "unscorable": "UNSCORABLE"}


class RunProgress:
    """Counts finished episodes; shows done/total, successes, errors and an ETA.

    ``live`` defaults to whether the console is a terminal; without one (CI, a
    pipe) each finished episode prints one line, flushed at once.
    """

    def __init__(self, total: int, *, done: int = 0, successes: int = 0, errors: int = 0,
                 console: Console | None = None, live: bool | None = None, description: str = "episodes") -> None:
        self.total, self.done, self.successes, self.errors = total, done, successes, errors
        self.console = console or Console(highlight=False, emoji=False)
        self.live = self.console.is_terminal if live is None else live
        self.description = description
        self._progress: Progress | None = None
        self._task = None
        self._started_at, self._done_at_start = time.monotonic(), done

    def _eta(self) -> str:
        """`` eta=1m05s`` from this session's pace (resumed episodes do not count), or ""."""
        finished = self.done - self._done_at_start
        left = self.total - self.done
        if finished <= 0 or left <= 0:
            return ""
        seconds = int((time.monotonic() - self._started_at) / finished * left)
        return f" eta={seconds // 60}m{seconds % 60:02d}s"

    def __enter__(self) -> RunProgress:
        if self.live:
            self._progress = Progress(
                TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                TextColumn("[green]ok {task.fields[ok]}[/] [red]err {task.fields[err]}[/]"),
                TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                console=self.console, transient=False,
            )
            self._progress.start()
            self._task = self._progress.add_task(self.description, total=self.total, completed=self.done,
                                                 ok=self.successes, err=self.errors)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def update(self, record: Mapping[str, Any]) -> None:
        kind = episode_kind(record)
        self.done += 1
        self.successes += kind == "success"
        self.errors += kind == "error"
        if self._progress is not None:
            self._progress.update(self._task, completed=self.done, ok=self.successes, err=self.errors)
            if kind == "error":
                detail = redact_console(f"{record['task']} {record['mode']} #{record['attempt']}: "
                                        f"{record.get('error', '')}")
                self._progress.console.print(f"[red]error[/] {escape(detail)}", emoji=False)
            return
        line = (f"[{self.done}/{self.total}] {record['task']} {record['mode']} #{record['attempt']}: "
                f"{_LABEL[kind]} reward={record.get('reward', 0.0)} steps={record.get('steps', 0)} "
                f"time={float(record.get('wall_time_sec', 0.0)):.1f}s ok={self.successes} err={self.errors}"
                f"{self._eta()}")
        if kind == "error":
            line += f" error={record.get('error', '')}"
        print(redact_console(line), file=sys.stdout, flush=True)
