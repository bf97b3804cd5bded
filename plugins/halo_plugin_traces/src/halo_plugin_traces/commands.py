"""``halo traces export``, ``halo feedback add|list``, ``halo report``."""

from __future__ import annotations

import json

import click

RUN_DIR = click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
DATA_DIR = click.option("--data-dir", default=None, type=click.Path(file_okay=False),
                        help="Where trajectories live when RUN_DIR's recorded paths do not resolve (default: "
                             "run.json's data_dir).")


def _fail(message: str) -> click.ClickException:
    try:
        from halo_core.api import HaloError

        return HaloError(message)
    except ImportError:  # pragma: no cover
        return click.ClickException(message)


@click.group()
def traces() -> None:
    """Export runs as OpenInference/OTLP traces."""


@traces.command("export")
@RUN_DIR
@click.option("--out", default=None, type=click.Path(dir_okay=False),
              help="Output file (default: RUN_DIR/traces.jsonl, or RUN_DIR/traces.otlp.jsonl for otlp-json).")
@click.option("--format", "fmt", type=click.Choice(["engine", "otlp-json"]), default="engine", show_default=True,
              help="engine: one span a line with halo-engine's inference.* keys; otlp-json: one OTLP/JSON "
                   "ExportTraceServiceRequest a line (one trace a line).")
@click.option("--project", default="halo", show_default=True,
              help="Project name (openinference.project.name resource attribute; Phoenix's project).")
@click.option("--environment", default=None, help="deployment.environment resource attribute (default: "
                                                  "$HALO_TRACES_ENVIRONMENT or 'local').")
@click.option("--screenshots", type=click.Choice(["data-uri", "file-url", "path", "none"]), default=None,
              help="How LLM spans carry step screenshots (default: path in the engine file, data-uri on OTLP).")
@click.option("--max-screenshot-kb", default=256.0, show_default=True, type=float,
              help="Larger screenshots are left out of data URIs.")
@click.option("--otlp-endpoint", default=None, help="Also send the spans to this OTLP/HTTP collector "
                                                    "(e.g. http://localhost:4318; needs the [otlp] extra).")
@click.option("--phoenix-url", default=None, help="Also send the spans to this Phoenix server (its /v1/traces) "
                                                  "and the feedback as span annotations (e.g. http://localhost:6006).")
@click.option("--otlp-timeout", default=10.0, show_default=True, type=float,
              help="Seconds to keep retrying the collector.")
@DATA_DIR
def export_command(run_dir, out, fmt, project, environment, screenshots, max_screenshot_kb, otlp_endpoint,
                   phoenix_url, otlp_timeout, data_dir) -> None:
    """Convert the finished trajectories of RUN_DIR (a results or trajectories folder) to a trace file."""
    from halo_plugin_traces._export import export_run
    from halo_plugin_traces._otlp import OtlpUnavailable
    from halo_plugin_traces._rundir import RunDir

    if not RunDir(run_dir, data_dir=data_dir).episodes():
        raise _fail(f"no episodes found in {run_dir} (expected episodes.jsonl/run.json or *__attempt_*.jsonl files)")
    if otlp_endpoint and phoenix_url:
        raise _fail("pass --otlp-endpoint or --phoenix-url, not both (--phoenix-url sends to its /v1/traces)")
    try:
        result = export_run(run_dir, out, project=project, environment=environment, otlp_endpoint=otlp_endpoint,
                            data_dir=data_dir, otlp_timeout=otlp_timeout, fmt=fmt, screenshots=screenshots,
                            max_screenshot_kb=max_screenshot_kb, phoenix_url=phoenix_url)
    except OtlpUnavailable as exc:
        raise _fail(str(exc)) from None
    shots = f", {result.screenshots_inlined} screenshots inlined" if result.screenshots_inlined else ""
    click.echo(f"exported {result.spans} spans in {result.traces} traces to {result.path} ({fmt}{shots})")
    if result.screenshots_omitted:
        click.echo(f"warning: {result.screenshots_omitted} screenshot(s) left out (see halo.screenshot.omitted)",
                   err=True)
    if result.annotations_path:
        click.echo(f"{result.annotations} feedback annotation(s) in {result.annotations_path}")
    if otlp_endpoint or phoenix_url:
        click.echo(f"sent {result.otlp_sent} spans to {otlp_endpoint or phoenix_url}")
    if result.episodes_without_trajectory:
        click.echo(f"warning: {len(result.episodes_without_trajectory)} episode(s) have no trajectory file; "
                   "exported from episodes.jsonl only (use --data-dir)", err=True)


@click.group()
def feedback() -> None:
    """Attach human feedback to episodes of a run."""


@feedback.command("add")
@RUN_DIR
@click.option("--task", required=True, help="Task id of the episode.")
@click.option("--attempt", type=int, default=0, show_default=True, help="Attempt index of the episode.")
@click.option("--mode", default=None, help="Mode of the episode (needed when the task ran in several modes).")
@click.option("--text", required=True, help="The feedback.")
@click.option("--required", multiple=True, help="Something the agent must do (repeatable).")
@click.option("--prohibited", multiple=True, help="Something the agent must not do (repeatable).")
@click.option("--author", default="", help="Who gives the feedback (default: $USER).")
@DATA_DIR
def feedback_add(run_dir, task, attempt, mode, text, required, prohibited, author, data_dir) -> None:
    """Append feedback on one episode to RUN_DIR/feedback.jsonl."""
    from halo_plugin_traces._feedback import add_feedback
    from halo_plugin_traces._rundir import RunDir

    run = RunDir(run_dir, data_dir=data_dir)
    matches = run.find(task, attempt, mode)
    if not matches:
        known = sorted({f"{e.task}#{e.attempt} ({e.mode})" for e in run.episodes()})
        hint = f"; episodes: {', '.join(known[:8])}{' …' if len(known) > 8 else ''}" if known else ""
        raise _fail(f"no episode for task {task!r} attempt {attempt}"
                    f"{f' mode {mode!r}' if mode else ''} in {run_dir}{hint}")
    if mode is None:
        modes = sorted({e.mode for e in matches})
        if len(modes) > 1:
            raise _fail(f"task {task!r} attempt {attempt} ran in several modes ({', '.join(modes)}); pass --mode")
        mode = modes[0]
    record = add_feedback(run.path, task=task, attempt=attempt, mode=mode, text=text, required=required,
                          prohibited=prohibited, author=author)
    click.echo(f"feedback {record['id']} added to {run.feedback_path}")


@feedback.command("list")
@RUN_DIR
@click.option("--json", "as_json", is_flag=True, help="Print JSON lines.")
def feedback_list(run_dir, as_json) -> None:
    """Show the feedback recorded for RUN_DIR."""
    from halo_plugin_traces._feedback import read_feedback

    for r in read_feedback(run_dir):
        if as_json:
            click.echo(json.dumps(r, ensure_ascii=False))
            continue
        extra = "".join([f"  must: {x}" for x in r.get("required") or ()] +
                        [f"  must not: {x}" for x in r.get("prohibited") or ()])
        click.echo(f"{r.get('task')}#{r.get('attempt')} ({r.get('mode')}): {r.get('text')}{extra}")


@click.command()
@RUN_DIR
@click.option("--out", default=None, type=click.Path(dir_okay=False),
              help="Output file (default: RUN_DIR/report.html).")
@click.option("--screenshots/--no-screenshots", default=True, show_default=True, help="Embed step screenshots.")
@click.option("--max-screenshot-mb", default=256.0, show_default=True, type=float,
              help="Stop embedding screenshots past this many MB (large runs).")
@DATA_DIR
def report(run_dir, out, screenshots, max_screenshot_mb, data_dir) -> None:
    """Write one self-contained HTML report of RUN_DIR: matrix per mode, charts, and every episode's timeline."""
    from halo_plugin_traces._report import build_report
    from halo_plugin_traces._rundir import RunDir

    if not RunDir(run_dir, data_dir=data_dir).episodes():
        raise _fail(f"no episodes found in {run_dir} (expected episodes.jsonl/run.json or *__attempt_*.jsonl files)")
    result = build_report(run_dir, out, screenshots=screenshots, budget_mb=max_screenshot_mb, data_dir=data_dir)
    omitted = f", {result.screenshots_omitted} omitted" if result.screenshots_omitted else ""
    click.echo(f"report: {result.path} ({result.episodes} episodes, {result.steps} steps, "
               f"{result.screenshots} screenshots{omitted}, {result.bytes / 1e6:.1f} MB)")
