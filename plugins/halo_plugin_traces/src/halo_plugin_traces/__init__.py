"""HALO traces: span export (OpenInference on OTLP), human feedback, and HTML run reports.

* Live: with ``HALO_TRACES=1`` (or ``HALO_TRACES_FILE=path``) every episode streams
  spans to ``traces.jsonl`` beside its trajectory (:mod:`halo_plugin_traces.plugin`).
* ``halo traces export RUN_DIR`` — finished trajectories → flat span JSONL
  (:func:`export_run`), optionally also to an OTLP/HTTP collector.
* ``halo feedback add RUN_DIR --task T --attempt K --text …`` — :func:`add_feedback`.
* ``halo report RUN_DIR`` — one self-contained HTML file (:func:`build_report`).
"""

__version__ = "0.1.0"

from halo_plugin_traces._convert import EpisodeTraceBuilder  # noqa: E402
from halo_plugin_traces._export import ExportResult, episode_spans, export_run, span_line  # noqa: E402
from halo_plugin_traces._feedback import add_feedback, read_feedback  # noqa: E402
from halo_plugin_traces._report import ReportResult, build_report  # noqa: E402
from halo_plugin_traces._rundir import EpisodeFiles, RunDir  # noqa: E402
from halo_plugin_traces._spans import SpanContext, make_span, span_id_for, trace_id_for  # noqa: E402

__all__ = [
    "EpisodeFiles", "EpisodeTraceBuilder", "ExportResult", "ReportResult", "RunDir", "SpanContext", "__version__",
    "add_feedback", "build_report", "episode_spans", "export_run", "make_span", "read_feedback", "span_id_for",
    "span_line", "trace_id_for",
]
