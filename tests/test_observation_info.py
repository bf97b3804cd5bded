"""``RawObservation.info``: an environment's facts reach the deciders through the observation."""

import attrs
from helpers import shop_env, shop_task

from halo_core import Decision, hookimpl, mode_config, run_episode
from halo_core.builtins.summarizer import summarize
from halo_core.testing import make_runtime


class Handle:
    """Something no trajectory could hold: a live object of the environment's."""


class FactsEnvironment:
    """The shop site, with the page's name and a live handle in every observation's ``info``."""

    def __init__(self):
        self.inner = shop_env()
        self.handle = Handle()

    def _with_info(self, raw):
        return attrs.evolve(raw, info={"page": self.inner.current, "handle": self.handle})

    def reset(self, task):
        return self._with_info(self.inner.reset(task))

    def step(self, action):
        return self._with_info(self.inner.step(action))

    def evaluate(self, final_message, infeasible):
        return self.inner.evaluate(final_message, infeasible)

    def close(self):
        self.inner.close()


class ReadsInfo:
    """A policy that acts on the environment's facts alone."""

    def __init__(self):
        self.seen = []

    @hookimpl
    def halo_decide(self, observation, episode):
        self.seen.append((observation.info.get("page"), observation.info.get("handle")))
        route = {"home": "click('1')", "products": "click('2')", "blender": "click('1')", "cart": "click('1')",
                 "checkout": "click('1')"}
        return Decision(route.get(observation.info["page"], "send_msg_to_user('Done')"), source="test")

    @hookimpl
    def halo_register_policies(self, register):
        register("facts", "acts on observation.info")

    @hookimpl
    def halo_register_decision_sources(self, register):
        register("test", "the test's policy")


class ObserverWithoutInfo:
    """A replacement ``halo_observe`` that knows nothing of ``info``."""

    @hookimpl(tryfirst=True)
    def halo_observe(self, raw, episode):
        return attrs.evolve(summarize(raw), info={})


def _run(tmp_path, *plugins):
    policy = ReadsInfo()
    env = FactsEnvironment()
    runtime = make_runtime(policy, *plugins)
    config = attrs.evolve(mode_config("baseline_worker", env={}, runtime=runtime), policy="facts")
    result = run_episode(shop_task(), config, env, runtime, data_dir=tmp_path)
    return result, policy.seen, env.handle


def test_the_environments_facts_reach_the_policy(tmp_path):
    result, seen, handle = _run(tmp_path)
    assert result.success
    assert [page for page, _ in seen] == ["home", "products", "blender", "cart", "checkout", "done"]
    assert all(h is handle for _, h in seen)
    # never written: the trajectory holds no trace of the live handle
    assert all("Handle" not in path.read_text() for path in tmp_path.rglob("*.jsonl"))


def test_a_replacement_observer_does_not_cut_the_facts_off(tmp_path):
    result, seen, handle = _run(tmp_path, ObserverWithoutInfo())
    assert result.success and seen[0] == ("home", handle)


def test_an_observation_without_facts_has_an_empty_info():
    raw = shop_env().reset(shop_task())
    assert raw.info == {} and summarize(raw).info == {}
