"""Checks made before any browser starts: the policy exists and the backends can be used.

A run that would fail on its first step (an unknown policy, a missing API key, a
model directory that is not there) is refused here, once, with one line naming the
problem — not discovered N times, mid-run, in every episode. The command line, the
evaluation workers and embedding code all use these functions; nothing here knows
the command line.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

__all__ = ["MAX_NAME_LENGTH", "PreflightError", "check_name", "check_policy", "check_writable", "needed_backends",
           "preflight", "preflight_backends"]

#: run ids, mode and experiment names become folder names under --data-dir and --results-dir
MAX_NAME_LENGTH = 100
_NAME = re.compile(r"[A-Za-z0-9_\-][A-Za-z0-9_.\-]*")


class PreflightError(ValueError):
    """A config that cannot run with the installed plugins; the message says why and what to do."""


def check_name(kind: str, name: Any) -> str:
    """``name`` if it is safe as one folder name, else :class:`PreflightError` saying why.

    One rule for every name that becomes a path (run ids, mode and experiment names):
    letters, digits, ``-``, ``_`` and ``.`` (not first), at most :data:`MAX_NAME_LENGTH`
    characters — so no separator, ``..``, absolute path, NUL or hidden file can steer a
    write outside the data and results folders.
    """
    text = name if isinstance(name, str) else ""
    if text and len(text) <= MAX_NAME_LENGTH and _NAME.fullmatch(text):
        return text
    if not isinstance(name, str):
        why = f"is a {type(name).__name__}, not a name"
    elif not name:
        why = "is empty"
    elif len(name) > MAX_NAME_LENGTH:
        why = f"is {len(name)} characters long (at most {MAX_NAME_LENGTH})"
    elif any(not (c.isascii() and (c.isalnum() or c in "-_.")) for c in name):
        bad = sorted({c for c in name if not (c.isascii() and (c.isalnum() or c in "-_."))})
        why = "contains " + ", ".join(repr(c) for c in bad[:5])
    else:
        why = "starts with '.'"
    shown = repr(name if not isinstance(name, str) or len(name) <= 60 else name[:60] + "…")
    raise PreflightError(f"{kind} {shown} {why}; use letters, digits, '-', '_' and '.' (not first), "
                         f"at most {MAX_NAME_LENGTH} characters")


def check_writable(directory: str | os.PathLike, what: str) -> Path:
    """``directory`` (created if missing) if this process can write there, else :class:`PreflightError`.

    Checked before any episode starts, so a read-only or misnamed folder is one line, not an
    error in every episode.
    """
    path = Path(directory)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise PreflightError(f"{what} {str(path)!r} is a file, not a folder; pass another {what}") from None
    except OSError as exc:
        raise PreflightError(f"cannot create {what} {str(path)!r}: {exc.strerror or exc}; "
                             f"pass a folder you can write to") from None
    probe = path / f".halo-write-test-{os.getpid()}"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise PreflightError(f"{what} {str(path)!r} is not writable ({exc.strerror or exc}); "
                             f"pass a folder you can write to") from None
    return path


def check_policy(runtime, config) -> None:
    """Refuse a ``config.policy`` that no installed plugin registered (with the closest names)."""
    if config.policy not in runtime.policies:
        raise PreflightError(runtime.policies.unknown_message(config.policy))


def needed_backends(config) -> dict[str, tuple[str | None, float]]:
    """role -> (backend spec, temperature) for the models this config will call (the worker's
    spec is None when neither the config nor a default backend plugin names one)."""
    needed: dict[str, tuple[str | None, float]] = {}
    if config.policy == "worker":
        needed["worker"] = (config.worker_backend, config.worker_temperature)
    if config.use_manager and config.manager_backend:
        needed["manager"] = (config.manager_backend, config.manager_temperature)
    return needed


def preflight_backends(runtime, config) -> dict[str, Any]:
    """Create the backends a config needs and run each one's ``check()`` (keys, servers, model
    directories: whatever the backend knows it needs). Returns role -> backend."""
    from halo_core.backends import BackendError, BackendSettings

    backends: dict[str, Any] = {}
    for role, (spec, temperature) in needed_backends(config).items():
        if spec is None:
            raise PreflightError(f"{role} backend: none is configured and no installed plugin gives a default "
                                 f"(halo_default_backend); pass --{role}-backend prefix:model (halo backends)")
        try:
            backend = runtime.backends.create(spec, BackendSettings(temperature=temperature, seed=config.seed,
                                                                    max_tokens=config.max_tokens,
                                                                    images=config.use_screenshot))
            check = getattr(backend, "check", None)
            if check is not None:
                check()
        except BackendError as exc:
            raise PreflightError(f"{role} backend: {exc}") from None
        backends[role] = backend
    return backends


def preflight(runtime, config) -> dict[str, Any]:
    """:func:`check_policy` then :func:`preflight_backends`."""
    check_policy(runtime, config)
    return preflight_backends(runtime, config)
