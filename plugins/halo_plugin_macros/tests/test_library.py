"""The macro library file: damaged files and entries are named, set aside or skipped, never fatal to a run."""

from __future__ import annotations

import json

import pytest

from halo_plugin_macros import load_macros
from halo_plugin_macros._library import Macro, MacroLibraryError, MacroStep, save_macros


def _macro(macro_id: str) -> Macro:
    return Macro(id=macro_id, site="s", steps=(MacroStep("click", "link", "Home"),), slots={}, page_types=("home",),
                 paths=("/",), support=2)


def test_bad_entries_are_skipped_and_good_ones_kept(tmp_path):
    path = save_macros([_macro("m1"), _macro("m3")], tmp_path / "macros.json")
    data = json.loads(path.read_text())
    data["macros"].insert(1, {"id": "m2", "site": "s"})  # no steps
    data["macros"].append("not a macro")
    path.write_text(json.dumps(data))
    with pytest.warns(UserWarning, match=r"macros.json: 2 damaged macro\(s\) skipped, 2 kept; delete it, or rebuild"):
        assert [m.id for m in load_macros(path, strict=True)] == ["m1", "m3"]


@pytest.mark.parametrize("text", ['{"version": 1, "macros": [{"id": ', "[1, 2]", '{"version": 1}', "\udcff"])
def test_an_unreadable_library_names_itself_when_strict(tmp_path, text):
    path = tmp_path / "macros.json"
    path.write_bytes(text.encode("utf-8", "surrogateescape"))
    with pytest.raises(MacroLibraryError, match=r"macros.json is damaged .*; delete it, or rebuild it with "
                                                r"`halo macros mine --out "):
        load_macros(path, strict=True)
    assert path.read_bytes() == text.encode("utf-8", "surrogateescape")  # strict readers change nothing


def test_an_episode_moves_an_unreadable_library_aside_and_goes_on(tmp_path):
    path = tmp_path / "macros.json"
    path.write_text('{"macros": [')
    with pytest.warns(UserWarning, match="moved aside to macros.json.corrupt-"):
        assert load_macros(path) == []
    (aside,) = tmp_path.glob("macros.json.corrupt-*")
    assert aside.read_text() == '{"macros": [' and not path.exists()
    save_macros([_macro("m1")], path)  # a new library is used at once
    assert [m.id for m in load_macros(path)] == ["m1"]
