"""Configuration: modes, validation messages, experiments files, seed environment variables."""

import pytest

from halo_core.config import ConfigError, config_from_cli, load_experiments, mode_config, mode_names


def test_all_named_modes_exist():
    for mode in ("baseline_worker", "hierarchy_mgr_gate", "hierarchy_vac", "hierarchy_vac_macros",
                 "qwen_worker_zero", "qwen_worker_bc", "qwen_worker_dpo", "qwen_worker_grpo",
                 "manager_only", "cache_only", "worker_gpt4o", "no_recovery"):
        assert mode in mode_names()
        assert mode_config(mode, env={}).mode == mode


def test_mode_layers():
    assert not mode_config("baseline_worker", env={}).use_manager
    full = mode_config("hierarchy_vac_macros", env={})
    assert full.use_manager and full.get("use_vac") and full.get("use_macros")
    assert full.worker_backend == "openai:gpt-4o-mini"
    assert mode_config("manager_only", env={}).manager_always
    no_recovery = mode_config("no_recovery", env={})
    assert not no_recovery.get("use_recovery") and no_recovery.get("use_vac") and no_recovery.get("use_macros")
    assert mode_config("cache_only", env={}).get("use_macros")  # the macros plugin extends the cache's mode
    assert mode_config("worker_gpt4o", env={}).worker_backend == "openai:gpt-4o"
    assert mode_config("qwen_worker_bc", env={}).worker_backend == "vllm:qwen_bc"


def test_seed_environment_variables():
    env = {"HALO_WORKER_BACKEND": "vllm", "HALO_WORKER_MODEL": "qwen_dpo"}
    assert mode_config("qwen_worker_bc", env=env).worker_backend == "vllm:qwen_dpo"
    assert mode_config("qwen_worker_zero", env={"HALO_WORKER_BACKEND": "local"}).worker_backend.startswith("local:")
    # a bare prefix only steers the Qwen modes; a full spec steers every mode
    assert mode_config("baseline_worker", env=env).worker_backend == "openai:gpt-4o-mini"
    assert mode_config("baseline_worker", env={"HALO_WORKER_BACKEND": "anthropic:claude-x"}).worker_backend == \
        "anthropic:claude-x"


@pytest.mark.parametrize("key,value,message", [
    ("max_steps", 0, r"max_steps=0 is not allowed: expected a whole number in \[1, 1000\]"),
    ("max_steps", 2.5, r"max_steps=2.5 is not allowed: expected a whole number in \[1, 1000\]"),
    ("policy", 5, r"policy=5 is not allowed: expected a name"),
    ("worker_temperature", 5.0, r"worker_temperature=5.0 is not allowed: expected a number in \[0.0, 2.0\]"),
    ("cache_scope", "galaxy", r"cache_scope='galaxy' is not allowed: expected one of task, site"),
    ("worker_backend", "gpt-4o", r"worker_backend='gpt-4o' is not allowed: expected prefix:model"),
    ("use_vac", "yes", r"use_vac='yes' is not allowed: expected true or false"),
])
def test_bad_values_name_key_value_and_allowed(key, value, message):
    with pytest.raises(ConfigError, match=message):
        mode_config("baseline_worker", env={}, **{key: value})


def test_unknown_mode_and_key():
    with pytest.raises(ConfigError, match="mode='turbo' is not allowed: expected one of baseline_worker"):
        mode_config("turbo")
    with pytest.raises(ConfigError, match="unknown config key"):
        mode_config("baseline_worker", env={}, warp_drive=True)


def test_config_hash_is_stable_and_sensitive():
    a, b = mode_config("baseline_worker", env={}), mode_config("baseline_worker", env={})
    assert a.config_hash() == b.config_hash()
    assert a.config_hash() != mode_config("baseline_worker", env={}, max_steps=25).config_hash()


EXPERIMENTS = """
defaults:
  max_steps: 70
  temperature: 0.0
experiments:
  baseline_worker:
    worker_model: gpt-4o-mini
    use_manager: false
    use_cache: false
    use_macros: false
  full_halo:
    base_mode: hierarchy_vac_macros
    manager_model: gpt-4o
    max_steps: 25
task_subsets:
  shopping: [webclones.shop-1, webclones.shop-2]
metrics: [success_rate, median_steps]
"""


def test_experiments_file_in_original_shape(tmp_path):
    path = tmp_path / "experiments.yaml"
    path.write_text(EXPERIMENTS)
    exp = load_experiments(path)
    base = exp.config("baseline_worker")
    assert base.worker_backend == "openai:gpt-4o-mini" and not base.get("use_vac") and base.max_steps == 70
    full = exp.config("full_halo")
    assert full.mode == "full_halo" and full.get("use_vac") and full.get("use_macros") and full.max_steps == 25
    assert full.manager_backend == "openai:gpt-4o"
    assert exp.task_subsets["shopping"] == ["webclones.shop-1", "webclones.shop-2"]
    assert exp.metrics == ["success_rate", "median_steps"]


def test_experiments_file_errors(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("experiments:\n  x:\n    max_stepz: 3\n")
    with pytest.raises(ConfigError, match=r"experiments.x: unknown config key 'max_stepz'; did you mean max_steps"):
        load_experiments(path)
    path.write_text("experiments:\n  x:\n    max_steps: -1\n")
    with pytest.raises(ConfigError, match=r"max_steps=-1 is not allowed"):
        load_experiments(path)
    path.write_text("whatever: 1\n")
    with pytest.raises(ConfigError, match="unknown top-level key"):
        load_experiments(path)
    with pytest.raises(ConfigError, match="does not exist"):
        load_experiments(tmp_path / "missing.yaml")


def test_shipped_experiments_file_loads():
    from pathlib import Path

    exp = load_experiments(Path(__file__).resolve().parents[1] / "configs" / "experiments.yaml")
    assert set(mode_names()) <= set(exp.experiments)


def test_plugin_options_from_a_command_line():
    config = config_from_cli(mode="baseline_worker", sets=("use_vac=true", "cache_scope=site", "max_steps=7"),
                             manager_backend="none")
    assert config.get("use_vac") is True and config.get("cache_scope") == "site" and config.max_steps == 7
    assert config.manager_backend is None and not config.use_manager
    with pytest.raises(ConfigError, match="not of the form name=value"):
        config_from_cli(mode="baseline_worker", sets=("use_vac",))
    with pytest.raises(ConfigError, match="use_vac='maybe' is not allowed: expected true or false"):
        config_from_cli(mode="baseline_worker", sets=("use_vac=maybe",))
    with pytest.raises(ConfigError, match="unknown config key 'use_vacc'; did you mean use_vac"):
        config_from_cli(mode="baseline_worker", sets=("use_vacc=1",))


def test_core_config_names_no_plugin_option():
    from halo_core.config import AgentConfig

    core = set(AgentConfig.__attrs_attrs__.__dir__()) if False else {a.name for a in AgentConfig.__attrs_attrs__}
    assert not core & {"use_vac", "use_macros", "cache_scope", "cache_path", "macros_path", "use_recovery"}
    config = mode_config("hierarchy_vac", env={})
    assert config.to_dict()["use_vac"] is True  # plugin options are recorded flat beside the core keys
