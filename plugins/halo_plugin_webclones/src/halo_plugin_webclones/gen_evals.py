"""Write every task's eval script from the one template.

    python -m halo_plugin_webclones.gen_evals            # rewrite eval_scripts/
    python -m halo_plugin_webclones.gen_evals --check    # exit 1 if a script differs

REAL's evaluator runs each ``eval_scripts/eval_<site>_<n>.py`` on its own in a
subprocess, so the scripts stay committed, self-contained files. They are made from
:mod:`halo_plugin_webclones._eval_template` (shared helpers, one section per site) and
the task's ``check`` in :mod:`halo_plugin_webclones._eval_checks`; the task JSON gives
the script's file name, site, id and goal. A test regenerates them and compares bytes,
so a hand edit to a generated script fails CI.
"""

from __future__ import annotations

import argparse
import ast
import string
import sys
from pathlib import Path

from .tasks import EVAL_SCRIPTS_DIR, PACKAGE_DIR, list_tasks

__all__ = ["GenerationError", "render", "render_all", "stale_scripts", "write_scripts", "main"]

TEMPLATE_PATH = PACKAGE_DIR / "_eval_template.py"
CHECKS_PATH = PACKAGE_DIR / "_eval_checks.py"
SECTION_MARK = "#@ "


class GenerationError(Exception):
    """The template, the checks and the task JSONs do not fit together."""


def _sections(text: str) -> dict[str, str]:
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None  # the preamble before the first mark is not copied
    for line in text.splitlines(keepends=True):
        if line.startswith(SECTION_MARK):
            name = line[len(SECTION_MARK):].strip()
            if name in sections:
                raise GenerationError(f"{TEMPLATE_PATH.name}: section {name!r} appears twice")
            current = sections[name] = []
        elif current is not None:
            current.append(line)
    missing = {"header", "common", "check", "main"} - set(sections)
    if missing:
        raise GenerationError(f"{TEMPLATE_PATH.name} lacks the section(s) {', '.join(sorted(missing))}")
    return {name: "".join(lines) for name, lines in sections.items()}


def _checks(text: str) -> dict[str, str]:
    """Function name -> its source, renamed ``check``."""
    out = {}
    for node in ast.parse(text).body:
        if isinstance(node, ast.FunctionDef):
            source = ast.get_source_segment(text, node) or ""
            out[node.name] = source.replace(f"def {node.name}(", "def check(", 1)
    return out


def check_name(task_id: str) -> str:
    """``mail-2`` -> ``mail_2``: the task's function in _eval_checks.py."""
    return task_id.replace("-", "_")


def _render(task: dict, sections: dict[str, str], checks: dict[str, str]) -> str:
    tid = str(task["id"])
    site = str(task.get("website", {}).get("id", ""))
    if f"site {site}" not in sections:
        raise GenerationError(f"task {tid}: {TEMPLATE_PATH.name} has no section 'site {site}'; add '#@ site {site}'")
    check = checks.get(check_name(tid))
    if check is None:
        raise GenerationError(f"task {tid} has no check: add 'def {check_name(tid)}(data):' to {CHECKS_PATH.name}")
    header = string.Template(sections["header"]).safe_substitute(task_id=tid, goal=" ".join(str(task["goal"]).split()))
    return header + sections["common"] + sections[f"site {site}"] + check + "\n\n\n" + sections["main"]


def _script_name(task: dict) -> str:
    scripts = [e.get("script") for e in task.get("evals") or () if e.get("script")]
    if len(scripts) != 1:
        raise GenerationError(f"task {task.get('id')}: expected one eval script in its JSON, found {scripts}")
    return str(scripts[0])


def render_all() -> dict[str, str]:
    """Script file name -> its text, for every task of the catalogue."""
    sections = _sections(TEMPLATE_PATH.read_text(encoding="utf-8"))
    checks = _checks(CHECKS_PATH.read_text(encoding="utf-8"))
    tasks = list_tasks()
    scripts = {_script_name(t): _render(t, sections, checks) for t in tasks}
    unused = set(checks) - {check_name(t["id"]) for t in tasks}
    if unused:
        raise GenerationError(f"{CHECKS_PATH.name} has checks for no task: {', '.join(sorted(unused))}")
    return scripts


def render(task_id: str) -> str:
    """The eval script text of one task (``mail-2``)."""
    for task in list_tasks():
        if task["id"] == task_id:
            return render_all()[_script_name(task)]
    raise GenerationError(f"unknown webclones task {task_id!r}")


def stale_scripts(out_dir: Path = EVAL_SCRIPTS_DIR) -> list[str]:
    """Names of scripts in ``out_dir`` that differ from, lack or are not in the generated set."""
    wanted = render_all()
    present = {p.name for p in Path(out_dir).glob("eval_*.py")}
    out = sorted(present - set(wanted))
    for name, text in wanted.items():
        path = Path(out_dir) / name
        if not path.is_file() or path.read_bytes() != text.encode("utf-8"):
            out.append(name)
    return sorted(out)


def write_scripts(out_dir: Path = EVAL_SCRIPTS_DIR) -> list[str]:
    """(Re)write every script into ``out_dir``, remove ``eval_*.py`` no task names; returns changed names."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    changed = stale_scripts(out_dir)
    wanted = render_all()
    for name in changed:
        path = out_dir / name
        if name in wanted:
            path.write_bytes(wanted[name].encode("utf-8"))
        else:
            path.unlink()
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m halo_plugin_webclones.gen_evals", description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a script is not as generated")
    parser.add_argument("--out", type=Path, default=EVAL_SCRIPTS_DIR, help="scripts folder (default: the package's)")
    args = parser.parse_args(argv)
    try:
        if args.check:
            stale = stale_scripts(args.out)
            for name in stale:
                print(f"{args.out / name}: not as generated; run `python -m halo_plugin_webclones.gen_evals`",
                      file=sys.stderr)
            return 1 if stale else 0
        changed = write_scripts(args.out)
    except GenerationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{len(changed)} script(s) written to {args.out}" + (f": {', '.join(changed)}" if changed else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
