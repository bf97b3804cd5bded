"""A real Phoenix server shows HALO's traces: ``bench/check_phoenix.py`` end to end.

Phoenix lives in its own virtualenv (``~/.cache/halo/phoenix-venv`` or
``$HALO_PHOENIX_VENV``), which the check makes on first use — several minutes of
downloads, so the test runs only when that venv is already there or
``HALO_PHOENIX_CHECK=1`` asks for it to be made. With the venv, it takes about 2½
minutes on two cores (Phoenix's own start-up is most of it).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[3] / "bench" / "check_phoenix.py"


def _bench():
    spec = importlib.util.spec_from_file_location("check_phoenix", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_phoenix_shows_messages_screenshots_project_and_annotations(tmp_path):
    bench = _bench()
    if not (bench.DEFAULT_VENV / "bin" / "phoenix").exists() and os.environ.get("HALO_PHOENIX_CHECK") != "1":
        pytest.skip(f"no Phoenix venv at {bench.DEFAULT_VENV}; run `python bench/check_phoenix.py` once "
                    "(or set HALO_PHOENIX_CHECK=1) to make it")
    out = tmp_path / "phoenix.json"
    assert bench.main(["--json", str(out), "--project", "halo-ci"]) == 0, out.read_text()
