"""A hostile world, round two: values read back from a run folder, damaged and empty stores,
full disks and odd settings — each one clear line, a non-zero exit, nothing lost.

Runs the real command line against the ``hostile`` third-party plugin of
``test_hostile_cli`` (its ``site`` fixture installs it once per module)."""

from __future__ import annotations

import json

from test_hostile_cli import PARROT, halo, one_error_line, site  # noqa: F401 - `site` is a fixture


def _finished_run(site, tmp_path, run_id="r1"):  # noqa: F811
    out = halo(site, tmp_path, "eval", "--tasks", "hostile.t-1", *PARROT, "--run-id", run_id)
    assert out.returncode == 0, out.stdout + out.stderr
    return tmp_path / "results" / run_id


def _edit_plan(run, **changes):
    plan_path = run / "run.json"
    plan = json.loads(plan_path.read_text())
    for key, value in changes.items():
        if key.startswith("options."):
            plan["options"][key.split(".", 1)[1]] = value
        else:
            plan[key] = value
    plan_path.write_text(json.dumps(plan))
    (run / "episodes.jsonl").write_text("")  # so that --resume has an episode to run


def test_a_run_id_in_run_json_that_escapes_is_refused_on_resume(site, tmp_path):  # noqa: F811
    run = _finished_run(site, tmp_path)
    _edit_plan(run, run_id="../../../escaped")
    line = one_error_line(halo(site, tmp_path, "eval", "--resume", "r1"))
    assert "run_id in run.json '../../../escaped' contains '/'" in line and "fix run.json" in line
    _edit_plan(run, run_id="other")
    line = one_error_line(halo(site, tmp_path, "eval", "--resume", "r1"))
    assert "run_id 'other' is not the run folder's name 'r1'" in line
    assert not list(tmp_path.parent.rglob("escaped*"))
    assert not (tmp_path / "data" / "trajectories" / "baseline_worker" / "other").exists()


def test_options_read_back_from_run_json_are_checked_and_the_data_folder_is_said(site, tmp_path):  # noqa: F811
    run = _finished_run(site, tmp_path)
    for value, why in (("bad\x00dir", "is not a folder path"), (17, "is not a folder path")):
        _edit_plan(run, **{"options.data_dir": value})
        assert why in one_error_line(halo(site, tmp_path, "eval", "--resume", "r1"))
    _edit_plan(run, **{"options.data_dir": "data", "options.attempts": -3})
    assert "options.attempts -3 is not a whole number" in one_error_line(halo(site, tmp_path, "eval", "--resume", "r1"))
    elsewhere = tmp_path / "elsewhere"
    _edit_plan(run, **{"options.data_dir": str(elsewhere), "options.attempts": 1})
    out = halo(site, tmp_path, "eval", "--resume", "r1")
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"data folder (from run.json): {elsewhere}" in out.stdout  # followed, but never silently
    assert (elsewhere / "trajectories" / "baseline_worker" / "r1").is_dir()


def test_an_unknown_task_in_run_json_is_one_line(site, tmp_path):  # noqa: F811
    run = _finished_run(site, tmp_path)
    _edit_plan(run, tasks=[{"id": "nosuch.task-1", "suite": "nosuch"}])
    line = one_error_line(halo(site, tmp_path, "eval", "--resume", "r1"))
    assert "names a task this HALO cannot find" in line and "nosuch.task-1" in line
    assert json.loads((run / "run.json").read_text())["tasks"][0]["id"] == "nosuch.task-1"  # nothing rewritten


def test_an_empty_trajectory_file_is_skipped_with_skip_bad_lines(site, tmp_path):  # noqa: F811
    """An episode killed before its first line leaves an empty file: it is named (and the fix
    said) without the flag, and skipped with a warning with it — the other episodes are used."""
    plugins = "hostile,macros"
    out = halo(site, tmp_path, "eval", "--tasks", "hostile.t-1,hostile.t-2", *PARROT, "--run-id", "t1",
               plugins=plugins)
    assert out.returncode == 0, out.stderr
    empty = tmp_path / "data" / "trajectories" / "baseline_worker" / "t1" / "hostile.t-3__attempt_0.jsonl"
    empty.write_bytes(b"")
    for args in (("export", "--out", str(tmp_path / "bc"), "--split", "all"), ("macros", "mine")):
        line = one_error_line(halo(site, tmp_path, *args, plugins=plugins))
        assert "hostile.t-3__attempt_0.jsonl: empty" in line and "--skip-bad-lines" in line, line
        done = halo(site, tmp_path, *args, "--skip-bad-lines", plugins=plugins)
        assert done.returncode == 0, done.stderr
        assert "warning: " in done.stderr and "hostile.t-3__attempt_0.jsonl: empty" in done.stderr
    assert json.loads((tmp_path / "bc" / "summary.json").read_text())["episodes_read"] == 2


def test_a_lock_file_on_a_full_disk_is_one_line_and_the_run_is_kept(site, tmp_path):  # noqa: F811
    """0 bytes free where the run's lock lives (the lock made a link to /dev/full, which answers
    every write with ENOSPC): one line naming the lock and the fix; run.json and the finished
    episodes untouched."""
    run = _finished_run(site, tmp_path)
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file() and p.name != ".lock"}
    (run / ".lock").unlink()
    (run / ".lock").symlink_to("/dev/full")
    for args in (("--resume", "r1"), ("--tasks", "hostile.t-1", *PARROT, "--run-id", "r1")):
        line = one_error_line(halo(site, tmp_path, "eval", *args))
        assert "cannot take the lock of run r1" in line and "No space left on device" in line, line
        assert "pass another --results-dir" in line
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file() and p.name != ".lock"} == before
