"""HALO's public API for plugins: every name here is kept stable; everything else in
``halo_core`` may change.

Plugins import from here (or the few names re-exported by ``halo_core`` itself, such as
:data:`halo_core.hookimpl`) and from :mod:`halo_core.testing` in their tests; they never
import another ``halo_core`` module, as pytest plugins use ``pytest`` and never ``_pytest``.
``tests/test_boundary.py`` enforces it for the first-party plugins, and
``docs/reference.md`` (section "Public API") lists every name with the module it lives
in, checked by a test against :data:`__all__`.

Names are resolved when first used, so importing this module loads nothing heavy (no
browser, no CLI): ``from halo_core.api import run_plan`` imports the evaluation runner,
``from halo_core.api import TaskSpec`` only the data model.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

#: public name → (module, name in that module)
_SOURCES: dict[str, tuple[str, str]] = {}


def _public(module: str, *names: str, **renamed: str) -> None:
    for name in names:
        _SOURCES[name] = (module, name)
    for public, private in renamed.items():
        _SOURCES[public] = (module, private)


# writing plugins
_public("halo_core", "hookimpl", "__version__")
_public("halo_core.stash", "StashKey")
# actions
_public("halo_core.actions", "ACTION_SIGNATURES", "TERMINAL_ACTIONS", "Action", "ActionError", "extract_action",
        "parse_action")
# the data model
_public("halo_core.model", "QUOTED_TEXT", "AXNode", "Decision", "Element", "EpisodeResult", "Evaluation",
        "Observation", "RawObservation", "StepRecord", "TaskSpec", "Usage", "Verdict", "unquote")
# running episodes
_public("halo_core.loop", "Episode", "EpisodeRunner", "run_episode", "terminal_message")
_public("halo_core.runtime", "Runtime")
_public("halo_core.plugins", "DEFAULT_PLUGINS", "make_plugin_manager")
_public("halo_core.config", "AgentConfig", "ConfigError", "load_experiments", "mode_config")
# environments and suites
_public("halo_core.env.protocol", "EnvSettings", "Environment", "EnvironmentDead", "Suite", "TaskNotFound")
_public("halo_core.env.browser", "BrowserEnvironment", "ScriptError", "flatten_axtree", "playwright_errors",
        "shared_playwright", playwright_error_line="one_line")
_public("halo_core.env.chromium", "find_chromium")
# model backends
_public("halo_core.backends", "Backend", "BackendConfigError", "BackendError", "BackendSettings", "Completion",
        "Message", "declared_options", "parse_options")
_public("halo_core.backends_http", "RemoteBackend", "chat_messages", "chat_request", "chat_response", "compute_cost", "host_of", "image_mime",
        "one_line", "price_for", response_field="field")
# prompts
_public("halo_core.prompts", "MANAGER_SYSTEM", "WORKER_SYSTEM", "origin_of", "render_history", "site_relative",
        "worker_messages")
_public("halo_core.builtins.summarizer", "mask_ids")
# untrusted text, secrets and files
_public("halo_core.untrusted", "UNTRUSTED_RULE", "cap", "escape_controls", "fence", "md_text")
_public("halo_core.secrets", "env_secrets", "redact", "redact_console", "write_redacted")
_public("halo_core.jsonl", "append_bytes", "append_line", "encode_line")
_public("halo_core.local_server", "LocalHTTPServer", "closed_port", "send_body")
# trajectories
_public("halo_core.trajectory", "TRAJECTORY_GLOB", "RecordedEpisode", "Step", "TrajectoryError", "iter_episodes",
        "read_trajectory", "screenshot_file", "screenshot_ref", "trajectory_path")
# evaluation and datasets
_public("halo_core.evaluation.plan", "new_plan", "plan_tasks")
_public("halo_core.evaluation.runner", "run_plan")
_public("halo_core.evaluation.jobs", "result_fields")
_public("halo_core.evaluation.store", "ResultsStore")
_public("halo_core.evaluation.metrics", summarize_results="summarize")
_public("halo_core.export", "export_datasets", "format_summary")
# the command line (import inside a command's body, never at module level)
_public("halo_core.cli", "HaloError", "cli", "console", "get_runtime", "new_run_id")
_public("halo_core.commands.options", "AgentCommand", "agent_options")

__all__ = sorted(_SOURCES)


def source_of(name: str) -> tuple[str, str]:
    """(module, name there) of a public name."""
    return _SOURCES[name]


def __getattr__(name: str) -> Any:
    try:
        module, attribute = _SOURCES[name]
    except KeyError:
        raise AttributeError(f"halo_core.api has no public name {name!r}") from None
    value = getattr(importlib.import_module(module), attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


if TYPE_CHECKING:  # what type checkers and editors see
    from halo_core import __version__, hookimpl  # noqa: F401
    from halo_core.actions import (  # noqa: F401
        ACTION_SIGNATURES, TERMINAL_ACTIONS, Action, ActionError, extract_action, parse_action)
    from halo_core.backends import (  # noqa: F401
        Backend, BackendConfigError, BackendError, BackendSettings, Completion, Message, declared_options,
        parse_options)
    from halo_core.backends_http import (  # noqa: F401
        RemoteBackend, chat_messages, chat_request, chat_response, compute_cost, host_of, image_mime, one_line,
        price_for)
    from halo_core.backends_http import field as response_field  # noqa: F401
    from halo_core.builtins.summarizer import mask_ids  # noqa: F401
    from halo_core.cli import HaloError, cli, console, get_runtime, new_run_id  # noqa: F401
    from halo_core.commands.options import AgentCommand, agent_options  # noqa: F401
    from halo_core.config import AgentConfig, ConfigError, load_experiments, mode_config  # noqa: F401
    from halo_core.env.browser import (  # noqa: F401
        BrowserEnvironment, ScriptError, flatten_axtree, playwright_errors, shared_playwright)
    from halo_core.env.browser import one_line as playwright_error_line  # noqa: F401
    from halo_core.env.chromium import find_chromium  # noqa: F401
    from halo_core.env.protocol import EnvSettings, Environment, EnvironmentDead, Suite, TaskNotFound  # noqa: F401
    from halo_core.evaluation.jobs import result_fields  # noqa: F401
    from halo_core.evaluation.metrics import summarize as summarize_results  # noqa: F401
    from halo_core.evaluation.plan import new_plan, plan_tasks  # noqa: F401
    from halo_core.evaluation.runner import run_plan  # noqa: F401
    from halo_core.evaluation.store import ResultsStore  # noqa: F401
    from halo_core.export import export_datasets, format_summary  # noqa: F401
    from halo_core.jsonl import append_bytes, append_line, encode_line  # noqa: F401
    from halo_core.loop import Episode, EpisodeRunner, run_episode, terminal_message  # noqa: F401
    from halo_core.model import (  # noqa: F401
        QUOTED_TEXT, AXNode, Decision, Element, EpisodeResult, Evaluation, Observation, RawObservation, StepRecord,
        TaskSpec, Usage, Verdict, unquote)
    from halo_core.plugins import DEFAULT_PLUGINS, make_plugin_manager  # noqa: F401
    from halo_core.prompts import (  # noqa: F401
        MANAGER_SYSTEM, WORKER_SYSTEM, origin_of, render_history, site_relative, worker_messages)
    from halo_core.runtime import Runtime  # noqa: F401
    from halo_core.secrets import env_secrets, redact, redact_console, write_redacted  # noqa: F401
    from halo_core.stash import StashKey  # noqa: F401
    from halo_core.trajectory import (  # noqa: F401
        TRAJECTORY_GLOB, RecordedEpisode, Step, TrajectoryError, iter_episodes, read_trajectory, screenshot_file,
        screenshot_ref, trajectory_path)
    from halo_core.untrusted import UNTRUSTED_RULE, cap, escape_controls, fence, md_text  # noqa: F401
