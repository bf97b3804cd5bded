import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def evaltest_site(tmp_path_factory):
    """The evaltest plugin package, pip-installed once per session into a private folder
    (test_executors and test_eval both put it on PYTHONPATH)."""
    from test_executors import build_evaltest

    return build_evaltest(tmp_path_factory.mktemp("evaltest"))
