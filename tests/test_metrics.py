"""Metric definitions against hand-computed values."""

from __future__ import annotations

import pytest

from halo_core.evaluation.metrics import (
    METRIC_COLUMNS,
    episode_kind,
    matrix,
    matrix_csv,
    matrix_markdown,
    summarize,
)
from halo_core.model import EpisodeResult, Usage
from halo_core.runtime import MetricColumn


def ep(task, reward=0.0, steps=0, wall=0.0, ended="message", scorable=True, calls=0, tin=0, tout=0, cost=0.0,
       manager=0, hits=0, misses=0, macro=0):
    return EpisodeResult(task_id=task, success=reward > 0, reward=reward, steps=steps, wall_time_sec=wall,
                         terminated_by=ended, scorable=scorable, manager_calls=manager,
                         counters={"hits": hits, "misses": misses, "replayed": macro},
                         usage=Usage(calls=calls, tokens_in=tin, tokens_out=tout, cost=cost))


EPISODES = [
    ep("a", reward=1.0, steps=4, wall=10.0, calls=4, tin=400, tout=40, cost=0.04, manager=1, hits=1, misses=3),
    ep("b", reward=0.5, steps=10, wall=30.0, calls=8, tin=800, tout=80, cost=0.08, manager=4, hits=2, misses=2,
       macro=3),
    ep("c", reward=0.0, steps=6, wall=20.0, ended="max_steps", calls=6, tin=600, tout=60, cost=0.06),
    ep("d", reward=0.0, steps=0, wall=1.0, ended="init_error"),
    ep("e", reward=0.0, steps=3, wall=5.0, ended="error", calls=3, tin=300, tout=30, cost=0.03),
    ep("f", reward=0.0, steps=7, wall=40.0, scorable=False, calls=2, tin=100, tout=10, cost=0.02, manager=5,
       hits=9),
    ep("a", reward=0.0, steps=2, wall=2.0, ended="infeasible"),  # a second attempt at "a"
]


def test_kinds():
    assert [episode_kind(e) for e in EPISODES] == [
        "success", "success", "failure", "error", "error", "unscorable", "failure"]


def _sum(name):
    return lambda records: sum(r["counters"].get(name, 0) for r in records)


def _hit_rate(records):
    hits = _sum("hits")(records)
    lookups = hits + _sum("misses")(records)
    return hits / lookups if lookups else None


#: Plugin columns as a cache plugin would register them (computed over valid episodes' records).
COLUMNS = (MetricColumn("hit_rate", _hit_rate, "hits / lookups", percent=True, plugin="cachex"),
           MetricColumn("replayed", _sum("replayed"), "steps replayed", plugin="cachex"))


def test_summary_by_hand():
    m = summarize(EPISODES, "mode_x", columns=COLUMNS)
    # valid: a(4 steps), b(10), c(6), a#2(2) -> 4 episodes, 2 successes (reward 1.0 and 0.5 > 0), 2 failures
    assert m["episodes"] == 7
    assert m["valid_tasks"] == 4
    assert m["init_or_agent_errors"] == 2
    assert m["unscorable"] == 1
    assert m["successes"] == 2 and m["failures"] == 2
    assert m["success_rate"] == 0.5
    assert m["median_steps"] == 5.0  # median of 2, 4, 6, 10
    assert m["median_wall_time"] == 15.0  # median of 2, 10, 20, 30
    assert m["manager_call_rate"] == pytest.approx(5 / 22)  # (1 + 4) / (4 + 10 + 6 + 2); f is not valid
    assert m["hit_rate"] == pytest.approx(3 / 8)  # hits 1 + 2 over lookups (1+3) + (2+2); f is not valid
    assert m["replayed"] == 3
    # usage: means over all 7 episodes, errors and unscorable included
    assert m["model_calls_per_task"] == pytest.approx(23 / 7)
    assert m["tokens_in_per_task"] == pytest.approx(2200 / 7)
    assert m["tokens_out_per_task"] == pytest.approx(220 / 7)
    assert m["cost_per_task"] == pytest.approx(0.23 / 7)
    assert m["tasks"] == 6 and m["tasks_solved"] == 2
    assert set(m) == set(METRIC_COLUMNS) | {"hit_rate", "replayed"}
    assert set(summarize(EPISODES)) == set(METRIC_COLUMNS)  # no plugin columns: only the core's


def test_empty_and_all_errors():
    m = summarize([ep("x", ended="init_error"), ep("y", ended="error")], columns=COLUMNS)
    assert m["valid_tasks"] == 0 and m["init_or_agent_errors"] == 2
    assert m["success_rate"] is None and m["median_steps"] is None and m["median_wall_time"] is None
    assert m["hit_rate"] is None and m["manager_call_rate"] is None
    assert summarize([])["episodes"] == 0 and summarize([])["model_calls_per_task"] is None


def test_unscorable_only_is_not_a_failure():
    m = summarize([ep("u", steps=3, scorable=False)])
    assert (m["valid_tasks"], m["failures"], m["unscorable"], m["success_rate"]) == (0, 0, 1, None)


def test_matrix_groups_records_by_mode_in_order():
    records = [
        {"task": "t1", "mode": "b", "attempt": 0, "reward": 1.0, "steps": 3, "wall_time_sec": 1.0,
         "terminated_by": "message", "scorable": True, "usage": {"calls": 2, "cost": 0.5}},
        {"task": "t1", "mode": "a", "attempt": 0, "reward": 0.0, "steps": 5, "wall_time_sec": 2.0,
         "terminated_by": "max_steps", "scorable": True, "usage": {}},
        {"task": "t2", "mode": "a", "attempt": 0, "reward": 0.0, "steps": 0, "wall_time_sec": 0.1,
         "terminated_by": "init_error", "scorable": True, "usage": {}},
    ]
    rows = matrix(records, ["a", "b", "c"])
    assert [r["mode"] for r in rows] == ["a", "b", "c"]
    a, b, c = rows
    assert (a["valid_tasks"], a["failures"], a["init_or_agent_errors"], a["success_rate"]) == (1, 1, 1, 0.0)
    assert (b["successes"], b["success_rate"], b["median_steps"], b["cost_per_task"]) == (1, 1.0, 3, 0.5)
    assert c["episodes"] == 0 and c["success_rate"] is None
    csv_text = matrix_csv(rows)
    assert csv_text.splitlines()[0] == ",".join(METRIC_COLUMNS)
    assert csv_text.splitlines()[3].startswith("c,,0,0,0,0,0,0,,")
    md = matrix_markdown(rows, title="t")
    assert "| a |  | 2 | 1 | 1 | 0 | 0 | 1 | 0.000 | 5 | 2 |" in md


def test_plugin_columns_policy_and_descriptions():
    records = [{"task": "t1", "mode": "m", "policy": "expert", "reward": 1.0, "steps": 4, "terminated_by": "message",
                "counters": {"hits": 1, "misses": 1}},
               {"task": "t2", "mode": "m", "policy": "expert", "reward": 0.0, "steps": 0,
                "terminated_by": "error", "counters": {"hits": 5}}]
    broken = MetricColumn("broken", lambda records: 1 / 0, plugin="oops")
    modes = {"m": {"policy": "expert", "worker_backend": "openai:gpt-4o-mini", "use_manager": False}}
    rows = matrix(records, modes, columns=COLUMNS + (broken,))
    (row,) = rows
    assert row["policy"] == "expert" and row["hit_rate"] == 0.5 and row["broken"] is None
    assert row["description"] == "policy expert (no worker model)"  # never the mode's model
    md = matrix_markdown(rows, columns=COLUMNS)
    header = md.splitlines()[0]
    assert header.startswith("| mode | policy |") and header.endswith("| hit_rate | replayed |")
    assert "| m | expert | 2 | 1 | 1 |" in md and "| 0.500 | 0 |" in md
    assert "- m: policy expert (no worker model)" in md and "- hit_rate (cachex): hits / lookups" in md
    assert matrix_csv(rows, COLUMNS).splitlines()[0].endswith(",hit_rate,replayed")
    worker = matrix(records, {"m": {"policy": "worker", "worker_backend": "vllm:q", "use_manager": True,
                                    "manager_backend": "openai:gpt-4o"}})[0]
    assert worker["description"] == "policy worker: model vllm:q, manager openai:gpt-4o"
