"""HALO: a hierarchical browser agent built as a minimal pluggy orchestrator.

Write a plugin by implementing hooks from :mod:`halo_core.hookspecs` with
:data:`hookimpl` and declaring it under the ``halo`` entry-point group::

    from halo_core import hookimpl, Decision

    @hookimpl
    def halo_decide(observation, episode):
        button = observation.find("button", "Accept cookies")
        if button:
            return Decision(f"click('{button.bid}')", source="recovery")

See ``docs/plugins.md`` for the whole guide and ``docs/hooks.md`` for every hook.
Everything else a plugin may import is in :mod:`halo_core.api`; other modules are internal.
"""

import pluggy

__version__ = "0.1.0"

hookimpl = pluggy.HookimplMarker("halo")

from halo_core.actions import Action, ActionError, extract_action, parse_action  # noqa: E402
from halo_core.backends import (  # noqa: E402
    Backend,
    BackendConfigError,
    BackendError,
    BackendSettings,
    Completion,
    Message,
)
from halo_core.config import AgentConfig, ConfigError, mode_config  # noqa: E402
from halo_core.env.protocol import Environment, EnvironmentDead, EnvSettings, Suite, TaskNotFound  # noqa: E402
from halo_core.loop import Episode, run_episode  # noqa: E402
from halo_core.model import (  # noqa: E402
    AXNode,
    Decision,
    Element,
    EpisodeResult,
    Evaluation,
    Observation,
    RawObservation,
    StepRecord,
    TaskSpec,
    Usage,
    Verdict,
)
from halo_core.plugins import DEFAULT_PLUGINS, make_plugin_manager  # noqa: E402
from halo_core.runtime import Runtime  # noqa: E402

__all__ = [
    "AXNode", "Action", "ActionError", "AgentConfig", "Backend", "BackendConfigError", "BackendError",
    "BackendSettings", "Completion", "ConfigError", "DEFAULT_PLUGINS", "Decision", "Element", "EnvSettings",
    "Environment", "EnvironmentDead", "Episode", "EpisodeResult", "Evaluation", "Message", "Observation",
    "RawObservation", "Runtime", "StepRecord", "Suite", "TaskNotFound", "TaskSpec", "Usage", "Verdict",
    "__version__", "extract_action", "hookimpl", "make_plugin_manager", "mode_config", "parse_action",
    "run_episode",
]
