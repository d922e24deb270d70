"""Checks after tests/slurm/run_slurm_test.sh: did every job go through SLURM, and do the numbers match?

1. Scheduler: the job counts per rule that the SLURM run planned (the 'Job stats' table Snakemake
   prints when it starts: the whole DAG) must equal the jobs sacct reports
   for this run (every one COMPLETED, exit code 0:0, the test account, a comment naming the rule)
   plus the jobs Snakemake ran locally (``localrules``, printed as ``localrule NAME:``).
2. Results: every ``runs/*/seed*/metrics.jsonl`` of the local study and the SLURM study hold the
   same rows with identical values apart from timing keys (``wall_s``, ...); ``runs/summary.csv``
   is identical apart from timing columns; every other JSON/JSONL/CSV output (data/meta.json,
   events, summaries, experiment logs, statistics, decisions) is identical apart from timing keys,
   dates and the study name itself.

Usage: python tests/slurm/compare_runs.py --local DIR --slurm DIR --snakemake-log F --sacct F
       --account NAME [--partial]        (exit 1 with a list of differences)
       python tests/slurm/compare_runs.py --results-only --local DIR --slurm DIR
                                         (check 2 alone: any two result folders, e.g. before and after a change)
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import re
import sys
from collections import Counter
from pathlib import Path

# Keys/columns that measure time or energy (they differ between any two runs): wall_s,
# time_to_target_s, tokens_per_s, speedup, date, energy, joules, ...
# Key parts are separated by "_" or "." (decisions.json has keys like "exp4.speedup_r50").
TIMING = re.compile(
    r"(^|[_.])(wall|wallclock|time|times|runtime|seconds|elapsed|duration|speedup|throughput|date|timestamp|energy|joules)"
    r"([_.]|$)|_s$"
)
# A record (a CSV row, a list entry) that names a timing metric is timing as a whole: its
# estimate, CI and p-value measure time even though their column names do not say so.
NAME_KEYS = ("metric", "criterion", "name")
SKIP_DIRS = {"logs", "benchmarks", "report", "figures"}


def is_timing(key: str) -> bool:
    return bool(TIMING.search(key.lower()))


# --- scheduler -------------------------------------------------------------------------------


def planned_counts(text: str) -> Counter:
    """Job counts per rule from the first 'Job stats' table of a Snakemake log (the run's plan)."""
    counts: Counter = Counter()
    lines = text.splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.strip() == "Job stats:")
    except StopIteration:
        raise SystemExit("no 'Job stats:' table in the Snakemake log") from None
    for line in lines[start + 3 :]:
        parts = line.split()
        if len(parts) != 2 or parts[0] == "total":
            break
        counts[parts[0]] = int(parts[1])
    return counts


def scheduler_problems(smk_log: str, sacct: str, account: str) -> list[str]:
    expected = planned_counts(smk_log)
    local = Counter(m.group(1) for m in re.finditer(r"^local(?:rule|checkpoint) (\S+):$", smk_log, re.M))
    submitted = set(re.findall(r"has been submitted with SLURM jobid (\d+)", smk_log))
    rows = {}
    for line in sacct.splitlines():
        f = line.split("|")
        if len(f) >= 7 and f[0] in submitted:
            rows[f[0]] = {"name": f[1], "state": f[2], "exit": f[3], "account": f[4], "comment": "|".join(f[6:])}
    problems = []
    if not submitted:
        problems.append("Snakemake's log names no job submitted to SLURM")
    for jid in sorted(submitted - set(rows), key=int):
        problems.append(f"SLURM job {jid} was submitted but sacct does not know it")
    via_slurm: Counter = Counter()
    for jid, r in sorted(rows.items(), key=lambda kv: int(kv[0])):
        m = re.match(r"rule_(.+?)(_wildcards_.*)?$", r["comment"])
        if not m:
            problems.append(f"SLURM job {jid}: comment {r['comment']!r} names no rule")
            continue
        via_slurm[m.group(1)] += 1
        if r["state"] != "COMPLETED" or r["exit"] != "0:0":
            problems.append(f"SLURM job {jid} ({r['comment']}): state {r['state']}, exit code {r['exit']}")
        if r["account"] != account:
            problems.append(f"SLURM job {jid}: account {r['account']!r}, expected {account!r}")
    for rule in sorted(set(expected) | set(via_slurm) | set(local)):
        if via_slurm[rule] + local[rule] != expected[rule]:
            problems.append(
                f"rule {rule}: {expected[rule]} job(s) in the DAG, {via_slurm[rule]} through SLURM "
                f"(sacct) + {local[rule]} local"
            )
    print(f"scheduler: DAG {dict(expected)}; via SLURM (sacct, COMPLETED) {dict(via_slurm)}; local {dict(local)}")
    return problems


# --- results ---------------------------------------------------------------------------------


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return type(a) is type(b) and a == b


def _text(s: str, study: str) -> list[str]:
    """A string's words, the study name normalised and timing names dropped: a conclusion such as
    'FAIL - criteria not met: loss_gap_r50, wallclock_reduction_r50' lists timing criteria whose
    verdict depends on the machine's load, not on the numbers compared here."""
    words = re.findall(r"[A-Za-z0-9_.<>-]+", s.replace(study, "<study>"))
    return [w for w in words if not is_timing(w)]


def diff_values(a, b, where: str, names: tuple[str, str], out: list[str], skipped: set) -> None:
    """Recursive comparison; timing keys skipped, study names normalised in strings."""
    if isinstance(a, dict) and isinstance(b, dict):
        named = [a.get(k) for k in NAME_KEYS if isinstance(a.get(k), str)]
        if named and any(is_timing(v) for v in named) and named == [b.get(k) for k in NAME_KEYS if isinstance(b.get(k), str)]:
            skipped.add(f"{named[0]} (record)")
            return
        if set(a) != set(b):
            out.append(f"{where}: keys differ: {sorted(set(a) ^ set(b))}")
        for k in sorted(set(a) & set(b)):
            if is_timing(k):
                skipped.add(k)
                continue
            diff_values(a[k], b[k], f"{where}.{k}", names, out, skipped)
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            out.append(f"{where}: length {len(a)} vs {len(b)}")
        for i, (x, y) in enumerate(zip(a, b)):
            diff_values(x, y, f"{where}[{i}]", names, out, skipped)
    elif isinstance(a, str) and isinstance(b, str):
        if _text(a, names[0]) != _text(b, names[1]):
            out.append(f"{where}: {a[:120]!r} vs {b[:120]!r}")
    elif not _same(a, b):
        out.append(f"{where}: {a!r} vs {b!r}")


def read_rows(path: Path):
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    if path.suffix == ".json":
        return json.loads(path.read_text())
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def result_problems(local: Path, slurm: Path, partial: bool = False,
                    labels: tuple[str, str] = ("local", "SLURM")) -> list[str]:
    names = (local.name, slurm.name)
    problems: list[str] = []
    skipped: set = set()

    def files(root: Path) -> set[str]:
        return {
            str(p.relative_to(root))
            for p in root.rglob("*")
            if p.is_file() and p.suffix in (".json", ".jsonl", ".csv")
            and not SKIP_DIRS & set(p.relative_to(root).parts[:-1])
        }

    fl, fs = files(local), files(slurm)
    for rel in sorted(fl ^ fs):
        problems.append(f"{rel}: only in {labels[0] if rel in fl else labels[1]} results")
    metrics = sorted(r for r in fl & fs if re.fullmatch(r"runs/[^/]+/seed\d+/metrics\.jsonl", r))
    if not metrics:
        problems.append("no runs/*/seed*/metrics.jsonl to compare")
    if "runs/summary.csv" not in fl & fs and not partial:
        problems.append("runs/summary.csv missing")
    n_rows = 0
    for rel in sorted(fl & fs):
        a, b = read_rows(local / rel), read_rows(slurm / rel)
        if rel.endswith("metrics.jsonl"):
            n_rows += len(a)
        before = len(problems)
        diff_values(a, b, rel, names, problems, skipped)
        if len(problems) - before > 5:  # keep the report readable
            problems[before + 5 :] = [f"{rel}: ... {len(problems) - before - 5} more differences"]
    print(
        f"results: {len(fl & fs)} files compared ({len(metrics)} metrics.jsonl, {n_rows} step rows); "
        f"timing keys ignored: {sorted(skipped)}"
    )
    return problems


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--local", type=Path, required=True)
    ap.add_argument("--slurm", type=Path, required=True)
    ap.add_argument("--snakemake-log", type=Path)
    ap.add_argument("--sacct", type=Path)
    ap.add_argument("--account")
    ap.add_argument("--partial", action="store_true", help="only some targets ran: runs/summary.csv may be absent")
    ap.add_argument("--results-only", action="store_true",
                    help="compare the two result folders only (no scheduler check): --local and --slurm name any two")
    args = ap.parse_args(argv)
    if args.results_only:
        problems = result_problems(args.local, args.slurm, args.partial, labels=(str(args.local), str(args.slurm)))
    else:
        missing = [f"--{k.replace('_', '-')}" for k in ("snakemake_log", "sacct", "account") if getattr(args, k) is None]
        if missing:
            ap.error(f"{', '.join(missing)} required (or --results-only)")
        problems = scheduler_problems(args.snakemake_log.read_text(), args.sacct.read_text(), args.account)
        problems += result_problems(args.local, args.slurm, args.partial)
    for p in problems:
        print("DIFFERENCE:", p, file=sys.stderr)
    print("compare_runs:", "FAILED" if problems else "all checks passed")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
