import sys
from pathlib import Path

import pytest

# helper modules (quitter_plugin) sit beside the tests; pytest runs with --import-mode=importlib
sys.path.insert(0, str(Path(__file__).resolve().parent))


@pytest.fixture(autouse=True)
def _no_ambient_registry(monkeypatch, tmp_path):
    """Tests start with no registry pinning and no leaderboard run id from the environment."""
    monkeypatch.delenv("HALO_TASK_REGISTRY", raising=False)
    monkeypatch.delenv("HALO_TASK_REGISTRY_MISMATCH", raising=False)
    monkeypatch.delenv("RUNID", raising=False)
    monkeypatch.chdir(tmp_path)
    yield
