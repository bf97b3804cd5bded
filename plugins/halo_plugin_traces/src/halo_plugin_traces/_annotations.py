"""Feedback → span annotations on the episode span.

Feedback (a person's through ``halo feedback add``, or a model's through ``halo feedback
judge``) is an opinion about an episode, given later. As a span it would stretch the
trace's latency to the moment it was given, so it is an *annotation* instead: in
Phoenix's span-annotation shape (``span_id``, ``name``, ``annotator_kind`` HUMAN or LLM,
``result {label, score, explanation}``, ``metadata``, ``identifier``), written to
``annotations.jsonl`` beside the exported traces, posted to Phoenix's
``/v1/span_annotations`` with ``--phoenix-url``, and carried as span events of the
episode span in the OTLP/JSON file.
"""

from __future__ import annotations

from typing import Any, Mapping

from halo_plugin_traces._spans import span_id_for, trace_id_for

__all__ = ["feedback_annotation"]


def feedback_annotation(record: Mapping[str, Any], *, run_id: str, mode: str, task: str,
                        attempt: int) -> dict[str, Any]:
    """The annotation of one ``feedback.jsonl`` record on its episode's root span."""
    trace_id = trace_id_for(run_id, mode, task, attempt)
    source = str(record.get("source") or "human")
    human = source == "human"
    required = [str(r) for r in record.get("required") or ()]
    prohibited = [str(p) for p in record.get("prohibited") or ()]
    failures = [str(f) for f in record.get("failure_modes") or ()]
    verdict = record.get("verdict")
    # a verdict or judged failure modes say how the episode went; required/prohibited are rules
    # for next time, which a note on a successful episode may carry too
    label = str(verdict) if verdict in ("pass", "fail") else ("fail" if failures else "note")
    result: dict[str, Any] = {"label": label, "explanation": str(record.get("text") or "")}
    if verdict in ("pass", "fail"):
        result["score"] = 1.0 if verdict == "pass" else 0.0
    metadata = {"required": required, "prohibited": prohibited, "source": source,
                "author": str(record.get("author") or "")}
    if failures:
        metadata["failure_modes"] = failures
    if record.get("observations"):
        metadata["observations"] = [str(o) for o in record["observations"]]
    return {
        "span_id": span_id_for(trace_id, "episode"),
        "trace_id": trace_id,
        "name": "human_feedback" if human else "model_feedback",
        "annotator_kind": "HUMAN" if human else "LLM",
        "identifier": str(record.get("id") or ""),
        "result": result,
        "metadata": metadata,
        "timestamp": float(record.get("timestamp") or 0.0),
    }
