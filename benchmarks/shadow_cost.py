"""What shadow mode costs a baseline run, in all and by part, against the run itself.

Trains the baseline of a study config (default: config/config.yaml) twice in this process, one
after the other (same threads, data and seed), through the workflow's entry (``run_training``):
once without shadows (``record.shadow.arms: []``) and once with the config's ``record.shadow``.
Prints the training clock of both (``wall_s``: shadows are excluded from it, so the two should
agree), the shadow's own seconds (``shadow_s``) and their parts (``shadow_parts_s``: held-out
losses, scale search, span oracle, rollouts, loss-forecast origins, scoring, each predictor's
observing), the job's CPU seconds with and without shadows, and the ratios to the run's
``wall_s``. The issue's budget: about 40-60 s of shadow work per default baseline run (a
baseline run alone is about 55 s on one quiet core).

Run it on a quiet machine (the ratios are what carry over; absolute seconds depend on the CPU)::

    .venv/bin/python benchmarks/shadow_cost.py [--config config/config.yaml] [--seed 0] [--data DIR]
        [--repeat N] [--json OUT]

Data: ``--data``, else ``results/<study>/data`` if it holds a prepared folder, else the config's data
prepared into a temporary folder.
"""

from __future__ import annotations

import argparse
import copy
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
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data", default=None)
    ap.add_argument("--repeat", type=int, default=1,
                    help="run both this many times in turn and keep each one's fastest run (shared machines)")
    ap.add_argument("--json", default=None, help="also write the results as JSON here")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    cfg = config_mod.load(args.config)
    if "baseline" not in cfg["record"]["shadow"]["arms"]:
        raise SystemExit(f"{args.config}: record.shadow.arms does not name the baseline: nothing to measure")
    plain = copy.deepcopy(cfg)
    plain["record"]["shadow"]["arms"] = []
    plain = config_mod.validate(plain)

    with tempfile.TemporaryDirectory(prefix="shadow_cost_") as tmp:
        tmp = Path(tmp)
        data = Path(args.data) if args.data else ROOT / "results" / cfg["study"] / "data"
        if not (data / "meta.json").exists():
            data = tmp / "data"
            t0 = time.perf_counter()
            prepare(cfg, data)
            print(f"prepared data in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
        best: dict[str, dict] = {}
        for rep in range(args.repeat):
            for name, c in (("without", plain), ("with", cfg)):
                c0 = time.process_time()
                s = run_training(c, data, "baseline", args.seed, tmp / f"{name}{rep}")
                s["cpu_s"] = time.process_time() - c0
                key = "shadow_s" if name == "with" else "wall_s"
                if name not in best or s[key] < best[name][key]:
                    best[name] = s
    a, b = best["without"], best["with"]
    out = {"config": args.config, "seed": args.seed, "repeat": args.repeat,
           "wall_s_without": a["wall_s"], "wall_s_with": b["wall_s"], "shadow_s": b["shadow_s"],
           "shadow_over_wall": b["shadow_s"] / a["wall_s"], "cpu_s_without": a["cpu_s"], "cpu_s_with": b["cpu_s"],
           "parts_s": b["shadow_parts_s"], "shadow": b["shadow"]}
    print(f"baseline wall_s without shadows {a['wall_s']:.1f} s, with {b['wall_s']:.1f} s (shadows excluded)")
    print(f"shadow_s {b['shadow_s']:.1f} s = {out['shadow_over_wall']:.2f} x the run's wall_s; job CPU "
          f"{a['cpu_s']:.1f} s -> {b['cpu_s']:.1f} s")
    print(f"{b['shadow']['origins']} origins, {b['shadow']['forecast_origins']} loss-forecast origins, "
          f"{b['shadow']['rows']} rows, search cells {b['shadow']['search_cells']}")
    for k, v in sorted(b["shadow_parts_s"].items(), key=lambda kv: -kv[1]):
        print(f"  {k:18s} {v:7.1f} s  ({v / a['wall_s']:.3f} x wall_s)")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
