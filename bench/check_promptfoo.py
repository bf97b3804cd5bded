"""Does Promptfoo pass and fail the same evals as ``halo evals run``? (the real Promptfoo CLI)

1. Makes two small runs of the same tasks through HALO's loop (a good and a bad scripted
   worker; the improve plugin's test runs), adds a reviewer's feedback to the bad one and
   turns it into an eval suite (``halo evals generate``).
2. For each run: ``halo evals run`` (the gate's JSON) and ``halo evals export --promptfoo``,
   then Promptfoo itself: ``<promptfoo> eval -c promptfooconfig.yaml -o results.json``.
3. Compares pass/fail eval by eval, prints a table, exits 1 on any disagreement.

    python bench/check_promptfoo.py [--promptfoo "npx -y promptfoo@0.121.3"] [--keep DIR]

Promptfoo 0.121.3 is the newest release whose ``engines`` accept Debian's Node 20. Its
``better-sqlite3`` dependency downloads a prebuilt binary from GitHub; where only the
package registries are reachable npm builds it from source instead, which needs g++, make
and Node's headers: ``npm_config_nodedir=/usr`` points node-gyp at ``/usr/include/node``
(shipped by NodeSource's ``nodejs``; Debian's own is ``libnode-dev``). This script sets it
when that folder exists and the variable is unset. Telemetry and update checks are off.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROMPTFOO = "npx -y promptfoo@0.121.3"


def promptfoo_env() -> dict[str, str]:
    env = dict(os.environ, PROMPTFOO_DISABLE_TELEMETRY="1", PROMPTFOO_DISABLE_UPDATE="1",
               PROMPTFOO_PYTHON=os.environ.get("PROMPTFOO_PYTHON", "python3"))
    if "npm_config_nodedir" not in env and Path("/usr/include/node/node.h").exists():
        env["npm_config_nodedir"] = "/usr"
    return env


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--promptfoo", default=os.environ.get("HALO_PROMPTFOO", PROMPTFOO),
                    help=f"command that runs Promptfoo (default {PROMPTFOO!r}, or $HALO_PROMPTFOO)")
    ap.add_argument("--keep", default="", help="folder to keep the runs, suite and results in (default: temporary)")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds for each Promptfoo run (first npx install)")
    args = ap.parse_args(argv)

    sys.path.insert(0, str(ROOT / "plugins" / "halo_plugin_improve" / "tests"))
    from click.testing import CliRunner
    from conftest import make_run  # the improve plugin's two little runs

    from halo_core.cli import cli
    from halo_plugin_traces import add_feedback

    keep = Path(args.keep) if args.keep else None
    with tempfile.TemporaryDirectory() as tmp:
        root = keep or Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        runs = {"good": make_run(root / "good", "run_good", good=True),
                "bad": make_run(root / "bad", "run_bad", good=False)}
        add_feedback(runs["bad"], task="graph.shop-price", attempt=0, mode="baseline_worker",
                     text="Answered 41 without reading the price list",
                     required=['answer "42"', 'visit "price"', "within 6 steps"],
                     prohibited=["action noop", 'answer contains "41"'])
        add_feedback(runs["bad"], task="graph.shop-buy", attempt=0, mode="baseline_worker", text="bought it",
                     required=["succeed", 'end on "Thanks"', "within 12 steps"], prohibited=["action report_infeasible"])
        suite = root / "evals.yaml"
        out = CliRunner().invoke(cli, ["evals", "generate", str(runs["bad"]), "--out", str(suite)])
        if out.exit_code != 0:
            print(out.output, file=sys.stderr)
            return 2
        print(out.output.strip())
        disagreements, rows = 0, []
        for name, run in runs.items():
            gate_json = root / f"gate-{name}.json"
            CliRunner().invoke(cli, ["evals", "run", str(suite), "--run", str(run), "--json", str(gate_json),
                                     "--junit", str(root / f"gate-{name}.xml")])
            gate = {o["id"]: o["status"] for o in json.loads(gate_json.read_text())["evals"]}
            folder = root / f"promptfoo-{name}"
            out = CliRunner().invoke(cli, ["evals", "export", str(suite), "--run", str(run), "--promptfoo", str(folder)])
            if out.exit_code != 0:
                print(out.output, file=sys.stderr)
                return 2
            results = folder / "results.json"
            cmd = [*shlex.split(args.promptfoo), "eval", "-c", "promptfooconfig.yaml", "--no-cache",
                   "--no-progress-bar", "--no-table", "-o", str(results)]
            started = time.perf_counter()
            proc = subprocess.run(cmd, cwd=folder, env=promptfoo_env(), capture_output=True, text=True,
                                  timeout=args.timeout)
            took = time.perf_counter() - started
            if not results.exists():
                print(f"Promptfoo wrote no results for the {name} run (exit {proc.returncode}); its output ends:\n"
                      + (proc.stdout + proc.stderr)[-3000:], file=sys.stderr)
                return 2
            pf = {r["testCase"]["description"]: ("pass" if r["success"] else "fail")
                  for r in json.loads(results.read_text())["results"]["results"]}
            print(f"\n{name} run: Promptfoo exit {proc.returncode} in {took:.1f} s")
            print(f"| eval | halo evals run | Promptfoo | agree |\n|---|---|---|:-:|")
            for eval_id in sorted(gate):
                ok = gate[eval_id] == pf.get(eval_id, "missing") or (gate[eval_id] == "skipped" and eval_id not in pf)
                disagreements += not ok
                rows.append((name, eval_id, ok))
                print(f"| {eval_id} | {gate[eval_id]} | {pf.get(eval_id, 'missing')} | {'yes' if ok else 'NO'} |")
            # Promptfoo's own exit status is its gate: non-zero when a test failed
            if (proc.returncode == 0) != all(s != "fail" for s in gate.values()):
                print(f"Promptfoo's exit status {proc.returncode} disagrees with the gate's", file=sys.stderr)
                disagreements += 1
        print(f"\n{len(rows) - sum(not ok for _, _, ok in rows)}/{len(rows)} evals agree; "
              f"{'OK' if not disagreements else 'DISAGREEMENT'}")
        return 0 if not disagreements else 1


if __name__ == "__main__":
    sys.exit(main())
