"""``halo improve``: context → analysis → a validated ``improvement_handoff.md``.

``--loop`` chains the whole improvement cycle on one run, printing progress:
judge (a model's feedback, when ``--judge`` names one) → generate (the eval suite from all
feedback) → gate (the suite on the run; JUnit + JSON) → analysis → handoff. The gate's
failures do not stop the loop: they are evidence for the analysis.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

import attrs

from halo_core.api import write_redacted

from halo_plugin_improve._analyzers import Analyzer
from halo_plugin_improve._gathered import ImproveContext, build_context
from halo_plugin_improve._gate import GateResult
from halo_plugin_improve._handoff import render_handoff, validate_handoff, validate_markdown
from halo_plugin_improve._suite import EvalSuite

__all__ = ["HandoffResult", "write_handoff"]

HANDOFF_NAME = "improvement_handoff.md"


@attrs.define
class HandoffResult:
    path: Path
    data: dict[str, Any]
    context: ImproveContext
    seconds: float


def write_handoff(run_dir: str | Path, analyzer: Analyzer, *, out: str | Path | None = None,
                  suite: EvalSuite | None = None, gate: GateResult | None = None,
                  progress: Callable[[str], None] = lambda _: None) -> HandoffResult:
    """Build the context, run ``analyzer``, validate its answer and write the handoff.

    :raises HandoffError: the answer lacks a section or cites nothing of this run (nothing
        is written; the raw answer is kept in ``improve/analysis_raw.txt``)."""
    t0 = time.perf_counter()
    ctx = build_context(run_dir, suite=suite, gate=gate)
    progress(f"context: {len(ctx.episodes)} episodes, {len(ctx.feedback)} feedback, "
             f"{len(suite.evals) if suite else 0} evals -> {ctx.out_dir}")
    answer = analyzer.analyze(ctx, progress=progress)
    write_redacted(ctx.out_dir / "analysis_raw.txt", answer)
    data = validate_handoff(answer, known_ids=ctx.known_ids)
    meta = {"run": ctx.run_id, "analyzer": analyzer.name, "episodes": len(ctx.episodes),
            "feedback": len(ctx.feedback)}
    if gate is not None:
        meta["gate"] = (f"{gate.suite.name} v{gate.suite.version}: {gate.count('pass')} passed, "
                        f"{gate.count('fail')} failed, {gate.count('skipped')} skipped")
    text = render_handoff(data, title=f"Improvement handoff — {ctx.run_id}", meta=meta)
    validate_markdown(text)
    path = write_redacted(Path(out) if out else ctx.run_dir / HANDOFF_NAME, text)
    return HandoffResult(path=path, data=data, context=ctx, seconds=time.perf_counter() - t0)
