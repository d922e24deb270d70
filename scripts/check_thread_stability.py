"""Do Experiments 2 and 3 give the same verdict, and estimates within their intervals, when the
training jobs run with different torch thread counts?

Floating-point sums in a different order (more threads) change a run in its last bits; a fit that
amplifies such noise gives estimates that swing between machines. This script runs the study's
Exp 2 and Exp 3 logs twice, once per thread count (``--config threads=T``, each into its own
results folder ``results/<study>_threads<T>/``), then compares, per criterion of each experiment:
the mean over seeds with its bootstrap 95% interval, the verdict (the plan's rule on the mean),
and whether each mean lies inside the other run's interval. It prints a table, writes it as JSON
(``--json``), and exits 0 when every verdict agrees and every mean lies in the other interval,
1 otherwise.

Usage::

    python scripts/check_thread_stability.py --configfile config/smoke.yaml --cores 2     # minutes
    python scripts/check_thread_stability.py --configfile config/config.yaml --cores 2    # the default study
        [--threads 1 2] [--directory DIR] [--json OUT] [--experiments exp2,exp3]

Run it on a machine where nothing else competes for the cores only if you also want its timings
(it needs none). ``--directory`` runs Snakemake in another working directory (results go there).
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from predictive_training import config as config_mod  # noqa: E402
from predictive_training.stats.tests import bootstrap_ci  # noqa: E402

FOLDERS = {"exp2": "exp2_loss_prediction", "exp3": "exp3_weight_delta"}


def _run(configfile: Path, study: str, threads: int, cores: int, workdir: Path, seeds, experiments) -> None:
    targets = [f"results/{study}/experiments/{FOLDERS[e]}/seed{s}.json" for e in experiments for s in seeds]
    cmd = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "-d", str(workdir),
           "--cores", str(cores), "--configfile", str(configfile),
           "--config", f"study={study}", f"threads={threads}", "--", *targets]
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)


def _criteria(workdir: Path, study: str, exp: str, seeds) -> dict[str, dict]:
    """criterion -> {"values": per-seed estimates, "threshold", "below": lower is better}."""
    out: dict[str, dict] = {}
    for s in seeds:
        log = json.loads((workdir / f"results/{study}/experiments/{FOLDERS[exp]}/seed{s}.json").read_text())
        for name, c in log["results"]["criteria"].items():
            entry = out.setdefault(name, {"values": [], "threshold": c.get("threshold")})
            v = c.get("estimate")
            entry["values"].append(float("nan") if v is None else float(v))
            # the rule: "passed" is est > thr unless the criterion is a "below" one (rel_l2, mae)
            if v is not None and c.get("passed") is not None and c.get("threshold") is not None:
                entry["below"] = bool(c["passed"]) == (float(v) < float(c["threshold"]))
    return out


def _summarise(values: list[float]) -> dict:
    arr = np.asarray(values, dtype=float)
    arr = arr[np.isfinite(arr)]
    if arr.size == 0:
        return {"mean": float("nan"), "ci": [float("nan"), float("nan")], "n": 0}
    lo, hi = bootstrap_ci(arr) if arr.size > 1 else (float(arr[0]), float(arr[0]))
    return {"mean": float(arr.mean()), "ci": [float(lo), float(hi)], "n": int(arr.size)}


def compare(a: dict, b: dict) -> list[dict]:
    """Rows comparing two ``_criteria`` results (same experiment, two thread counts)."""
    rows = []
    for name in sorted(set(a) | set(b)):
        if name not in a or name not in b:
            rows.append({"criterion": name, "ok": False, "why": "missing in one run"})
            continue
        sa, sb = _summarise(a[name]["values"]), _summarise(b[name]["values"])
        thr = a[name]["threshold"]
        below = a[name].get("below", b[name].get("below", False))

        def verdict(m):
            if thr is None or not math.isfinite(m):
                return None
            return bool(m < thr) if below else bool(m > thr)

        va, vb = verdict(sa["mean"]), verdict(sb["mean"])
        inside = (sa["ci"][0] <= sb["mean"] <= sa["ci"][1]) and (sb["ci"][0] <= sa["mean"] <= sb["ci"][1])
        rows.append({"criterion": name, "threshold": thr, "lower_is_better": below, "a": sa, "b": sb,
                     "verdict_a": va, "verdict_b": vb, "same_verdict": va == vb, "each_mean_in_other_ci": inside,
                     "ok": va == vb and inside})
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configfile", type=Path, default=ROOT / "config" / "smoke.yaml")
    ap.add_argument("--threads", type=int, nargs=2, default=[1, 2])
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--directory", type=Path, default=ROOT)
    ap.add_argument("--experiments", default="exp2,exp3")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    cfg = config_mod.load(args.configfile)
    experiments = [e.strip() for e in args.experiments.split(",") if e.strip()]
    unknown = sorted(set(experiments) - set(FOLDERS))
    if unknown:
        ap.error(f"--experiments: unknown {unknown}; choose from {sorted(FOLDERS)}")
    studies = [f"{cfg['study']}_threads{t}" for t in args.threads]
    for study, t in zip(studies, args.threads):
        _run(args.configfile.resolve(), study, t, args.cores, args.directory.resolve(), cfg["seeds"], experiments)
    report, ok = {"configfile": str(args.configfile), "threads": args.threads, "studies": studies}, True
    for exp in experiments:
        rows = compare(*(_criteria(args.directory, s, exp, cfg["seeds"]) for s in studies))
        report[exp] = rows
        print(f"\n{exp}: threads {args.threads[0]} (a) vs {args.threads[1]} (b), mean over {len(cfg['seeds'])} seeds "
              "[bootstrap 95% CI]")
        for r in rows:
            if "a" not in r:
                print(f"  {r['criterion']:<22} {r['why']}")
                ok = False
                continue
            fmt = lambda s: f"{s['mean']:.4g} [{s['ci'][0]:.4g}, {s['ci'][1]:.4g}]"  # noqa: E731
            print(f"  {r['criterion']:<22} a {fmt(r['a']):<34} b {fmt(r['b']):<34} verdict {r['verdict_a']}/"
                  f"{r['verdict_b']}  {'OK' if r['ok'] else 'DIFFERS'}")
            ok &= r["ok"]
    report["ok"] = ok
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    print("\nsame verdicts and estimates within each other's intervals:" if ok else "\nNOT stable:", ok)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
