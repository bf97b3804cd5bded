"""JSONL trajectory logger.

One file per episode at ``data/trajectories/<mode>/<run_id>/<task>__attempt_<k>.jsonl``.
Each event is encoded first and written with a single ``write`` on an append-only
descriptor, so a crash or kill never leaves half a line.

Lines are encoded with orjson (compact separators, UTF-8; a step of a large page encodes
about ten times faster than with the stdlib). Values it does not take as they are go
through ``str()``, as ``json.dumps(default=str)`` does, and a record it refuses (an
integer beyond 64 bits, nesting deeper than 254 levels) is written by the stdlib ``json``.
Non-finite floats are written as ``null``, which is valid JSON.

The logger writes events as it receives them; what they hold (the schema, its version)
and how they are read back is :mod:`halo_core.trajectory`'s.
"""

from __future__ import annotations

import json
import os

from pathlib import Path

import orjson

from halo_core import hookimpl
from halo_core.secrets import env_secrets, redact_known, redact_url_credentials
from halo_core.stash import StashKey

_SECRETS = StashKey[list]()


def redact(text: str, secrets: list[str] | None = None) -> str:
    """Replace every configured secret value in ``text`` with ``[REDACTED]``, and the
    credentials of URLs (``http://user:pass@host``) with ``***``."""
    return redact_url_credentials(redact_known(text, secrets))


# datetimes and dataclasses go through default=str, as with json.dumps(default=str)
_ORJSON_OPTIONS = (orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_DATETIME
                   | orjson.OPT_APPEND_NEWLINE)


def encode_line(record: dict, secrets: list[str] | None = None) -> bytes:
    """``record`` as one UTF-8 JSON line ending in a newline, secrets redacted (see the module docstring)."""
    try:
        data = orjson.dumps(record, default=str, option=_ORJSON_OPTIONS)
    except orjson.JSONEncodeError:
        text = redact(json.dumps(record, ensure_ascii=False, default=str), secrets)
        # a lone surrogate (page text can hold one) can only sit inside a JSON string: written as its \u escape
        return (text + "\n").encode("utf-8", "backslashreplace")
    data = redact_known(data, secrets)
    if b"@" in data and b"://" in data:
        data = redact_url_credentials(data.decode()).encode()
    return data


def append_line(path: os.PathLike | str, record: dict, secrets: list[str] | None = None) -> None:
    """Append one JSON line atomically (one write call; O_APPEND), secrets redacted."""
    data = encode_line(record, secrets)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def save_screenshot(episode, event: dict) -> None:
    """Write the step's screenshot beside the trajectory and reference it in the event.

    The screenshot is the one the decision was made on (the last observation before
    the step is appended). Stored as ``<task>__attempt_<k>/step_<i>.<png|jpg>``.
    """
    ref = screenshot_ref(episode, event["step_idx"])
    if ref is None:
        return
    path, relative = ref
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(episode.observations[-1].screenshot)
    event["screenshot"] = relative


def screenshot_ref(episode, step_idx: int) -> tuple[Path, str] | None:
    """(file, path relative to the trajectory's folder) of a step's saved screenshot, or
    None when none is saved (screenshots off, or the observation has none). Other
    plugins use it to reference the same file without depending on hook order."""
    if not episode.config.save_screenshots or not episode.observations:
        return None
    shot = episode.observations[-1].screenshot
    if not shot:
        return None
    ext = "png" if shot[:4] == b"\x89PNG" else "jpg"
    folder = episode.trajectory_path.with_suffix("")
    name = f"step_{step_idx:03d}.{ext}"
    return folder / name, f"{folder.name}/{name}"


@hookimpl
def halo_log(event, episode):
    if episode is None or not event.get("type"):
        return  # events outside an episode have no trajectory
    path = episode.trajectory_path
    if event["type"] == "episode_start" or _SECRETS not in episode.stash:
        # read the environment once per episode, not once per line
        episode.stash[_SECRETS] = env_secrets()
    secrets = episode.stash[_SECRETS]
    if event["type"] == "episode_start":
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():  # a rerun of the same attempt replaces the old file
            path.unlink()
    elif event["type"] == "step":
        save_screenshot(episode, event)
    try:
        append_line(path, event, secrets)
    except FileNotFoundError:  # a plugin event logged before episode_start made the folder
        path.parent.mkdir(parents=True, exist_ok=True)
        append_line(path, event, secrets)
