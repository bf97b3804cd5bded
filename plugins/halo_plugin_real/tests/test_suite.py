"""Task discovery, id refusals, registry snapshots and pinning (fast, no browser)."""

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from halo_core.env.protocol import TaskNotFound
from halo_core.runtime import Runtime
from halo_core.testing import within
from halo_plugin_real.catalog import agisdk_layout, agisdk_version, task_hash
from halo_plugin_real.registry import RegistryError, TaskRegistryMismatch, build_snapshot, load_registry, write_snapshot
from halo_plugin_real.suite import RealSuite, RegistryMismatchWarning

SITES = {"dashdish": 11, "gocalendar": 10, "gomail": 21, "marrisuite": 1, "networkin": 10, "omnizon": 10,
         "opendining": 11, "staynb": 11, "topwork": 12, "udriver": 14, "zilloft": 10}
HALO = str(Path(sys.executable).with_name("halo"))


@pytest.fixture(scope="module")
def suite():
    return RealSuite(registry="none")


def test_discovers_121_v2_tasks_over_11_sites(suite):
    tasks = suite.list_tasks()
    assert len(tasks) == 121
    counts = {}
    for t in tasks:
        counts[t.site] = counts.get(t.site, 0) + 1
        assert t.id.startswith("v2.") and t.suite == "real"
    assert counts == SITES
    # the same list agisdk itself builds
    from agisdk.REAL.browsergym.webclones.task_config import TASKS_BY_VERSION

    assert sorted(t.id for t in tasks) == sorted(f"v2.{n}" for n in TASKS_BY_VERSION["v2"])


def test_task_spec_fields(suite):
    task = suite.resolve("v2.omnizon-13")
    raw = json.loads((agisdk_layout().tasks_dir / "omnizon-13.json").read_text())
    assert task.site == "omnizon" and task.goal == raw["goal"]
    assert task.start_url == raw["website"]["url"] and task.start_url.startswith("https://")
    assert task.challenge_type == raw["challengeType"] and task.possible is True
    assert task.difficulty == raw["difficulty"] and task.evals == tuple(raw["evals"])
    gomail = [t.id for t in suite.list_tasks(site="gomail")]
    numbers = [int(t.rsplit("-", 1)[1]) for t in gomail]
    assert len(gomail) == 21 and numbers == sorted(numbers)  # natural order: gomail-2 before gomail-10
    with pytest.raises(TaskNotFound, match="no site 'omnizn'.*omnizon"):
        suite.list_tasks(site="omnizn")


@pytest.mark.parametrize("task_id, pattern", [
    ("omnizon-13", r"no version prefix.*use 'v2\.omnizon-13'"),
    ("v1.omnizon-13", r"v1 tasks are not supported.*v2\.omnizon-13"),
    ("v2.omnizon-999", r"unknown REAL task 'v2\.omnizon-999'; closest: v2\.omnizon-9"),
    ("v3.gomail-1", r"unknown REAL task version 'v3'"),
])
def test_refusals_are_one_clear_line(suite, task_id, pattern):
    assert suite.claims(task_id)
    with pytest.raises(TaskNotFound, match=pattern) as info:
        suite.resolve(task_id)
    assert "\n" not in str(info.value)
    with pytest.raises(TaskNotFound, match=pattern):  # through the runtime, as `halo run` resolves
        Runtime().resolve_task(task_id)


def test_claims_only_real_looking_ids(suite):
    assert suite.claims("v2.gomail-1") and suite.claims("browsergym/v2.gomail-1") and suite.claims("gomail-1")
    assert not suite.claims("webclones.shop-1") and not suite.claims("shop-1")
    with pytest.raises(TaskNotFound, match="version 'v1' is not supported"):
        suite.list_tasks(task_version="v1")
    assert suite.resolve("v2.gomail-1", task_version="v2").id == "v2.gomail-1"


def test_snapshot_written_reloaded_and_pins(tmp_path):
    path = tmp_path / "reg.json"
    doc = write_snapshot(agisdk_layout(), path)
    assert doc["total"] == 121 and doc["sites"] == SITES and doc["agisdk_version"] == agisdk_version() == "0.3.5"
    assert doc["created_at"].endswith("Z")
    reg = load_registry(path)
    assert len(reg.ids) == 121 and all(len(h) == 64 for h in reg.hashes.values())
    assert reg.hashes["v2.gomail-2"] == task_hash(agisdk_layout().load("gomail-2"), agisdk_layout())

    # pin to a smaller snapshot: the list follows it, other tasks are refused
    doc["tasks"] = [t for t in doc["tasks"] if t["site"] == "gomail"][:4]
    small = tmp_path / "small.json"
    small.write_text(json.dumps(doc))
    pinned = RealSuite(registry=small)
    assert [t.id for t in pinned.list_tasks()] == [t["id"] for t in doc["tasks"]]
    assert pinned.resolve("v2.gomail-2").id == "v2.gomail-2"
    with pytest.raises(TaskNotFound, match="not in the task registry"):
        pinned.resolve("v2.omnizon-13")
    # an explicit task_registry= (the eval command's --task-registry) wins over the constructor's
    assert len(pinned.list_tasks(task_registry=path)) == 121
    assert len(pinned.list_tasks(task_registry="none")) == 121


def test_changed_task_is_refused_or_warned(tmp_path, monkeypatch):
    doc = build_snapshot(agisdk_layout())
    doc["tasks"][0]["sha256"] = "0" * 64
    first = doc["tasks"][0]["id"]
    path = tmp_path / "reg.json"
    path.write_text(json.dumps(doc))
    suite = RealSuite(registry=path)
    with pytest.warns(RegistryMismatchWarning, match=f"1 changed since the snapshot \\({first}"):
        assert len(suite.list_tasks()) == 121
    with pytest.raises(TaskRegistryMismatch, match=f"task '{first}' changed since the task registry snapshot"):
        suite.resolve(first)
    monkeypatch.setenv("HALO_TASK_REGISTRY_MISMATCH", "warn")
    with pytest.warns(RegistryMismatchWarning):
        assert suite.resolve(first).id == first


def test_default_registry_path_and_env(tmp_path, monkeypatch):
    suite = RealSuite()
    assert suite.registry() is None  # nothing in ./configs
    doc = build_snapshot(agisdk_layout())
    doc["tasks"] = doc["tasks"][:2]
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "real_v2_task_registry.json").write_text(json.dumps(doc))
    assert len(suite.list_tasks()) == 2  # picked up automatically
    other = tmp_path / "other.json"
    doc["tasks"] = doc["tasks"][:1]
    other.write_text(json.dumps(doc))
    monkeypatch.setenv("HALO_TASK_REGISTRY", str(other))
    assert len(suite.list_tasks()) == 1
    monkeypatch.setenv("HALO_TASK_REGISTRY", "none")
    assert len(suite.list_tasks()) == 121
    monkeypatch.setenv("HALO_TASK_REGISTRY", str(tmp_path / "missing.json"))
    with pytest.raises(RegistryError, match="does not exist"):
        suite.list_tasks()


def test_snapshot_command(tmp_path):
    from click.testing import CliRunner

    from halo_core.cli import cli

    cli._load()  # plugin subcommands (the core loads them lazily for the root group only)
    runner = CliRunner()
    out = tmp_path / "configs" / "real_v2_task_registry.json"
    result = runner.invoke(cli, ["tasks", "snapshot", "--suite", "real", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "Wrote 121 real tasks over 11 sites (agisdk 0.3.5" in result.output
    assert load_registry(out).agisdk_version == "0.3.5"
    result = runner.invoke(cli, ["tasks", "snapshot", "--suite", "real", "--out", str(out), "--check"])
    assert result.exit_code == 0 and "matches" in result.output
    doc = json.loads(out.read_text())
    doc["tasks"][5]["sha256"] = "f" * 64
    out.write_text(json.dumps(doc))
    result = runner.invoke(cli, ["tasks", "snapshot", "--suite", "real", "--out", str(out), "--check"])
    assert result.exit_code != 0 and "changed: 1" in result.output


def test_tasks_command_lists_the_suite():
    proc = subprocess.run([HALO, "tasks", "--suite", "real"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "Source: real" in proc.stdout and "Total tasks: 121" in proc.stdout and "Sites: 11" in proc.stdout
    assert "gomail: 21 tasks" in proc.stdout
    ids = subprocess.run([HALO, "tasks", "--suite", "real", "--site", "omnizon", "--ids-only"],
                         capture_output=True, text=True, timeout=60).stdout.split()
    assert len(ids) == 10 and ids[:3] == ["v2.omnizon-3", "v2.omnizon-9", "v2.omnizon-13"]


@pytest.mark.parametrize("task_id, needle", [
    ("omnizon-13", "use 'v2.omnizon-13'"),
    ("v1.omnizon-13", "v1 tasks are not supported"),
    ("v2.omnizon-999", "closest: v2.omnizon-9"),
])
def test_cli_refuses_without_starting_a_browser(tmp_path, task_id, needle):
    marker = tmp_path / "browser-started"
    fake = tmp_path / "chromium"
    fake.write_text(f"#!/bin/sh\ntouch {marker}\nexit 1\n")
    fake.chmod(0o755)
    env = {**__import__("os").environ, "HALO_CHROMIUM": str(fake), "PLAYWRIGHT_BROWSERS_PATH": str(tmp_path / "none")}
    started = time.monotonic()
    proc = subprocess.run([HALO, "run", task_id, "--policy", "expert"], capture_output=True, text=True,
                          timeout=60, env=env, cwd=tmp_path)
    assert proc.returncode != 0
    assert needle in proc.stderr + proc.stdout
    assert "Traceback" not in proc.stderr
    assert not marker.exists(), "no browser may be launched for a refused task"
    assert time.monotonic() - started < within(30)
