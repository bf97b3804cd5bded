"""``halo report``: one self-contained HTML file for a run.

Everything is inline: CSS, a few lines of JS (filters, expand/collapse, zoom),
charts drawn as SVG here, screenshots embedded as ``data:`` URIs. The file opens
with no network. Episodes are ``<details>`` elements so a large run stays
navigable; every text is redacted before it is escaped.

Trajectories are read through :mod:`halo_core.trajectory`. A screenshot is embedded only
when the step's path resolves inside the run's own folder and the file starts like a PNG
or JPEG: a report is often shared, and a trajectory must not be able to pull any other
file into it.
"""

from __future__ import annotations

import base64
import html
import os
import statistics
import time
from pathlib import Path
from typing import Any, Mapping

import attrs

from halo_core.api import Step, screenshot_file

from halo_plugin_traces._feedback import feedback_for, read_feedback
from halo_plugin_traces._rundir import EpisodeFiles, RunDir
from halo_plugin_traces._svg import bar_chart

__all__ = ["ReportResult", "build_report", "mode_rows"]

SOURCES = ("macro", "vac", "worker", "manager", "recovery")
SOURCE_LABELS = {"vac": "cache", "macro": "macro", "worker": "worker", "manager": "manager", "recovery": "recovery"}
_MAGIC = ((b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff", "image/jpeg"))
_ERROR_ENDINGS = ("error", "init_error")


@attrs.define
class ReportResult:
    path: Path
    episodes: int
    steps: int
    screenshots: int
    screenshots_omitted: int
    bytes: int


class _Text:
    """Redact, then escape."""

    def __init__(self, secrets: list[str]) -> None:
        from halo_core.api import redact

        self._redact = redact
        self.secrets = secrets

    def __call__(self, value: Any) -> str:
        return html.escape(self._redact("" if value is None else str(value), self.secrets), quote=True)


def _kind(summary: Mapping[str, Any]) -> str:
    if summary.get("terminated_by") in _ERROR_ENDINGS:
        return "error"
    if summary.get("terminated_by") == "unfinished":
        return "unfinished"
    if not summary.get("scorable", True):
        return "unscorable"
    return "success" if float(summary.get("reward") or 0.0) > 0 or summary.get("success") else "failure"


def mode_rows(summaries: list[dict[str, Any]], modes: list[str]) -> list[dict[str, Any]]:
    """Per-mode metrics. Success rate and medians follow the core's definitions (valid episodes
    only); totals (manager calls, cache hits, model calls, cost) count every episode."""
    try:
        from halo_core.api import summarize_results as summarize
    except ImportError:  # an older core without the evaluation package
        summarize = None
    rows = []
    for mode in modes:
        group = [s for s in summaries if s.get("mode") == mode]
        if not group:
            continue
        kinds = [_kind(s) for s in group]
        valid = [s for s, k in zip(group, kinds) if k in ("success", "failure")]
        usage = [s.get("usage") or {} for s in group]
        row = {
            "mode": mode, "episodes": len(group), "successes": kinds.count("success"),
            "errors": kinds.count("error") + kinds.count("unfinished"),
            "success_rate": kinds.count("success") / len(valid) if valid else None,
            "median_steps": statistics.median(int(s.get("steps") or 0) for s in valid) if valid else None,
            "manager_calls": sum(int(s.get("manager_calls") or 0) for s in group),
            "cache_hits": sum(int(s.get("cache_hits") or 0) for s in group),
            "macro_steps": sum(int(s.get("macro_steps") or 0) for s in group),
            "model_calls": sum(int(u.get("calls") or 0) for u in usage),
            "tokens": sum(int(u.get("tokens_in") or 0) + int(u.get("tokens_out") or 0) for u in usage),
            "cost": sum(float(u.get("cost") or 0.0) for u in usage),
        }
        if summarize is not None:
            core = summarize(group, mode)
            row["success_rate"], row["median_steps"] = core["success_rate"], core["median_steps"]
        row["model_calls_per_episode"] = row["model_calls"] / len(group)
        rows.append(row)
    return rows


def image_mime(data: bytes) -> str | None:
    """``image/png`` or ``image/jpeg`` from the file's first bytes; None for anything else."""
    return next((mime for magic, mime in _MAGIC if data.startswith(magic)), None)


def _fmt_rate(v: float | None) -> str:
    return "–" if v is None else f"{v * 100:.0f}%"


def _fmt_num(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, float) and not v.is_integer():
        return f"{v:.1f}"
    return f"{int(v):,}"


def _fmt_wall(seconds: Any) -> str:
    if not seconds:
        return ""
    seconds = float(seconds)
    return f" · {seconds * 1000:.0f} ms" if seconds < 1 else f" · {seconds:.1f} s"


def _fmt_cost(v: float) -> str:
    return f"${v:.4f}" if v < 1 else f"${v:,.2f}"


class _Builder:
    def __init__(self, run: RunDir, *, screenshots: bool, budget_bytes: int, secrets: list[str]) -> None:
        self.run = run
        self.t = _Text(secrets)
        self.screenshots = screenshots
        self.budget = budget_bytes
        self.used = 0
        self.embedded = 0
        self.omitted = 0
        self.steps = 0

    # ------------------------------------------------------------------ pieces

    def _omit(self, rel: str, why: str) -> str:
        self.omitted += 1
        return f'<div class="shot none" title="{self.t(rel)}">{self.t(why)}</div>'

    def screenshot(self, ep: EpisodeFiles, rel: str, idx: int) -> str:
        if not rel:
            return '<div class="shot none">no screenshot</div>'
        if not self.screenshots:
            return self._omit(rel, "screenshots off")
        if ep.screenshot_dir is None:
            return self._omit(rel, "screenshot file missing")
        try:
            path = screenshot_file(ep.screenshot_dir, rel)
        except ValueError:
            return self._omit(rel, "not embedded: outside the run's folder")
        if not path.is_file():
            return self._omit(rel, "screenshot file missing")
        size = path.stat().st_size
        if self.used + size > self.budget:
            return self._omit(rel, "omitted (report size budget)")
        data = path.read_bytes()
        mime = image_mime(data)
        if mime is None:
            return self._omit(rel, "not embedded: not a PNG or JPEG image")
        self.used += len(data)
        self.embedded += 1
        uri = f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
        return (f'<img class="shot" src="{uri}" alt="step {idx} screenshot" title="click to enlarge"'
                f' data-step="{idx}" decoding="async">')

    def step_card(self, ep: EpisodeFiles, step: Step) -> str:
        t = self.t
        idx = step.step_idx
        source = step.source
        meta = dict(step.decision_meta)
        usage = attrs.asdict(step.usage)
        error = step.error
        self.steps += 1
        chips = []
        for v in step.verdicts:
            chips.append(f'<span class="chip {"ok" if v.ok else "bad"}" title="{t(v.reason)}">'
                         f'{"✓" if v.ok else "✗"} {t(v.check)}</span>')
        details = []
        if meta.get("manager_called"):
            details.append(f'<div class="gate"><b>manager gate</b>: {t(meta.get("gate_reason"))} → '
                           f'<b>{t(meta.get("manager_verdict"))}</b> <span class="muted">'
                           f'({t(meta.get("manager_model"))})</span></div>')
        if source == "vac":
            details.append(f'<div class="muted">cache entry {t(meta.get("cache_key"))} '
                           f'(verified {t(meta.get("entry_successes"))}×)</div>')
        if source == "macro":
            step_of = f'{int(meta.get("step", 0)) + 1}/{meta.get("of")}' if meta.get("of") else ""
            details.append(f'<div class="muted">macro {t(meta.get("macro"))} step {t(step_of)}</div>')
        if step.reason and step.reason != meta.get("gate_reason"):
            details.append(f'<div class="muted">reason: {t(step.reason)}</div>')
        if meta.get("parse_error"):
            details.append(f'<div class="warn">model reply unusable: {t(meta.get("parse_error"))}</div>')
        if error:
            details.append(f'<div class="err">⚠ {t(error)}</div>')
        cost = float(usage.get("cost") or 0.0)
        usage_txt = ""
        if int(usage.get("calls") or 0):
            usage_txt = (f'{int(usage.get("calls") or 0)} call(s) · {int(usage.get("tokens_in") or 0):,}+'
                         f'{int(usage.get("tokens_out") or 0):,} tok' + (f" · {_fmt_cost(cost)}" if cost else ""))
        label = SOURCE_LABELS.get(source, source or "?")
        return (
            f'<li class="step src-{t(source)}{" has-error" if error else ""}" data-step="{idx}">'
            f'{self.screenshot(ep, step.screenshot, idx)}'
            f'<div class="step-body">'
            f'<div class="step-head"><span class="idx">#{idx}</span>'
            f'<span class="badge src-{t(source)}">{t(label)}</span>'
            f'<code class="action">{t(step.action)}</code></div>'
            f'<div class="where"><span class="url">{t(step.url)}</span>'
            f'<span class="ptype">{t(step.page_type)}</span>'
            f'<span class="muted">{step.elapsed_ms:.0f} ms</span>'
            f'{f"<span class=muted>{t(usage_txt)}</span>" if usage_txt else ""}</div>'
            f'{"".join(details)}'
            f'{f"<div class=chips>{chr(10).join(chips)}</div>" if chips else ""}'
            f'</div></li>')

    def episode(self, ep: EpisodeFiles, n: int, feedback: list[dict[str, Any]]) -> str:
        t = self.t
        s = ep.summary()
        kind = _kind(s)
        recorded = ep.recorded
        goal = recorded.goal if recorded is not None else ""
        steps = recorded.steps if recorded is not None else ()
        usage = s.get("usage") or {}
        strip = "".join(f'<i class="dot src-{t(e.source)}{" e" if e.error else ""}"'
                        f' title="#{e.step_idx} {t(e.source)}: {t(e.action)}"></i>'
                        for e in steps)
        icon = {"success": "✓", "failure": "✗", "error": "!", "unscorable": "?", "unfinished": "…"}[kind]
        head = (f'<summary><span class="status {kind}" title="{kind}">{icon}</span>'
                f'<span class="task">{t(ep.task)}</span><span class="mode-tag">{t(ep.mode)}</span>'
                f'<span class="muted">attempt {ep.attempt}</span>'
                f'<span class="strip">{strip}</span>'
                f'<span class="facts">{len(steps)} steps · {int(usage.get("calls") or 0)} calls · '
                f'{_fmt_cost(float(usage.get("cost") or 0.0))}{_fmt_wall(s.get("wall_time_sec"))}'
                f'</span></summary>')
        info = [f'<div class="goal"><b>Goal</b> {t(goal or "(not recorded)")}</div>',
                f'<div class="meta-row"><span>ended by <b>{t(s.get("terminated_by"))}</b></span>'
                f'<span>reward <b>{t(s.get("reward"))}</b></span>'
                f'<span>manager calls <b>{t(s.get("manager_calls", 0))}</b></span>'
                f'<span>cache hits <b>{t(s.get("cache_hits", 0))}</b></span>'
                f'<span>tokens <b>{int(usage.get("tokens_in") or 0):,}+{int(usage.get("tokens_out") or 0):,}</b></span>'
                f'</div>']
        if s.get("final_message"):
            info.append(f'<div class="final"><b>Final message</b> {t(s.get("final_message"))}</div>')
        if s.get("error"):
            info.append(f'<div class="err"><b>Error</b> {t(s.get("error"))}</div>')
        if ep.trajectory is None:
            info.append('<div class="warn">trajectory file not found: steps unavailable</div>')
        elif recorded is None:
            info.append('<div class="warn">trajectory file unreadable (no episode_start): steps unavailable</div>')
        elif recorded.bad_lines:
            info.append(f'<div class="warn">{recorded.bad_lines} damaged trajectory line(s) skipped</div>')
        for f in feedback:
            req = "".join(f'<span class="chip ok">must: {t(r)}</span>' for r in f.get("required") or ())
            pro = "".join(f'<span class="chip bad">must not: {t(p)}</span>' for p in f.get("prohibited") or ())
            author = f" ({t(f.get('author'))})" if f.get("author") else ""
            info.append(f'<div class="feedback"><b>Feedback</b>{author}'
                        f' {t(f.get("text"))}<div class="chips">{req}{pro}</div></div>')
        cards = "".join(self.step_card(ep, e) for e in steps)
        search = " ".join([ep.task, ep.mode, goal]).lower()
        return (f'<details class="episode" id="ep-{n}" data-mode="{t(ep.mode)}" data-kind="{kind}" '
                f'data-search="{t(search)}">{head}<div class="ep-body">{"".join(info)}'
                f'<ol class="timeline">{cards}</ol></div></details>')

    # ------------------------------------------------------------------ page

    def page(self) -> str:
        t = self.t
        episodes = self.run.episodes()
        modes = self.run.modes()
        summaries = [ep.summary() for ep in episodes]
        rows = mode_rows(summaries, modes)
        feedback = read_feedback(self.run.path)
        order = {m: i for i, m in enumerate(modes)}
        episodes = sorted(episodes, key=lambda e: (e.task, order.get(e.mode, 99), e.attempt))
        body = "".join(self.episode(ep, i, feedback_for(feedback, ep.task, ep.mode, ep.attempt))
                       for i, ep in enumerate(episodes))
        table = ["<table class='matrix'><thead><tr><th>mode</th><th>episodes</th><th>successes</th>"
                 "<th>success rate</th><th>median steps</th><th>model calls</th><th>manager calls</th>"
                 "<th>cache hits</th><th>macro steps</th><th>tokens</th><th>cost</th><th>errors</th></tr></thead>"
                 "<tbody>"]
        for r in rows:
            table.append(
                f"<tr><td class='mode-cell'>{t(r['mode'])}</td><td>{r['episodes']}</td><td>{r['successes']}</td>"
                f"<td>{_fmt_rate(r['success_rate'])}</td><td>{_fmt_num(r['median_steps'])}</td>"
                f"<td>{r['model_calls']:,}</td><td>{r['manager_calls']:,}</td><td>{r['cache_hits']:,}</td>"
                f"<td>{r['macro_steps']:,}</td><td>{r['tokens']:,}</td><td>{_fmt_cost(r['cost'])}</td>"
                f"<td class='{'bad' if r['errors'] else ''}'>{r['errors']}</td></tr>")
        table.append("</tbody></table>")
        labels = [r["mode"] for r in rows]
        charts = "".join([
            bar_chart("Success rate", labels, [r["success_rate"] for r in rows], fmt=lambda v: f"{v * 100:.0f}%",
                      max_value=1.0),
            bar_chart("Model calls per episode", labels, [r["model_calls_per_episode"] for r in rows],
                      fmt=lambda v: f"{v:.1f}" if not float(v).is_integer() else f"{v:.0f}"),
            bar_chart("Median steps", labels, [r["median_steps"] for r in rows],
                      fmt=lambda v: f"{v:.1f}" if not float(v).is_integer() else f"{v:.0f}"),
        ])
        total_cost = sum(r["cost"] for r in rows)
        total_success = sum(r["successes"] for r in rows)
        legend = "".join(f'<span class="badge src-{s}">{SOURCE_LABELS[s]}</span>' for s in SOURCES)
        mode_opts = "".join(f'<option value="{t(m)}">{t(m)}</option>' for m in labels)
        plan = self.run.plan
        subtitle = " · ".join(x for x in [
            f"{plan.get('kind')} run" if plan.get("kind") else "trajectories",
            f"created {plan.get('created_at')}" if plan.get("created_at") else "",
            f"HALO {plan.get('halo_version')}" if plan.get("halo_version") else "",
            f"report generated {time.strftime('%Y-%m-%d %H:%M:%S')}",
        ] if x)
        note = (f'<p class="muted">{self.omitted} screenshot(s) not embedded.</p>' if self.omitted else "")
        return _PAGE.format(
            title=t(f"HALO report — {self.run.run_id}"), run_id=t(self.run.run_id), subtitle=t(subtitle),
            n_episodes=len(episodes), n_success=total_success, n_modes=len(rows), n_steps=self.steps,
            cost=t(_fmt_cost(total_cost)), table="".join(table), charts=charts, legend=legend,
            mode_opts=mode_opts, episodes=body, note=note, css=_CSS, js=_JS)


def build_report(run_dir: str | os.PathLike, out: str | os.PathLike | None = None, *, screenshots: bool = True,
                 budget_mb: float = 256.0, data_dir: str | os.PathLike | None = None) -> ReportResult:
    """Write the report of ``run_dir`` to ``out`` (default ``RUN_DIR/report.html``)."""
    from halo_core.api import env_secrets, redact

    run = RunDir(run_dir, data_dir=data_dir)
    secrets = env_secrets()
    builder = _Builder(run, screenshots=screenshots, budget_bytes=int(budget_mb * 1024 * 1024), secrets=secrets)
    text = redact(builder.page(), secrets)
    path = Path(out) if out else run.path / "report.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return ReportResult(path=path, episodes=len(run.episodes()), steps=builder.steps, screenshots=builder.embedded,
                        screenshots_omitted=builder.omitted, bytes=len(text.encode("utf-8")))


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>{css}</style></head>
<body>
<header><h1>HALO run report <span class="run">{run_id}</span></h1><p class="sub">{subtitle}</p></header>
<main>
<section class="cards">
  <div class="card"><div class="big">{n_episodes}</div><div>episodes</div></div>
  <div class="card"><div class="big">{n_success}</div><div>successes</div></div>
  <div class="card"><div class="big">{n_modes}</div><div>modes</div></div>
  <div class="card"><div class="big">{n_steps}</div><div>steps</div></div>
  <div class="card"><div class="big">{cost}</div><div>model cost</div></div>
</section>
<section><h2>Matrix</h2>{table}
<p class="muted small">Success rate = successes / valid episodes (init/agent errors and unscorable episodes excluded);
median steps over valid episodes; calls, manager calls, cache hits, tokens and cost are totals over all
episodes.</p></section>
<section><h2>By mode</h2><div class="charts">{charts}</div></section>
<section><h2>Episodes</h2>
<div class="toolbar">
  <span class="legend">{legend}<span class="badge err-legend">action error</span></span>
  <span class="controls">
    <input id="q" type="search" placeholder="filter by task or goal…" aria-label="filter episodes">
    <select id="fmode" aria-label="mode"><option value="">all modes</option>{mode_opts}</select>
    <select id="fkind" aria-label="outcome"><option value="">all outcomes</option><option>success</option>
      <option>failure</option><option>error</option><option>unscorable</option><option>unfinished</option></select>
    <button id="expand" type="button">Expand all</button><button id="collapse" type="button">Collapse all</button>
  </span>
</div>
{note}
<div id="episodes">{episodes}</div>
</section>
</main>
<script>{js}</script>
</body></html>
"""

_CSS = """
:root{--bg:#f6f7fb;--panel:#fff;--ink:#1d2433;--muted:#6b7385;--line:#e3e6ee;--ok:#2e9d57;--bad:#d6455d;
--macro:#8e5bd6;--vac:#17a2a0;--worker:#4f6bed;--manager:#e8871e;--recovery:#d64f8f;}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--ink);font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,
"Helvetica Neue",Arial,sans-serif}
header{background:linear-gradient(135deg,#27304a,#3b4a7a);color:#fff;padding:22px 32px}
header h1{margin:0;font-size:22px;font-weight:650}
header .run{font-weight:400;opacity:.85;font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:17px;
margin-left:8px}
header .sub{margin:4px 0 0;opacity:.75;font-size:13px}
main{max-width:1280px;margin:0 auto;padding:20px 28px 60px}
h2{font-size:16px;margin:28px 0 10px;color:#33405e;text-transform:uppercase;letter-spacing:.06em}
.cards{display:flex;gap:12px;flex-wrap:wrap}
.card{background:var(--panel);border:1px solid var(--line);border-radius:10px;padding:12px 18px;min-width:130px;
color:var(--muted)}
.card .big{font-size:24px;font-weight:650;color:var(--ink)}
table.matrix{border-collapse:collapse;width:100%;background:var(--panel);border:1px solid var(--line);
border-radius:10px;overflow:hidden}
.matrix th,.matrix td{padding:8px 10px;text-align:right;border-bottom:1px solid var(--line);white-space:nowrap}
.matrix th{background:#eef1f8;font-weight:600;color:#3a4560;font-size:12.5px}
.matrix td.mode-cell,.matrix th:first-child{text-align:left;font-weight:600}
.matrix td.bad{color:var(--bad);font-weight:600}
.matrix tbody tr:hover{background:#f8f9fd}
.charts{display:flex;gap:14px;flex-wrap:wrap}
svg.chart{background:var(--panel);border:1px solid var(--line);border-radius:10px}
svg .chart-title{font-weight:600;font-size:13px;fill:#33405e}
svg .label{font-size:12px;fill:#3a4560}svg .value{font-size:12px;fill:#1d2433;font-weight:600}
svg .axis{font-size:10px;fill:#8a92a5}svg .grid{stroke:#eceff5}svg .muted{fill:#8a92a5;font-weight:400}
.toolbar{display:flex;justify-content:space-between;align-items:center;gap:12px;flex-wrap:wrap;margin-bottom:10px}
.controls{display:flex;gap:6px;flex-wrap:wrap}
.controls input,.controls select,.controls button{font:inherit;padding:5px 9px;border:1px solid var(--line);
border-radius:7px;background:#fff}
.controls button{cursor:pointer}.controls button:hover{background:#eef1f8}
.badge{display:inline-block;padding:1px 8px;border-radius:999px;font-size:12px;font-weight:600;color:#fff;
margin-right:5px;background:#8a92a5}
.badge.src-macro,.dot.src-macro{background:var(--macro)}.badge.src-vac,.dot.src-vac{background:var(--vac)}
.badge.src-worker,.dot.src-worker{background:var(--worker)}.badge.src-manager,.dot.src-manager{background:var(--manager)}
.badge.src-recovery,.dot.src-recovery{background:var(--recovery)}
.badge.err-legend{background:#fff;color:var(--bad);border:2px solid var(--bad)}
details.episode{background:var(--panel);border:1px solid var(--line);border-radius:10px;margin:8px 0}
details.episode[open]{box-shadow:0 2px 10px rgba(30,40,70,.07)}
summary{cursor:pointer;padding:10px 14px;display:flex;align-items:center;gap:10px;list-style:none;flex-wrap:wrap}
summary::-webkit-details-marker{display:none}
summary::before{content:"▸";color:var(--muted);transition:transform .15s}
details[open]>summary::before{transform:rotate(90deg)}
.status{display:inline-flex;width:22px;height:22px;border-radius:50%;align-items:center;justify-content:center;
color:#fff;font-weight:700;font-size:13px}
.status.success{background:var(--ok)}.status.failure{background:var(--bad)}.status.error{background:#7a1f2e}
.status.unscorable,.status.unfinished{background:#8a92a5}
.task{font-weight:600;font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
.mode-tag{background:#eef1f8;color:#3a4560;border-radius:6px;padding:1px 7px;font-size:12px}
.strip{display:inline-flex;gap:2px;flex-wrap:wrap;max-width:360px}
.dot{display:inline-block;width:9px;height:14px;border-radius:2px;background:#8a92a5}
.dot.e{outline:2px solid var(--bad);outline-offset:-1px}
.facts{margin-left:auto;color:var(--muted);font-size:12.5px}
.muted{color:var(--muted)}.small{font-size:12px}
.ep-body{padding:0 16px 14px;border-top:1px solid var(--line)}
.goal,.final,.feedback{margin:10px 0;padding:8px 10px;background:#f8f9fd;border-radius:8px}
.goal b,.final b,.feedback b{margin-right:6px;color:#33405e}
.feedback{background:#fff8e6;border:1px solid #f2dfa8}
.meta-row{display:flex;gap:18px;flex-wrap:wrap;color:var(--muted);font-size:13px}
.meta-row b{color:var(--ink)}
.err{color:var(--bad);background:#fdecef;border-radius:7px;padding:5px 9px;margin:6px 0}
.warn{color:#8a5a00;background:#fff4dc;border-radius:7px;padding:5px 9px;margin:6px 0}
ol.timeline{list-style:none;padding:0;margin:12px 0 0;border-left:3px solid var(--line);margin-left:6px}
li.step{display:flex;gap:14px;padding:10px 10px 10px 14px;position:relative;border-bottom:1px dashed var(--line)}
li.step::before{content:"";position:absolute;left:-8px;top:18px;width:13px;height:13px;border-radius:50%;
background:#8a92a5;border:2px solid #fff}
li.step.src-macro::before{background:var(--macro)}li.step.src-vac::before{background:var(--vac)}
li.step.src-worker::before{background:var(--worker)}li.step.src-manager::before{background:var(--manager)}
li.step.src-recovery::before{background:var(--recovery)}
li.step.has-error{background:#fff7f8}
img.shot{width:220px;height:auto;border:1px solid var(--line);border-radius:6px;cursor:zoom-in;flex:none;
align-self:flex-start;background:#fff}
img.shot.zoom{width:min(900px,70vw);cursor:zoom-out}
.shot.none{width:220px;height:60px;flex:none;display:flex;align-items:center;justify-content:center;color:var(--muted);
font-size:12px;border:1px dashed var(--line);border-radius:6px}
.step-body{min-width:0;flex:1}
.step-head{display:flex;align-items:center;gap:8px;flex-wrap:wrap}
.idx{font-weight:700;color:#33405e;min-width:28px}
code.action{background:#f1f3f9;border-radius:6px;padding:2px 7px;font-size:13px;word-break:break-all}
.where{display:flex;gap:12px;flex-wrap:wrap;font-size:12.5px;margin-top:4px}
.url{color:#3b4a7a;word-break:break-all}.ptype{background:#eef1f8;border-radius:5px;padding:0 6px;color:#3a4560}
.gate{margin-top:5px;font-size:13px;border-left:3px solid var(--manager);padding-left:8px}
.chips{margin-top:6px;display:flex;gap:5px;flex-wrap:wrap}
.chip{font-size:12px;border-radius:6px;padding:1px 7px;border:1px solid var(--line)}
.chip.ok{color:#23763f;background:#eaf7ef;border-color:#c6e8d2}.chip.bad{color:#a52a3f;background:#fdecef;
border-color:#f4c7d0}
.hidden{display:none}
@media print{details.episode{break-inside:avoid}.toolbar .controls{display:none}}
"""

_JS = """
(function(){
  var eps=[].slice.call(document.querySelectorAll('details.episode'));
  function $(id){return document.getElementById(id);}
  function apply(){
    var q=$('q').value.toLowerCase(), m=$('fmode').value, k=$('fkind').value;
    eps.forEach(function(d){
      var ok=(!q||d.dataset.search.indexOf(q)>=0)&&(!m||d.dataset.mode===m)&&(!k||d.dataset.kind===k);
      d.classList.toggle('hidden',!ok);
    });
  }
  ['q','fmode','fkind'].forEach(function(id){$(id).addEventListener('input',apply);});
  $('expand').addEventListener('click',function(){eps.forEach(function(d){if(!d.classList.contains('hidden'))d.open=true;});});
  $('collapse').addEventListener('click',function(){eps.forEach(function(d){d.open=false;});});
  document.addEventListener('click',function(e){
    if(e.target.tagName==='IMG'&&e.target.classList.contains('shot')){e.target.classList.toggle('zoom');}
  });
  if(location.hash){var d=document.querySelector(location.hash);if(d&&d.tagName==='DETAILS')d.open=true;}
})();
"""
