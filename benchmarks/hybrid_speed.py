"""Wall-clock of the hybrid arm relative to the conventional baseline, with the quality gap beside it.

Trains the default study's model (config/config.yaml) for the same step budget in each arm, one
after the other in this process (same threads, same data, same seed), through the same entry as
the workflow (``run_training``: metrics, events, snapshots and gradient records included in the
timed region), and prints a table:

    arm | steps | backward | forward | predict | wall_s | wall / baseline | final val loss | gap vs baseline

``wall_s`` is the trainer's cumulative training clock (every overhead included, periodic
validation excluded, as in the study). The issue's target is ``wall(hybrid_r50) / wall(baseline)
<= 0.6``.

Usage::

    .venv/bin/python benchmarks/hybrid_speed.py [--steps 1000] [--seed 0] [--arms baseline,hybrid_r50]
        [--data DIR] [--no-record] [--json OUT] [--repeat N] [--keep DIR]

Data: ``--data``, else ``results/default/data`` if it holds a prepared folder, else the default
config's data prepared into a temporary folder.
"""

from __future__ import annotations

import argparse
import json
import logging
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
    ap.add_argument("--repeat", type=int, default=1,
                    help="run the arms this many times in turn (A B A B ...) and keep each arm's fastest "
                         "run: on a shared machine the minimum is the least disturbed measurement")
    ap.add_argument("--keep", default=None, help="keep the run folders under this folder")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

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
        best: dict[str, dict] = {}
        for rep in range(args.repeat):
            for arm in arms:
                c0 = time.process_time()
                s = run_training(cfg, data, arm, args.seed, runs_dir / arm, record=not args.no_record)
                s["cpu_s"] = time.process_time() - c0  # whole job: includes validation and writing
                print(f"{arm} (run {rep + 1}): wall {s['wall_s']:.1f} s, cpu {s['cpu_s']:.1f} s", file=sys.stderr)
                if arm not in best or s["wall_s"] < best[arm]["wall_s"]:
                    best[arm] = s
        rows = [best[a] for a in arms]

    base = next(r for r in rows if r["arm"] == "baseline")
    cols = ("arm", "steps", "backward", "forward", "predict", "wall_s", "wall/base", "job cpu_s", "val_loss", "gap")
    print(f"model: {base['n_params']} parameters, vocab {base['vocab_size']}, {args.steps} steps, seed {args.seed}, "
          f"threads {base['torch_threads']}, record {'off' if args.no_record else 'on'}, "
          f"fastest of {args.repeat} run(s) per arm")
    print(" | ".join(cols))
    print(" | ".join("---" for _ in cols))
    out = []
    for s in rows:
        gap = (s["final_val_loss"] - base["final_val_loss"]) / base["final_val_loss"]
        rec = {"arm": s["arm"], "steps": s["steps"], "backward": s["backward_passes"],
               "forward": s["forward_passes"], "predict": s["predict_steps"], "wall_s": s["wall_s"],
               "wall_rel": s["wall_s"] / base["wall_s"], "cpu_s": s["cpu_s"], "final_val_loss": s["final_val_loss"], "gap": gap,
               "gate_blocks": s.get("gate_blocks"), "guard_events": s.get("guard_events"),
               "overhead_s": s.get("overhead_s")}
        out.append(rec)
        print(f"{rec['arm']} | {rec['steps']} | {rec['backward']} | {rec['forward']} | {rec['predict']} | "
              f"{rec['wall_s']:.1f} | {rec['wall_rel']:.3f} | {rec['cpu_s']:.1f} | {rec['final_val_loss']:.4f} | {100 * gap:+.2f}%")
    for s in rows:
        if s.get("overhead_s"):
            parts = ", ".join(f"{k} {v:.1f}" for k, v in s["overhead_s"].items())
            print(f"{s['arm']} overhead inside wall_s (s): {parts}")
    target = [r for r in out if r["arm"] == "hybrid_r50"]
    if target:
        ok = target[0]["wall_rel"] <= 0.6
        print(f"target wall(hybrid_r50)/wall(baseline) <= 0.6: {target[0]['wall_rel']:.3f} "
              f"({'met' if ok else 'NOT met'})")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
