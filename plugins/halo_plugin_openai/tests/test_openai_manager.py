"""Mode hierarchy_mgr_gate with an openai: worker and a different openai: manager, both loopback.

The manager must be called exactly when the gate's conditions hold (action error,
loop, repeated errors, high-stakes page) and never otherwise; with manager_always it
is called on every step.
"""

from __future__ import annotations

import halo_plugin_openai.plugin as openai_plugin
import pytest
from halo_plugin_openai import OpenAIBackend
from oai_loopback import OpenAILoopback, expert_reply, last_user_text, shop_site

from halo_core.backends import BackendSettings
from halo_core.builtins.manager import HIGH_STAKES_PAGES
from halo_core.config import mode_config
from halo_core.loop import run_episode
from halo_core.model import TaskSpec
from halo_core.testing import make_runtime

KEY = "sk-test-manager-000"
TASK = TaskSpec(id="graph.cart", goal="Put the widget in the cart", suite="graph")


@pytest.fixture(autouse=True)
def _env(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)


def scripted(answers):
    """Replies in order; "EXPERT" means the next action toward the goal."""
    answers = list(answers)

    def reply(body):
        answer = answers.pop(0) if answers else "EXPERT"
        return expert_reply(last_user_text(body)) if answer == "EXPERT" else answer
    return reply


def run(worker_answers, manager_reply, tmp_path, **overrides):
    with OpenAILoopback(scripted(worker_answers), key=KEY) as worker_srv, \
            OpenAILoopback(manager_reply, key=KEY) as manager_srv:
        worker = OpenAIBackend("gpt-4o-mini", BackendSettings(base_url=worker_srv.url))
        manager = OpenAIBackend("gpt-4o", BackendSettings(base_url=manager_srv.url))
        config = mode_config("hierarchy_mgr_gate", env={}, max_steps=12, use_screenshot=False,
                             worker_backend="openai:gpt-4o-mini", manager_backend="openai:gpt-4o", **overrides)
        runtime = make_runtime(openai_plugin)
        seen = []
        result = run_episode(TASK, config, shop_site(), runtime, backends={"worker": worker, "manager": manager},
                             data_dir=tmp_path, on_step=lambda record, after: seen.append(record))
        return result, seen, worker_srv.requests, manager_srv.requests


def expected_gate(history, i):
    """The gate's conditions, recomputed from the recorded steps."""
    record = history[i]
    previous = history[i - 1] if i else None
    if previous is not None and previous.error:
        return "last action failed"
    if previous is not None and any(v.check == "loop" and not v.ok for v in previous.verdicts):
        return "loop"
    if sum(1 for r in history[max(0, i - 3):i] if r.error) >= 2:
        return "errors"
    if record.page_type in HIGH_STAKES_PAGES:
        return "high-stakes page"
    return ""


def test_manager_only_on_the_high_stakes_page(tmp_path):
    result, history, worker_calls, manager_calls = run([], lambda body: "APPROVE", tmp_path)
    assert result.success, result.error
    assert [r.page_type for r in history] == ["page", "page", "page", "cart"]
    assert [r.manager_called for r in history] == [False, False, False, True]
    assert len(manager_calls) == result.manager_calls == 1
    assert history[-1].decision.meta["gate_reason"] == "high-stakes page (cart)"
    assert history[-1].decision.meta["manager_model"] == "openai:gpt-4o"
    assert manager_calls[0]["body"]["model"] == "gpt-4o" and all(
        r["body"]["model"] == "gpt-4o-mini" for r in worker_calls)
    assert "Worker proposes: send_msg_to_user" in last_user_text(manager_calls[0]["body"])


def test_manager_called_exactly_on_gate_conditions(tmp_path):
    worker = [
        "click('2')",               # home -> about
        "click('1')",               # about -> home: a loop
        "EXPERT",                   # home -> products (manager: loop)
        "hmm", "hmm",               # unusable twice -> action error (no gate: nothing failed yet)
        "still thinking", "no",     # manager: last action failed; fails again
        "EXPERT",                   # manager: last action failed -> widget
        "EXPERT",                   # manager: 2 errors in the last 3 steps -> cart
        "EXPERT",                   # manager: high-stakes page
    ]
    # recovery off: it would propose its own way out of the errors and loops (the gate still reviews it)
    result, history, worker_calls, manager_calls = run(worker, lambda body: "APPROVE", tmp_path, use_recovery=False)
    assert result.success, result.error
    reasons = [expected_gate(history, i) for i in range(len(history))]
    assert [r.manager_called for r in history] == [bool(x) for x in reasons]
    assert reasons == ["", "", "loop", "", "last action failed", "last action failed", "errors", "high-stakes page"]
    assert len(manager_calls) == sum(r.manager_called for r in history) == result.manager_calls == 5
    gate = [r.decision.meta.get("gate_reason", "") for r in history]
    assert gate[2].startswith("loop") and gate[4].startswith("last action failed") \
        and gate[6] == "2 errors in the last 3 steps" and gate[7] == "high-stakes page (cart)"
    assert len(worker_calls) == 10


def test_manager_override_is_used(tmp_path):
    # the worker dawdles on the About page; the manager (called on the loop) sends it to Products
    def manager(body):
        prompt = last_user_text(body)
        return expert_reply(prompt).splitlines()[-1]
    result, history, _, manager_calls = run(["click('2')", "click('1')", "click('2')"], manager, tmp_path)
    assert result.success
    assert history[2].decision.source == "manager" and history[2].decision.meta["manager_verdict"] == "override"
    assert history[2].decision.action == "click('1')"


def test_manager_always_reviews_every_step(tmp_path):
    result, history, _, manager_calls = run([], lambda body: "APPROVE", tmp_path, manager_always=True)
    assert result.success
    assert all(r.manager_called for r in history) and len(manager_calls) == len(history) == 4
    assert {r.decision.meta["gate_reason"] for r in history} == {"always-on ablation"}
