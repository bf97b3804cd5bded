"""A hostile world, command-line side: concurrent writers, forged text, leaked keys, escaping
names, damaged stores, unwritable and full disks, and config mistakes.

Every test performs the attack on the real command line (``python -m halo_core.cli`` in a
subprocess) against a small third-party plugin package installed into a private folder:
suite ``hostile`` (in-memory sites whose goal and titles hold markup), backend
``parrot:`` (answers ``HALO_PARROT_REPLY``, the "model" an attacker controls) and policy
``raiser`` (an episode error whose message is that reply).
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import CANARY, FORGED, HALO, build_hostile, halo
from helpers import hostile_env as _env

from halo_core.evaluation.store import ResultsStore, read_jsonl
from halo_core.testing import within


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    return build_hostile(tmp_path_factory.mktemp("hostile"))


PARROT = ("--worker-backend", "parrot:m")


def one_error_line(out) -> str:
    """The whole stderr of a refused command: one ``error:`` line, no traceback."""
    assert out.returncode != 0, out.stdout
    assert "Traceback" not in out.stderr, out.stderr
    lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), out.stderr
    return lines[0]


def whole_lines(path: Path) -> list[dict]:
    data = path.read_bytes()
    assert not data or data.endswith(b"\n"), f"{path} ends without a newline"
    return [json.loads(line) for line in data.splitlines()]


# --------------------------------------------------------------------------- one writer per run


def test_a_second_writer_of_a_run_is_refused_and_the_run_stays_intact(site, tmp_path):
    tasks = ",".join(f"hostile.t-{i}" for i in range(1, 9))
    first = subprocess.Popen([*HALO, "eval", "--tasks", tasks, *PARROT, "--workers", "1", "--run-id", "r1",
                              "--attempts", "4"],
                             cwd=tmp_path, env=_env(site, HALO_PARROT_SLEEP=str(within(0.5))), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    episodes = tmp_path / "results" / "r1" / "episodes.jsonl"
    try:
        deadline = time.monotonic() + 120
        while not (episodes.exists() and episodes.read_bytes().count(b"\n") >= 1):
            assert first.poll() is None and time.monotonic() < deadline, "the run ended before the second writer came"
            time.sleep(0.05)
        resume = halo(site, tmp_path, "eval", "--resume", "r1", *PARROT)
        again = halo(site, tmp_path, "eval", "--tasks", tasks, *PARROT, "--run-id", "r1")
        assert first.poll() is None, "the first run should still be writing"
    finally:
        out, errs = first.communicate(timeout=300)
    expected = f"error: run r1 is being written by pid {first.pid}; wait for it or pick another --run-id"
    assert one_error_line(resume) == expected
    assert one_error_line(again) == expected
    assert first.returncode == 0, errs
    records = whole_lines(episodes)
    keys = [(r["task"], r["attempt"]) for r in records]
    assert sorted(keys) == sorted((t, a) for t in tasks.split(",") for a in range(4))  # each episode exactly once
    assert all(r["success"] for r in records)
    for path in (tmp_path / "data" / "trajectories" / "baseline_worker" / "r1").glob("*.jsonl"):
        assert [e["type"] for e in whole_lines(path)].count("episode_start") == 1
    # the lock goes with its process: the finished run resumes (nothing left to run)
    later = halo(site, tmp_path, "eval", "--resume", "r1", *PARROT)
    assert later.returncode == 0, later.stderr
    assert "32 episode(s) were already finished, 0 ran now" in later.stdout


def test_the_lock_names_its_holder_and_dies_with_it(tmp_path):
    store = ResultsStore(tmp_path, "held")
    store.lock()
    assert (tmp_path / "held" / ".lock").read_text().strip() == str(os.getpid())
    code = ("import sys\nfrom halo_core.evaluation.store import ResultsStore, RunBusy\n"
            f"try:\n    ResultsStore({str(tmp_path)!r}, 'held').lock()\nexcept RunBusy as e:\n    print(e)\n"
            "    sys.exit(3)\n")
    busy = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert busy.returncode == 3 and f"being written by pid {os.getpid()}" in busy.stdout
    store.unlock()
    free = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert free.returncode == 0, free.stdout


def test_files_readers_open_are_replaced_whole(tmp_path):
    from halo_core.evaluation.store import atomic_write_text

    target = tmp_path / "run.json"
    atomic_write_text(target, "old")
    before = set(tmp_path.iterdir())

    class Boom(Exception):
        pass

    class Exploding(str):
        def encode(self, *a):
            raise Boom()

    with pytest.raises(Boom):
        atomic_write_text(target, Exploding("new"))
    assert target.read_text() == "old" and set(tmp_path.iterdir()) == before  # no temp file left behind


# --------------------------------------------------------------------------- forged text on the console


def test_markup_and_emoji_in_a_model_reply_print_verbatim_in_halo_run(site, tmp_path):
    out = halo(site, tmp_path, "run", "hostile.t-1", *PARROT, "--run-id", "m1", FORCE_COLOR="1")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS" in out.stdout and "ended_by=message" in out.stdout
    assert f"message: {FORGED}" in out.stdout  # as the model wrote it: no markup applied, no emoji
    assert "Say [bold red]hello[/] :x:" in out.stdout  # the task's goal too
    assert "❌" not in out.stdout
    trajectory = tmp_path / "data" / "trajectories" / "baseline_worker" / "m1" / "hostile.t-1__attempt_0.jsonl"
    end = whole_lines(trajectory)[-1]
    assert end["terminated_by"] == "message" and end["success"] is True


def test_markup_in_replies_and_errors_cannot_abort_halo_eval_on_a_terminal(site, tmp_path):
    out = halo(site, tmp_path, "eval", "--tasks", "hostile.t-1,hostile.t-2", *PARROT, "--workers", "1",
               "--run-id", "e1", "--debug", FORCE_COLOR="1")
    assert out.returncode == 0, out.stdout + out.stderr
    assert FORGED in out.stdout and "❌" not in out.stdout
    assert all(r["success"] and r["terminated_by"] == "message"
               for r in read_jsonl(tmp_path / "results" / "e1" / "episodes.jsonl"))
    # an error whose text is markup goes through the live progress bar's console
    out = halo(site, tmp_path, "eval", "--tasks", "hostile.t-1,hostile.t-2", "--policy", "raiser", "--workers", "1",
               "--run-id", "e2", "--allow-errors", FORCE_COLOR="1", HALO_PARROT_REPLY=FORGED)
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"RuntimeError: {FORGED}" in out.stdout and "❌" not in out.stdout
    records = read_jsonl(tmp_path / "results" / "e2" / "episodes.jsonl")
    assert len(records) == 2 and all(FORGED in r["error"] for r in records)
    assert out.stdout.strip().splitlines()[-1].startswith("errors: 2 episode(s)")


def test_the_live_progress_prints_errors_as_written(monkeypatch):
    monkeypatch.setenv("HOSTILE_API_KEY", CANARY)
    from halo_core.cli import HaloConsole
    from halo_core.evaluation.progress import RunProgress

    console = HaloConsole(file=io.StringIO(), force_terminal=True, width=300)
    with RunProgress(1, console=console) as progress:
        progress.update({"task": "t[/]", "mode": "m", "attempt": 0, "terminated_by": "error",
                         "error": f"{FORGED} {CANARY}"})
    text = console.file.getvalue()
    assert f"t[/] m #0: {FORGED}" in text and CANARY not in text and "❌" not in text


# --------------------------------------------------------------------------- secrets on the console


def test_an_echoed_key_never_reaches_the_console(site, tmp_path):
    run = halo(site, tmp_path, "run", "hostile.t-1", *PARROT, "--run-id", "k1")
    assert run.returncode == 0, run.stderr
    assert "[REDACTED]" in run.stdout
    debug = halo(site, tmp_path, "eval", "--tasks", "hostile.t-1", *PARROT, "--run-id", "k2", "--debug")
    assert debug.returncode == 0, debug.stderr
    assert "[REDACTED]" in debug.stdout
    for out in (run, debug):
        assert CANARY not in out.stdout + out.stderr
    for path in (tmp_path / "data").rglob("*.jsonl"):
        assert CANARY not in path.read_text()


def test_url_credentials_are_masked_in_errors_and_doctor(site, tmp_path):
    url = "http://halo-user:hunter2-secret@127.0.0.1:9/v1"
    out = halo(site, tmp_path, "run", "hostile.t-1", "--worker-backend", "vllm:tiny", plugins="hostile,qwen",
               HALO_VLLM_URL=url)
    line = one_error_line(out)
    assert "hunter2-secret" not in line and "halo-user" not in line and "http://***@127.0.0.1:9/v1" in line
    doctor = halo(site, tmp_path, "doctor", "--dir", str(tmp_path), plugins="hostile", HALO_VLLM_URL=url)
    assert "hunter2-secret" not in doctor.stdout + doctor.stderr and "***@127.0.0.1" in doctor.stdout


# --------------------------------------------------------------------------- names that become paths


BAD_NAMES = ["../../../escape", "/abs/path", "a/b", "..", ".hidden", "x" * 101, "sp ace"]


RUN_ID_COMMANDS = (("eval", "--tasks", "hostile.t-1", *PARROT, "--run-id"), ("eval", "--resume"),
                   ("rollouts", "--tasks", "hostile.t-1", *PARROT, "--run-id"),
                   ("run", "hostile.t-1", *PARROT, "--run-id"))


def _refused_run_id(line: str, args: tuple[str, ...]) -> None:
    assert line.startswith(f"error: --{'resume' if '--resume' in args else 'run-id'} "), line
    assert "use letters, digits, '-', '_' and '.' (not first)" in line, line


@pytest.mark.parametrize("name", BAD_NAMES)
def test_run_ids_that_are_not_one_folder_name_are_refused(site, tmp_path, monkeypatch, name):
    """Every command taking a run id, every bad name: refused before anything is written (in-process;
    the next test does two of them through the real command line)."""
    from click.testing import CliRunner

    from halo_core.cli import HaloGroup
    from halo_core.testing import make_runtime

    monkeypatch.syspath_prepend(str(site))
    import halo_hostile

    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    runtime = make_runtime(halo_hostile)
    for command in RUN_ID_COMMANDS:
        args = (*command, name)
        result = CliRunner().invoke(HaloGroup(name="halo"), list(args), obj={"runtime": runtime},
                                    env={"HALO_NO_DOTENV": "1", "COLUMNS": "400"})
        assert result.exit_code == 1, (args, result.output, result.exception)
        (line,) = [ln for ln in result.stderr.splitlines() if ln.strip()]
        _refused_run_id(line, args)
    assert list(work.iterdir()) == [] and sorted(p.name for p in tmp_path.iterdir()) == ["work"]


@pytest.mark.parametrize("command,name", [(RUN_ID_COMMANDS[0], "../../../escape"), (RUN_ID_COMMANDS[3], "/abs/path")])
def test_run_ids_are_refused_by_the_real_command_line(site, tmp_path, command, name):
    work = tmp_path / "work"
    work.mkdir()
    args = (*command, name)
    _refused_run_id(one_error_line(halo(site, work, *args)), args)
    assert list(work.iterdir()) == [] and sorted(p.name for p in tmp_path.iterdir()) == ["work"]


def test_mode_and_experiment_names_that_are_not_one_folder_name_are_refused(site, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    line = one_error_line(halo(site, work, "eval", "--tasks", "hostile.t-1", *PARROT, "--mode", "../../x"))
    assert line.startswith("error: --mode '../../x' contains '/'")
    config = tmp_path / "experiments.json"
    for name, why in (("../../x", "contains '/'"), ("a\x00b", "contains '\\x00'"), (".x", "starts with '.'")):
        config.write_text(json.dumps({"experiments": {name: {"worker_backend": "parrot:m"}}}))
        for args in (("eval", "--tasks", "hostile.t-1", "--config", str(config), "--all-modes"),
                     ("eval", "--tasks", "hostile.t-1", "--config", str(config), "--experiment", name),
                     ("run", "hostile.t-1", "--config", str(config), "--experiment", name)):
            if "\x00" in name and "--experiment" in args:
                continue  # no command line can carry a NUL; the file can
            line = one_error_line(halo(site, work, *args))
            assert why in line and "use letters, digits" in line, line
    assert list(work.iterdir()) == []


def test_a_plan_edited_to_escape_is_refused_on_resume(site, tmp_path):
    assert halo(site, tmp_path, "eval", "--tasks", "hostile.t-1", *PARROT, "--run-id", "p1").returncode == 0
    plan_path = tmp_path / "results" / "p1" / "run.json"
    plan = json.loads(plan_path.read_text())
    plan["modes"]["../../../x"] = plan["modes"].pop("baseline_worker")
    plan_path.write_text(json.dumps(plan))
    (tmp_path / "results" / "p1" / "episodes.jsonl").write_text("")
    line = one_error_line(halo(site, tmp_path, "eval", "--resume", "p1"))
    assert "mode in run.json '../../../x' contains '/'" in line
    assert not (tmp_path.parent / "x").exists()


# --------------------------------------------------------------------------- --data-dir moves every store


def test_data_dir_moves_every_store(site, tmp_path):
    store = tmp_path / "elsewhere"
    common = ("--mode", "hierarchy_vac_macros", *PARROT, "--manager-backend", "none", "--data-dir", str(store))
    plugins = "hostile,vac,macros"
    run = halo(site, tmp_path, "run", "hostile.t-1", *common, "--run-id", "d1", plugins=plugins)
    assert run.returncode == 0, run.stdout + run.stderr
    ev = halo(site, tmp_path, "eval", "--tasks", "hostile.t-1,hostile.t-2", *common, "--run-id", "d2",
              plugins=plugins)
    assert ev.returncode == 0, ev.stdout + ev.stderr
    mine = halo(site, tmp_path, "macros", "mine", "--data-dir", str(store), plugins=plugins)
    assert mine.returncode == 0, mine.stderr
    listed = halo(site, tmp_path, "macros", "list", "--data-dir", str(store), plugins=plugins)
    assert listed.returncode == 0, listed.stderr
    assert not (tmp_path / "data").exists(), sorted(str(p) for p in (tmp_path / "data").rglob("*"))
    assert (store / "trajectories" / "hierarchy_vac_macros" / "d2").is_dir()
    assert (store / "cache" / "hierarchy_vac_macros" / "d1" / "vac.sqlite").exists()
    assert (store / "cache" / "macros.json").exists()


# --------------------------------------------------------------------------- damaged stores


def test_a_damaged_run_json_is_one_line_naming_it(site, tmp_path):
    assert halo(site, tmp_path, "eval", "--tasks", "hostile.t-1", *PARROT, "--run-id", "c1").returncode == 0
    plan = tmp_path / "results" / "c1" / "run.json"
    for damage in ('{"kind": "eval", "run_', '[1, 2]', '{"kind": "eval", "run_id": "c1"}', "\xff\xfe"):
        plan.write_bytes(damage.encode("latin-1"))
        line = one_error_line(halo(site, tmp_path, "eval", "--resume", "c1"))
        assert f"{Path('results') / 'c1' / 'run.json'} is damaged" in line and "start a new run" in line
    assert len(read_jsonl(tmp_path / "results" / "c1" / "episodes.jsonl")) == 1  # the finished episode is kept


def test_a_bad_line_in_episodes_is_set_aside_and_its_episode_runs_again(site, tmp_path):
    tasks = "hostile.t-1,hostile.t-2,hostile.t-3"
    assert halo(site, tmp_path, "eval", "--tasks", tasks, *PARROT, "--run-id", "b1").returncode == 0
    episodes = tmp_path / "results" / "b1" / "episodes.jsonl"
    lines = episodes.read_bytes().splitlines(keepends=True)
    damaged = b'{"task": "hostile.t-2", "mode": "baseline_worker", "att\x00\xff garbage\n'
    episodes.write_bytes(lines[0] + damaged + lines[2] + b'"just a string"\n')
    out = halo(site, tmp_path, "eval", "--resume", "b1", *PARROT)
    assert out.returncode == 0, out.stderr
    warnings = [ln for ln in out.stderr.splitlines() if ln.strip()]
    assert warnings == [f"warning: {Path('results') / 'b1' / 'episodes.jsonl'}: 2 unreadable line(s) ignored "
                        "(kept in episodes.jsonl.damaged)"], out.stderr
    assert "resumed: 2 episode(s) were already finished, 1 ran now" in out.stdout
    records = whole_lines(episodes)
    assert sorted(r["task"] for r in records) == tasks.split(",")
    assert (episodes.parent / "episodes.jsonl.damaged").read_bytes() == damaged + b'"just a string"\n'


def test_damaged_trajectories_stop_readers_with_the_fix(site, tmp_path):
    plugins = "hostile,macros"
    assert halo(site, tmp_path, "eval", "--tasks", "hostile.t-1,hostile.t-2", *PARROT, "--run-id", "t1",
                plugins=plugins).returncode == 0
    trajectory = tmp_path / "data" / "trajectories" / "baseline_worker" / "t1" / "hostile.t-1__attempt_0.jsonl"
    lines = trajectory.read_bytes().splitlines(keepends=True)
    trajectory.write_bytes(lines[0] + b'{"type": "step", "act\n' + b"".join(lines[1:]))
    for args in (("export", "--out", str(tmp_path / "bc"), "--split", "all"),
                 ("macros", "mine")):
        line = one_error_line(halo(site, tmp_path, *args, plugins=plugins))
        assert "hostile.t-1__attempt_0.jsonl:2" in line and "--skip-bad-lines" in line, line
    mined = halo(site, tmp_path, "macros", "mine", "--skip-bad-lines", plugins=plugins)
    assert mined.returncode == 0, mined.stderr


def test_a_damaged_macro_library_is_named_and_set_aside(site, tmp_path):
    library = tmp_path / "data" / "cache" / "macros.json"
    library.parent.mkdir(parents=True)
    library.write_text('{"version": 1, "macros": [{"id": "m1", ')
    line = one_error_line(halo(site, tmp_path, "macros", "list", plugins="hostile,macros"))
    assert f"{Path('data') / 'cache' / 'macros.json'} is damaged" in line and "halo macros mine" in line
    # an episode is not failed by it: the library is moved aside, the run goes on without macros
    out = halo(site, tmp_path, "run", "hostile.t-1", "--mode", "hierarchy_vac_macros", *PARROT,
               "--manager-backend", "none", plugins="hostile,vac,macros")
    assert out.returncode == 0 and "SUCCESS" in out.stdout, out.stdout + out.stderr
    aside = list(library.parent.glob("macros.json.corrupt-*"))
    assert len(aside) == 1 and aside[0].read_text().startswith('{"version": 1')
    assert not library.exists()


# --------------------------------------------------------------------------- unwritable and full disks


def _mount_tmpfs(path: Path, options: str) -> bool:
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        return False
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True)
    return done.returncode == 0


@pytest.fixture
def read_only_dir(tmp_path):
    path = tmp_path / "ro"
    if _mount_tmpfs(path, "ro,size=64k"):
        yield path
        subprocess.run(["umount", str(path)], check=False)
    elif os.geteuid() != 0:
        path.chmod(0o555)
        yield path
        path.chmod(0o755)
    else:
        pytest.skip("root without mount: no way to make a folder read-only here")


def test_read_only_folders_are_refused_before_any_episode(site, tmp_path, read_only_dir):
    (tmp_path / "w").mkdir()
    for args, flag in ((("eval", "--tasks", "hostile.t-1", *PARROT, "--results-dir", str(read_only_dir)),
                        "--results-dir"),
                       (("eval", "--tasks", "hostile.t-1", *PARROT, "--data-dir", str(read_only_dir / "data")),
                        "--data-dir"),
                       (("run", "hostile.t-1", *PARROT, "--data-dir", str(read_only_dir)), "--data-dir")):
        line = one_error_line(halo(site, tmp_path / "w", *args))
        assert line.startswith(f"error: {'cannot create ' if 'data' in args[-1] else ''}{flag} "), line
        assert "pass a folder you can write to" in line
    assert not (tmp_path / "w" / "results").exists() or not any((tmp_path / "w" / "results").iterdir())


def test_a_full_disk_stops_the_run_cleanly_keeping_what_finished(site, tmp_path):
    disk = tmp_path / "disk"
    if not _mount_tmpfs(disk, "size=48k"):
        pytest.skip("needs root and tmpfs for a small disk")
    try:
        tasks = ",".join(f"hostile.t-{i}" for i in range(1, 9))
        out = halo(site, tmp_path, "eval", "--tasks", tasks, *PARROT, "--workers", "1", "--run-id", "f1",
                   "--attempts", "20", "--results-dir", str(disk / "results"), "--data-dir", str(disk / "data"))
        assert out.returncode == 1, out.stdout + out.stderr
        line = one_error_line(out)
        assert line.startswith("error: run stopped: ") and "No space left on device" in line
        assert f"--resume f1 --results-dir {disk / 'results'}" in line
        records = whole_lines(disk / "results" / "f1" / "episodes.jsonl")
        assert 0 < len(records) < 160
        assert all(r["success"] and r["terminated_by"] == "message" for r in records)  # no "every episode errored"
        for r in records:
            assert whole_lines(Path(r["trajectory"]))[-1]["type"] == "episode_end"
    finally:
        subprocess.run(["umount", str(disk)], check=False)


# --------------------------------------------------------------------------- config mistakes


def test_config_mistakes_are_one_line_before_anything_starts(site, tmp_path):
    out = halo(site, tmp_path, "run", "hostile.t-1", *PARROT, "--max-steps", "0")
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "Invalid value for '--max-steps': 0 is not in the range x>=1" in out.stderr
    line = one_error_line(halo(site, tmp_path, "run", "hostile.t-1", *PARROT, "--set", "max_steps=0"))
    assert "max_steps=0 is not allowed" in line
    latin = tmp_path / "latin1.yaml"
    latin.write_bytes("experiments:\n  x:\n    description: caf\xe9\n".encode("latin-1"))
    for command in (("run", "hostile.t-1"), ("eval", "--tasks", "hostile.t-1", "--all-modes")):
        line = one_error_line(halo(site, tmp_path, *command, *PARROT, "--config", str(latin)))
        assert "not UTF-8 text" in line
    out = halo(site, tmp_path, "eval", "--tasks", "hostile.t-1", *PARROT, "--config", str(tmp_path))
    assert out.returncode == 2 and "Traceback" not in out.stderr and "is a directory" in out.stderr
    assert not (tmp_path / "results").exists() and not (tmp_path / "data").exists()
