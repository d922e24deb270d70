"""How noisy is the line search's decision? The batch-to-batch spread of the loss difference between
two candidate scales, against the typical difference.

Runs one predictive arm (the trainer of the study, unchanged) and, at every Predict phase, just
before the line search, measures for every layer group g with a non-zero predicted delta and every
candidate scale s the per-batch loss difference

    d_b = L_b(theta with group g's delta scaled by s) - L_b(theta as predicted, s = 1)

on K fresh batches (the batch stream at steps far beyond the budget, never trained on, not the
search's own batches), then restores the weights, so the run itself is not changed. Per (event,
group, candidate): the mean difference m and its batch-to-batch standard deviation sd. A decision
on n batches is above the noise when |m| > z * sd / sqrt(n), i.e. n > (z sd / |m|)^2 = n_needed
(z = 2). Prints the quantiles of sd, |m|, sd/|m| and n_needed, and the share of decisions whose
sign n batches get right for n = 1, 2, 4, 8, 16, 32 (|m| > z sd / sqrt(n)).

Usage::

    .venv/bin/python benchmarks/search_noise.py --config config/smoke.yaml --arm hybrid_r50 --seeds 0,1,2
    .venv/bin/python benchmarks/search_noise.py --config config/config.yaml --steps 400 --arm repeat_r50 \\
        --seeds 0 --data results/default/data [--json OUT]

Data: ``--data``, else the config's data prepared into a temporary folder.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
Z = 2.0
NS = (1, 2, 4, 8, 16, 32)


def measuring_trainer(K: int, out: list[dict]):
    """A hybrid trainer class that, at every Predict phase, just before its Correct phase begins,
    records the per-batch loss differences of every candidate scale against scale 1, per layer group
    (the trainer of the study otherwise unchanged: the weights are restored after each measurement)."""
    import torch

    from predictive_training.training.hybrid import HybridTrainer

    class Measuring(HybridTrainer):
        def _begin_correct(self, pred, start):
            steps = [self._total() + 1_000_000 + self.cycle * K + i for i in range(K)]
            base = np.array(self._batch_losses(steps, counted=False))
            with torch.no_grad():
                for g, members in self.corrector.groups.items():
                    if all(float(pred.delta[n].abs().max()) == 0 for n in members):
                        continue
                    saved = {n: self.params[n].detach().clone() for n in members}
                    for s in self.corrector.scales:
                        for n in members:
                            self.params[n].copy_(saved[n]).add_(pred.delta[n].to(saved[n].dtype), alpha=s - 1.0)
                        d = np.array(self._batch_losses(steps, counted=False)) - base
                        out.append({"step": self.step, "cycle": self.cycle, "group": g, "scale": s,
                                    "mean": float(d.mean()), "sd": float(d.std(ddof=1))})
                    for n in members:
                        self.params[n].copy_(saved[n])
            return super()._begin_correct(pred, start)

    return Measuring


def main(argv: list[str] | None = None) -> int:
    from predictive_training import config as config_mod
    from predictive_training.data.prepare import TokenData, prepare

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", default=str(ROOT / "config" / "smoke.yaml"))
    ap.add_argument("--steps", type=int, default=None, help="override train.steps")
    ap.add_argument("--arm", default="hybrid_r50")
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--batches", type=int, default=32, help="K: batches per measurement")
    ap.add_argument("--data", default=None)
    ap.add_argument("--json", default=None, help="also write every measurement as JSON here")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    import torch

    torch.set_num_threads(1)
    raw = config_mod.load(args.config)
    if args.steps:
        raw["train"]["steps"] = args.steps
    cfg = config_mod.validate(raw)
    tmp = None
    data_dir = args.data
    if data_dir is None:
        tmp = tempfile.TemporaryDirectory()
        data_dir = Path(tmp.name) / "data"
        prepare(cfg, data_dir)
    data = TokenData(data_dir)
    rows: list[dict] = []
    trainer = measuring_trainer(args.batches, rows)
    for seed in [int(s) for s in args.seeds.split(",")]:
        trainer(cfg, data, args.arm, seed, []).run()
        print(f"seed {seed}: {len(rows)} measurements so far", file=sys.stderr)
    if not rows:
        print("no Predict phase ran (gate blocked every cycle?): nothing measured")
        return 1
    m = np.abs([r["mean"] for r in rows])
    sd = np.array([r["sd"] for r in rows])
    with np.errstate(divide="ignore"):
        ratio = sd / m
    need = (Z * ratio) ** 2
    q = (0.1, 0.25, 0.5, 0.75, 0.9)
    print(f"{args.arm}, {args.config}, steps {cfg['train']['steps']}, {len(rows)} (event, group, scale) "
          f"measurements on K = {args.batches} batches of {cfg['train']['batch_size']} x {cfg['model']['context']}")
    for name, v in (("|mean diff| (nats)", m), ("sd over batches", sd), ("sd / |mean|", ratio),
                    (f"n_needed (z = {Z:g})", need)):
        print(f"  {name:22s} " + "  ".join(f"q{int(100 * p)} {np.quantile(v, p):.3g}" for p in q))
    for n in NS:
        print(f"  n = {n:2d}: share of decisions above the noise (|m| > {Z:g} sd / sqrt(n)): "
              f"{float(np.mean(m > Z * sd / math.sqrt(n))):.2f}")
    by_scale = {}
    for r in rows:
        by_scale.setdefault(r["scale"], []).append(r)
    for s, rs in sorted(by_scale.items()):
        mm = np.array([r["mean"] for r in rs])
        print(f"  scale {s:g}: mean diff median {np.median(mm):+.3g}, share < 0 (helps) {np.mean(mm < 0):.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
