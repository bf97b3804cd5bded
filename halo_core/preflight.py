"""Checks made before any browser starts: the policy exists and the backends can be used.

A run that would fail on its first step (an unknown policy, a missing API key, a
model directory that is not there) is refused here, once, with one line naming the
problem — not discovered N times, mid-run, in every episode. The command line, the
evaluation workers and embedding code all use these functions; nothing here knows
the command line.
"""

from __future__ import annotations

from typing import Any

__all__ = ["PreflightError", "check_policy", "needed_backends", "preflight", "preflight_backends"]


class PreflightError(ValueError):
    """A config that cannot run with the installed plugins; the message says why and what to do."""


def check_policy(runtime, config) -> None:
    """Refuse a ``config.policy`` that no installed plugin registered (with the closest names)."""
    if config.policy not in runtime.policies:
        raise PreflightError(runtime.policies.unknown_message(config.policy))


def needed_backends(config) -> dict[str, tuple[str, float]]:
    """role -> (backend spec, temperature) for the models this config will call."""
    needed: dict[str, tuple[str, float]] = {}
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
