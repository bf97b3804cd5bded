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

SCORE_MODE_MAX_STEPS = 70
SPEED_MODE_MAX_STEPS = 25


class ConfigError(ValueError):
    """A configuration value that cannot be used; the message says what is allowed."""


def _check_range(lo: float, hi: float):
    def check(instance, attribute, value):
        if value is None:
            return
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= value <= hi:
            raise ConfigError(f"{attribute.name}={value!r} is not allowed: expected a number in [{lo}, {hi}]")
    return check


def _check_choice(*choices: str):
    def check(instance, attribute, value):
        if value not in choices:
            raise ConfigError(f"{attribute.name}={value!r} is not allowed: expected one of {', '.join(choices)}")
    return check


def _check_backend(instance, attribute, value):
    if value is None:
        return
    if not isinstance(value, str) or ":" not in value or value.startswith(":") or value.endswith(":"):
        raise ConfigError(
            f"{attribute.name}={value!r} is not allowed: expected prefix:model, e.g. openai:gpt-4o-mini"
        )


def _check_int(lo: int, hi: int, *, nullable: bool = False):
    def check(instance, attribute, value):
        if value is None and nullable:
            return
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            raise ConfigError(f"{attribute.name}={value!r} is not allowed: expected a whole number in [{lo}, {hi}]")
    return check


def _check_name(key: str):
    def check(instance, attribute, value):
        if not isinstance(value, str) or not value or not value.replace("_", "").replace("-", "").isalnum():
            raise ConfigError(f"{key}={value!r} is not allowed: expected a name of letters, digits, - and _")
    return check


def _check_bool(instance, attribute, value):
    if not isinstance(value, bool):
        raise ConfigError(f"{attribute.name}={value!r} is not allowed: expected true or false")


def _check_options(instance, attribute, value):
    if not isinstance(value, Mapping):
        raise ConfigError(f"options={value!r} is not allowed: expected a mapping of plugin option values")


@attrs.frozen(kw_only=True)
class AgentConfig:
    """How one agent runs: the loop's own settings, and the options plugins declared.

    Plugin options (the cache's ``use_vac``, recovery's ``use_recovery``, …) live in
    ``options`` and are read with :meth:`get`; see ``halo config`` for every one.
    """

    mode: str = "baseline_worker"
    description: str = ""
    policy: str = attrs.field(default="worker", validator=_check_name("policy"))
    worker_backend: str = attrs.field(default="openai:gpt-4o-mini", validator=_check_backend)
    manager_backend: str | None = attrs.field(default="openai:gpt-4o", validator=_check_backend)
    use_manager: bool = attrs.field(default=False, validator=_check_bool)
    manager_always: bool = attrs.field(default=False, validator=_check_bool)
    manager_warm_start: int = attrs.field(default=0, validator=_check_int(0, 1000))
    max_steps: int = attrs.field(default=SCORE_MODE_MAX_STEPS, validator=_check_int(1, 1000))
    worker_temperature: float = attrs.field(default=0.0, validator=_check_range(0.0, 2.0))
    manager_temperature: float = attrs.field(default=0.0, validator=_check_range(0.0, 2.0))
    seed: int | None = attrs.field(default=None, validator=_check_int(0, 2**63 - 1, nullable=True))
    use_screenshot: bool = attrs.field(default=True, validator=_check_bool)
    save_screenshots: bool = attrs.field(default=True, validator=_check_bool)
    history_len: int = attrs.field(default=5, validator=_check_int(0, 100))
    max_page_chars: int = attrs.field(default=6000, validator=_check_int(200, 1_000_000))  # page text in prompts
    max_tokens: int = attrs.field(default=256, validator=_check_int(1, 32768))
    options: Mapping[str, Any] = attrs.field(factory=dict, validator=_check_options)

    def get(self, name: str, default: Any = None) -> Any:
        """A plugin option's value (``default`` when no installed plugin declared it)."""
        return self.options.get(name, default)

    def replace(self, **changes: Any) -> AgentConfig:
        """A copy with core keys and/or declared plugin options changed."""
        core = {k: v for k, v in changes.items() if k in _KEYS}
        extra = {k: v for k, v in changes.items() if k not in _KEYS}
        if extra:
            core["options"] = _merge_options(_options_registry(None), self.options, extra)
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


def _options_registry(runtime):
    if runtime is None:
        from halo_core.runtime import default_runtime

        runtime = default_runtime()
    return runtime.options


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
    values = dict(values)
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
        prefix, _, default_model = str(values.get("worker_backend", "")).partition(":")
        out["worker_backend"] = f"{backend or prefix}:{model or default_model}"
    return out


def build_config(*, runtime=None, **values: Any) -> AgentConfig:
    """An AgentConfig from core keys and plugin options (unset options take their defaults)."""
    registry = _options_registry(runtime)
    core: dict[str, Any] = {}
    options = registry.defaults()
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
    from halo_core.options import OptionError, parse_assignment

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
        if isinstance(value, str) and key not in ("mode", "description", "policy", "worker_backend",
                                                  "manager_backend"):
            core[key] = _coerce_core(key, value)
    try:
        return attrs.evolve(config, **core, options=options)
    except TypeError as exc:
        raise ConfigError(str(exc)) from None


def _coerce_core(key: str, text: str) -> Any:
    field = attrs.fields_dict(AgentConfig)[key]
    kind = field.type if isinstance(field.type, type) else str(field.type)
    lowered = text.strip().lower()
    if "bool" in str(kind):
        return {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}.get(lowered, text)
    for caster in ((int,) if "int" in str(kind) else (float,) if "float" in str(kind) else ()):
        try:
            return caster(text)
        except ValueError:
            return text
    return text


# ----------------------------------------------------------------- experiments.yaml

# The original experiments file's core key names, mapped onto AgentConfig (plugins
# declare aliases of their own options, e.g. ``use_cache`` for the cache's ``use_vac``).
_ALIASES = {"worker_model": "worker_backend", "manager_model": "manager_backend", "temperature": "worker_temperature"}


def _normalise(section: str, raw: Any, registry) -> dict[str, Any]:
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
            value = f"openai:{value}"  # the original file named OpenAI models bare
        out[key] = value
    return out


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
        values = dict(self.defaults)
        values.update(self.experiments.get(name, {}))
        base = values.pop("base_mode", None) or values.pop("mode", None) or (
            name if name in mode_names(self.runtime) else "baseline_worker")
        values = {k: v for k, v in values.items() if k != "mode"}
        try:
            return mode_config(str(base), runtime=self.runtime,
                               **{**values, **{k: v for k, v in overrides.items() if v is not None}}).replace(mode=name)
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
    experiments = {str(name): _normalise(f"experiments.{name}", body or {}, registry)
                   for name, body in bodies.items()}
    exp = Experiments(
        defaults=_normalise("defaults", data.get("defaults") or {}, registry),
        experiments=experiments,
        task_subsets=dict(data.get("task_subsets") or {}),
        metrics=list(data.get("metrics") or []),
        runtime=runtime,
    )
    for name in experiments:  # validate every experiment now, not mid-run
        exp.config(name)
    return exp
