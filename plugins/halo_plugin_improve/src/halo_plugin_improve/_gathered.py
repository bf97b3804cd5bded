"""What the analysis reads: the run's traces, feedback, evals and gate results, and the
harness configuration — gathered once into ``RUN_DIR/improve/``.

* ``traces.jsonl`` — the engine file of the run (``halo traces export``), plus one more
  trace, ``harness.config``: a single span carrying each mode's configuration, so an
  analyzer that only reads traces still sees what the harness was set to.
* ``context.json`` — everything else, and the ids evidence may cite.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import attrs

from halo_core.api import write_redacted
from halo_plugin_traces import RunDir, SpanContext, export_run, make_span, read_feedback, span_line, trace_id_for

from halo_plugin_improve._episodes import EpisodeView, episode_views
from halo_plugin_improve._gate import GateResult
from halo_plugin_improve._suite import EvalSuite

__all__ = ["ImproveContext", "build_context"]


@attrs.define
class ImproveContext:
    run_dir: Path
    run_id: str
    out_dir: Path
    traces_path: Path
    episodes: list[EpisodeView]
    feedback: list[dict[str, Any]]
    harness: dict[str, Any]
    suite: EvalSuite | None = None
    gate: GateResult | None = None

    def trace_id(self, ep: EpisodeView) -> str:
        return trace_id_for(self.run_id, ep.mode, ep.task, ep.attempt)

    @property
    def known_ids(self) -> list[str]:
        """What evidence may cite: trace ids, episodes, eval ids, feedback ids."""
        ids = [self.trace_id(e) for e in self.episodes] + [f"{e.task}#{e.attempt}" for e in self.episodes]
        ids += [str(f.get("id")) for f in self.feedback if f.get("id")]
        if self.suite is not None:
            ids += [e.id for e in self.suite.evals]
        return ids

    def stats(self) -> dict[str, Any]:
        n = len(self.episodes)
        ok = sum(1 for e in self.episodes if e.success)
        by_mode: dict[str, list[int]] = {}
        for e in self.episodes:
            by_mode.setdefault(e.mode, [0, 0])[0] += 1
            by_mode[e.mode][1] += int(e.success)
        return {"episodes": n, "successes": ok, "modes": {m: {"episodes": a, "successes": b} for m, (a, b)
                                                            in by_mode.items()}}

    def to_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "run_dir": str(self.run_dir), "traces": str(self.traces_path),
                "stats": self.stats(), "harness": self.harness,
                "episodes": [{"trace_id": self.trace_id(e), **attrs.asdict(e)} for e in self.episodes],
                "feedback": self.feedback, "suite": self.suite.to_dict() if self.suite else None,
                "gate": self.gate.to_dict() if self.gate else None, "known_ids": self.known_ids}

    def brief(self, *, budget: int = 60_000, with_transcripts: bool = True) -> str:
        """The context as text for a model, about ``budget`` characters at most. Everything read
        from the run (configuration, feedback, eval results, transcripts) is fenced as untrusted
        data (:func:`halo_core.untrusted.fence`); a block is left out whole, never cut open."""
        from halo_core.api import fence

        feedback = [f"- feedback {f.get('id')} [{f.get('source', 'human')}] on {f.get('task')}#{f.get('attempt')} "
                    f"({f.get('mode')}): {f.get('text')} | required: {f.get('required')} | prohibited: "
                    f"{f.get('prohibited')} | failure modes: {f.get('failure_modes', [])}" for f in self.feedback]
        out = [f"# Run {self.run_id}", json.dumps(self.stats()), "", "## Harness configuration (per mode)",
               fence(json.dumps(self.harness, sort_keys=True), "run.json", limit=6000), "",
               "## Feedback (human and model)", fence("\n".join(feedback) or "(none)", "feedback", limit=budget // 4)]
        if self.gate is not None:
            results = [f"- eval {o.case.id} [{o.status}] {o.case.description}; " + "; ".join(o.details[:4])
                       for o in self.gate.outcomes]
            out += ["", f"## Eval gate (suite {self.gate.suite.name} v{self.gate.suite.version})",
                    fence("\n".join(results), "eval results", limit=budget // 4)]
        if with_transcripts:
            out += ["", "## Episodes"]
            used = sum(len(x) + 1 for x in out)
            for i, e in enumerate(self.episodes):
                block = f"### trace {self.trace_id(e)} — episode {e.key}\n" + fence(e.transcript(limit=40), "trace")
                if used + len(block) > budget:
                    out.append(f"… ({len(self.episodes) - i} more episodes cut)")
                    break
                out.append(block)
                used += len(block) + 1
        return "\n".join(out)


def _harness_span(run_id: str, harness: dict[str, Any], project: str) -> dict[str, Any]:
    trace = trace_id_for(run_id, "harness", "config", 0)
    ctx = SpanContext(project=project)
    attributes = {"input.value": json.dumps(harness, sort_keys=True, default=str), "input.mime_type": "application/json",
                  "halo.harness.modes": sorted(harness.get("modes") or {}),
                  **{f"halo.harness.mode.{m}": json.dumps(c, sort_keys=True, default=str)
                     for m, c in (harness.get("modes") or {}).items()}}
    context = {"session.id": run_id, "metadata": json.dumps({"agent": "halo/harness", "run_id": run_id}),
               "tag.tags": ["harness"]}
    return make_span(ctx, trace_id=trace, path="harness", parent_path=None, name="harness.config", kind="CHAIN",
                     start_ns=0, end_ns=0, attributes=attributes, context=context)


def build_context(run_dir: str | Path, *, out_dir: str | Path | None = None, suite: EvalSuite | None = None,
                  gate: GateResult | None = None, project: str = "halo") -> ImproveContext:
    run = RunDir(run_dir)
    if not run.episodes():
        raise FileNotFoundError(f"no episodes found in {run_dir}")
    out = Path(out_dir) if out_dir else run.path / "improve"
    out.mkdir(parents=True, exist_ok=True)
    traces = out / "traces.jsonl"
    export_run(run.path, traces, project=project)
    harness = {"modes": dict(run.plan.get("modes") or {}), "options": dict(run.plan.get("options") or {}),
               "halo_version": run.plan.get("halo_version")}
    with traces.open("a", encoding="utf-8") as fh:
        fh.write(span_line(_harness_span(run.run_id, harness, project)))
    ctx = ImproveContext(run_dir=run.path, run_id=run.run_id, out_dir=out, traces_path=traces,
                         episodes=[e for e in episode_views(run)], feedback=read_feedback(run.path), harness=harness,
                         suite=suite, gate=gate)
    write_redacted(out / "context.json", json.dumps(ctx.to_dict(), indent=2, default=str, ensure_ascii=False))
    return ctx
