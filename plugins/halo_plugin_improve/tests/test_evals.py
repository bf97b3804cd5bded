"""Evals from feedback, and the gate: the same suite passes the good run and fails the bad one."""

from __future__ import annotations

import json
import shutil
import subprocess
from xml.etree import ElementTree as ET

import pytest
from click.testing import CliRunner

from halo_core.cli import cli
from halo_plugin_traces import add_feedback

from halo_plugin_improve import load_suite
from halo_plugin_improve._suite import checks_from_item

@pytest.mark.parametrize("item, prohibited, expected", [
    ('answer contains "42"', False, ("answer_contains", "42")),
    ('never say "41"', True, ("answer_excludes", "41")),
    ("answer 42", False, ("answer_contains", "42")),
    ("within 6 steps", False, ("max_steps", 6)),
    ("more than 10 steps", True, ("max_steps", 10)),
    ("action report_infeasible", True, ("actions_avoid", "report_infeasible")),
    ("click('99')", True, ("actions_avoid", "click('99')")),
    ('open the "price" page', False, ("visits", "price")),
    ('end on "Order confirmed"', False, ("ends_on", "Order confirmed")),
    ("succeed", False, ("task_success", None)),
    ("guess the price", True, ("rubric", "The agent must not: guess the price")),
])
def test_feedback_wording_becomes_a_check(item, prohibited, expected):
    assert checks_from_item(item, prohibited=prohibited) == expected


def _generate(run, out):
    result = CliRunner().invoke(cli, ["evals", "generate", str(run), "--out", str(out)])
    assert result.exit_code == 0, result.output
    return result


def test_generated_suite_gates_two_runs(runs, price_feedback, tmp_path):
    add_feedback(runs["bad"], **price_feedback, author="reviewer")
    add_feedback(runs["bad"], task="graph.shop-buy", attempt=0, mode="baseline_worker", text="fine",
                 required=["succeed", 'end on "Thanks"'], source="model:openai:judge", verdict="pass")
    suite_path = tmp_path / "evals.yaml"
    shown = _generate(runs["bad"], suite_path)
    assert "v1: 8 evals (7 deterministic, 1 model-graded)" in shown.output
    suite = load_suite(suite_path)
    kinds = sorted(e.kind for e in suite.evals)
    assert kinds == ["actions_avoid", "answer_contains", "answer_excludes", "ends_on", "max_steps", "rubric",
                     "task_success", "visits"]
    for e in suite.evals:  # every eval names the feedback it came from
        assert e.sources and e.sources[0]["feedback_id"] and e.sources[0]["item"]
    assert {s["source"] for e in suite.evals for s in e.sources} == {"human", "model:openai:judge"}

    good = CliRunner().invoke(cli, ["evals", "run", str(suite_path), "--run", str(runs["good"]),
                                    "--junit", str(tmp_path / "good.xml"), "--json", str(tmp_path / "good.json")])
    assert good.exit_code == 0, good.output
    assert "7 passed, 0 failed, 1 skipped" in good.output

    bad = CliRunner().invoke(cli, ["evals", "run", str(suite_path), "--run", str(runs["bad"]),
                                   "--junit", str(tmp_path / "bad.xml"), "--json", str(tmp_path / "bad.json")])
    assert bad.exit_code == 1, bad.output
    failed = {o["kind"] for o in json.loads((tmp_path / "bad.json").read_text())["evals"] if o["status"] == "fail"}
    assert failed == {"answer_contains", "answer_excludes", "visits", "actions_avoid"}
    assert "FAIL graph.shop-price/actions_avoid/" in bad.output and "step 1: noop()" in bad.output

    xml = ET.parse(tmp_path / "bad.xml").getroot()
    suite_el = xml.find("testsuite")
    assert suite_el.get("tests") == "8" and suite_el.get("failures") == "4" and suite_el.get("skipped") == "1"
    failures = [tc for tc in suite_el.findall("testcase") if tc.find("failure") is not None]
    assert {tc.find("failure").get("type") for tc in failures} == failed
    assert all("from human feedback" in tc.find("failure").text for tc in failures)
    # --strict turns the skipped rubric into a failure
    strict = CliRunner().invoke(cli, ["evals", "run", str(suite_path), "--run", str(runs["good"]), "--strict",
                                      "--junit", str(tmp_path / "s.xml"), "--json", str(tmp_path / "s.json")])
    assert strict.exit_code == 1


def test_rubric_evals_are_graded_by_a_model_over_the_chat_completions_wire(runs, price_feedback, tmp_path,
                                                                          monkeypatch):
    """``--grader``: each rubric eval is one Chat Completions call per episode; the grader's
    verdict decides, a reply without a boolean "pass" is an error naming the episode."""
    from halo_core.loopback import OpenAICompatibleLoopback, last_user_text

    monkeypatch.setenv("OPENAI_API_KEY", "sk-grader-key")
    add_feedback(runs["bad"], **price_feedback)
    suite_path = tmp_path / "evals.yaml"
    _generate(runs["bad"], suite_path)
    rubric = next(e for e in load_suite(suite_path).evals if e.kind == "rubric")

    def grade(body: dict) -> str:
        text = last_user_text(body)
        assert 'Criterion (from feedback):\n<untrusted source="feedback">\nThe agent must not: guess the price' in text
        guessed = "Final answer: 'It costs 41'" in text
        return json.dumps({"pass": not guessed, "reason": "answered 41 unread" if guessed else "read the list"})

    outcomes = {}
    with OpenAICompatibleLoopback(grade, key="sk-grader-key") as server:
        for name, run in runs.items():
            result = CliRunner().invoke(cli, ["evals", "run", str(suite_path), "--run", str(run), "--grader",
                                              "openai:grader-small", "--base-url", server.url,
                                              "--json", str(tmp_path / f"g-{name}.json"),
                                              "--junit", str(tmp_path / f"g-{name}.xml")])
            outcomes[name] = {o["id"]: o for o in json.loads((tmp_path / f"g-{name}.json").read_text())["evals"]}
            assert "sk-grader-key" not in result.output
        assert len(server.requests) == 2  # one rubric, one price episode per run
        assert server.requests[0]["body"]["model"] == "grader-small"
    assert outcomes["good"][rubric.id]["status"] == "pass"
    assert outcomes["bad"][rubric.id]["status"] == "fail"
    assert "answered 41 unread" in json.dumps(outcomes["bad"][rubric.id])

    with OpenAICompatibleLoopback(lambda body: "I would say it passes.", key="sk-grader-key") as server:
        result = CliRunner().invoke(cli, ["evals", "run", str(suite_path), "--run", str(runs["good"]), "--grader",
                                          "openai:grader-small", "--base-url", server.url,
                                          "--json", str(tmp_path / "e.json"), "--junit", str(tmp_path / "e.xml")])
    assert result.exit_code == 1
    errored = {o["id"]: o for o in json.loads((tmp_path / "e.json").read_text())["evals"]}[rubric.id]
    assert errored["status"] == "error" and "grader failed" in json.dumps(errored)


def test_regeneration_versions_the_suite(runs, price_feedback, tmp_path):
    add_feedback(runs["bad"], **price_feedback)
    path = tmp_path / "evals.json"
    _generate(runs["bad"], path)
    assert load_suite(path).version == 1
    _generate(runs["bad"], path)
    assert load_suite(path).version == 1  # same evals, same version
    add_feedback(runs["bad"], task="graph.shop-buy", attempt=0, mode="baseline_worker", text="x", required=["succeed"])
    _generate(runs["bad"], path)
    assert load_suite(path).version == 2


def test_bad_suite_files_and_empty_feedback_are_one_clear_line(runs, tmp_path):
    empty = CliRunner().invoke(cli, ["evals", "generate", str(runs["good"])])
    assert empty.exit_code == 1 and "holds no feedback" in empty.output
    bad = tmp_path / "x.yaml"
    bad.write_text("evals: [1, 2]\n")
    result = CliRunner().invoke(cli, ["evals", "run", str(bad), "--run", str(runs["good"])])
    assert result.exit_code == 1 and "not a HALO eval suite" in result.output
    bad.write_text("halo_eval_suite: 1\nevals:\n  - {id: a, task: t, kind: answer_has, value: x}\n")
    result = CliRunner().invoke(cli, ["evals", "run", str(bad), "--run", str(runs["good"])])
    assert "unknown eval kind 'answer_has'" in result.output


@pytest.mark.skipif(shutil.which("node") is None, reason="needs node to run the JavaScript assertions")
def test_promptfoo_export_asserts_what_the_gate_checks(runs, price_feedback, tmp_path):
    """The exported provider and JavaScript assertions, run as Promptfoo runs them (node), agree with the gate."""
    add_feedback(runs["bad"], **price_feedback)
    suite_path = tmp_path / "evals.yaml"
    _generate(runs["bad"], suite_path)
    for name, run in runs.items():
        folder = tmp_path / f"pf-{name}"
        result = CliRunner().invoke(cli, ["evals", "export", str(suite_path), "--run", str(run),
                                          "--promptfoo", str(folder)])
        assert result.exit_code == 0, result.output
        import yaml

        config = yaml.safe_load((folder / "promptfooconfig.yaml").read_text())
        assert config["providers"][0]["id"] == "file://halo_provider.py"
        gate = CliRunner().invoke(cli, ["evals", "run", str(suite_path), "--run", str(run), "--json",
                                        str(tmp_path / f"{name}.json"), "--junit", str(tmp_path / f"{name}.xml")])
        expected = {o["id"]: o["status"] for o in json.loads((tmp_path / f"{name}.json").read_text())["evals"]}
        script = ["import importlib.util, json, sys",
                  f"spec = importlib.util.spec_from_file_location('p', {str(folder / 'halo_provider.py')!r})",
                  "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)",
                  "print(json.dumps({t: m.call_api(t, {}, {'vars': {'task': t}})['output'] for t in sys.argv[1:]}))"]
        tasks = sorted({t["vars"]["task"] for t in config["tests"]})
        outputs = json.loads(subprocess.run(["python3", "-c", "\n".join(script), *tasks], capture_output=True,
                                            text=True, check=True).stdout)
        for test in config["tests"]:
            check = test["assert"][0]
            if check["type"] != "javascript":
                assert expected[test["description"]] == "skipped"
                continue
            # Promptfoo's rule (0.121): a value with a newline is the function body as it is; a
            # one-line value must be an expression and gets "return " put before it
            assert "\n" in check["value"].rstrip(), "a one-line value would be read as an expression"
            js = (f"const output = {json.dumps(outputs[test['vars']['task']])};\n"
                  f"console.log(new Function('output', 'context', {json.dumps(check['value'].rstrip())})(output, {{}}));")
            verdict = subprocess.run(["node", "-e", js], capture_output=True, text=True, check=True).stdout.strip()
            assert (verdict == "true") == (expected[test["description"]] == "pass"), (test["description"], verdict)
        assert gate.exit_code == (1 if name == "bad" else 0)


def test_gate_refuses_run_and_mode_together_or_neither(runs, price_feedback, tmp_path):
    add_feedback(runs["bad"], **price_feedback)
    suite_path = tmp_path / "evals.yaml"
    _generate(runs["bad"], suite_path)
    neither = CliRunner().invoke(cli, ["evals", "run", str(suite_path)])
    assert neither.exit_code == 1 and "give --run RUN_DIR" in neither.output
    both = CliRunner().invoke(cli, ["evals", "run", str(suite_path), "--run", str(runs["good"]), "--mode", "x"])
    assert both.exit_code == 1 and "not both" in both.output
    stray = CliRunner().invoke(cli, ["evals", "run", str(suite_path), "--run", str(runs["good"]), "--policy", "expert"])
    assert stray.exit_code == 1 and "pass through only with --mode" in stray.output


@pytest.mark.slow
def test_gate_runs_the_agent_first_with_mode(tmp_path, monkeypatch):
    """``--mode``: the suite's tasks run through ``halo eval`` in real Chromium (its options pass
    through), then the gate judges that run: here one eval passes and one fails."""
    monkeypatch.chdir(tmp_path)
    suite_path = tmp_path / "evals.yaml"
    suite_path.write_text("halo_eval_suite: 1\nname: shop\nversion: 1\nevals:\n"
                          "  - {id: shop-1/succeeds, task: webclones.shop-1, kind: task_success}\n"
                          "  - {id: shop-1/one-step, task: webclones.shop-1, kind: max_steps, n: 1}\n")
    result = CliRunner().invoke(cli, ["evals", "run", str(suite_path), "--mode", "baseline_worker",
                                      "--results-dir", str(tmp_path / "results"), "--policy", "expert",
                                      "--manager-backend", "none", "--json", str(tmp_path / "gate.json"),
                                      "--junit", str(tmp_path / "gate.xml")])
    assert "running the agent first: halo eval --tasks webclones.shop-1 --mode baseline_worker" in result.output
    assert result.exit_code == 1, result.output  # the one-step eval fails: the expert needs more steps
    outcomes = {o["id"]: o["status"] for o in json.loads((tmp_path / "gate.json").read_text())["evals"]}
    assert outcomes == {"shop-1/succeeds": "pass", "shop-1/one-step": "fail"}
    runs = list((tmp_path / "results").iterdir())
    assert len(runs) == 1 and runs[0].name.startswith("gate") and (runs[0] / "episodes.jsonl").is_file()
