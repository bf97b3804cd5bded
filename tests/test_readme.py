"""The README's offline commands run as written, in order, in a fresh folder."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def offline_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- offline-commands -->\s*```bash\n(.*?)```", text, re.S)
    assert block, "README.md has no offline-commands block"
    lines = [re.split(r"\s#(\s|$)", line)[0].strip() for line in block.group(1).splitlines()]
    return [line for line in lines if line]


def test_the_offline_block_names_only_halo_commands():
    commands = offline_commands()
    assert len(commands) >= 8 and all(c.startswith("halo ") for c in commands)


def test_the_readme_names_what_dev_sh_sets_and_how_to_turn_it_off():
    # every `export X=${X:-default}` in dev.sh is a default a user may not expect: the README says so
    dev_sh = (ROOT / "dev.sh").read_text(encoding="utf-8")
    defaults = re.findall(r"^export (\w+)=\$\{\1:-([^}]*)\}", dev_sh, re.M)
    assert ("HF_HUB_OFFLINE", "1") in defaults
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for name, value in defaults:
        assert f"{name}={value}" in readme, f"README.md does not say that dev.sh sets {name}={value}"
    assert "HF_HUB_OFFLINE=0 bash dev.sh" in readme


@pytest.mark.slow
def test_readme_offline_commands_run_as_written(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY") and not k.startswith("HALO_")}
    env.update(HALO_NO_DOTENV="1", PYTHONUNBUFFERED="1")
    for command in offline_commands():
        argv = [sys.executable, "-m", "halo_core.cli", *shlex.split(command)[1:]]
        done = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, f"{command}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    assert (tmp_path / "data" / "datasets" / "bc.jsonl").stat().st_size > 0
