"""The pre-registered GPU check of the scaling analysis: what one Predict phase costs at the
paper scale, measured, and the progress an arm would need there.

``plan`` (``bash benchmarks/gpu_plan.sh OUT``) measures the unit costs of the paper config on the device
it runs on and writes each arm's nominal work. From them, per predicted arm: the cost of one Predict
phase in Full steps, ``c = (contention-free time - backward passes x Full step) / (phases x Full step)``,
and the break-even effective progress ``c / Y`` (report/scaling.py: below the frontier at equal time
exactly when the Predict phases' effective progress exceeds it). The decision rule, declared before any
GPU ran it (FINDINGS.md, "Pre-registered GPU check"): for each predicted arm kind, a paper-scale study is
predicted to put it below the frontier at equal time only if its ``c / Y`` on the GPU is below the upper
end of the largest effective progress interval the CPU grid measured for that kind
(``findings/scaling/break_even.csv``: mean + 2 sd over seeds); otherwise its equal-time verdict at paper
scale is predicted No-Go and its GPU hours are better spent elsewhere.

    python benchmarks/break_even.py results/gpu_plan/plan_paper.json [--grid findings/scaling/break_even.csv]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd


def phase_costs(plan: dict, horizons: dict[str, int]) -> list[dict]:
    units = plan["units"]
    full = units["full_step"]["s"]
    rows = []
    for arm, job in plan["jobs"].items():
        work = job["work"]
        phases = work.get("apply_delta", 0)
        if not phases:
            continue
        extra = sum(units[u]["s"] * n for u, n in work.items() if u != "full_step" and u in units)
        c = extra / (phases * full)
        y = horizons.get(arm)
        rows.append({"arm": arm, "kind": job["kind"], "horizon": y, "phases": phases, "phase_cost_full_steps": c,
                     "break_even_progress": c / y if y else None})
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("plan", help="plan JSON (python -m predictive_training plan ... --json FILE)")
    ap.add_argument("--config", default="config/paper.yaml", help="the planned config (default config/paper.yaml)")
    ap.add_argument("--grid", default="findings/scaling/break_even.csv", help="the CPU grid's break-even table")
    args = ap.parse_args(argv)
    from predictive_training.config import arm_horizon, is_predicted, load

    cfg = load(args.config)
    horizons = {a: arm_horizon(cfg, a) for a in cfg["arms"] if is_predicted(cfg, a)}
    plan = json.loads(Path(args.plan).read_text())
    rows = phase_costs(plan, horizons)
    grid = pd.read_csv(args.grid) if Path(args.grid).exists() else None
    print(f"device: {plan.get('device')}; study {plan.get('study')} ({plan.get('n_params'):,} parameters)")
    print("arm | kind | Y | c (Full steps per Predict phase) | needed p = c / Y | largest CPU p (+2 sd) | predicted")
    for r in rows:
        best = None
        if grid is not None and (grid.kind == r["kind"]).any():
            g = grid[grid.kind == r["kind"]]
            best = float((g.effective_progress + 2 * g.effective_progress_sd.fillna(0)).max())
        verdict = ("-" if best is None or r["break_even_progress"] is None else
                   "below the frontier possible" if r["break_even_progress"] < best else "No-Go at equal time")
        r.update(largest_cpu_progress=best, predicted=verdict)
        print(f"{r['arm']} | {r['kind']} | {r['horizon']} | {r['phase_cost_full_steps']:.2f} | "
              f"{r['break_even_progress'] if r['break_even_progress'] is None else round(r['break_even_progress'], 4)} | "
              f"{best if best is None else round(best, 4)} | {verdict}")
    out = Path(args.plan).with_name("break_even.json")
    out.write_text(json.dumps(rows, indent=2) + "\n")
    print(f"written: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
