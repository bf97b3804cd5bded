"""JSON lines that a crash never cuts in half: one record, one ``write`` on an ``O_APPEND``
descriptor (every JSONL file HALO writes goes through here: trajectories, results, feedback,
trace streams).

Lines are encoded with orjson (compact separators, UTF-8; a step of a large page encodes
about ten times faster than with the stdlib). Values it does not take as they are go
through ``str()``, as ``json.dumps(default=str)`` does, and a record it refuses (an
integer beyond 64 bits, nesting deeper than 254 levels) is written by the stdlib ``json``.
Non-finite floats are written as ``null``, which is valid JSON. Known secrets and URL
credentials are redacted (:func:`halo_core.secrets.redact`).
"""

from __future__ import annotations

import errno
import json
import os

import orjson

from halo_core.secrets import redact, redact_known, redact_url_credentials

__all__ = ["append_bytes", "append_line", "encode_line"]

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


def write_whole(fd: int, data: bytes, path: os.PathLike | str = "") -> None:
    """One ``os.write`` of ``data``; a short write (only on a full disk) raises instead of
    leaving half a line unnoticed."""
    written = os.write(fd, data)
    if written != len(data):
        raise OSError(errno.ENOSPC, f"short write ({written} of {len(data)} bytes)", str(path))


def append_bytes(path: os.PathLike | str, data: bytes) -> None:
    """Append ``data`` (whole lines) to ``path`` in one write on an ``O_APPEND`` descriptor."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        write_whole(fd, data, path)
    finally:
        os.close(fd)


def append_line(path: os.PathLike | str, record: dict, secrets: list[str] | None = None) -> None:
    """Append ``record`` as one JSON line atomically (one write call; O_APPEND), secrets redacted."""
    append_bytes(path, encode_line(record, secrets))
