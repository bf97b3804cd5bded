"""Write an experiments file whose task subset is every expert task at every seed asked for.

    python plugins/halo_plugin_miniwob/scripts/expert_subset.py --seeds 50 > expert50.yaml
    halo eval --suite miniwob --policy expert --config expert50.yaml --subset expert50 ...

5,750 task ids (115 tasks x 50 seeds) are too long for one ``--tasks`` argument (Linux
caps a single argument at 128 KiB); an experiments file's ``task_subsets`` holds them.
"""

from __future__ import annotations

import argparse
import sys

import yaml

from halo_plugin_miniwob.experts import SOLVERS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=50)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--tasks", default="", help="comma-separated task names (default: every task with a solver)")
    parser.add_argument("--name", default="", help="the subset's name (default: expert<seeds>)")
    args = parser.parse_args(argv)
    names = [t for t in args.tasks.split(",") if t] or sorted(SOLVERS)
    unknown = [n for n in names if n not in SOLVERS]
    if unknown:
        parser.error(f"no expert for {', '.join(unknown)}")
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    ids = [f"miniwob.{name}@{seed}" for name in names for seed in seeds]
    yaml.safe_dump({"task_subsets": {args.name or f"expert{args.seeds}": ids}}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
