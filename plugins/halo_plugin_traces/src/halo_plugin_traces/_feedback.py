"""Human feedback on episodes: ``RUN_DIR/feedback.jsonl``.

One JSON object per line: ``id``, ``task``, ``mode``, ``attempt``, ``text``,
``required`` (things the agent must do), ``prohibited`` (things it must not),
``author``, ``timestamp`` and ``source`` (``human``, or ``model:<backend>`` for a
model's judgement, which adds ``verdict``, ``observations`` and ``failure_modes``). Each line is redacted and appended with a single
``write`` on an ``O_APPEND`` descriptor, so concurrent writers never interleave
and a kill never leaves half a line. The export carries each record as an
annotation of its episode's span.
"""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path
from typing import Any, Iterable

from halo_plugin_traces._rundir import read_jsonl

__all__ = ["add_feedback", "read_feedback"]


def add_feedback(run_dir: str | os.PathLike, *, task: str, attempt: int, text: str, mode: str = "",
                 required: Iterable[str] = (), prohibited: Iterable[str] = (), author: str = "",
                 source: str = "human", **extra: Any) -> dict[str, Any]:
    """Append one feedback record to ``run_dir/feedback.jsonl`` and return it. ``extra``
    keys (a model judge's ``verdict``, ``observations``, ``failure_modes``) are kept."""
    from halo_core.api import append_line

    record = {
        "id": uuid.uuid4().hex[:16],
        "task": task,
        "mode": mode,
        "attempt": int(attempt),
        "text": text,
        "required": [str(r) for r in required],
        "prohibited": [str(p) for p in prohibited],
        "author": author or os.environ.get("USER", ""),
        "timestamp": time.time(),
        "source": source or "human",
        **{k: v for k, v in extra.items() if v is not None},
    }
    append_line(Path(run_dir) / "feedback.jsonl", record)
    return record


def read_feedback(run_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """Every feedback record of ``run_dir`` in the order written."""
    return read_jsonl(Path(run_dir) / "feedback.jsonl")


def feedback_for(records: list[dict[str, Any]], task: str, mode: str, attempt: int) -> list[dict[str, Any]]:
    """The records about one episode; a record without a mode matches every mode."""
    return [r for r in records if str(r.get("task")) == task and int(r.get("attempt", 0) or 0) == attempt
            and (not r.get("mode") or r.get("mode") == mode)]
