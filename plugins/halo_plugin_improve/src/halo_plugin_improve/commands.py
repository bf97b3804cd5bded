"""``halo feedback judge``, ``halo evals generate|run|export``, ``halo improve``."""

from __future__ import annotations

import sys
from pathlib import Path

import click

RUN_DIR = click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
BASE_URL = click.option("--base-url", default=None,
                        help="OpenAI-compatible server for the backend (sets BackendSettings.base_url).")


def _fail(message: str) -> click.ClickException:
    from halo_core.api import HaloError

    return HaloError(message)


def _backend(spec: str, base_url: str | None, max_tokens: int = 1024):
    from halo_core.api import BackendConfigError, BackendSettings, get_runtime

    try:
        backend = get_runtime().backends.create(spec, BackendSettings(base_url=base_url, max_tokens=max_tokens,
                                                                      max_retries=2))
        backend.check()
    except BackendConfigError as exc:
        raise _fail(str(exc)) from None
    return backend


def _run(run_dir: str):
    from halo_plugin_traces import RunDir

    run = RunDir(run_dir)
    if not run.episodes():
        raise _fail(f"no episodes found in {run_dir} (expected episodes.jsonl/run.json or *__attempt_*.jsonl files)")
    return run


def _echo(text: str, err: bool = False) -> None:
    """Print a line that may hold model, page or feedback text: secrets redacted, control
    characters escaped (:func:`halo_core.secrets.redact_console`)."""
    from halo_core.api import redact_console

    click.echo(redact_console(str(text)), err=err)


def _say(text: str) -> None:
    _echo(text, err=True)


# --------------------------------------------------------------------------- judge


def judge_run(run_dir: str, backend_spec: str, base_url: str | None, *, task: str | None = None,
              mode: str | None = None, limit: int | None = None, progress=_say):
    from halo_plugin_traces import add_feedback

    from halo_plugin_improve._episodes import episode_views
    from halo_plugin_improve._judge import judge_episodes

    run = _run(run_dir)
    episodes = [e for e in episode_views(run) if (task is None or e.task == task) and (mode is None or e.mode == mode)]
    if limit:
        episodes = episodes[:limit]
    if not episodes:
        raise _fail(f"no episode of {run_dir} matches --task/--mode")
    backend = _backend(backend_spec, base_url)
    result = judge_episodes(episodes, backend, store=lambda **kw: add_feedback(run.path, **kw),
                            source=f"model:{backend_spec}", progress=progress)
    return run, episodes, result


@click.command("judge")
@RUN_DIR
@click.option("--backend", "backend_spec", required=True, help="The judging model, prefix:model (see `halo backends`).")
@BASE_URL
@click.option("--task", default=None, help="Only this task's episodes.")
@click.option("--mode", default=None, help="Only this mode's episodes.")
@click.option("--limit", type=int, default=None, help="At most this many episodes.")
def judge(run_dir, backend_spec, base_url, task, mode, limit) -> None:
    """Ask a model for structured feedback on each episode of RUN_DIR (stored beside human feedback)."""
    run, episodes, result = judge_run(run_dir, backend_spec, base_url, task=task, mode=mode, limit=limit)
    _echo(f"judged {len(result.stored)} of {len(episodes)} episodes with {backend_spec} "
               f"({result.calls} calls, {result.tokens_in}/{result.tokens_out} tokens) -> {run.feedback_path}")
    if result.invalid:
        for key, why in result.invalid:
            _echo(f"warning: {key}: {why}", err=True)
        if not result.stored:
            raise _fail(f"the model gave no valid judgement for any of {len(episodes)} episodes")


# --------------------------------------------------------------------------- evals


@click.group()
def evals() -> None:
    """Eval suites made from feedback, and the gate that runs them."""


def generate_for(run_dir: str, out: str | None, name: str | None, sources: tuple[str, ...]):
    from halo_plugin_traces import read_feedback

    from halo_plugin_improve._suite import SuiteError, generate_suite, load_suite, write_suite

    run = _run(run_dir)
    feedback = read_feedback(run.path)
    if not feedback:
        raise _fail(f"{run.feedback_path} holds no feedback; add some with `halo feedback add` or "
                    "`halo feedback judge`")
    path = Path(out) if out else run.path / "evals.yaml"
    previous = None
    if path.exists():
        try:
            previous = load_suite(path)
        except SuiteError as exc:
            raise _fail(f"{exc} (remove it or pass another --out)") from None
    suite = generate_suite(feedback, name=name or (previous.name if previous else f"{run.run_id}-evals"),
                           run_id=run.run_id, run_dir=str(run.path), previous=previous, sources=sources)
    if not suite.evals:
        raise _fail("the feedback names nothing required or prohibited, so no eval can be made from it")
    write_suite(suite, path)
    return path, suite


@evals.command("generate")
@RUN_DIR
@click.option("--out", default=None, type=click.Path(dir_okay=False),
              help="Suite file, .yaml or .json (default RUN_DIR/evals.yaml; an existing one is versioned up).")
@click.option("--name", default=None, help="Suite name (default: <run id>-evals, or the existing file's).")
@click.option("--source", "sources", multiple=True, type=click.Choice(["human", "model"]),
              default=("human", "model"), show_default=True, help="Whose feedback to use (repeatable).")
def evals_generate(run_dir, out, name, sources) -> None:
    """Turn RUN_DIR's human and model feedback into a versioned eval-suite file."""
    from halo_plugin_improve._suite import DETERMINISTIC_KINDS

    path, suite = generate_for(run_dir, out, name, tuple(sources))
    fixed = sum(1 for e in suite.evals if e.kind in DETERMINISTIC_KINDS)
    _echo(f"suite {suite.name} v{suite.version}: {len(suite.evals)} evals ({fixed} deterministic, "
               f"{len(suite.evals) - fixed} model-graded) -> {path}")


def gate_for(suite_path: str, run_dir: str, *, grader: str | None, base_url: str | None, junit: str | None,
             json_out: str | None, progress=None):
    from halo_plugin_improve._episodes import episode_views
    from halo_plugin_improve._gate import run_suite, write_json, write_junit
    from halo_plugin_improve._suite import SuiteError, load_suite

    try:
        suite = load_suite(suite_path)
    except SuiteError as exc:
        raise _fail(str(exc)) from None
    run = _run(run_dir)
    grader_backend = _backend(grader, base_url, max_tokens=256) if grader else None
    result = run_suite(suite, episode_views(run), run_id=run.run_id, grader=grader_backend,
                       progress=progress or (lambda o: None))
    junit_path = write_junit(result, junit or run.path / "evals" / "junit.xml")
    json_path = write_json(result, json_out or run.path / "evals" / "results.json")
    return result, junit_path, json_path


def run_agent_for(suite_path: str, modes: tuple[str, ...], eval_args: tuple[str, ...], results_dir: str) -> str:
    """Run ``halo eval`` in ``modes`` on the suite's tasks (``eval_args`` passed through);
    returns the new run's folder. Episode errors do not stop the gate: it reports them."""
    from halo_core.api import cli, new_run_id
    from halo_plugin_improve._suite import SuiteError, load_suite

    try:
        suite = load_suite(suite_path)
    except SuiteError as exc:
        raise _fail(str(exc)) from None
    tasks = sorted({e.task for e in suite.evals})
    if not tasks:
        raise _fail(f"{suite_path}: the suite has no evals, so no task to run")
    run_id = new_run_id("gate")
    args = ["eval", "--tasks", ",".join(tasks), *[a for m in modes for a in ("--mode", m)], "--run-id", run_id,
            "--results-dir", results_dir, *eval_args]
    _echo(f"running the agent first: halo {' '.join(args)}")
    try:
        cli.main(args, standalone_mode=False)
    except SystemExit as exc:  # halo eval exits 1 when an episode errored; the run is still there
        if exc.code not in (0, None, 1):
            raise
    except click.ClickException as exc:
        raise _fail(f"halo eval could not run: {exc.format_message()}") from None
    folder = Path(results_dir) / run_id
    if not (folder / "episodes.jsonl").exists():
        raise _fail(f"halo eval wrote no episodes to {folder}; nothing to gate")
    return str(folder)


@evals.command("run", context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.argument("suite", type=click.Path(exists=True, dir_okay=False))
@click.option("--run", "run_dir", default=None, type=click.Path(exists=True, file_okay=False),
              help="The run to gate (a results or trajectories folder).")
@click.option("--mode", "modes", multiple=True,
              help="Instead of --run: run the agent first in this mode (repeatable) on the suite's tasks with "
                   "`halo eval`, then gate that run. Other `halo eval` options (--policy, --worker-backend, "
                   "--set, ...) pass through.")
@click.option("--results-dir", default="results", show_default=True, type=click.Path(file_okay=False),
              help="Where --mode writes its run.")
@click.option("--grader", default=None, help="Model for rubric evals, prefix:model (without one they are skipped).")
@BASE_URL
@click.option("--junit", default=None, type=click.Path(dir_okay=False),
              help="JUnit XML path (default RUN/evals/junit.xml).")
@click.option("--json", "json_out", default=None, type=click.Path(dir_okay=False),
              help="JSON results path (default RUN/evals/results.json).")
@click.option("--strict", is_flag=True, help="Skipped evals fail the gate too.")
@click.pass_context
def evals_run(ctx, suite, run_dir, modes, results_dir, grader, base_url, junit, json_out, strict) -> None:
    """The gate: run SUITE on a run (--run, or --mode to run the agent first); pass/fail per
    eval, JUnit XML and JSON; exit 1 on failure."""
    marks = {"pass": "PASS", "fail": "FAIL", "skipped": "SKIP", "error": "ERR "}
    if ctx.args and not modes:
        raise _fail(f"unknown option {ctx.args[0]!r} (options for `halo eval` pass through only with --mode)")
    if bool(run_dir) == bool(modes):
        raise _fail("give --run RUN_DIR (a finished run) or --mode MODE (run the agent first), not both" if run_dir
                    else "give --run RUN_DIR (a finished run) or --mode MODE (run the agent first on the suite's tasks)")
    if modes:
        run_dir = run_agent_for(suite, tuple(modes), tuple(ctx.args), results_dir)

    def show(o):
        _echo(f"{marks[o.status]} {o.case.id}  {o.case.description}")
        if o.status in ("fail", "error"):
            for d in o.details:
                if "FAIL" in d or "failed" in d:
                    _echo(f"       {d}")

    result, junit_path, json_path = gate_for(suite, run_dir, grader=grader, base_url=base_url, junit=junit,
                                             json_out=json_out, progress=show)
    _echo(f"{result.count('pass')} passed, {result.count('fail')} failed, {result.count('skipped')} skipped, "
               f"{result.count('error')} errors (junit: {junit_path}, json: {json_path})")
    if not result.passed(strict=strict):
        sys.exit(1)


@evals.command("export")
@click.argument("suite", type=click.Path(exists=True, dir_okay=False))
@click.option("--run", "run_dir", required=True, type=click.Path(exists=True, file_okay=False),
              help="The run the HALO provider answers from.")
@click.option("--promptfoo", "promptfoo_dir", required=True, type=click.Path(file_okay=False),
              help="Folder to write promptfooconfig.yaml and its HALO provider into.")
def evals_export(suite, run_dir, promptfoo_dir) -> None:
    """Write SUITE as a Promptfoo config whose provider answers from a HALO run."""
    from halo_plugin_improve._promptfoo import export_promptfoo
    from halo_plugin_improve._suite import SuiteError, load_suite

    try:
        loaded = load_suite(suite)
    except SuiteError as exc:
        raise _fail(str(exc)) from None
    run = _run(run_dir)
    config = export_promptfoo(loaded, run, Path(promptfoo_dir))
    _echo(f"promptfoo config: {config}\nrun it with: npx -y promptfoo@0.121.3 eval -c {config} --no-cache "
               "(where npm must build better-sqlite3 itself, prefix npm_config_nodedir=/usr)")


# --------------------------------------------------------------------------- improve


def _analyzer(backend_spec, base_url, engine_url, engine_model, engine_python, engine_key_env):
    from halo_plugin_improve._analyzers import BackendAnalyzer, EngineAnalyzer

    if bool(backend_spec) == bool(engine_url):
        raise _fail("choose the analysis: --backend prefix:model, or --engine-url URL --engine-model NAME "
                    "(halo-engine)")
    if backend_spec:
        return BackendAnalyzer(_backend(backend_spec, base_url, max_tokens=4096))
    if not engine_model:
        raise _fail("--engine-url needs --engine-model (the model name the server serves)")
    import os

    python = engine_python or os.environ.get("HALO_ENGINE_PYTHON") or "/tmp/halo-engine-venv/bin/python"
    return EngineAnalyzer(python, base_url=engine_url, model=engine_model,
                          api_key=os.environ.get(engine_key_env, "") if engine_key_env else "")


@click.command()
@RUN_DIR
@click.option("--backend", "backend_spec", default=None, help="Analyse with this model, prefix:model.")
@BASE_URL
@click.option("--engine-url", default=None, help="Analyse with halo-engine through this OpenAI-compatible "
                                                 "(Responses API) base URL.")
@click.option("--engine-model", default=None, help="The model name for halo-engine.")
@click.option("--engine-python", default=None, type=click.Path(dir_okay=False),
              help="Python of halo-engine's own venv (default $HALO_ENGINE_PYTHON or /tmp/halo-engine-venv).")
@click.option("--engine-key-env", default="OPENAI_API_KEY", show_default=True,
              help="Variable holding the key for --engine-url.")
@click.option("--suite", default=None, type=click.Path(exists=True, dir_okay=False),
              help="Eval suite to gate the run with; its definitions and results join the context.")
@click.option("--loop", is_flag=True, help="Judge (with --judge) → generate evals → gate → analysis → handoff.")
@click.option("--judge", "judge_spec", default=None, help="With --loop: the judging model, prefix:model.")
@click.option("--grader", default=None, help="Model for rubric evals, prefix:model.")
@click.option("--out", default=None, type=click.Path(dir_okay=False),
              help="Handoff path (default RUN_DIR/improvement_handoff.md).")
def improve(run_dir, backend_spec, base_url, engine_url, engine_model, engine_python, engine_key_env, suite, loop,
            judge_spec, grader, out) -> None:
    """Analyse RUN_DIR (traces, feedback, evals, harness config) and write improvement_handoff.md."""
    from halo_plugin_improve._analyzers import AnalysisError
    from halo_plugin_improve._handoff import HandoffError
    from halo_plugin_improve._improve import write_handoff
    from halo_plugin_improve._suite import load_suite

    analyzer = _analyzer(backend_spec, base_url, engine_url, engine_model, engine_python, engine_key_env)
    gate = loaded = None
    steps = 5 if loop else 2
    n = 0

    def stage(text: str) -> None:
        nonlocal n
        n += 1
        _say(f"[{n}/{steps}] {text}")

    if loop:
        if judge_spec:
            stage(f"judge: asking {judge_spec} about each episode")
            _, episodes, judged = judge_run(run_dir, judge_spec, base_url, progress=lambda t: _say(f"      {t}"))
            _say(f"      {len(judged.stored)} of {len(episodes)} judged")
        else:
            stage("judge: skipped (no --judge); using the feedback already recorded")
        stage("generate: evals from the feedback")
        path, loaded = generate_for(run_dir, suite, None, ("human", "model"))
        _say(f"      suite {loaded.name} v{loaded.version}: {len(loaded.evals)} evals -> {path}")
        suite = str(path)
    if suite:
        if not loop:
            steps += 1
        stage(f"gate: {suite} on the run")
        gate, junit_path, _ = gate_for(suite, run_dir, grader=grader, base_url=base_url, junit=None, json_out=None)
        loaded = gate.suite
        _say(f"      {gate.count('pass')} passed, {gate.count('fail')} failed, {gate.count('skipped')} skipped "
             f"(junit: {junit_path})")
    stage(f"analysis: {analyzer.name}")
    try:
        result = write_handoff(run_dir, analyzer, out=out, suite=loaded, gate=gate,
                               progress=lambda t: _say(f"      {t}"))
    except (AnalysisError, HandoffError, FileNotFoundError) as exc:
        raise _fail(f"{exc} (nothing written; the raw answer, if any, is in RUN_DIR/improve/analysis_raw.txt)") \
            from None
    stage(f"handoff: {result.path}")
    top = result.data["changes"][0]
    _echo(f"handoff: {result.path} ({len(result.data['changes'])} changes; top: {top['title']}) "
               f"[{result.seconds:.1f}s]")
