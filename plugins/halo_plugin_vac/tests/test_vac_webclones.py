"""The cache on a web clone in real Chromium: cold run verifies, warm run needs no model call."""

from __future__ import annotations

import pytest

pytest.importorskip("halo_plugin_webclones")

from halo_plugin_webclones.testing import ExpertOracle  # noqa: E402

import halo_plugin_vac.plugin as vac_plugin  # noqa: E402
from halo_core import mode_config, run_episode  # noqa: E402
from halo_core.env.protocol import EnvSettings  # noqa: E402
from halo_core.plugins import make_plugin_manager  # noqa: E402
from halo_core.runtime import Runtime  # noqa: E402
from halo_plugin_vac import VacStore  # noqa: E402
from halo_plugin_vac._store import forget_stores  # noqa: E402


CountingExpert = ExpertOracle  # the worker's model is the web clones' expert, counting calls


def test_cold_then_warm_on_a_web_clone(tmp_path):
    from halo_plugin_webclones import plugin as webclones_plugin

    forget_stores()
    helper = CountingExpert()
    pm = make_plugin_manager(load_entrypoints=False, extra=(vac_plugin, helper))
    pm.register(webclones_plugin, name="webclones")
    runtime = Runtime(pm)
    suite = runtime.suite("webclones")
    task = suite.resolve("webclones.shop-6")
    cfg = mode_config("baseline_worker", env={}, worker_backend="scripted:expert", use_recovery=False, use_vac=True,
                      cache_path=str(tmp_path / "vac.sqlite"))
    env = suite.make_environment(task, EnvSettings(screenshot=False))
    try:
        cold = run_episode(task, cfg, env, runtime, data_dir=tmp_path, run_id="cold",
                           backends={"worker": helper.backend})
        cold_calls = len(helper.backend.calls)
        helper.backend.calls.clear()
        warm = run_episode(task, cfg, env, runtime, data_dir=tmp_path, run_id="warm",
                           backends={"worker": helper.backend})
    finally:
        env.close()
    assert cold.success and cold_calls == cold.steps and cold.counters.get("cache_misses", 0) == cold.steps
    assert warm.success and len(helper.backend.calls) == 0 and warm.counters.get("cache_hits", 0) == warm.steps == cold.steps
    stats = VacStore(cfg.get("cache_path")).stats()
    assert stats["verified"] == cold.steps and stats["hits"] == warm.steps
    forget_stores()
