"""JSONL trajectory logger.

One file per episode at ``data/trajectories/<mode>/<run_id>/<task>__attempt_<k>.jsonl``.
Each event is encoded first and written with a single ``write`` on an append-only
descriptor, so a crash or kill never leaves half a line.

Lines are encoded and appended by :mod:`halo_core.jsonl`.

The logger writes events as it receives them; what they hold (the schema, its version)
and how they are read back is :mod:`halo_core.trajectory`'s.
"""

from __future__ import annotations

from halo_core import hookimpl
from halo_core.jsonl import append_line
from halo_core.secrets import env_secrets
from halo_core.stash import StashKey
from halo_core.trajectory import screenshot_ref

_SECRETS = StashKey[list]()


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
