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
DEFAULT_QWEN_MODEL = "Qwen/Qwen2.5-3B-Instruct"


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


def _check_bool(instance, attribute, value):
    if not isinstance(value, bool):
        raise ConfigError(f"{attribute.name}={value!r} is not allowed: expected true or false")


@attrs.frozen(kw_only=True)
class AgentConfig:
    """How one agent runs: which layers of the hierarchy are on, and which models."""

    mode: str = "baseline_worker"
    description: str = ""
    policy: str = attrs.field(default="worker", validator=attrs.validators.instance_of(str))
    worker_backend: str = attrs.field(default="openai:gpt-4o-mini", validator=_check_backend)
    manager_backend: str | None = attrs.field(default="openai:gpt-4o", validator=_check_backend)
    use_manager: bool = attrs.field(default=False, validator=_check_bool)
    manager_always: bool = attrs.field(default=False, validator=_check_bool)
    manager_warm_start: int = attrs.field(default=0, validator=_check_range(0, 1000))
    use_vac: bool = attrs.field(default=False, validator=_check_bool)
    use_macros: bool = attrs.field(default=False, validator=_check_bool)
    use_recovery: bool = attrs.field(default=True, validator=_check_bool)
    cache_scope: str = attrs.field(default="task", validator=_check_choice("task", "site"))
    cache_path: str = "data/cache/vac.sqlite"
    macros_path: str = "data/cache/macros.json"
    max_steps: int = attrs.field(default=SCORE_MODE_MAX_STEPS, validator=_check_range(1, 1000))
    worker_temperature: float = attrs.field(default=0.0, validator=_check_range(0.0, 2.0))
    manager_temperature: float = attrs.field(default=0.0, validator=_check_range(0.0, 2.0))
    seed: int | None = None
    use_screenshot: bool = attrs.field(default=True, validator=_check_bool)
    save_screenshots: bool = attrs.field(default=True, validator=_check_bool)
    history_len: int = attrs.field(default=5, validator=_check_range(0, 100))
    max_page_chars: int = attrs.field(default=6000, validator=_check_range(200, 1_000_000))  # page text in prompts
    max_tokens: int = attrs.field(default=256, validator=_check_range(1, 32768))

    def replace(self, **changes: Any) -> AgentConfig:
        unknown = set(changes) - set(attrs.fields_dict(AgentConfig))
        if unknown:
            raise ConfigError(f"unknown config key(s): {', '.join(sorted(unknown))}; allowed: {', '.join(_KEYS)}")
        return attrs.evolve(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)

    def config_hash(self) -> str:
        blob = json.dumps(self.to_dict(), sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:12]


_KEYS = tuple(attrs.fields_dict(AgentConfig))

_HIERARCHY = dict(use_manager=True)
MODES: dict[str, dict[str, Any]] = {
    "baseline_worker": dict(description="worker only (gpt-4o-mini), no manager, no cache"),
    "hierarchy_mgr_gate": dict(description="worker + manager gate (gpt-4o on errors, loops, high stakes)", **_HIERARCHY),
    "hierarchy_vac": dict(description="worker + manager gate + verified action cache", use_vac=True, **_HIERARCHY),
    "hierarchy_vac_macros": dict(description="full HALO: worker + manager + VAC + macros", use_vac=True, use_macros=True, **_HIERARCHY),
    "qwen_worker_zero": dict(description="Qwen worker, zero-shot (vLLM base model)", worker_backend=f"vllm:{DEFAULT_QWEN_MODEL}", use_vac=True, use_macros=True, **_HIERARCHY),
    "qwen_worker_bc": dict(description="Qwen worker with the BC LoRA adapter", worker_backend="vllm:qwen_bc", use_vac=True, use_macros=True, **_HIERARCHY),
    "qwen_worker_dpo": dict(description="Qwen worker with the DPO LoRA adapter", worker_backend="vllm:qwen_dpo", use_vac=True, use_macros=True, **_HIERARCHY),
    "qwen_worker_grpo": dict(description="Qwen worker with the GRPO LoRA adapter", worker_backend="vllm:qwen_grpo", use_vac=True, use_macros=True, **_HIERARCHY),
    "manager_only": dict(description="ablation: the manager reviews every step", use_manager=True, manager_always=True),
    "cache_only": dict(description="ablation: worker + VAC + macros, no manager", use_vac=True, use_macros=True),
    "worker_gpt4o": dict(description="ablation: baseline with gpt-4o as the worker", worker_backend="openai:gpt-4o"),
    "no_recovery": dict(description="ablation: full HALO without recovery policies", use_vac=True, use_macros=True, use_recovery=False, **_HIERARCHY),
}


def mode_config(mode: str, *, env: Mapping[str, str] | None = None, **overrides: Any) -> AgentConfig:
    """The named mode, with the seed's environment variables and then ``overrides`` applied."""
    if mode not in MODES:
        raise ConfigError(f"mode={mode!r} is not allowed: expected one of {', '.join(MODES)}")
    values = dict(MODES[mode])
    values.update(_env_overrides(mode, values, os.environ if env is None else env))
    values.update({k: v for k, v in overrides.items() if v is not None})
    return _build(mode=mode, **values)


def _env_overrides(mode: str, values: Mapping[str, Any], env: Mapping[str, str]) -> dict[str, Any]:
    """``HALO_WORKER_BACKEND`` (``vllm``/``local`` or a full ``prefix:model``) and
    ``HALO_WORKER_MODEL`` choose the Qwen modes' worker, as in the original project."""
    out: dict[str, Any] = {}
    backend = env.get("HALO_WORKER_BACKEND", "").strip()
    model = env.get("HALO_WORKER_MODEL", "").strip()
    if ":" in backend:
        out["worker_backend"] = backend
    elif mode.startswith("qwen_worker") and (backend or model):
        prefix, _, default_model = str(values.get("worker_backend", "")).partition(":")
        out["worker_backend"] = f"{backend or prefix}:{model or default_model}"
    return out


def _build(**values: Any) -> AgentConfig:
    unknown = set(values) - set(_KEYS)
    if unknown:
        raise ConfigError(f"unknown config key(s): {', '.join(sorted(unknown))}; allowed: {', '.join(_KEYS)}")
    return AgentConfig(**values)


# ----------------------------------------------------------------- experiments.yaml

# The original experiments file's key names, mapped onto AgentConfig.
_ALIASES = {"use_cache": "use_vac", "worker_model": "worker_backend", "manager_model": "manager_backend",
            "temperature": "worker_temperature"}


def _normalise(section: str, raw: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{section} must be a mapping of keys to values, got {type(raw).__name__}")
    out: dict[str, Any] = {}
    for key, value in raw.items():
        key = _ALIASES.get(key, key)
        if key not in _KEYS and key not in ("base_mode", "mode"):
            raise ConfigError(f"{section}.{key} is not a known key; allowed: {', '.join(_KEYS)}")
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

    def config(self, name: str, **overrides: Any) -> AgentConfig:
        if name not in self.experiments and name not in MODES:
            raise ConfigError(
                f"experiment {name!r} is not defined; defined: {', '.join(self.experiments) or 'none'}"
            )
        values = dict(self.defaults)
        values.update(self.experiments.get(name, {}))
        base = values.pop("base_mode", None) or values.pop("mode", None) or (name if name in MODES else "baseline_worker")
        values = {k: v for k, v in values.items() if k != "mode"}
        try:
            return mode_config(base, **{**values, **{k: v for k, v in overrides.items() if v is not None}}).replace(mode=name)
        except TypeError as exc:  # attrs raises TypeError for bad types before validators run
            raise ConfigError(f"experiment {name!r}: {exc}") from None


def load_experiments(path: str | Path) -> Experiments:
    import yaml

    path = Path(path)
    if not path.exists():
        raise ConfigError(f"experiments file {str(path)!r} does not exist")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, Mapping):
        raise ConfigError(f"{path}: expected a mapping with defaults/experiments/task_subsets/metrics")
    unknown = set(data) - {"defaults", "experiments", "task_subsets", "metrics"}
    if unknown:
        raise ConfigError(f"{path}: unknown top-level key(s) {', '.join(sorted(unknown))}; "
                          "allowed: defaults, experiments, task_subsets, metrics")
    experiments = {name: _normalise(f"experiments.{name}", body or {})
                   for name, body in (data.get("experiments") or {}).items()}
    exp = Experiments(
        defaults=_normalise("defaults", data.get("defaults") or {}),
        experiments=experiments,
        task_subsets=dict(data.get("task_subsets") or {}),
        metrics=list(data.get("metrics") or []),
    )
    for name in experiments:  # validate every experiment now, not mid-run
        exp.config(name)
    return exp
