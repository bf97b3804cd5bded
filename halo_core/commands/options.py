"""The options of every command that runs an agent, and the config they ask for.

``@agent_options()`` adds the core's options (``--mode``, ``--config``, ``--policy``,
``--worker-backend``, …, a repeatable ``--set NAME=VALUE``) and hands the callback one
:class:`AgentArgs` as ``agent``. Use it with ``cls=AgentCommand``: that class adds, at
parse time, a flag for every option a plugin declared with ``flag=`` — built from the
invocation's runtime, so an installed plugin's flags appear without the core naming
them, and a removed plugin's flags disappear.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

import attrs
import click

from halo_core.config import SCORE_MODE_MAX_STEPS, SPEED_MODE_MAX_STEPS, ConfigError, config_from_cli

__all__ = ["AgentArgs", "AgentCommand", "PluginFlagsMixin", "agent_options", "plugin_flag_params", "pop_flags"]

_FLAG_PREFIX = "halo_opt__"
_CORE = ("modes", "experiments", "config_path", "policy", "worker_backend", "manager_backend", "max_steps", "speed",
         "temperature", "seed", "headless", "data_dir", "sets")


@attrs.frozen
class AgentArgs:
    """What the agent options of one command line said (``None``: not given)."""

    modes: tuple[str, ...] = ()
    experiments: tuple[str, ...] = ()
    config_path: str | None = None
    policy: str | None = None
    worker_backend: str | None = None
    manager_backend: str | None = None
    max_steps: int | None = None
    speed: bool = False
    temperature: float | None = None
    seed: int | None = None
    headless: bool = True
    data_dir: str = "data"
    sets: tuple[str, ...] = ()
    flags: dict[str, Any] = attrs.field(factory=dict)  # plugin option name -> value, given flags only

    @property
    def mode(self) -> str:
        return self.modes[0] if self.modes else "baseline_worker"

    def overrides(self) -> dict[str, Any]:
        """Core keys and plugin flags for :func:`~halo_core.config.config_from_cli`."""
        return dict(policy=self.policy, worker_backend=self.worker_backend, manager_backend=self.manager_backend,
                    max_steps=self.max_steps or (SPEED_MODE_MAX_STEPS if self.speed else None),
                    worker_temperature=self.temperature, seed=self.seed, **self.flags)

    def config(self, runtime, name: str | None = None):
        """The config of mode (or experiment) ``name``, default the one the command line named;
        its policy checked against the installed ones. Raises :class:`HaloError`."""
        from halo_core.cli import HaloError
        from halo_core.preflight import PreflightError, check_name, check_policy

        experiment = None if name else (self.experiments[0] if self.experiments else None)
        if self.experiments and not self.config_path:
            raise HaloError(f"--experiment {self.experiments[0]} needs --config FILE (the experiments file)")
        try:
            self.check_names()
            config = config_from_cli(mode=name or self.mode, config_path=self.config_path, experiment=experiment,
                                     sets=self.sets, runtime=runtime, **self.overrides())
            # the mode names a folder of trajectories and caches, whichever file or plugin named it
            check_name("mode", config.mode)
            check_policy(runtime, config)
        except (ConfigError, PreflightError) as exc:
            raise HaloError(str(exc)) from None
        return config

    def check_names(self) -> None:
        """Refuse a ``--mode`` or ``--experiment`` that could not be one folder name."""
        from halo_core.preflight import check_name

        for mode in self.modes:
            check_name("--mode", mode)
        for experiment in self.experiments:
            check_name("--experiment", experiment)

    def check_data_dir(self):
        """``--data-dir``, created and checked writable before any episode starts (:class:`HaloError`)."""
        from halo_core.cli import HaloError
        from halo_core.preflight import PreflightError, check_writable

        try:
            return check_writable(self.data_dir, "--data-dir")
        except PreflightError as exc:
            raise HaloError(str(exc)) from None

    def configs(self, runtime, *, all_modes: bool = False) -> dict[str, Any]:
        """name -> config for every experiment and mode given (``all_modes``: every mode, or every
        experiment of ``--config``); ``baseline_worker`` when none is."""
        from halo_core.cli import HaloError
        from halo_core.config import load_experiments, mode_names
        from halo_core.preflight import PreflightError

        names = list(dict.fromkeys([*self.experiments, *self.modes]))
        try:
            self.check_names()
        except PreflightError as exc:
            raise HaloError(str(exc)) from None
        if all_modes:
            try:
                every = (list(load_experiments(self.config_path, runtime=runtime).experiments) if self.config_path
                         else mode_names(runtime))
            except ConfigError as exc:
                raise HaloError(str(exc)) from None
            names += [n for n in every if n not in names]
        return {name: self.config(runtime, name) for name in names or ["baseline_worker"]}


def _core_options(many_modes: bool) -> list[Callable]:
    mode_help = "see `halo config` for the installed modes"
    if many_modes:
        modes = click.option("--mode", "modes", multiple=True,
                             help=f"Agent mode (repeatable: a matrix of every mode given; {mode_help}).")
        experiments = click.option("--experiment", "experiments", multiple=True,
                                   help="Experiment of --config (repeatable).")
    else:
        modes = click.option("--mode", "modes", default="baseline_worker", show_default=True,
                             callback=lambda ctx, param, value: (value,), help=f"Agent mode ({mode_help}).")
        experiments = click.option("--experiment", "experiments", default=None,
                                   callback=lambda ctx, param, value: (value,) if value else (),
                                   help="Experiment of --config (instead of --mode).")
    return [
        modes,
        click.option("--config", "config_path", default=None, type=click.Path(dir_okay=False),
                     help="experiments.yaml (its experiments become modes; its task_subsets feed --subset)."),
        experiments,
        click.option("--policy", default=None,
                     help="Decision policy: worker (the model) or one a plugin registered (see `halo config`)."),
        click.option("--worker-backend", default=None,
                     help="Worker backend as prefix:model (`halo backends`); default: the default backend plugin's."),
        click.option("--manager-backend", default=None,
                     help="Manager backend as prefix:model; 'none' turns the gate off; default: the default backend plugin's."),
        click.option("--max-steps", type=click.IntRange(min=1), default=None,
                     help=f"Step limit (score mode {SCORE_MODE_MAX_STEPS})."),
        click.option("--speed", is_flag=True, help=f"Speed mode: {SPEED_MODE_MAX_STEPS} steps."),
        click.option("--temperature", type=float, default=None, help="Worker sampling temperature."),
        click.option("--seed", type=int, default=None, help="Worker sampling seed."),
        click.option("--headless", type=click.BOOL, default=True, show_default=True, help="Hide the browser window."),
        click.option("--data-dir", default="data", show_default=True, type=click.Path(file_okay=False),
                     help="Trajectories (data/trajectories/<mode>/<run_id>/) and caches."),
        click.option("--set", "sets", multiple=True, metavar="NAME=VALUE",
                     help="Set any config key or plugin option (repeatable; see `halo config`)."),
    ]


def agent_options(*, many_modes: bool = False) -> Callable:
    """Add the agent options to a command callback, which then receives ``agent: AgentArgs``.

    ``many_modes``: ``--mode`` and ``--experiment`` may repeat (``halo eval``'s matrix).
    Pair with ``@click.command(cls=AgentCommand)`` for the plugins' flags.
    """
    def decorate(f: Callable) -> Callable:
        @functools.wraps(f)
        def callback(*args, **kwargs):
            flags = pop_flags(kwargs)
            core = {k: kwargs.pop(k) for k in _CORE}
            agent = AgentArgs(**core, flags=flags)
            return f(*args, agent=agent, **kwargs)

        for option in reversed(_core_options(many_modes)):
            callback = option(callback)
        return callback

    return decorate


def plugin_flag_params(runtime, taken: set[str] = frozenset(),
                       keep: Callable[[Any], bool] | None = None) -> list[click.Option]:
    """A click option for every declared plugin option with a ``flag`` (skipping flags in
    ``taken`` and options ``keep`` refuses)."""
    params = []
    for option in runtime.options.options.values():
        flag = option.flag
        if not flag or (keep is not None and not keep(option)):
            continue
        flag = flag if flag.startswith("--") else f"--{flag}"
        if flag in taken:
            continue
        text = option.help or option.name
        help_text = f"{text} [{option.plugin or 'plugin'} option {option.name}]"
        if option.type is bool:
            decls = [f"{flag}/--no-{flag[2:]}", _FLAG_PREFIX + option.name]
            params.append(click.Option(decls, default=None, help=help_text))
            continue
        kind: Any = {int: click.INT, float: click.FLOAT}.get(option.type, click.STRING)
        if option.choices:
            kind = click.Choice([str(c) for c in option.choices])
        params.append(click.Option([flag, _FLAG_PREFIX + option.name], type=kind, default=None,
                                   help=help_text + (f" (default: {option.default})" if option.default not in
                                                     (None, "") else "")))
    return params


def pop_flags(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Remove the plugin flags from a callback's ``kwargs``: option name -> value, given ones only."""
    flags = {k[len(_FLAG_PREFIX):]: kwargs.pop(k) for k in list(kwargs) if k.startswith(_FLAG_PREFIX)}
    return {k: v for k, v in flags.items() if v is not None}


class PluginFlagsMixin:
    """Adds the plugins' flags to a click command at parse time, from the invocation's runtime.

    ``keep_option(runtime, option)`` narrows which options get one (default: all).
    """

    def keep_option(self, runtime, option) -> bool:
        return True

    def get_params(self, ctx: click.Context) -> list[click.Parameter]:
        params = super().get_params(ctx)  # type: ignore[misc]
        key = f"halo.plugin_flags.{id(self)}"
        if key not in ctx.meta:
            from halo_core.cli import get_runtime

            runtime = get_runtime(ctx)
            taken = {opt for p in params for opt in (*getattr(p, "opts", ()), *getattr(p, "secondary_opts", ()))}
            ctx.meta[key] = plugin_flag_params(runtime, taken, lambda option: self.keep_option(runtime, option))
        extra = ctx.meta[key]
        help_option = self.get_help_option(ctx)  # type: ignore[attr-defined]
        if help_option is not None and params and params[-1] is help_option:  # keep --help last
            return params[:-1] + extra + params[-1:]
        return params + extra


class AgentCommand(PluginFlagsMixin, click.Command):
    """A command that runs an agent: its options include every plugin option that declares a flag."""


def option_values(runtime, sets: tuple[str, ...] = (), flags: dict[str, Any] | None = None) -> dict[str, Any]:
    """Plugin option values from flags and ``--set NAME=VALUE`` (checked; :class:`HaloError` otherwise),
    for commands that hand options to suites without building an agent config."""
    from halo_core.cli import HaloError
    from halo_core.options import OptionError, parse_assignment

    registry = runtime.options
    values: dict[str, Any] = dict(flags or {})
    try:
        for text in sets:
            name, value = parse_assignment(text)
            canonical = registry.canonical(name)
            if canonical is None:
                raise OptionError(registry.unknown_message(name))
            values[canonical] = value
        return {name: registry.convert(name, value) for name, value in values.items()}
    except OptionError as exc:
        raise HaloError(str(exc)) from None
