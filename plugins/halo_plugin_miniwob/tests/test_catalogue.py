"""Task discovery and ids: no browser needed."""

import subprocess
import sys

import pytest
from click.testing import CliRunner

from halo_core.cli import cli
from halo_core.env.protocol import TaskNotFound
from halo_core.runtime import Runtime
from halo_plugin_miniwob import NEEDS, TEST_SEED_START, MiniwobSuite, html_dir, task_names

SUITE = MiniwobSuite()


def test_every_bundled_task_is_discovered():
    names = task_names()
    assert 125 <= len(names) <= 135
    assert {"click-button", "enter-text", "book-flight", "email-inbox", "drag-box"} <= set(names)
    assert (html_dir() / "core" / "core.js").is_file()
    tasks = SUITE.list_tasks()
    assert [t.id for t in tasks] == ["miniwob." + n for n in names]
    assert all(t.suite == "miniwob" and t.seed is None and t.split == "" for t in tasks)


def test_tasks_command_lists_them(monkeypatch):
    monkeypatch.setenv("HALO_LOAD_PLUGINS", "miniwob")
    result = CliRunner().invoke(cli, ["tasks", "--suite", "miniwob", "--ids-only"])
    assert result.exit_code == 0, result.output
    ids = result.output.split()
    assert len(ids) == len(task_names()) and "miniwob.click-checkboxes" in ids


def test_tasks_needing_coordinates_or_drags_are_marked():
    by_id = {t.id: t for t in SUITE.list_tasks()}
    assert by_id["miniwob.drag-box"].raw["needs"] == "drag"
    assert by_id["miniwob.bisect-angle"].raw["needs"] == "coordinates"
    assert by_id["miniwob.highlight-text"].raw["needs"] == "text-selection"
    assert "needs" not in by_id["miniwob.click-button"].raw
    assert set(NEEDS) <= set(task_names())


def test_seed_in_the_id_selects_the_instance_and_its_split():
    task = SUITE.resolve("miniwob.enter-text@17")
    assert (task.id, task.seed, task.split) == ("miniwob.enter-text@17", 17, "train")
    held_out = SUITE.resolve(f"miniwob.enter-text@{TEST_SEED_START}")
    assert (held_out.seed, held_out.split) == (TEST_SEED_START, "test")
    plain = SUITE.resolve("miniwob.enter-text")
    assert (plain.seed, plain.split) == (None, "")
    assert {t.seed for t in SUITE.list_tasks(split="train")} == {0}
    assert {(t.seed, t.split) for t in SUITE.list_tasks(split="test")} == {(TEST_SEED_START, "test")}


@pytest.mark.parametrize("bad, expected", [
    ("miniwob.enter-txt", "closest: miniwob.enter-text"),
    ("miniwob.enter-txt@3", "closest: miniwob.enter-text"),
    ("miniwob.enter-text@x", "must be a whole number"),
    ("miniwob.enter-text@-1", "must be a whole number"),
    ("miniwob.nothing-like-it-at-all", "halo tasks --suite miniwob"),
])
def test_unknown_ids_and_bad_seeds_are_refused_with_a_way_out(bad, expected):
    with pytest.raises(TaskNotFound, match=expected):
        SUITE.resolve(bad)


def test_the_runtime_resolves_through_the_entry_point():
    suite, task = Runtime().resolve_task("miniwob.click-tab@4")
    assert suite.name == "miniwob" and task.seed == 4


def test_importing_the_plugin_does_not_import_selenium_or_gymnasium():
    code = ("import sys, halo_plugin_miniwob.plugin as p; p.MiniwobSuite().list_tasks(); "
            "print(sorted(m for m in ('miniwob', 'selenium', 'gymnasium') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_published_56_task_set_is_bundled():
    from halo_plugin_miniwob.catalogue import WEBGUM_56

    assert len(WEBGUM_56) == len(set(WEBGUM_56)) == 56
    assert set(WEBGUM_56) <= set(task_names())
