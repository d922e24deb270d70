"""Wall-clock of the hybrid arm relative to the conventional baseline, with the quality gap beside it.

Trains the default study's model (config/config.yaml) for the same step budget in each arm, one
after the other in this process (same threads, same data, same seed), through the same entry as
the workflow (``run_training``: metrics, events, snapshots and gradient records included in the
timed region), and prints a table:

    arm | steps | backward | forward | predict | wall_s | wall / baseline | final val loss | gap vs baseline

``wall_s`` is the trainer's cumulative training clock (every overhead included, periodic
validation and measurement excluded, as in the study). The arms run ``--repeat`` times in turn
(A B A B ...; default 3); the table gives each arm's mean, and the ratio to the baseline is taken
per repeat (each arm against the baseline run next to it) and reported as mean, standard deviation
and range over the repeats. With ``--calibration FILE`` (a study's ``calibration.json``) each run's
contention-free time (counted work x unit costs) and its ratio are printed beside the measured ones.

This is the serial reference of the contention-free time: on a quiet machine, the study's
``hybrid_r50`` speed ratio (mean over seeds, contention-free) should be within 5% (relative) of this
benchmark's mean.
Its target: ``wall(hybrid_r50) / wall(baseline) <= 0.6``.

Usage::

    .venv/bin/python benchmarks/hybrid_speed.py [--steps 1000] [--seed 0] [--arms baseline,hybrid_r50]
        [--data DIR] [--no-record] [--json OUT] [--repeat 3] [--keep DIR] [--calibration FILE]

Data: ``--data``, else ``results/default/data`` if it holds a prepared folder, else the default
config's data prepared into a temporary folder.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    from predictive_training import config as config_mod
    from predictive_training.data.prepare import prepare
    from predictive_training.training.run import run_training

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", default=str(ROOT / "config" / "config.yaml"))
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--arms", default="baseline,hybrid_r50")
    ap.add_argument("--data", default=None)
    ap.add_argument("--no-record", action="store_true", help="skip snapshots and gradient records")
    ap.add_argument("--json", default=None, help="also write the rows as JSON here")
    ap.add_argument("--repeat", type=int, default=3,
                    help="run the arms this many times in turn (A B A B ...); means and spreads over the repeats")
    ap.add_argument("--keep", default=None, help="keep the run folders under this folder")
    ap.add_argument("--calibration", default=None,
                    help="a calibration.json of the same config: also print contention-free times")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if args.repeat < 1:
        raise SystemExit("--repeat must be >= 1")
    from predictive_training.records.costs import contention_free_s, read_calibration

    cal = read_calibration(args.calibration) if args.calibration else None

    raw = config_mod.load(args.config)
    raw["train"]["steps"] = args.steps
    raw["record"]["shadow"]["arms"] = []  # shadow mode is not training work: keep it out of the job's CPU seconds
    cfg = config_mod.validate(raw)
    arms = args.arms.split(",")
    for a in arms:
        if a not in cfg["arms"]:
            raise SystemExit(f"--arms: {a!r} is not an arm of {args.config}")
    if "baseline" not in arms:
        arms.insert(0, "baseline")

    with tempfile.TemporaryDirectory(prefix="hybrid_speed_") as tmp:
        tmp = Path(tmp)
        data = Path(args.data) if args.data else ROOT / "results" / "default" / "data"
        if not (data / "meta.json").exists():
            data = tmp / "data"
            t0 = time.perf_counter()
            prepare(cfg, data)
            print(f"prepared data in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
        runs_dir = Path(args.keep) if args.keep else tmp / "runs"
        runs: dict[str, list[dict]] = {a: [] for a in arms}
        for rep in range(args.repeat):
            for arm in arms:
                c0 = time.process_time()
                s = run_training(cfg, data, arm, args.seed, runs_dir / arm, record=not args.no_record)
                s["job_cpu_s"] = time.process_time() - c0  # whole job: includes validation and writing
                s["cost_s"] = contention_free_s(s["work"], cal) if cal else None
                print(f"{arm} (run {rep + 1}): wall {s['wall_s']:.1f} s, cpu {s['job_cpu_s']:.1f} s", file=sys.stderr)
                runs[arm].append(s)

    def stats(xs: list[float]) -> dict:
        return {"mean": statistics.fmean(xs), "sd": statistics.stdev(xs) if len(xs) > 1 else 0.0,
                "min": min(xs), "max": max(xs), "values": xs}

    base = runs["baseline"]
    cols = ("arm", "steps", "backward", "forward", "predict", "wall_s mean (sd)", "wall/base mean (sd) [range]",
            "job cpu_s", "val_loss", "gap")
    b0 = base[0]
    print(f"model: {b0['n_params']} parameters, vocab {b0['vocab_size']}, {args.steps} steps, seed {args.seed}, "
          f"threads {b0['torch_threads']}, record {'off' if args.no_record else 'on'}, "
          f"{args.repeat} serial repeat(s) per arm (ratios per repeat)")
    print(" | ".join(cols))
    print(" | ".join("---" for _ in cols))
    out = []
    for arm in arms:
        rs = runs[arm]
        s = rs[0]  # counts and losses are the same in every repeat (deterministic)
        wall = stats([r["wall_s"] for r in rs])
        ratio = stats([r["wall_s"] / b["wall_s"] for r, b in zip(rs, base)])
        gap = (s["final_val_loss"] - b0["final_val_loss"]) / b0["final_val_loss"]
        rec = {"arm": arm, "steps": s["steps"], "backward": s["backward_passes"], "forward": s["forward_passes"],
               "predict": s["predict_steps"], "wall_s": wall, "wall_rel": ratio,
               "job_cpu_s": stats([r["job_cpu_s"] for r in rs]), "cpu_s": stats([r["cpu_s"] for r in rs]),
               "final_val_loss": s["final_val_loss"], "gap": gap, "work": s["work"],
               "gate_blocks": s.get("gate_blocks"), "guard_events": s.get("guard_events"),
               "overhead_s": s.get("overhead_s")}
        if cal:
            rec["cost_s"] = s["cost_s"]
            rec["cost_rel"] = s["cost_s"] / b0["cost_s"]
        out.append(rec)
        print(f"{arm} | {rec['steps']} | {rec['backward']} | {rec['forward']} | {rec['predict']} | "
              f"{wall['mean']:.1f} ({wall['sd']:.1f}) | {ratio['mean']:.3f} ({ratio['sd']:.3f}) "
              f"[{ratio['min']:.3f}, {ratio['max']:.3f}] | {rec['job_cpu_s']['mean']:.1f} | "
              f"{rec['final_val_loss']:.4f} | {100 * gap:+.2f}%")
    for rec in out:
        if rec.get("overhead_s"):
            parts = ", ".join(f"{k} {v:.1f}" for k, v in rec["overhead_s"].items())
            print(f"{rec['arm']} overhead inside wall_s (s, first repeat): {parts}")
    if cal:
        print("contention-free (counted work x calibrated unit costs): "
              + ", ".join(f"{r['arm']} {r['cost_s']:.1f} s ({r['cost_rel']:.3f} of baseline)" for r in out))
    target = [r for r in out if r["arm"] == "hybrid_r50"]
    if target:
        m = target[0]["wall_rel"]["mean"]
        print(f"hybrid_r50 / baseline, mean of {args.repeat} serial repeats: {m:.3f} "
              f"(target <= 0.6: {'met' if m <= 0.6 else 'NOT met'}); the study's contention-free ratio should be "
              f"within 5%: [{0.95 * m:.3f}, {1.05 * m:.3f}]")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
