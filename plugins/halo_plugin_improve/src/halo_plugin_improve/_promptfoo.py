"""``halo evals export --promptfoo DIR``: the same suite, run by Promptfoo.

Writes into ``DIR``:

* ``halo_run.json`` — each task's episodes of the run (answer, actions, pages, steps,
  success), as the gate reads them;
* ``halo_provider.py`` — a Promptfoo Python provider (``call_api``) that answers a prompt
  naming a task with that task's episodes as JSON — no model, no browser;
* ``promptfooconfig.yaml`` — one test per eval: the task as the prompt variable, and a
  JavaScript assertion doing what the gate's check does, over every episode (a
  ``rubric`` eval becomes Promptfoo's ``llm-rubric``, which needs a grader model there too).

``npx promptfoo@<version> eval -c DIR/promptfooconfig.yaml`` then passes and fails the
same evals ``halo evals run`` does.
"""

from __future__ import annotations

import json
from pathlib import Path

import attrs

from halo_plugin_traces import RunDir

from halo_plugin_improve._episodes import episode_views
from halo_plugin_improve._suite import EvalSuite

__all__ = ["PROVIDER", "export_promptfoo", "js_assertion"]

PROVIDER = '''"""Promptfoo provider answering from a HALO run (written by `halo evals export --promptfoo`)."""
import json
from pathlib import Path

RUN = json.loads((Path(__file__).parent / "halo_run.json").read_text(encoding="utf-8"))


def call_api(prompt, options, context):
    task = (context or {}).get("vars", {}).get("task") or prompt.strip()
    episodes = RUN["tasks"].get(task)
    if episodes is None:
        return {"error": f"the run {RUN['run_id']} has no episode of task {task}"}
    return {"output": json.dumps({"task": task, "episodes": episodes})}
'''

_JS = {
    "answer_contains": "e.answer.toLowerCase().includes(V)",
    "answer_excludes": "!e.answer.toLowerCase().includes(V)",
    "actions_avoid": "!e.actions.some(a => M(a))",
    "actions_include": "e.actions.some(a => M(a))",
    "max_steps": "e.steps <= N",
    "visits": "e.pages.some(p => p.toLowerCase().includes(V))",
    "avoids_visit": "!e.pages.some(p => p.toLowerCase().includes(V))",
    "ends_on": "e.pages.length > 0 && e.pages[e.pages.length - 1].toLowerCase().includes(V)",
    "task_success": "e.success === true",
}


def js_assertion(kind: str, value) -> str:
    """A Promptfoo ``javascript`` assertion: the gate's check, over every episode of the task."""
    text = json.dumps(str(value).strip().lower()) if value is not None else "null"
    pattern = str(value or "")
    if "(" in pattern:
        match = f"(a => a.replace(/\"/g, \"'\").toLowerCase().includes({json.dumps(pattern.replace(chr(34), chr(39)).lower())}))"
    else:
        match = f"(a => a.split('(')[0].trim().toLowerCase() === {text})"
    body = _JS[kind].replace("V", text).replace("N", str(value)).replace("M(a)", f"{match}(a)")
    # two lines: Promptfoo runs a multi-line value as a function body as it is, but turns a
    # one-line value into ``return <value>`` (a one-liner must be a bare expression)
    return f"const r = JSON.parse(output);\nreturn r.episodes.length > 0 && r.episodes.every(e => {body});"


def export_promptfoo(suite: EvalSuite, run: RunDir, folder: Path) -> Path:
    import yaml

    folder.mkdir(parents=True, exist_ok=True)
    tasks: dict[str, list] = {}
    for e in episode_views(run):
        d = attrs.asdict(e)
        d["pages"] = [f"{u} {t}".strip() for u, t in zip(e.urls, e.titles)] or list(e.urls)
        tasks.setdefault(e.task, []).append(d)
    (folder / "halo_run.json").write_text(json.dumps({"run_id": run.run_id, "tasks": tasks}, indent=1),
                                          encoding="utf-8")
    (folder / "halo_provider.py").write_text(PROVIDER, encoding="utf-8")
    tests = []
    for case in suite.evals:
        if case.kind == "rubric":
            check = {"type": "llm-rubric", "value": str(case.value)}
        else:
            check = {"type": "javascript", "value": js_assertion(case.kind, case.value)}
        tests.append({"description": case.id, "vars": {"task": case.task}, "assert": [check],
                      "metadata": {"kind": case.kind, "feedback": [s.get("feedback_id") for s in case.sources]}})
    config = {"description": f"HALO eval suite {suite.name} v{suite.version} on run {run.run_id}",
              "prompts": ["{{task}}"], "providers": [{"id": "file://halo_provider.py", "label": "halo-run"}],
              "tests": tests}
    path = folder / "promptfooconfig.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True, width=200), encoding="utf-8")
    return path
