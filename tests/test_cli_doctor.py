"""`halo doctor` and `.env` reading: real files, a real HTTP server on 127.0.0.1, secrets never shown."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from halo_core import hookimpl
from halo_core.cli import HaloGroup, load_dotenv
from halo_core.commands.doctor import run_checks
from halo_core.testing import make_runtime

ROOT = Path(__file__).resolve().parents[1]
CANARY = "sk-canary-7f3a9d"


class KeyedBackend:
    @hookimpl
    def halo_register_backends(self, register):
        register("keyed", lambda model, settings: None, description="needs a key (KEYED_API_KEY)",
                 requires="KEYED_API_KEY")


def doctor(runtime, *args, env=None):
    return CliRunner().invoke(HaloGroup(name="halo"), ["doctor", *args], obj={"runtime": runtime},
                              env=env or {})


@pytest.fixture
def models_server():
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            body = b'{"data": [{"id": "qwen"}]}' if self.path == "/v1/models" else b"{}"
            self.send_response(200 if self.path == "/v1/models" else 404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def test_key_presence_is_reported_never_its_value(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runtime = make_runtime(KeyedBackend())
    result = doctor(runtime, env={"KEYED_API_KEY": CANARY, "HALO_VLLM_URL": ""})
    assert "key KEYED_API_KEY: set (for keyed:)" in result.output
    assert CANARY not in result.output
    missing = doctor(runtime, env={"KEYED_API_KEY": "", "HALO_VLLM_URL": ""})
    assert "warn key KEYED_API_KEY: not set" in missing.output and "export KEYED_API_KEY=..." in missing.output


def test_vllm_url_reachable_and_not(models_server, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runtime = make_runtime()
    up = {c.name: c for c in run_checks(runtime, environ={"HALO_VLLM_URL": models_server})}
    assert up["vllm"].ok and models_server in up["vllm"].detail
    down = {c.name: c for c in run_checks(runtime, environ={"HALO_VLLM_URL": "http://127.0.0.1:9/v1"})}
    assert not down["vllm"].ok and down["vllm"].status == "warn" and "HALO_VLLM_URL" in down["vllm"].fix
    assert "vllm" not in {c.name for c in run_checks(runtime, environ={})}


def test_unwritable_data_dir_fails_with_the_fix(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("not a directory")
    result = doctor(make_runtime(), "--dir", "afile/data", "--dir", "fresh/results", env={"HALO_VLLM_URL": ""})
    lines = {ln.split(":")[0]: ln for ln in result.output.splitlines()}
    assert "FAIL dir afile/data" in lines and "--data-dir" in lines["FAIL dir afile/data"]
    assert "ok   dir fresh/results" in lines  # created under a writable parent when needed
    assert result.exit_code == 1 and result.output.strip().splitlines()[-1].startswith("1 required check(s) failed")


def test_every_check_is_one_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    checks = run_checks(make_runtime(KeyedBackend()), environ={})
    names = [c.name for c in checks]
    assert names[:3] == ["python", "chromium", "plugins"] and "dir data" in names and "dir results" in names
    assert all("\n" not in c.detail for c in checks)
    python = checks[0]
    assert python.ok and f"{sys.version_info[0]}.{sys.version_info[1]}" in python.detail


def test_failed_plugin_is_a_warning(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runtime = make_runtime()
    from halo_core.plugins import failed_plugins

    failed_plugins(runtime.pm)["gone"] = "plugin 'gone' failed to load and is skipped: ImportError: no"
    check = next(c for c in run_checks(runtime, environ={}) if c.name == "plugin gone")
    assert check.status == "warn" and "HALO_DISABLE_PLUGINS=gone" in check.fix


def test_dotenv_sets_missing_variables_only(tmp_path):
    path = tmp_path / ".env"
    path.write_text("# keys\nexport ALPHA_API_KEY=from-file\nBETA='quoted value'\nGAMMA=kept # comment\n"
                    "not an assignment\n1BAD=x\nPRESET=from-file\n", encoding="utf-8")
    environ = {"PRESET": "from-shell"}
    assert load_dotenv(path, environ) == ["ALPHA_API_KEY", "BETA", "GAMMA"]
    assert environ == {"PRESET": "from-shell", "ALPHA_API_KEY": "from-file", "BETA": "quoted value",
                       "GAMMA": "kept"}
    assert load_dotenv(tmp_path / "missing.env", environ) == []


def test_cli_reads_dotenv_from_the_working_directory(tmp_path):
    (tmp_path / ".env").write_text(f"OPENAI_API_KEY={CANARY}\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HALO_") and k != "OPENAI_API_KEY"}
    env["PYTHONPATH"] = str(ROOT)
    out = subprocess.run([sys.executable, "-m", "halo_core.cli", "doctor"], capture_output=True, text=True,
                         cwd=tmp_path, env=env, timeout=120)
    assert "key OPENAI_API_KEY: set" in out.stdout, out.stdout + out.stderr
    assert CANARY not in out.stdout + out.stderr
    shell = subprocess.run([sys.executable, "-m", "halo_core.cli", "doctor"], capture_output=True, text=True,
                           cwd=tmp_path, env={**env, "OPENAI_API_KEY": ""}, timeout=120)
    assert "key OPENAI_API_KEY: not set" in shell.stdout  # a variable already set (even empty) wins


def _halo_commands_named_in(text: str) -> list[list[str]]:
    """The words after ``halo`` in each `` `halo ...` `` (backticks) or ``halo <word>`` of ``text``."""
    named = re.findall(r"`halo ([^`]*)`", text) + re.findall(r"(?<![\w`/-])halo ([a-z][\w-]*)", text)
    return [phrase.split() for phrase in named]


def _resolve(group: click.Group, ctx: click.Context, words: list[str]) -> str | None:
    """None when ``halo <words>`` names real (sub)commands; else the first word that is not one."""
    command = group
    for word in words:
        if not isinstance(command, click.Group) or not re.fullmatch(r"[a-z][\w-]*", word):
            return None  # the rest are options and arguments
        command = command.get_command(ctx, word)
        if command is None:
            return word
    return None


def test_doctor_suggests_only_halo_commands_that_exist(tmp_path, monkeypatch):
    """Every check failing at once (and every fix string in the module): each `halo ...` it names is real."""
    import halo_core.commands.doctor as doctor_module
    import halo_core.env.chromium as chromium
    from halo_core.plugins import failed_plugins
    from halo_core.runtime import Runtime

    def no_chromium():
        raise RuntimeError("no Chromium here; install one")

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(chromium, "find_chromium", no_chromium)
    monkeypatch.setattr(doctor_module, "MIN_PYTHON", (99, 0))
    (tmp_path / "afile").write_text("not a directory")
    runtime = Runtime()  # every installed plugin, so their commands count as real
    failed_plugins(runtime.pm)["gone"] = "plugin 'gone' failed to load and is skipped: ImportError: no"
    checks = run_checks(runtime, dirs=("afile/data",), environ={"HALO_VLLM_URL": "http://127.0.0.1:9/v1"})
    failing = [c for c in checks if not c.ok]
    assert {"python", "chromium", "plugin gone", "vllm", "dir afile/data"} <= {c.name for c in failing}
    assert all(c.fix for c in failing), [c.name for c in failing if not c.fix]

    group = HaloGroup(name="halo")
    ctx = click.Context(group, obj={"runtime": runtime})
    assert _resolve(group, ctx, ["serve"]) == "serve" and _resolve(group, ctx, ["doctor"]) is None  # it can fail
    texts = [c.fix for c in failing] + [Path(doctor_module.__file__).read_text(encoding="utf-8")]
    named = [words for text in texts for words in _halo_commands_named_in(text)]
    unknown = {" ".join(words): bad for words in named if (bad := _resolve(group, ctx, words))}
    assert not unknown, f"halo doctor suggests commands that do not exist: {unknown}"


def test_dotenv_files_are_ignored_by_git():
    # `.env` holds API keys (read at start, above): it must never be committed, in any folder
    assert ".env" in (ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()
    if (ROOT / ".git").exists() and shutil.which("git"):
        for path in (".env", "plugins/some_plugin/.env"):
            done = subprocess.run(["git", "check-ignore", "-q", "--no-index", path], cwd=ROOT, timeout=60)
            assert done.returncode == 0, f"git does not ignore {path}"
