"""Mining reads trajectories through halo_core.trajectory: element roles and names come
from the recorded elements as data, never from re-parsing the rendered ``[bid] role 'name'`` text."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from halo_core.trajectory import TrajectoryError

from halo_plugin_macros import mine_macros, read_trace, read_traces


def element(bid: str, role: str, name: str, value: str = "") -> dict:
    return {"bid": bid, "role": role, "name": name, "value": value, "props": {}}


def write_episode(root: Path, n: int, item: str, *, lines: bool) -> Path:
    """A successful version-2 episode: search for ``item``, open it, add it to the cart."""
    search = [element("4", "searchbox", "Search [all] 'products'")]
    results = [element("7", "link", f'{item} "deluxe"')]
    product = [element("9", "button", f"Add {item} \"deluxe\" ] to cart")]
    steps = []
    for i, (action, elements, url) in enumerate([
        (f"fill('4', '{item}')", search, "http://127.0.0.1:4000/"),
        ("press('4', 'Enter')", search, "http://127.0.0.1:4000/"),
        ("click('7')", results, "http://127.0.0.1:4000/search"),
        ("click('9')", product, "http://127.0.0.1:4000/product/12"),
    ]):
        # the rendered lines are left out or garbled: mining must not need them
        rendered = [f"[{e['bid']}] ???" for e in elements] if lines else []
        steps.append({"type": "step", "step_idx": i, "url": url, "page_type": "page", "action": action,
                      "action_source": "worker", "last_action_error": "", "verdicts": [],
                      "actionable_elements": rendered, "elements": elements})
    events = [{"type": "episode_start", "schema_version": 2, "task_id": f"webclones.shop-{n}", "site": "shop",
               "goal": f"Add the {item} to my cart", "run_id": "r", "mode": "m", "attempt_idx": 0, "config": {}},
              *steps, {"type": "episode_end", "task_id": f"webclones.shop-{n}", "success": True, "reward": 1.0}]
    path = root / "m" / "r" / f"webclones.shop-{n}__attempt_0.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    return path


def test_mining_uses_structured_elements(tmp_path):
    write_episode(tmp_path, 1, "Kettle", lines=True)
    write_episode(tmp_path, 2, "Toaster", lines=False)
    traces = read_traces(tmp_path)
    assert [t.task_id for t in traces] == ["webclones.shop-1", "webclones.shop-2"]
    first = traces[0].runs[0]
    assert [(s.verb, s.role, s.name) for s in first] == [
        ("fill", "searchbox", "Search [all] 'products'"), ("press", "searchbox", "Search [all] 'products'"),
        ("click", "link", 'Kettle "deluxe"'), ("click", "button", 'Add Kettle "deluxe" ] to cart')]
    (macro,) = mine_macros(traces, min_support=2)
    assert macro.site == "shop" and macro.support == 2
    assert [(s.verb, s.role, s.name) for s in macro.steps][2:] == [
        ("click", "link", '{s0} "deluxe"'), ("click", "button", 'Add {s0} "deluxe" ] to cart')]


def test_a_damaged_line_is_an_error_unless_skipped(tmp_path):
    path = write_episode(tmp_path, 1, "Kettle", lines=False)
    path.write_text(path.read_text() + "{not json\n")
    with pytest.raises(TrajectoryError, match=r"__attempt_0.jsonl:7: damaged trajectory line"):
        read_trace(path)
    assert read_trace(path, skip_bad_lines=True).task_id == "webclones.shop-1"
