"""The ``traces`` plugin: live span streaming on ``halo_log`` and the CLI commands.

Live export is off unless ``HALO_TRACES=1`` (spans go to ``traces.jsonl`` beside the
trajectories, ``data/trajectories/<mode>/<run_id>/traces.jsonl``) or
``HALO_TRACES_FILE=<path>`` (spans go there). ``HALO_TRACES_PROJECT`` sets
the project (``openinference.project.name``, default ``halo``), ``HALO_TRACES_ENVIRONMENT`` the
``deployment.environment`` resource attribute.

The spans are the ones ``halo traces export`` writes for the same trajectory (same
ids, same content); only their order differs (an episode's root span is written
when it ends). Each step's spans go out in one ``write`` on an ``O_APPEND``
descriptor, so parallel workers sharing the file never interleave lines.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

from halo_core import hookimpl
from halo_core.api import StashKey, append_bytes, screenshot_ref

from halo_plugin_traces._convert import EpisodeTraceBuilder
from halo_plugin_traces._export import current_secrets, span_line
from halo_plugin_traces._spans import SpanContext

_STATE = StashKey[dict]()
_TRUTHY = {"1", "true", "yes", "on"}


def live_target(episode) -> Path | None:
    """Where this episode's spans stream to, or None when live export is off."""
    explicit = os.environ.get("HALO_TRACES_FILE", "").strip()
    if explicit:
        return Path(explicit)
    if os.environ.get("HALO_TRACES", "").strip().lower() in _TRUTHY:
        return episode.trajectory_path.parent / "traces.jsonl"
    return None


def _append(path: Path, lines: list[str]) -> None:
    append_bytes(path, "".join(lines).encode("utf-8"))


@hookimpl
def halo_log(event, episode):
    if episode is None or event.get("type") not in ("episode_start", "step", "episode_end"):
        return
    state = episode.stash.get(_STATE, None)
    if event["type"] == "episode_start":
        target = live_target(episode)
        if target is None:
            if _STATE in episode.stash:
                del episode.stash[_STATE]
            return
        ctx = SpanContext(project=os.environ.get("HALO_TRACES_PROJECT", "halo"))
        builder = EpisodeTraceBuilder(ctx, mode=episode.config.mode, run_id=episode.run_id,
                                      task_id=episode.task.id, attempt=episode.attempt)
        builder.trajectory_file = episode.trajectory_path.name
        state = episode.stash[_STATE] = {"builder": builder, "path": target, "failed": False}
    if not state or state["failed"]:
        return
    if event["type"] == "step" and "screenshot" not in event:
        ref = screenshot_ref(episode, event.get("step_idx", 0))  # the file the JSONL logger saves
        if ref is not None:
            event = {**event, "screenshot": ref[1]}
    try:
        spans = state["builder"].feed(event)
        if spans:
            secrets = current_secrets()
            state["path"].parent.mkdir(parents=True, exist_ok=True)
            _append(state["path"], [span_line(s, secrets) for s in spans])
    except Exception as exc:  # tracing must never end an episode
        state["failed"] = True
        warnings.warn(f"halo-plugin-traces: live export to {state['path']} stopped: {type(exc).__name__}: {exc}",
                      RuntimeWarning, stacklevel=2)


@hookimpl
def halo_register_commands(cli):
    from halo_plugin_traces.commands import feedback, report, traces

    for command in (traces, feedback, report):
        if command.name not in cli.commands:
            cli.add_command(command)
