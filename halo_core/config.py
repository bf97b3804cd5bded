"""Agent configuration: named modes, experiments files, and the seed's environment variables.

A bad value is refused with the key, the value and what is allowed
(:class:`ConfigError`).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Mapping

import attrs

from halo_core.options import Option

SCORE_MODE_MAX_STEPS = 70
SPEED_MODE_MAX_STEPS = 25


class ConfigError(ValueError):
    """A configuration value that cannot be used; the message says what is allowed."""


def _is_name(value: str) -> bool:
    return bool(value) and value.replace("_", "").replace("-", "").isalnum()


def _is_backend(value: str) -> bool:
    return ":" in value and not value.startswith(":") and not value.endswith(":")


#: The loop's own configuration keys, declared as plugins declare theirs (``halo_addoption``,
#: :class:`~halo_core.options.Option`): the core registers them through its ``core_options``
#: built-in, so ``halo config`` shows each with its help, ``--set`` parses them, and a plugin
#: declaring one of these names is refused; :class:`AgentConfig` validates its fields with them.
CORE_OPTIONS: tuple[Option, ...] = tuple(Option(plugin="core", **spec) for spec in (
    dict(name="mode", default="baseline_worker", help="the mode (preset) this config was built from (--mode)"),
    dict(name="description", default="", help="what the mode is for, as halo config and matrix.md show it"),
    dict(name="policy", default="worker", check=_is_name, expects="a name of letters, digits, - and _",
         help="who decides each step: worker (the built-in model worker) or a policy a plugin registered "
              "(halo plugins; --policy)"),
    dict(name="worker_backend", default=None, nullable=True, check=_is_backend,
         expects="prefix:model (a prefix from halo backends)",
         help="the worker's model as prefix:model (halo backends; --worker-backend); only the worker policy "
              "uses it; unset, a mode takes the default backend plugin's (halo_default_backend)"),
    dict(name="manager_backend", default=None, nullable=True, check=_is_backend,
         expects="prefix:model (a prefix from halo backends)",
         help="the manager gate's model as prefix:model (--manager-backend; none turns the gate off); "
              "unset, a mode takes the default backend plugin's (halo_default_backend)"),
    dict(name="use_manager", type=bool, default=False,
         help="call the manager on errors, loops and high-stakes pages; it may replace the worker's action"),
    dict(name="manager_always", type=bool, default=False, help="call the manager at every step (ablation)"),
    dict(name="manager_warm_start", type=int, default=0, minimum=0, maximum=1000,
         help="the manager decides the first N steps itself"),
    dict(name="max_steps", type=int, default=SCORE_MODE_MAX_STEPS, minimum=1, maximum=1000,
         help=f"steps before the episode is cut off ({SCORE_MODE_MAX_STEPS} score mode, {SPEED_MODE_MAX_STEPS} "
              "with --speed; --max-steps)"),
    dict(name="worker_temperature", type=float, default=0.0, minimum=0.0, maximum=2.0,
         help="the worker model's sampling temperature (--temperature)"),
    dict(name="manager_temperature", type=float, default=0.0, minimum=0.0, maximum=2.0,
         help="the manager model's sampling temperature"),
    dict(name="seed", type=int, default=None, nullable=True, minimum=0, maximum=2**63 - 1,
         help="the models' sampling seed (--seed); none = unseeded"),
    dict(name="use_screenshot", type=bool, default=True, help="send the page's screenshot to models that take images"),
    dict(name="save_screenshots", type=bool, default=True, help="save each step's screenshot beside the trajectory"),
    dict(name="history_len", type=int, default=5, minimum=0, maximum=100,
         help="how many previous actions the worker's prompt shows"),
    dict(name="max_page_chars", type=int, default=6000, minimum=200, maximum=1_000_000,
         help="page text in prompts is cut at this many characters"),
    dict(name="max_tokens", type=int, default=256, minimum=1, maximum=32768,
         help="the most tokens a model may write per call"),
))
_CORE = {option.name: option for option in CORE_OPTIONS}


def _validate(instance, attribute, value) -> None:
    from halo_core.options import OptionError

    try:
        _CORE[attribute.name].convert(value)
    except OptionError as exc:
        raise ConfigError(str(exc)) from None


def _core(name: str) -> Any:
    """An :class:`AgentConfig` field whose default and rule are the core option ``name``'s."""
    return attrs.field(default=_CORE[name].default, validator=_validate)


def _check_options(instance, attribute, value):
    if not isinstance(value, Mapping):
        raise ConfigError(f"options={value!r} is not allowed: expected a mapping of plugin option values")


@attrs.frozen(kw_only=True)
class AgentConfig:
    """How one agent runs: the loop's own settings, and the options plugins declared.

    Plugin options (the cache's ``use_vac``, recovery's ``use_recovery``, …) live in
    ``options`` and are read with :meth:`get`; see ``halo config`` for every one.
    """

    mode: str = _core("mode")
    description: str = _core("description")
    policy: str = _core("policy")
    worker_backend: str | None = _core("worker_backend")
    manager_backend: str | None = _core("manager_backend")
    use_manager: bool = _core("use_manager")
    manager_always: bool = _core("manager_always")
    manager_warm_start: int = _core("manager_warm_start")
    max_steps: int = _core("max_steps")
    worker_temperature: float = _core("worker_temperature")
    manager_temperature: float = _core("manager_temperature")
    seed: int | None = _core("seed")
    use_screenshot: bool = _core("use_screenshot")
    save_screenshots: bool = _core("save_screenshots")
    history_len: int = _core("history_len")
    max_page_chars: int = _core("max_page_chars")  # page text in prompts
    max_tokens: int = _core("max_tokens")
    options: Mapping[str, Any] = attrs.field(factory=dict, validator=_check_options)

    def get(self, name: str, default: Any = None) -> Any:
        """A plugin option's value (``default`` when no installed plugin declared it)."""
        return self.options.get(name, default)

    def replace(self, *, runtime=None, **changes: Any) -> AgentConfig:
        """A copy with core keys and/or declared plugin options changed. Plugin options are
        checked against ``runtime``'s declarations (pass the runtime the config was built
        with; without one, the installed plugins')."""
        core = {k: v for k, v in changes.items() if k in _KEYS}
        extra = {k: v for k, v in changes.items() if k not in _KEYS}
        if extra:
            core["options"] = _merge_options(_options_registry(runtime), self.options, extra)
        try:
            return attrs.evolve(self, **core)
        except TypeError as exc:
            raise ConfigError(str(exc)) from None

    def to_dict(self) -> dict[str, Any]:
        """Core keys and plugin options in one flat mapping (the trajectory's ``config``)."""
        data = attrs.asdict(self, filter=lambda a, v: a.name != "options")
        data.update(self.options)
        return data

    def config_hash(self) -> str:
        blob = json.dumps(self.to_dict(), sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:12]


_KEYS = tuple(k for k in attrs.fields_dict(AgentConfig) if k != "options")
assert _KEYS == tuple(_CORE), "every AgentConfig key is a declared core option"



def _options_registry(runtime):
    if runtime is None:
        from halo_core.runtime import default_runtime

        runtime = default_runtime()
    return runtime.options


def _default_backends(runtime) -> dict[str, str | None]:
    if runtime is None:
        from halo_core.runtime import default_runtime

        runtime = default_runtime()
    defaults = runtime.default_backends
    for role, spec in defaults.items():
        if spec is not None and not (isinstance(spec, str) and _is_backend(spec)):
            raise ConfigError(f"halo_default_backend answered {spec!r} for the {role}: expected prefix:model")
    return defaults


def _with_default_backends(values: dict[str, Any], runtime) -> dict[str, Any]:
    """``values`` with each role's backend, when unset, from the default backend plugin (the
    default-plugin rule: ``halo_default_backend``; none installed leaves it unset)."""
    missing = [role for role in ("worker", "manager") if f"{role}_backend" not in values]
    if missing:
        defaults = _default_backends(runtime)
        for role in missing:
            values[f"{role}_backend"] = defaults[role]
    return values


def _modes_registry(runtime):
    if runtime is None:
        from halo_core.runtime import default_runtime

        runtime = default_runtime()
    return runtime.modes


def _convert(registry, name: str, value: Any, *, text: bool = False) -> Any:
    from halo_core.options import OptionError

    try:
        return registry.convert(name, value, text=text)
    except OptionError as exc:
        raise ConfigError(str(exc)) from None


def _merge_options(registry, options: Mapping[str, Any], changes: Mapping[str, Any], *,
                   text: bool = False) -> dict[str, Any]:
    """``options`` with ``changes`` (plugin option names or their aliases) validated and applied."""
    merged = dict(options)
    for key, value in changes.items():
        name = registry.canonical(key)
        if name is None:
            raise ConfigError(registry.unknown_message(key, _KEYS))
        merged[name] = _convert(registry, name, value, text=text)
    return merged


def mode_names(runtime=None) -> list[str]:
    """The installed mode presets, in registration order."""
    return _modes_registry(runtime).names()


def mode_config(mode: str, *, env: Mapping[str, str] | None = None, runtime=None, **overrides: Any) -> AgentConfig:
    """The named mode, with the seed's environment variables and then ``overrides`` applied."""
    from halo_core.options import OptionError

    try:
        values, preset = _modes_registry(runtime).resolve(mode)
    except OptionError as exc:
        raise ConfigError(str(exc)) from None
    values = _with_default_backends(dict(values), runtime)
    values.setdefault("description", preset.description)
    values.update(_env_overrides(preset, values, os.environ if env is None else env))
    values.update({k: v for k, v in overrides.items() if v is not None})
    return build_config(runtime=runtime, mode=mode, **values)


def _env_overrides(preset, values: Mapping[str, Any], env: Mapping[str, str]) -> dict[str, Any]:
    """``HALO_WORKER_BACKEND`` as a full ``prefix:model`` sets every mode's worker; a bare
    prefix (``vllm``/``local``) and ``HALO_WORKER_MODEL`` apply to presets that ask for it."""
    out: dict[str, Any] = {}
    backend = env.get("HALO_WORKER_BACKEND", "").strip()
    model = env.get("HALO_WORKER_MODEL", "").strip()
    if ":" in backend:
        out["worker_backend"] = backend
    elif preset.worker_from_env and (backend or model):
        prefix, _, default_model = str(values.get("worker_backend") or "").partition(":")
        out["worker_backend"] = f"{backend or prefix}:{model or default_model}"
    return out


def build_config(*, runtime=None, **values: Any) -> AgentConfig:
    """An AgentConfig from core keys and plugin options (unset options take their defaults,
    unset backends the default backend plugin's)."""
    registry = _options_registry(runtime)
    values = _with_default_backends(dict(values), runtime)
    core: dict[str, Any] = {}
    options = {name: value for name, value in registry.defaults().items() if name not in _CORE}
    for key, value in values.items():
        if key in _KEYS:
            core[key] = value
            continue
        name = registry.canonical(key)
        if name is None:
            raise ConfigError(registry.unknown_message(key, _KEYS))
        options[name] = value
    options = {name: _convert(registry, name, value) for name, value in options.items()}
    try:
        return AgentConfig(**core, options=options)
    except TypeError as exc:  # attrs raises TypeError for unexpected keys before validators run
        raise ConfigError(str(exc)) from None


def config_from_cli(*, mode: str, config_path: str | None = None, experiment: str | None = None,
                    sets: tuple[str, ...] = (), runtime=None, **overrides: Any) -> AgentConfig:
    """The config a command line asked for: a mode or an experiment, then ``--set name=value``
    assignments and flag overrides (``None`` means not given)."""
    from halo_core.options import OptionError, parse_assignment, parse_text

    manager_backend = overrides.get("manager_backend")
    if isinstance(manager_backend, str) and manager_backend.lower() in ("none", "off"):
        overrides["manager_backend"] = None  # e.g. a local worker offline, with no hosted manager
        overrides["use_manager"] = False
    for text in sets:
        try:
            name, value = parse_assignment(text)
        except OptionError as exc:
            raise ConfigError(str(exc)) from None
        overrides[name] = value
    overrides = {k: v for k, v in overrides.items() if v is not None or k == "manager_backend"}
    if overrides.get("manager_backend", "") is None and "use_manager" not in overrides:
        overrides.pop("manager_backend")
    if config_path:
        config = load_experiments(config_path, runtime=runtime).config(experiment or mode)
    else:
        config = mode_config(mode, runtime=runtime)
    if not overrides:
        return config
    core = {k: v for k, v in overrides.items() if k in _KEYS}
    extra = {k: v for k, v in overrides.items() if k not in _KEYS}
    options = _merge_options(_options_registry(runtime), config.options, extra, text=True)
    for key, value in list(core.items()):
        if isinstance(value, str) and _CORE[key].type is not str:
            core[key] = parse_text(value, _CORE[key].type)
    try:
        return attrs.evolve(config, **core, options=options)
    except TypeError as exc:
        raise ConfigError(str(exc)) from None


# ----------------------------------------------------------------- experiments.yaml

# The original experiments file's core key names, mapped onto AgentConfig (plugins
# declare aliases of their own options, e.g. ``use_cache`` for the cache's ``use_vac``).
_ALIASES = {"worker_model": "worker_backend", "manager_model": "manager_backend", "temperature": "worker_temperature"}


def _normalise(section: str, raw: Any, registry, runtime=None) -> dict[str, Any]:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{section} must be a mapping of keys to values, got {type(raw).__name__}")
    out: dict[str, Any] = {}
    for key, value in raw.items():
        key = _ALIASES.get(str(key), str(key))
        if key not in _KEYS and key not in ("base_mode", "mode"):
            name = registry.canonical(key)
            if name is None:
                raise ConfigError(f"{section}: " + registry.unknown_message(key, _KEYS))
            key = name
        if key in ("worker_backend", "manager_backend") and isinstance(value, str) and ":" not in value:
            value = _bare_model(section, key, value, runtime)
        out[key] = value
    return out


def _bare_model(section: str, key: str, model: str, runtime) -> str:
    """A model named without a prefix (the original file's ``worker_model: gpt-4o-mini``) is the
    default backend plugin's: it takes the prefix of that role's default backend."""
    role = key.split("_", 1)[0]
    default = _default_backends(runtime)[role]
    if default is None:
        raise ConfigError(f"{section}: {key}={model!r} names no backend prefix and no installed plugin gives a "
                          f"default {role} backend; write prefix:model (halo backends)")
    return f"{default.split(':', 1)[0]}:{model}"


@attrs.frozen
class Experiments:
    defaults: dict[str, Any]
    experiments: dict[str, dict[str, Any]]
    task_subsets: dict[str, Any]
    metrics: list[str]
    runtime: Any = attrs.field(default=None, eq=False, repr=False)

    def config(self, name: str, **overrides: Any) -> AgentConfig:
        if name not in self.experiments and name not in mode_names(self.runtime):
            raise ConfigError(
                f"experiment {name!r} is not defined; defined: {', '.join(self.experiments) or 'none'}"
            )
        from halo_core.preflight import PreflightError, check_name

        try:  # the name becomes the mode, which names folders: the folder-name rule first
            check_name("mode", name)
        except PreflightError as exc:
            raise ConfigError(f"experiment {name!r}: {exc}") from None
        values = dict(self.defaults)
        values.update(self.experiments.get(name, {}))
        base = values.pop("base_mode", None) or values.pop("mode", None) or (
            name if name in mode_names(self.runtime) else "baseline_worker")
        values = {k: v for k, v in values.items() if k != "mode"}
        try:
            return mode_config(str(base), runtime=self.runtime,
                               **{**values, **{k: v for k, v in overrides.items() if v is not None}}).replace(
                                   mode=name, runtime=self.runtime)
        except ConfigError as exc:
            raise ConfigError(f"experiment {name!r}: {exc}") from None


def load_experiments(path: str | Path, *, runtime=None) -> Experiments:
    import yaml

    path = Path(path)
    if not path.exists():
        raise ConfigError(f"experiments file {str(path)!r} does not exist")
    if not path.is_file():
        raise ConfigError(f"experiments file {str(path)!r} is not a file")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text; save the experiments file as UTF-8") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, Mapping):
        raise ConfigError(f"{path}: expected a mapping with defaults/experiments/task_subsets/metrics")
    unknown = set(data) - {"defaults", "experiments", "task_subsets", "metrics"}
    if unknown:
        raise ConfigError(f"{path}: unknown top-level key(s) {', '.join(sorted(unknown))}; "
                          "allowed: defaults, experiments, task_subsets, metrics")
    registry = _options_registry(runtime)
    bodies = data.get("experiments") or {}
    if not isinstance(bodies, Mapping):
        raise ConfigError(f"{path}: experiments must be a mapping of names to settings")
    experiments = {str(name): _normalise(f"experiments.{name}", body or {}, registry, runtime)
                   for name, body in bodies.items()}
    exp = Experiments(
        defaults=_normalise("defaults", data.get("defaults") or {}, registry, runtime),
        experiments=experiments,
        task_subsets=dict(data.get("task_subsets") or {}),
        metrics=list(data.get("metrics") or []),
        runtime=runtime,
    )
    for name in experiments:  # validate every experiment now, not mid-run
        exp.config(name)
    return exp
