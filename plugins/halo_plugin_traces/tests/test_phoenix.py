"""A real Phoenix server shows HALO's traces: ``bench/check_phoenix.py`` end to end.

Phoenix lives in its own virtualenv (``~/.cache/halo/phoenix-venv`` or
``$HALO_PHOENIX_VENV``), which the check makes on first use from the package registry
(about 2 minutes on two cores without a pip cache); then the check itself takes about
20 s, most of it Phoenix starting.
"""

from __future__ import annotations

import importlib.util
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
    out = tmp_path / "phoenix.json"
    assert bench.main(["--json", str(out), "--project", "halo-ci"]) == 0, out.read_text()
