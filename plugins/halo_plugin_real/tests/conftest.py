import os

import pytest


@pytest.fixture(autouse=True)
def _no_ambient_registry(monkeypatch, tmp_path):
    """Tests start with no registry pinning and no leaderboard run id from the environment."""
    monkeypatch.delenv("HALO_TASK_REGISTRY", raising=False)
    monkeypatch.delenv("HALO_TASK_REGISTRY_MISMATCH", raising=False)
    monkeypatch.delenv("RUNID", raising=False)
    monkeypatch.chdir(tmp_path)
    yield
