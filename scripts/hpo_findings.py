"""Write Experiment 6's compact findings, ``findings/<study>/``, from ``results/<study>/``.

The layout the study's findings share (STUDY.md section 7): ``decisions.json`` and ``tests.csv`` (the
pivot's study record and rows), a summary CSV (``exp6_policies.csv``: every policy's compute and regret
over the orders) with ``sweep.csv`` and the laws' tables, the key figures (PNG) and a ``README.md`` with
the commit, config, command, machine, wall time and the verdict table. Raw results stay under results/.
The project's general ``findings`` command (where it exists) supersedes this script for its own files.

Usage::

    python scripts/hpo_findings.py --configfile config/hpo.yaml [--out findings/hpo]
        [--command "snakemake --cores 2 --configfile config/hpo.yaml"]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from predictive_training.config import load
from predictive_training.report.build import git_commit
from predictive_training.report.exp6 import write_findings

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--configfile", default="config/hpo.yaml")
    ap.add_argument("--results", default=None, help="results folder (default: results/<study>)")
    ap.add_argument("--out", default=None, help="findings folder (default: findings/<study>)")
    ap.add_argument("--command", default=None, help="the command that ran the study (for the README)")
    args = ap.parse_args(argv)
    cfg = load(args.configfile)
    if "hpo" not in cfg:
        print(f"{args.configfile} has no hpo block: no Experiment 6 to summarise", file=sys.stderr)
        return 2
    results = Path(args.results or ROOT / "results" / cfg["study"])
    out = Path(args.out or ROOT / "findings" / cfg["study"])
    command = args.command or f"snakemake --cores 2 --configfile {args.configfile}"
    path = write_findings(cfg, results, out, command, args.configfile, git_commit(ROOT))
    size = sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    print(f"wrote {path} ({size / 1e6:.2f} MB)")
    subprocess.run(["git", "status", "--short", "--", str(path)], cwd=ROOT, check=False, stderr=subprocess.DEVNULL)
    return 0


if __name__ == "__main__":
    sys.exit(main())
