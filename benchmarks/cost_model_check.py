"""Does counted work x calibrated unit costs reproduce a run's measured training time?

Calibrates the unit costs of a config (``training/calibrate.py``, as the ``calibrate`` rule does),
then trains the chosen arms one after the other in this process (the workflow's entry,
``run_training``, recorders included), and prints per run the measured ``wall_s`` (the training
clock: every overhead, measurement and validation excluded), the contention-free time
``work . unit costs`` and their ratio, with the work counted per unit. On a quiet machine the
ratio should be within a few percent of 1; on a shared one both sides are disturbed (the
calibration too), so run it where nothing else runs.

Usage::

    python benchmarks/cost_model_check.py [--config config/smoke.yaml] [--data DIR] [--seed 0]
        [--arms baseline,hybrid_r50,skip_r50,repeat_r50] [--calls 12] [--repeats 5] [--json OUT]

Data: ``--data``, else the config's data prepared into a temporary folder. Arms of the
leave-one-seed-out kinds (``nowcaster``, ``rssm_pretrained``) run with the calibration's untrained
stand-ins of their size (``training/calibrate.py``: ``stand_in_models``): their costs, not their
losses, are compared here. E.g. the field's arms::

    python benchmarks/cost_model_check.py --config config/frontier.yaml \
        --arms baseline,verified_r50_y10,dmd_r50_y50,nowcaster_r50_y50,rssm_pretrained_r50_y10
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
    import torch

    from predictive_training import config as config_mod
    from predictive_training.data.prepare import TokenData, prepare
    from predictive_training.records.costs import contention_free_s
    from predictive_training.training.calibrate import STAND_INS, calibrate, stand_in_models
    from predictive_training.training.run import run_training

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", default=str(ROOT / "config" / "smoke.yaml"))
    ap.add_argument("--data", default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--arms", default="baseline,hybrid_r50,skip_r50,repeat_r50")
    ap.add_argument("--calls", type=int, default=12)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    cfg = config_mod.load(args.config)
    unknown = [a for a in args.arms.split(",") if a not in cfg["arms"]]
    if unknown:
        ap.error(f"--arms: {unknown} not in config key 'arms' of {args.config} ({', '.join(cfg['arms'])})")
    torch.set_num_threads(cfg["threads"])
    with tempfile.TemporaryDirectory(prefix="cost_check_") as tmp:
        tmp = Path(tmp)
        data = Path(args.data) if args.data else tmp / "data"
        if not (data / "meta.json").exists():
            prepare(cfg, data)
        t0 = time.perf_counter()
        cal = calibrate(cfg, data, tmp / "calibration.json", calls=args.calls, repeats=args.repeats)
        print(f"calibration: {len(cal['units'])} units in {time.perf_counter() - t0:.1f} s "
              f"({cal['device']}, {cal['torch_threads']} thread(s))")
        for name, u in cal["units"].items():
            print(f"  {name:<28} {1e3 * u['s']:10.3f} ms ({u['statistic']}, IQR {1e3 * u['q25_s']:.3f}-"
                  f"{1e3 * u['q75_s']:.3f}, n={u['n']})")
        rows = []
        arms = args.arms.split(",")
        files = {}
        for kind in sorted({cfg["arms"][a]["kind"] for a in arms} & set(STAND_INS)):
            files.update(stand_in_models(cfg, kind, TokenData(data).vocab_size, args.seed, tmp / "models"))
        for arm in arms:
            s = run_training(cfg, data, arm, args.seed, tmp / "runs" / arm, files=files or None)
            cost = contention_free_s(s["work"], cal)
            rows.append({"arm": arm, "wall_s": s["wall_s"], "cost_s": cost, "ratio": cost / s["wall_s"],
                         "cpu_s": s["cpu_s"], "work": s["work"]})
    print("arm | wall_s (measured) | cost_s (work . unit costs) | cost / wall | work")
    for r in rows:
        work = ", ".join(f"{k} {v}" for k, v in r["work"].items())
        print(f"{r['arm']} | {r['wall_s']:.2f} | {r['cost_s']:.2f} | {r['ratio']:.3f} | {work}")
    if args.json:
        Path(args.json).write_text(json.dumps({"calibration": cal, "runs": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
