"""The trajectory format's one owner: what the writer's builders emit reads back typed,
files of the first format (no schema version, elements only as text) still read, and
damaged lines are named, not silently dropped."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import attrs
import pytest

from halo_core.builtins.summarizer import summarize
from halo_core.config import mode_config
from halo_core.loop import Episode, run_episode
from halo_core.model import AXNode, Decision, EpisodeResult, RawObservation, StepRecord, TaskSpec, Usage, Verdict
from halo_core.testing import GraphEnvironment, Page, ScriptedBackend, make_runtime
from halo_core.trajectory import (
    SCHEMA_VERSION,
    ElementRecord,
    EpisodeEnd,
    PluginEvent,
    Step,
    TrajectoryError,
    end_event,
    iter_episodes,
    read_trajectory,
    screenshot_file,
    start_event,
    step_event,
)


def shop() -> GraphEnvironment:
    return GraphEnvironment({
        "home": Page("Home", [("link", "Bob's \"best\" shop", "products"), ("textbox", "Search", None)]),
        "products": Page("Products", [("button", "Add [2] to cart", "cart"), ("checkbox", "Gift wrap", None)]),
        "cart": Page("Cart", [("link", "Home", "home")]),
    }, goal_page="cart")


TASK = TaskSpec(id="graph.shop-1", goal="Put it in the cart", suite="graph", site="shop", split="train",
                start_url="http://graph.test/home")


def test_builders_round_trip_through_the_logger_and_reader(tmp_path):
    """Events made by start_event/step_event/end_event, written by the real JSONL logger,
    read back as the same typed records."""
    runtime = make_runtime()
    config = mode_config("baseline_worker", use_screenshot=False)
    episode = Episode(task=TASK, config=config, runtime=runtime, run_id="r7", attempt=2, data_dir=tmp_path)
    env = shop()
    episode.log(start_event(episode))
    before = summarize(env.reset(TASK))
    episode.observations.append(before)
    actions = ["fill('2', 'blender')", "click('1')", "click('1')"]
    for i, action in enumerate(actions):
        after = summarize(env.step(action))
        decision = Decision(action, "worker", Usage(calls=1, tokens_in=10 + i, tokens_out=3, cost=0.5),
                            reason="why", meta={"prompt": f"prompt {i}"})
        record = StepRecord(step_idx=i, url=before.url, fingerprint=before.fingerprint, page_type=before.page_type,
                            decision=decision, error=after.last_action_error,
                            verdicts=(Verdict("postcondition", True, "ok", {"n": i}),), elapsed_ms=12.5,
                            manager_called=False)
        episode.history.append(record)
        episode.log(step_event(record, before, started_at=1000.0 + i))
        episode.observations.append(after)
        before = after
    episode.log({"type": "my_plugin_note", "text": "hello"})
    result = EpisodeResult(task_id=TASK.id, success=True, reward=1.0, steps=3, wall_time_sec=1.25,
                           terminated_by="message", final_message="Done", usage=Usage(calls=3),
                           counters={"cache_hits": 2})
    episode.log(end_event(result))

    path = episode.trajectory_path
    recorded = read_trajectory(path)
    assert recorded.schema_version == SCHEMA_VERSION and recorded.bad_lines == 0
    start = recorded.start
    assert (start.task_id, start.run_id, start.mode, start.attempt) == ("graph.shop-1", "r7", "baseline_worker", 2)
    assert (start.split, start.suite, start.site, start.start_url) == ("train", "graph", "shop", TASK.start_url)
    assert start.policy == "worker" and start.config["mode"] == "baseline_worker"
    assert recorded.actions == actions and recorded.success is True and recorded.complete
    first, second, third = recorded.steps
    assert first.usage == Usage(calls=1, tokens_in=10, tokens_out=3, cost=0.5)
    assert first.verdicts == (Verdict("postcondition", True, "ok", {"n": 0}),)
    assert first.logged_prompt == "prompt 0" and first.started_at == 1000.0
    # elements are data, not text to re-parse: names with quotes and brackets survive as they are
    assert first.element("1") == ElementRecord("1", "link", "Bob's \"best\" shop")
    assert first.element("2") == ElementRecord("2", "textbox", "Search")
    assert second.element("2").value == "blender" and third.element("1").name == "Add [2] to cart"
    assert first.element_lines == ('[1] link \'Bob\\\'s "best" shop\'', "[2] textbox 'Search'")
    # the observation rebuilt from the record is the one the decision saw
    observation = third.observation()
    assert observation.url == "http://graph.test/products" and observation.valid_bids == {"1", "2"}
    assert observation.find("button", "Add [2] to cart").bid == "1"
    assert [type(e).__name__ for e in recorded.events] == ["EpisodeStart", "Step", "Step", "Step", "PluginEvent",
                                                           "EpisodeEnd"]
    assert recorded.events[4] == PluginEvent("my_plugin_note", {"type": "my_plugin_note", "text": "hello"})
    assert recorded.end == attrs.evolve(recorded.end, final_message="Done", terminated_by="message", total_steps=3)
    assert recorded.end.counter("cache_hits") == 2 and recorded.end.counter("macro_steps") == 0
    # every line of the file is exactly what the typed record writes back
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert recorded.raw_events() == lines


def test_loop_trajectories_read_typed(tmp_path):
    """Whatever the loop writes reads back through the one reader, and writes back unchanged."""
    config = mode_config("baseline_worker", worker_backend="scripted:test", max_steps=4, use_screenshot=False,
                         use_recovery=False)
    # the worker asks twice; two unusable answers are recorded (never sent) and the step carries the error
    replies = ["click('1')", "click('9')", "click('8')", "click('1')", "send_msg_to_user('Done')"]
    result = run_episode(TASK, config, shop(), make_runtime(), run_id="loop", data_dir=tmp_path,
                         backends={"worker": ScriptedBackend(list(replies))})
    (episode,) = iter_episodes(tmp_path / "trajectories")
    assert episode.actions == ["click('1')", "noop()", "click('1')", "send_msg_to_user('Done')"]
    assert episode.steps[1].decision_meta["invalid_output"] == "click('8')"
    assert episode.success is result.success is True
    assert episode.steps[1].error and episode.steps[2].observed_error == episode.steps[1].error
    assert episode.steps[1].element("1").role == "button"
    lines = [json.loads(line) for line in episode.path.read_text().splitlines()]
    # nothing the loop logged is lost or changed by reading it
    for logged, typed in zip(lines, episode.raw_events(), strict=True):
        assert {k: typed.get(k) for k in logged} == logged


V1_START = {"type": "episode_start", "task_id": "webclones.shop-3", "task_name": "webclones.shop-3",
            "site": "shop", "goal": "Buy the pot", "run_id": "old_run", "mode": "baseline_worker", "attempt_idx": 1,
            "timestamp": 1.0, "pid": 1, "config_hash": "abc", "config": {"policy": "expert", "history_len": 3}}
V1_STEP = {"type": "step", "step_idx": 0, "url": "http://127.0.0.1:4100/search", "obs_hash": "0", "fingerprint": "f",
           "page_type": "search", "action": "fill('7', 'pot')", "action_source": "worker", "reason": "",
           "last_action_error": "", "elapsed_ms": 3.0, "manager_called": False, "cache_hit": False,
           "tokens": {"in": 1, "out": 1}, "usage": {"calls": 1, "tokens_in": 1, "tokens_out": 1, "cost": 0.0,
                                                    "latency_ms": 0.0},
           "verdicts": [{"check": "postcondition", "ok": True, "reason": "", "meta": {}}], "decision_meta": {},
           "obs_summary": "[7] searchbox 'Search' value='pot'\n[8] link \"Bob's pots\"",
           "actionable_elements": ["[7] searchbox 'Search' value='pot'", "[8] link \"Bob's pots\"",
                                   "[9] checkbox 'Gift' checked disabled", "[10] button"],
           "valid_bids": ["7", "8", "9", "10"], "started_at": 2.0}
V1_END = {"type": "episode_end", "task_id": "webclones.shop-3", "success": True, "reward": 1.0, "total_steps": 1,
          "wall_time_sec": 0.5, "terminated_by": "message", "manager_calls": 0, "cache_hits": 0, "cache_misses": 0,
          "macro_steps": 0, "usage": {"calls": 1}, "final_message": "Done", "scorable": True, "error": "",
          "traceback": "", "timestamp": 3.0}


def write_lines(path: Path, lines: list) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines))
    return path


def test_first_format_files_still_read(tmp_path):
    path = write_lines(tmp_path / "baseline_worker" / "old_run" / "webclones.shop-3__attempt_1.jsonl",
                       [V1_START, V1_STEP, V1_END])
    old = read_trajectory(path)
    assert old.schema_version == 1 and old.start.split is None and old.start.policy == "expert"
    assert old.attempt == 1 and old.success is True and old.end == EpisodeEnd.from_event(V1_END)
    assert old.end.counter("macro_steps") == 0 and old.end.counter("cache_hits") == 0 and not old.end.counters
    (step,) = old.steps
    # the elements come from their rendered lines (the only place that still parses them)
    assert step.elements == (
        ElementRecord("7", "searchbox", "Search", "pot"),
        ElementRecord("8", "link", "Bob's pots"),
        ElementRecord("9", "checkbox", "Gift", "", {"checked": True, "disabled": True}),
        ElementRecord("10", "button"),
    )
    assert [e.describe() for e in step.elements] == V1_STEP["actionable_elements"]
    assert step.to_event()["elements"] == {"bid": ["7", "8", "9", "10"], "role": ["searchbox", "link", "checkbox", "button"],
                                           "name": ["Search", "Bob's pots", "Gift", ""], "value": ["pot", "", "", ""],
                                           "props": [[2, {"checked": True, "disabled": True}]]}


def test_second_format_elements_still_read(tmp_path):
    """Version 2 stored one object per element; version 3 stores columns. Both read the same."""
    v2_step = {**V1_STEP, "elements": [
        {"bid": "7", "role": "searchbox", "name": "Search", "value": "pot", "props": {}},
        {"bid": "9", "role": "checkbox", "name": "Gift", "value": "", "props": {"checked": True}}]}
    path = write_lines(tmp_path / "m" / "r" / "t__attempt_0.jsonl", [{**V1_START, "schema_version": 2}, v2_step, V1_END])
    (step,) = read_trajectory(path).steps
    assert step.elements == (ElementRecord("7", "searchbox", "Search", "pot"),
                             ElementRecord("9", "checkbox", "Gift", "", {"checked": True}))
    again = Step.from_event(step.to_event())
    assert again.elements == step.elements and step.to_event()["elements"]["props"] == [[1, {"checked": True}]]


def test_damaged_element_columns_are_named(tmp_path):
    columns = {"bid": ["1", "2"], "role": ["link"], "name": ["a", "b"], "value": ["", ""], "props": []}
    path = write_lines(tmp_path / "m" / "r" / "t__attempt_0.jsonl",
                       [V1_START, {**V1_STEP, "elements": columns}, V1_END])
    with pytest.raises(TrajectoryError, match=r":2: damaged trajectory line \(step elements: columns of different"):
        read_trajectory(path)
    for props in ([[5, {"checked": True}]], [["x"]], [[-1, {}]]):
        write_lines(path, [V1_START, {**V1_STEP, "elements": {**columns, "role": ["link", "a"], "props": props}},
                           V1_END])
        with pytest.raises(TrajectoryError, match=r":2: damaged trajectory line \(step elements: "):
            read_trajectory(path)
        assert read_trajectory(path, skip_bad_lines=True).bad_lines == 1


def test_a_damaged_line_is_named_unless_skipped(tmp_path):
    path = write_lines(tmp_path / "m" / "r" / "t__attempt_0.jsonl",
                       [V1_START, V1_STEP, '{"type": "step", "step_idx": 1, "act', V1_END])
    with pytest.raises(TrajectoryError) as info:
        read_trajectory(path)
    message = str(info.value)
    assert message.startswith(f"{path}:3: damaged trajectory line") and "--skip-bad-lines" in message
    kept = read_trajectory(path, skip_bad_lines=True)
    assert kept.bad_lines == 1 and len(kept.steps) == 1 and kept.success is True
    # a line that is JSON but no event, and a step whose fields have the wrong types, are damaged too
    write_lines(path, [V1_START, "[1, 2]", {**V1_STEP, "step_idx": "first"}, V1_END])
    with pytest.raises(TrajectoryError, match=r":2: damaged"):
        read_trajectory(path)
    assert read_trajectory(path, skip_bad_lines=True).bad_lines == 2
    # a JSONL file without an episode_start is not a trajectory
    write_lines(path, [V1_STEP])
    with pytest.raises(TrajectoryError, match="no episode_start"):
        read_trajectory(path)


def test_iter_episodes_walks_modes_and_runs(tmp_path):
    root = tmp_path / "trajectories"
    for mode, run in (("a", "r1"), ("a", "r2"), ("b", "r1")):
        start = {**V1_START, "mode": mode, "run_id": run}
        write_lines(root / mode / run / "webclones.shop-3__attempt_0.jsonl", [start, V1_STEP, V1_END])
    (root / "a" / "r1" / "traces.jsonl").write_text('{"span": 1}\n')  # a plugin's file beside them
    assert [(e.mode, e.run_id) for e in iter_episodes(root)] == [("a", "r1"), ("a", "r2"), ("b", "r1")]
    assert [(e.mode, e.run_id) for e in iter_episodes(root, mode="a")] == [("a", "r1"), ("a", "r2")]
    assert [(e.mode, e.run_id) for e in iter_episodes(root, run_id="r1")] == [("a", "r1"), ("b", "r1")]
    assert [(e.mode, e.run_id) for e in iter_episodes(root / "b" / "r1", mode=["b"], run_id=("r1",))] == [("b", "r1")]
    with pytest.raises(FileNotFoundError, match="do not exist"):
        list(iter_episodes(tmp_path / "nowhere"))


def test_screenshot_paths_stay_inside_the_run_folder(tmp_path):
    run = tmp_path / "trajectories" / "m" / "r"
    (run / "t__attempt_0").mkdir(parents=True)
    (run / "t__attempt_0" / "step_000.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    assert screenshot_file(run, "t__attempt_0/step_000.png") == (run / "t__attempt_0" / "step_000.png").resolve()
    os.symlink("/etc/passwd", run / "t__attempt_0" / "link.png")
    for hostile in ("/etc/passwd", "../../x", "t__attempt_0/../../../x", "t__attempt_0/link.png", "", ".",
                    "..\\..\\x"):
        with pytest.raises(ValueError):
            screenshot_file(run, hostile)


def test_step_event_keeps_what_the_loop_wrote(tmp_path):
    """The builder keeps the fields every existing reader uses, and adds the structured elements."""
    env = shop()
    observation = summarize(env.reset(TASK))
    record = StepRecord(step_idx=0, url=observation.url, fingerprint=observation.fingerprint,
                        page_type=observation.page_type, decision=Decision("click('1')", "vac"), error="",
                        verdicts=(), elapsed_ms=1.23456, manager_called=True)
    event = step_event(record, observation, started_at=time.time())
    assert {"step_idx", "url", "obs_hash", "fingerprint", "page_type", "action", "action_source", "reason",
            "last_action_error", "elapsed_ms", "manager_called", "tokens", "usage", "verdicts",
            "decision_meta", "obs_summary", "actionable_elements", "valid_bids", "started_at", "elements"} <= set(event)
    assert event["elapsed_ms"] == 1.235 and event["actionable_elements"] == observation.annotations[
        "actionable_elements"]
    columns = event["elements"]
    assert (columns["bid"][0], columns["role"][0], columns["name"][0], columns["value"][0]) == (
        "1", "link", "Bob's \"best\" shop", "")
    assert len(columns["bid"]) == len(observation.elements) and not columns["props"]
    assert Step.from_event(event).to_event() == event


def test_step_event_round_trips_props_verdicts_and_usage():
    """The loop's fast builder and the typed Step agree on every field, props and verdicts included."""
    raw = RawObservation(url="http://x.test/form", title="Form", axtree=(
        AXNode("RootWebArea", "Form", depth=0),
        AXNode("checkbox", "Gift", bid="9", props={"checked": True}, depth=1),
        AXNode("textbox", "Name", bid="10", value="Bo", props={"disabled": True}, depth=1)))
    observation = summarize(raw)
    record = StepRecord(step_idx=3, url=observation.url, fingerprint=observation.fingerprint,
                        page_type=observation.page_type,
                        decision=Decision("click('9')", "worker", reason="tick", usage=Usage(tokens_in=5, tokens_out=2),
                                          meta={"prompt": "p"}),
                        error="", verdicts=(Verdict("postcondition", False, "no change", {"k": 1}),),
                        elapsed_ms=2.0, manager_called=False)
    event = step_event(record, observation)
    assert event["elements"] == {"bid": ["9", "10"], "role": ["checkbox", "textbox"], "name": ["Gift", "Name"],
                                 "value": ["", "Bo"], "props": [[0, {"checked": True}], [1, {"disabled": True}]]}
    assert Step.from_event(event).elements == (ElementRecord("9", "checkbox", "Gift", "", {"checked": True}),
                                                ElementRecord("10", "textbox", "Name", "Bo", {"disabled": True}))
    assert event["verdicts"][0]["ok"] is False and event["tokens"] == {"in": 5, "out": 2}
    assert "started_at" not in event
    assert Step.from_event(event).to_event() == event
