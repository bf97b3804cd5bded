"""The lock file: set-up installs from it, and it pins every dependency the packages declare."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

try:
    import tomllib
except ImportError:  # Python 3.10
    tomllib = None

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements.lock"


def read_lock(path: Path = LOCK) -> dict[str, Version]:
    pins: dict[str, Version] = {}
    for n, line in enumerate(path.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = re.fullmatch(r"([A-Za-z0-9_.\-]+)==([^\s;]+)", line)
        assert m, f"{path.name}:{n}: not a 'name==version' pin: {line!r}"
        name = canonicalize_name(m.group(1))
        assert name not in pins, f"{path.name}:{n}: {name} pinned twice"
        pins[name] = Version(m.group(2))
    return pins


def declared_requirements() -> list[tuple[str, Requirement]]:
    out = []
    for pyproject in [ROOT / "pyproject.toml", *sorted(ROOT.glob("plugins/*/pyproject.toml"))]:
        project = tomllib.loads(pyproject.read_text())["project"]
        specs = list(project.get("dependencies", []))
        for extra in project.get("optional-dependencies", {}).values():
            specs += extra
        out += [(str(pyproject.relative_to(ROOT)), Requirement(s)) for s in specs]
    return out


@pytest.mark.skipif(tomllib is None, reason="reading pyproject.toml needs Python 3.11's tomllib")
def test_lock_pins_every_declared_dependency_inside_its_range():
    pins = read_lock()
    own = {canonicalize_name(tomllib.loads(p.read_text())["project"]["name"])
           for p in [ROOT / "pyproject.toml", *ROOT.glob("plugins/*/pyproject.toml")]}
    problems = []
    for where, req in declared_requirements():
        name = canonicalize_name(req.name)
        if name in own or (req.marker is not None and not req.marker.evaluate({"extra": ""})):
            continue
        if name not in pins:
            problems.append(f"{where}: {req} is not in requirements.lock")
        elif req.specifier and not req.specifier.contains(pins[name], prereleases=True):
            problems.append(f"{where}: {req} does not allow the locked {name}=={pins[name]}")
    assert not problems, "\n".join(problems)
    assert "torch" in pins and "transformers" in pins


def test_lock_matches_this_environment_where_set_up_from_it():
    """The environment the tests run in was installed from the lock (dev.sh setup): every
    locked distribution that is installed has the locked version."""
    from importlib.metadata import distributions

    pins = read_lock()
    installed = {canonicalize_name(d.metadata["Name"]): Version(d.version) for d in distributions()}
    if os.environ.get("HALO_LOCK", "") == "none":
        pytest.skip("this environment was installed unpinned (HALO_LOCK=none)")
    differ = [f"{n}: locked {v}, installed {installed[n]}" for n, v in pins.items()
              if n in installed and Version(installed[n].base_version) != Version(v.base_version)]
    assert not differ, "installed versions differ from requirements.lock:\n" + "\n".join(differ)


def test_setup_passes_the_lock_to_every_pip_install(tmp_path):
    """dev.sh setup, run against a venv whose python records its arguments: every
    ``pip install`` it makes carries ``-c requirements.lock``."""
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    calls = tmp_path / "calls.txt"
    shim = venv / "bin" / "python"
    shim.write_text(f"""#!/bin/sh
if [ "$1" = "-" ]; then exec {sys.executable} "$@"; fi
printf '%s\\n' "$*" >> {calls}
exit 0
""")
    shim.chmod(shim.stat().st_mode | stat.S_IEXEC)
    env = {**os.environ, "HALO_VENV": str(venv), "HALO_CHROMIUM": sys.executable}
    env.pop("HALO_LOCK", None)
    run = subprocess.run(["bash", str(ROOT / "dev.sh"), "setup"], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr
    installs = [c for c in calls.read_text().splitlines() if "-m pip install" in c]
    assert len(installs) >= 3, installs
    for call in installs:
        assert "-c requirements.lock" in call, f"pip install without the lock: {call}"
    assert any("torch==" in c for c in installs) and any("-e .[test,grid]" in c for c in installs)
    assert (venv / ".halo-installed").is_file()


def test_setup_refuses_a_missing_lock_with_one_line(tmp_path):
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").symlink_to(sys.executable)
    env = {**os.environ, "HALO_VENV": str(venv), "HALO_LOCK": str(tmp_path / "missing.lock")}
    run = subprocess.run(["bash", str(ROOT / "dev.sh"), "setup"], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=60)
    assert run.returncode != 0
    assert "missing.lock not found" in run.stderr and len(run.stderr.strip().splitlines()) == 1
