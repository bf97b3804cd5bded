"""Every hook HALO calls, grouped by the phase of the loop that calls it.

Hooks are called with keyword arguments only; an implementation may accept fewer
arguments than its specification, so specifications can grow without breaking
plugins. Each hook is documented in ``docs/hooks.md`` (a test enforces it).

A step of the loop is: observe → decide → act → verify → log.
"""

from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("halo")


# --------------------------------------------------------------------------- configuration


@hookspec
def halo_addoption(register):
    """Declare the configuration options this plugin reads (pytest's ``addoption``).

    Call ``register(name, *, type=bool|int|float|str, default=..., help="", choices=(),
    minimum=None, maximum=None, nullable=False, flag=None, aliases=())``. Values are
    validated when a config is built and read with ``episode.config.get(name)``; they
    are shown by ``halo config``, settable with ``--set name=value``, in experiments
    files, and with ``flag`` (e.g. ``"--cache-scope"``) on every command that runs an agent.

    :param register: the registration callback.
    :returns: None.
    """


@hookspec
def halo_register_modes(register):
    """Contribute named agent modes (presets of core keys and plugin options).

    Call ``register(name, *, description="", base=(), worker_from_env=False, **values)``;
    ``base`` names the mode(s) this one builds on (the first installed one is used), and
    ``register(name, extend=True, **values)`` adds values to another plugin's mode.

    :param register: the registration callback.
    :returns: None.
    """


@hookspec(firstresult=True)
def halo_default_backend(role):
    """The backend a role uses when the config names none (llm's bundled default model).

    Answer ``"prefix:model"`` for ``role`` (``"worker"`` or ``"manager"``), or None. A
    backend plugin answers for its own prefix; one first-party backend plugin answers (see
    ``docs/hooks.md``). Mark the implementation ``tryfirst=True`` to win over it. With no answer the role
    has no backend: the model worker is refused before anything starts, and a mode's
    manager gate has none to call. Stops at first non-None result.

    :param role: ``"worker"`` or ``"manager"``.
    :returns: ``"prefix:model"`` or None.
    """


@hookspec
def halo_register_decision_sources(register):
    """Declare the decision sources this plugin's ``halo_decide`` returns.

    Call ``register(name, description="")``. A :class:`~halo_core.model.Decision` whose
    source no plugin declared still counts (the episode goes on) but warns once
    (``UndeclaredNameWarning``). A name another plugin declared is refused, naming both.

    :param register: the registration callback.
    :returns: None.
    """


@hookspec
def halo_register_policies(register):
    """Declare decision policies selectable with ``--policy`` (``worker`` is built in).

    Call ``register(name, description="", *, shared=False)``. Unknown policies are refused
    before any browser starts. A name another plugin declared is refused, naming both,
    unless one of the declarations says ``shared=True`` (several plugins answer to it, each
    for its own tasks).

    :param register: the registration callback.
    :returns: None.
    """


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
    """Choose the next action. The decision hierarchy *is* the hook order: skill replay
    (``tryfirst``) → action caches → recovery → worker (``trylast``). Wrappers
    (``wrapper=True``) such as the manager gate see and may replace the inner decision.

    :param observation: the step's Observation.
    :param episode: the running Episode (history, config, backends).
    :returns: a :class:`~halo_core.model.Decision`, or None to let the next layer
        decide. Stops at first non-None result.
    """


@hookspec(firstresult=True)
def halo_build_messages(role, observation, episode, proposed, reason):
    """Build the chat messages sent to the ``worker`` or ``manager`` model.

    The built-ins (``trylast``) return :func:`halo_core.prompts.worker_messages` /
    :func:`~halo_core.prompts.manager_messages`; a plugin may return its own list (for
    instance those messages with a worked example added) for some modes or models.

    :param role: ``"worker"`` or ``"manager"``.
    :param observation: the step's Observation.
    :param episode: the running Episode (``episode.config`` names mode and backends).
    :param proposed: for the manager, the worker's proposed action (or None).
    :param reason: for the manager, why it is asked; "" for the worker.
    :returns: a list of :class:`~halo_core.backends.Message`. Stops at first non-None result.
    """


@hookspec
def halo_call_options(role, backend, messages, observation, episode):
    """Per-call options for the model call that decides this step (llm's ``Options``).

    A backend declares the options it takes as the fields of its ``Options`` attrs class
    (:func:`halo_core.backends.declared_options`); the worker merges every result (the
    first one wins on a clash), keeps the options the backend declares and passes them as
    ``backend.complete(messages, options=...)``. Options are never set on the backend
    object: one backend, or one model, serves many episodes at once.

    :param role: ``"worker"``.
    :param backend: the backend about to be called (read ``Options`` to see what it takes).
    :param messages: the messages it will be sent (from ``halo_build_messages``).
    :param observation: the step's Observation.
    :param episode: the running Episode.
    :returns: a dict of option values, or None.
    """


@hookspec
def halo_register_prompt_styles(register):
    """Register worker prompt styles that ``halo export --prompt-style NAME`` can write.

    Call ``register(name, rewrite, description)``. ``rewrite(prompt, completion)`` takes an
    exported example's chat messages (``{"role", "content"}`` dicts of the default worker
    prompt) and its reply (a canonical action, or None) and returns both as a worker of
    that style would see and write them, so training prompts equal live prompts.
    A name registered twice is an error.

    :param register: ``register(name, rewrite, description="")``.
    :returns: None.
    """


@hookspec(firstresult=True)
def halo_resolve_output(text, messages, observation, episode):
    """Turn a model's reply into action text before it is parsed, for a prompt style whose
    replies name things indirectly (numbered references to page elements or goal text).

    Called by the worker for every reply, with the messages the model was shown. Raise
    :class:`~halo_core.actions.ActionError` for a reply that cannot be resolved: it counts
    as unusable (asked again once, then ``invalid_output``) and never reaches the browser.

    :param text: the model's reply as it came.
    :param messages: the list of :class:`~halo_core.backends.Message` the model answered.
    :param observation: the step's Observation.
    :param episode: the running Episode.
    :returns: the resolved text, or None to keep ``text``. Stops at first non-None result.
    """


# --------------------------------------------------------------------------- verify


@hookspec
def halo_verify(before, decision, after, episode):
    """Check what an action did: postconditions, loops, progress.

    Every implementation is called; the cache promotes or evicts entries from these
    verdicts, and the manager gate reads them on the next step. ``episode.history`` does
    not hold this step yet: its record, with these verdicts, is appended afterwards.

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
    """An episode starts: the environment has been reset, nothing is observed yet.

    :param episode: the Episode; ``episode.task`` and ``episode.config`` are set.
    :returns: None.
    """


@hookspec
def halo_episode_end(episode, result):
    """An episode has finished and been scored; caches record what it verified.

    Each implementation runs even when another raises; each error is recorded in
    ``result.plugin_errors`` and never replaces the result.

    :param episode: the Episode, with its full ``history``.
    :param result: the :class:`~halo_core.model.EpisodeResult`.
    :returns: None.
    """


@hookspec
def halo_episode_counters(episode):
    """Contribute counters to an episode's result (e.g. cache hits, replayed skill steps).

    Called once when the episode ends, before ``halo_episode_end``. The counters land
    in ``EpisodeResult.counters``, in the ``episode_end`` event and in results files.

    :param episode: the finished Episode, with its full ``history``.
    :returns: a mapping of counter name to number, or None.
    """


@hookspec
def halo_register_metrics(register):
    """Add columns to the metrics table (``matrix.md``/``matrix.csv``).

    Call ``register(column, compute, *, description="", percent=False)``;
    ``compute(records)`` gets the valid episodes' result records (dicts with
    ``steps``, ``counters``, …) and returns a number or None.

    :param register: the registration callback.
    :returns: None.
    """


# --------------------------------------------------------------------------- registries


@hookspec
def halo_register_backends(register):
    """Register model backends, chosen by a ``prefix:model`` string.

    Call ``register(prefix, factory, *, description="", requires="")``; ``factory(model,
    settings)`` returns an object with ``complete(messages, **options)`` (see
    :class:`~halo_core.backends.Backend`). A prefix another plugin registered is refused,
    naming both.

    :param register: the registration callback.
    :returns: None.
    """


@hookspec
def halo_register_environments(register):
    """Register task suites and the environments that run them.

    Call ``register(suite)`` with an object following :class:`~halo_core.env.Suite`. A
    suite name another plugin registered is refused, naming both.

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
