"""Every hook HALO calls, grouped by the phase of the loop that calls it.

Hooks are called with keyword arguments only; an implementation may accept fewer
arguments than its specification, so specifications can grow without breaking
plugins. Each hook is documented in ``docs/hooks.md`` (a test enforces it).

A step of the loop is: observe → decide → act → verify → log.
"""

from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("halo")


# --------------------------------------------------------------------------- observe


@hookspec(firstresult=True)
def halo_observe(raw, episode):
    """Turn the environment's raw observation into the :class:`~halo_core.model.Observation`
    the rest of the loop reads (summarized AXTree text, actionable elements with their
    bids, page type, state fingerprint).

    The built-in summarizer is ``trylast``; a plugin may replace it by returning an
    Observation first.

    :param raw: the :class:`~halo_core.model.RawObservation` from the environment.
    :param episode: the running :class:`~halo_core.loop.Episode`.
    :returns: an Observation. Stops at first non-None result.
    """


@hookspec
def halo_annotate(observation, episode):
    """Add annotations to an observation before anything decides on it (e.g. a cache
    marks the state as seen, a loop detector marks a repeat).

    Implementations write into ``observation.annotations`` under their own key; one
    call per step, never per element.

    :param observation: the step's :class:`~halo_core.model.Observation`.
    :param episode: the running Episode.
    :returns: None.
    """


# --------------------------------------------------------------------------- decide


@hookspec(firstresult=True)
def halo_decide(observation, episode):
    """Choose the next action. The decision hierarchy *is* the hook order: macro replay
    (``tryfirst``) → verified action cache → recovery → worker (``trylast``). Wrappers
    (``wrapper=True``) such as the manager gate see and may replace the inner decision.

    :param observation: the step's Observation.
    :param episode: the running Episode (history, config, backends).
    :returns: a :class:`~halo_core.model.Decision`, or None to let the next layer
        decide. Stops at first non-None result.
    """


# --------------------------------------------------------------------------- verify


@hookspec
def halo_verify(before, decision, after, episode):
    """Check what an action did: postconditions, loops, progress.

    Every implementation is called; the cache promotes or evicts entries from these
    verdicts, and the manager gate reads them on the next step.

    :param before: the Observation the decision was made on.
    :param decision: the Decision that was executed.
    :param after: the Observation after the action (``last_action_error`` set on failure).
    :param episode: the running Episode.
    :returns: a :class:`~halo_core.model.Verdict`, a list of them, or None.
    """


# --------------------------------------------------------------------------- log


@hookspec
def halo_log(event, episode):
    """Record an event: ``episode_start``, ``step``, ``episode_end`` or a plugin's own.

    Used by the JSONL trajectory logger, trace exporters and progress displays.

    :param event: a JSON-ready dict with at least ``type``.
    :param episode: the running Episode, or None for events outside an episode.
    :returns: None.
    """


# --------------------------------------------------------------------------- lifecycle


@hookspec
def halo_episode_start(episode):
    """An episode is about to run its first step (the environment is reset).

    :param episode: the Episode; ``episode.task`` and ``episode.config`` are set.
    :returns: None.
    """


@hookspec
def halo_episode_end(episode, result):
    """An episode has finished and been scored. Caches flush and macros are mined here.

    :param episode: the Episode, with its full ``history``.
    :param result: the :class:`~halo_core.model.EpisodeResult`.
    :returns: None.
    """


# --------------------------------------------------------------------------- registries


@hookspec
def halo_register_backends(register):
    """Register model backends, chosen by a ``prefix:model`` string.

    Call ``register(prefix, factory, *, description="", requires="")``; ``factory(model,
    settings)`` returns an object with ``complete(messages, **options)`` (see
    :class:`~halo_core.backends.Backend`).

    :param register: the registration callback.
    :returns: None.
    """


@hookspec
def halo_register_environments(register):
    """Register task suites and the environments that run them.

    Call ``register(suite)`` with an object following :class:`~halo_core.env.Suite`.

    :param register: the registration callback.
    :returns: None.
    """


@hookspec
def halo_register_trainers(register):
    """Register trainers for ``halo train <name>``.

    Call ``register(name, trainer, *, description="")``; ``trainer(**options)`` trains
    and returns the output path.

    :param register: the registration callback.
    :returns: None.
    """


@hookspec
def halo_register_commands(cli):
    """Add subcommands to the ``halo`` command line.

    :param cli: the root :class:`click.Group`; call ``cli.add_command(...)``.
    :returns: None.
    """
