"""Plugin packaging and loading: third-party packages, broken plugins, HALO_* variables."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from helpers import pip_install

ROOT = Path(__file__).resolve().parents[1]

THIRD_PARTY = '''
from halo_core import Decision, hookimpl

@hookimpl
def halo_decide(observation, episode):
    if episode.config.policy != "shortcut":
        return None
    link = observation.find("link", "Products")
    if episode.step_idx == 0 and link:
        return Decision(f"click('{link.bid}')", "worker", meta={"by": "halo-shortcut"})
    return Decision("send_msg_to_user('shortcut done')", "worker", meta={"by": "halo-shortcut"})


@hookimpl
def halo_register_policies(register):
    register("shortcut", "clicks Products, then finishes")
'''

BROKEN = '''
raise ImportError("this plugin needs a library that is not installed")
'''

MISSPELLED = '''
from halo_core import hookimpl

@hookimpl
def halo_decid(observation, episode):
    return None
'''

DRIVER = '''
import json, sys, warnings
sys.path.insert(0, sys.argv[1])
from helpers import shop_env, shop_task
from halo_core import mode_config, run_episode
from halo_core.testing import make_runtime
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    runtime = make_runtime(entrypoints=True)
result = run_episode(shop_task(), mode_config("baseline_worker", policy="shortcut"), shop_env(), runtime,
                     data_dir=sys.argv[2])
print(json.dumps({"steps": result.steps, "message": result.final_message, "error": result.error,
                  "warnings": [str(w.message) for w in caught],
                  "plugins": sorted(n for n, _ in runtime.pm.list_name_plugin() if n)}))
'''


def make_package(root: Path, name: str, module_source: str) -> Path:
    pkg = root / name
    (pkg / "src" / name.replace("-", "_")).mkdir(parents=True)
    (pkg / "src" / name.replace("-", "_") / "__init__.py").write_text(module_source)
    ep = name.replace("halo-", "").replace("-", "_")
    (pkg / "pyproject.toml").write_text(textwrap.dedent(f'''
        [build-system]
        requires = ["setuptools>=68"]
        build-backend = "setuptools.build_meta"
        [project]
        name = "{name}"
        version = "1.2.3"
        dependencies = ["halo-core"]
        [project.entry-points.halo]
        {ep} = "{name.replace("-", "_")}"
    '''))
    return pkg


@pytest.fixture(scope="module")
def site_dir(tmp_path_factory):
    """Two third-party plugin packages (one broken) installed into a private target dir."""
    root = tmp_path_factory.mktemp("thirdparty")
    target = root / "site"
    for name, source in (("halo-shortcut", THIRD_PARTY), ("halo-broken", BROKEN), ("halo-misspelled", MISSPELLED)):
        pkg = make_package(root, name, source)
        pip_install("--no-deps", "--no-build-isolation", "--target", str(target), str(pkg))
    return target


def _env(site_dir, **extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("HALO_")}
    env["PYTHONPATH"] = f"{site_dir}{os.pathsep}{env.get('PYTHONPATH', '')}"
    env.update(extra)
    return env


def _halo(site_dir, *args, **extra):
    return subprocess.run([sys.executable, "-m", "halo_core.cli", *args], capture_output=True, text=True,
                          env=_env(site_dir, **extra), cwd=ROOT)


def _drive(site_dir, tmp_path, **extra):
    out = subprocess.run([sys.executable, "-c", DRIVER, str(ROOT / "tests"), str(tmp_path)], capture_output=True,
                         text=True, env=_env(site_dir, **extra), cwd=ROOT)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_third_party_decide_takes_effect_and_can_be_disabled(site_dir, tmp_path):
    on = _drive(site_dir, tmp_path)
    assert "shortcut" in on["plugins"]
    assert on["steps"] == 2 and on["message"] == "shortcut done" and not on["error"]
    off = _drive(site_dir, tmp_path, HALO_DISABLE_PLUGINS="shortcut")
    assert "shortcut" not in off["plugins"]
    assert "no layer of the hierarchy chose an action" in off["error"]


def test_broken_plugin_is_named_and_the_rest_works(site_dir, tmp_path):
    result = _drive(site_dir, tmp_path)
    assert any("plugin 'broken'" in w and "needs a library" in w for w in result["warnings"])
    assert result["message"] == "shortcut done"  # the working plugin still runs


def test_halo_plugins_json_lists_builtins_and_installed(site_dir):
    out = _halo(site_dir, "plugins", "--json")
    assert out.returncode == 0, out.stderr
    rows = {row["name"]: row for row in json.loads(out.stdout)}
    for builtin in ("summarizer", "verifier", "loop_detector", "recovery", "worker", "manager_gate", "jsonl_logger"):
        assert rows[builtin]["distribution"] == "halo-core" and rows[builtin]["hooks"]
    assert "halo_decide" in rows["worker"]["hooks"]
    for command_module in ("cli_plugins", "cli_tasks", "cli_run", "cli_eval", "cli_export", "cli_config"):
        assert rows[command_module]["builtin"] and rows[command_module]["hooks"] == ["halo_register_commands"]
    assert rows["shortcut"] == {"name": "shortcut", "distribution": "halo-shortcut", "version": "1.2.3",
                                "builtin": False, "hooks": ["halo_decide", "halo_register_policies"],
                                "status": "loaded", "shares": []}
    assert "broken" not in rows
    assert "plugin 'broken'" in out.stderr


def test_halo_plugins_all_shows_failed_and_disabled(site_dir):
    out = _halo(site_dir, "plugins", "--json", "--all", HALO_DISABLE_PLUGINS="shortcut")
    rows = {row["name"]: row for row in json.loads(out.stdout)}
    assert rows["broken"]["status"] == "failed" and "needs a library" in rows["broken"]["error"]
    assert rows["shortcut"]["status"] == "disabled"


def test_halo_load_plugins_restricts_entry_points(site_dir):
    out = _halo(site_dir, "plugins", "--json", HALO_LOAD_PLUGINS="shortcut")
    names = {row["name"] for row in json.loads(out.stdout)}
    assert "shortcut" in names and "plugin 'broken'" not in out.stderr
    out = _halo(site_dir, "plugins", "--json", HALO_LOAD_PLUGINS="")
    assert {row["name"] for row in json.loads(out.stdout) if not row["builtin"]} == set()


def test_disabling_a_builtin(site_dir):
    out = _halo(site_dir, "plugins", "--json", HALO_DISABLE_PLUGINS="recovery,loop_detector", HALO_LOAD_PLUGINS="")
    names = {row["name"] for row in json.loads(out.stdout)}
    assert "recovery" not in names and "loop_detector" not in names and "worker" in names


def test_trace_prints_hook_calls(site_dir, tmp_path):
    out = subprocess.run([sys.executable, "-c", DRIVER, str(ROOT / "tests"), str(tmp_path)], capture_output=True,
                         text=True, env=_env(site_dir, HALO_TRACE_PLUGINS="1"), cwd=ROOT)
    assert "[halo trace] halo_decide -> " in out.stderr and "shortcut" in out.stderr
    assert "[halo trace] halo_decide returned Decision(action=\"click('1')\"" in out.stderr


@pytest.mark.slow
def test_fresh_venv_core_only_then_plugin(tmp_path, site_dir):
    """pip install halo-core into a new venv: only the built-ins; a plugin folder adds itself."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    pip_install(str(ROOT), python=python)
    halo = str(venv / "bin" / "halo")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HALO_", "PYTHONPATH", "VIRTUAL_ENV"))}
    rows = json.loads(subprocess.run([halo, "plugins", "--json"], capture_output=True, text=True, check=True,
                                     env=env).stdout)
    from halo_core.plugins import DEFAULT_PLUGINS

    builtins = {name for name, _ in DEFAULT_PLUGINS}  # the built-in hooks and the core's own commands
    assert {"summarizer", "verifier", "loop_detector", "recovery", "worker", "manager_gate",
            "jsonl_logger"} <= builtins
    assert {r["name"] for r in rows} == builtins
    shortcut = tmp_path / "pkg"
    make_package(shortcut, "halo-shortcut", THIRD_PARTY)
    pip_install("--no-deps", str(shortcut / "halo-shortcut"), python=python)
    rows = json.loads(subprocess.run([halo, "plugins", "--json"], capture_output=True, text=True, check=True,
                                     env=env).stdout)
    assert {r["name"] for r in rows if not r["builtin"]} == {"shortcut"}


def test_misspelled_hook_in_an_installed_plugin_fails_that_plugin_only(site_dir, tmp_path):
    result = _drive(site_dir, tmp_path)
    assert "misspelled" not in result["plugins"] and "shortcut" in result["plugins"]
    (warning,) = [w for w in result["warnings"] if "misspelled" in w]
    assert "halo_decid is not a HALO hook; did you mean halo_decide?" in warning
    out = _halo(site_dir, "plugins", "--json", "--all")
    rows = {row["name"]: row for row in json.loads(out.stdout)}
    assert rows["misspelled"]["status"] == "failed" and "did you mean halo_decide" in rows["misspelled"]["error"]


def test_a_failed_pip_install_shows_pip_s_own_error(tmp_path):
    # the helper every test installs packages with: pip's reason reaches the failure message
    missing = tmp_path / "no-such-package"
    with pytest.raises(pytest.fail.Exception) as failure:
        pip_install("--no-deps", "--no-index", str(missing))
    message = str(failure.value)
    assert "pip install failed (exit 1)" in message and "--- pip stderr ---" in message
    assert "ERROR:" in message and "no-such-package" in message.split("--- pip stderr ---", 1)[1]
