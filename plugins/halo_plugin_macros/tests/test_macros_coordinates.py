"""Macros neither mine nor replay actions not grounded in one element (points, keys, drags)."""

import json

import pytest

from halo_core.builtins.summarizer import summarize
from halo_core.model import AXNode, RawObservation
from halo_plugin_macros import read_trace
from halo_plugin_macros._library import MacroStep
from halo_plugin_macros.plugin import step_action


def _episode(tmp_path, middle: str):
    elements = [{"bid": "4", "role": "textbox", "name": "Search", "value": "", "props": {}},
                {"bid": "7", "role": "button", "name": "Go", "value": "", "props": {}}]
    steps = [{"type": "step", "step_idx": i, "url": "http://127.0.0.1:4000/", "page_type": "page", "action": a,
              "action_source": "worker", "last_action_error": "", "verdicts": [], "elements": elements}
             for i, a in enumerate(["fill('4', 'mat')", middle, "click('7')"])]
    events = [{"type": "episode_start", "schema_version": 2, "task_id": "webclones.shop-1", "site": "shop",
               "goal": "Find the mat", "run_id": "r", "mode": "m", "attempt_idx": 0, "config": {}},
              *steps, {"type": "episode_end", "task_id": "webclones.shop-1", "success": True, "reward": 1.0}]
    path = tmp_path / "e.jsonl"
    path.write_text("\n".join(json.dumps(e) for e in events) + "\n")
    return read_trace(path)


@pytest.mark.parametrize("middle", ["mouse_click(40, 50)", "keyboard_press('Enter')", "drag_and_drop('4', '7')"])
def test_an_ungrounded_step_ends_the_run_a_macro_is_mined_from(tmp_path, middle):
    trace = _episode(tmp_path, middle)
    assert [[s.verb for s in run] for run in trace.runs] == [["fill"], ["click"]]


def test_a_step_choosing_several_options_ends_the_run_too(tmp_path):
    # a slot holds one value, not a list
    trace = _episode(tmp_path, "select_option('4', ['a', 'b'])")
    assert [[s.verb for s in run] for run in trace.runs] == [["fill"], ["click"]]


def test_a_grounded_step_keeps_the_run_whole(tmp_path):
    trace = _episode(tmp_path, "press('4', 'Enter')")
    assert [[s.verb for s in run] for run in trace.runs] == [["fill", "press", "click"]]


@pytest.mark.parametrize("verb", ["mouse_click", "keyboard_type", "drag_and_drop"])
def test_a_library_step_with_an_ungrounded_verb_is_never_replayed(verb):
    obs = summarize(RawObservation(url="http://127.0.0.1:9/", title="t", axtree=(AXNode("button", "Go", bid="7"),)))
    assert step_action(MacroStep(verb, "button", "Go"), {}, obs) is None
    assert step_action(MacroStep("click", "button", "Go"), {}, obs) == "click('7')"
