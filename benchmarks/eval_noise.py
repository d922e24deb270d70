"""How many validation windows make the final-loss comparison meaningful? (``train.eval_batches``)

Trains ``baseline`` and another arm (default ``hybrid_r50``) of a config for one or more seeds
(``run_training``, final weights kept as snapshots), then evaluates each final model on the first
``--windows`` fixed validation windows (the windows every evaluation uses: ``Trainer.val_batches``,
``train.batch_size`` sequences each) and prints, for n windows:

- ``se_level``: standard error of one model's validation loss (sd of the per-window losses / sqrt n);
- ``se_paired``: standard error of the arm - baseline difference on the same windows (the
  comparison Exp 4 makes: both arms are evaluated on the same windows);

both also relative to the baseline's loss, next to the plan's margins (1% and 2%). A comparison
against a margin is meaningful when the standard error is a small fraction of it.

Usage::

    python benchmarks/eval_noise.py [--config config/config.yaml] [--seeds 0] [--arm hybrid_r50]
        [--windows 128] [--data DIR] [--runs DIR]

``--runs DIR``: reuse (or keep) the run folders there (``DIR/<arm>/seed<k>``).
"""

from __future__ import annotations

import argparse
import copy
import logging
import math
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def window_losses(cfg: dict, data, weights: dict, windows: int) -> np.ndarray:
    """Per-window validation loss of ``weights`` on the fixed windows 0 .. windows-1."""
    import torch
    import torch.nn.functional as F

    from predictive_training.model import GPT, GPTConfig
    from predictive_training.training.loop import Batches

    model = GPT(GPTConfig(vocab_size=data.vocab_size, **cfg["model"]))
    model.load_state_dict({k: v for k, v in weights.items()}, strict=False)
    model.eval()
    val = Batches(data.val, cfg["train"]["batch_size"], cfg["model"]["context"], 10_000_019, torch.device("cpu"))
    out = []
    with torch.no_grad():
        for i in range(windows):
            x, y = val.get(i)
            out.append(float(F.cross_entropy(model(x).flatten(0, 1).float(), y.flatten())))
    return np.asarray(out)


def main(argv: list[str] | None = None) -> int:
    import torch

    from predictive_training import config as config_mod
    from predictive_training.data.prepare import TokenData, prepare
    from predictive_training.records.snapshots import list_snapshots, load_snapshots
    from predictive_training.training.run import run_training

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", default=str(ROOT / "config" / "config.yaml"))
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--arm", default="hybrid_r50")
    ap.add_argument("--windows", type=int, default=128)
    ap.add_argument("--data", default=None)
    ap.add_argument("--runs", default=None)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    cfg = config_mod.load(args.config)
    cfg = copy.deepcopy(cfg)
    cfg["record"]["snapshot_arms"] = ["baseline", args.arm]
    cfg["record"]["snapshot_every"] = cfg["train"]["steps"]  # the first and the last only
    torch.set_num_threads(cfg["threads"])
    seeds = [int(s) for s in args.seeds.split(",")]
    with tempfile.TemporaryDirectory(prefix="eval_noise_") as tmp:
        tmp = Path(tmp)
        data_dir = Path(args.data) if args.data else tmp / "data"
        if not (data_dir / "meta.json").exists():
            prepare(cfg, data_dir)
        data = TokenData(data_dir)
        runs = Path(args.runs) if args.runs else tmp / "runs"
        losses: dict[tuple[str, int], np.ndarray] = {}
        for seed in seeds:
            for arm in ("baseline", args.arm):
                d = runs / arm / f"seed{seed}"
                if not (d / "summary.json").exists():
                    run_training(cfg, data_dir, arm, seed, d)
                last = max(list_snapshots(d / "snapshots"))
                weights = dict(load_snapshots(d / "snapshots"))[last]
                losses[arm, seed] = window_losses(cfg, data, weights, args.windows)
    print(f"{Path(args.config).name}: {args.windows} windows of {cfg['train']['batch_size']} x "
          f"{cfg['model']['context']} tokens; train.eval_batches = {cfg['train']['eval_batches']}")
    print("seed | n | baseline loss | se_level | se_level / loss | arm - base | se_paired | se_paired / loss")
    for seed in seeds:
        b, a = losses["baseline", seed], losses[args.arm, seed]
        for n in (4, 8, 16, 32, 64, 128, 256):
            if n > args.windows:
                break
            lvl = float(np.std(b[:n], ddof=1) / math.sqrt(n))
            d = a[:n] - b[:n]
            pair = float(np.std(d, ddof=1) / math.sqrt(n))
            base = float(b[:n].mean())
            print(f"{seed} | {n} | {base:.4f} | {lvl:.4f} | {100 * lvl / base:.2f}% | {d.mean():+.4f} | "
                  f"{pair:.4f} | {100 * pair / base:.2f}%")
    print("margins of the plan: 1% (hybrid_r25) and 2% (hybrid_r50) of the baseline's loss")
    return 0


if __name__ == "__main__":
    sys.exit(main())
