"""The eval scripts are generated from one template, and the committed ones are exactly that."""

import subprocess
import sys

import pytest

from halo_plugin_webclones import gen_evals
from halo_plugin_webclones.tasks import EVAL_SCRIPTS_DIR, list_tasks, run_eval_script


def test_committed_scripts_are_byte_identical_to_the_generated_ones(tmp_path):
    assert gen_evals.write_scripts(tmp_path) == sorted(p.name for p in tmp_path.glob("eval_*.py"))
    committed = {p.name: p.read_bytes() for p in EVAL_SCRIPTS_DIR.glob("eval_*.py")}
    generated = {p.name: p.read_bytes() for p in tmp_path.glob("eval_*.py")}
    assert len(generated) == len(list_tasks()) == 36
    assert committed == generated, "run `python -m halo_plugin_webclones.gen_evals` and commit eval_scripts/"
    assert gen_evals.stale_scripts() == []


def test_check_mode_names_a_hand_edited_script_and_generation_repairs_it(tmp_path):
    gen_evals.write_scripts(tmp_path)
    edited = tmp_path / "eval_mail_2.py"
    edited.write_text(edited.read_text().replace('"daniel kim"', '"someone else"'))
    (tmp_path / "eval_mail_99.py").write_text("print('SUCCESS')\n")
    cmd = [sys.executable, "-m", "halo_plugin_webclones.gen_evals", "--out", str(tmp_path)]
    check = subprocess.run(cmd + ["--check"], capture_output=True, text=True)
    assert check.returncode == 1
    assert "eval_mail_2.py: not as generated" in check.stderr and "eval_mail_99.py" in check.stderr
    assert "eval_mail_3.py" not in check.stderr
    fix = subprocess.run(cmd, capture_output=True, text=True)
    assert fix.returncode == 0 and "2 script(s) written" in fix.stdout
    assert not (tmp_path / "eval_mail_99.py").exists()
    assert subprocess.run(cmd + ["--check"], capture_output=True).returncode == 0


def test_a_generated_script_is_self_contained_and_carries_its_task(tmp_path):
    text = gen_evals.render("mail-2")
    assert text.startswith("import json\nimport re\nimport sys\n\n# mail-2: Who sent me the email about the Q3 budget?\n")
    assert "halo_plugin_webclones" not in text.replace("halo_plugin_webclones.gen_evals", "")
    assert "NotImplementedError" not in text and "#@" not in text and "$task_id" not in text
    assert "def new_emails(" in text and "def new_orders(" not in text  # only its own site's helpers
    # it runs with nothing but the interpreter, outside the package
    script = tmp_path / "eval_mail_2.py"
    script.write_text(text)
    (tmp_path / "state.json").write_text('{"model_response": "Daniel Kim", "infeasible": false}')
    out = subprocess.run([sys.executable, "-I", str(script), str(tmp_path / "state.json")], capture_output=True, text=True)
    assert out.stdout.strip() == "SUCCESS", out.stderr


def test_a_task_without_a_check_or_a_check_without_a_task_is_one_clear_error(monkeypatch, tmp_path):
    source = gen_evals.CHECKS_PATH.read_text()
    checks = tmp_path / "_eval_checks.py"
    monkeypatch.setattr(gen_evals, "CHECKS_PATH", checks)
    checks.write_text(source.replace("def mail_2(data):", "def mail_two(data):"))
    with pytest.raises(gen_evals.GenerationError, match=r"task mail-2 has no check: add 'def mail_2\(data\):'"):
        gen_evals.render_all()
    checks.write_text(source + "\n\ndef mail_99(data):\n    return False\n")
    with pytest.raises(gen_evals.GenerationError, match="checks for no task: mail_99"):
        gen_evals.render_all()


def test_the_checks_module_imports_and_matches_the_scripts():
    """The checks are ordinary functions over the template's helpers, so they can be called
    in-process; they agree with the generated scripts on an untouched site."""
    from halo_plugin_webclones import _eval_checks

    for task in list_tasks():
        fn = getattr(_eval_checks, gen_evals.check_name(task["id"]))
        assert fn({}) is False
        assert run_eval_script(task, {}) is False
