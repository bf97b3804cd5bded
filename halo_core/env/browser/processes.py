"""Finding and killing the Chromium processes this Python process started.

Playwright's browser handle does not expose the browser's pid; the watchdog and
``close()`` need it to kill a browser whose renderer froze (it never answers CDP).
"""

from __future__ import annotations

import os
import signal

__all__ = ["chromium_pids", "kill", "main_browser_pid"]


def chromium_pids(marker: str = "") -> set[int]:
    """Chromium browser processes (not renderers or helpers) descending from this Python
    process; with ``marker``, only those whose command line holds it (a launch's own switch,
    so threads launching at once each find their own browser)."""
    me = os.getpid()
    parent: dict[int, int] = {}
    cmd: dict[int, str] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return set()
    for entry in entries:
        if not entry.isdigit():
            continue
        pid = int(entry)
        try:
            with open(f"/proc/{pid}/stat", "rb") as fh:
                stat = fh.read().decode("utf-8", "replace")
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                cmd[pid] = fh.read().replace(b"\0", b" ").decode("utf-8", "replace")
        except (OSError, ValueError, IndexError):
            continue
        parent[pid] = ppid
    out: set[int] = set()
    for pid, line in cmd.items():
        if ("chrom" not in line.lower()) or "--type=" in line or (marker and marker not in line):
            continue
        p, hops = pid, 0
        while p and p != me and hops < 20:
            p = parent.get(p, 0)
            hops += 1
        if p == me:
            out.add(pid)
    return out


def main_browser_pid(candidates: list[int]) -> int | None:
    """The browser among the processes that appeared during a launch."""
    return candidates[0] if len(candidates) >= 1 else None


def kill(pid: int) -> None:
    """SIGKILL ``pid``; a process that is already gone is fine."""
    try:
        os.kill(pid, signal.SIGKILL)
    except (OSError, ProcessLookupError):
        pass
