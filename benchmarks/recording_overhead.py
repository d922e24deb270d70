"""Training throughput of the default model, and the cost of full recording against recording off.

Usage: python benchmarks/recording_overhead.py [--config config/config.yaml] [--steps 300] [--repeats 2]

Runs the same (arm=baseline, seed=0) training twice per repeat, alternating: once with only the
metrics/events recorders (the minimum every run has), once with everything the default study
records (weight snapshots every record.snapshot_every steps, per-tensor norms every step, and
gradient/update records every record.grad_every steps in record.gradients mode). Prints tokens/s and the overhead ratio, all
measured in this one process. Data: results/<study>/data if it exists, else prepared into a
temporary folder.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from predictive_training import config as config_mod
from predictive_training.data.prepare import TokenData, prepare
from predictive_training.training.loop import Observer, Trainer
from predictive_training.training.observers import (EventRecorder, GradientRecorder, MetricsRecorder, SnapshotRecorder,
                                                    TensorNormRecorder)


class _Clock(Observer):
    """Marks the time when on_end hooks start/finish (file writes at the end are recording cost)."""

    def __init__(self):
        self.t = None

    def on_end(self, trainer, summary):
        self.t = time.perf_counter()


class _Timed(Observer):
    """Wraps a recorder and accumulates the seconds spent in its hooks (the direct measurement)."""

    def __init__(self, inner: Observer, clock: dict):
        self.inner, self.clock = inner, clock
        self.wants_tensors = inner.wants_tensors

    def _time(self, name, *args):
        t0 = time.perf_counter()
        getattr(self.inner, name)(*args)
        self.clock["s"] += time.perf_counter() - t0

    def on_start(self, trainer):
        self._time("on_start", trainer)

    def on_step(self, trainer, info, grads, update):
        self._time("on_step", trainer, info, grads, update)

    def on_end(self, trainer, summary):
        self._time("on_end", trainer, summary)


RECORDER_SECONDS: list[tuple[float, float]] = []  # (seconds inside the extra recorders, train seconds)


def timed_run(cfg, data, folder: Path, full: bool) -> float:
    """Training seconds: the trainer's wall_s (steps + per-step recording) + the recorders' final writes."""
    folder.mkdir(parents=True)
    first, last = _Clock(), _Clock()
    observers = [first, MetricsRecorder(folder), EventRecorder(folder)]
    rec = cfg["record"]
    clock = {"s": 0.0}
    if full:
        for rec_obs in (SnapshotRecorder(folder, rec["snapshot_every"]), TensorNormRecorder(folder),
                        GradientRecorder(folder, rec["gradients"], rec["grad_every"], rec["sketch_dim"], 0)):
            observers.append(_Timed(rec_obs, clock))
    trainer = Trainer(cfg, data, "baseline", 0, observers + [last])
    trainer.run()
    total = trainer.wall_s + (last.t - first.t)
    if full:
        RECORDER_SECONDS.append((clock["s"], total))
    return total


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", default="config/config.yaml")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    cfg = config_mod.load(args.config)
    cfg["train"]["steps"] = args.steps
    cfg["train"]["eval_every"] = args.steps  # one evaluation at the end: measure training, not validation
    torch.set_num_threads(cfg["threads"])
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(f"results/{cfg['study']}/data")
        if not (data_dir / "meta.json").exists():
            data_dir = Path(tmp) / "data"
            prepare(cfg, data_dir)
        data = TokenData(data_dir)
        times = {"off": [], "full": []}
        for r in range(args.repeats):
            for mode in (("off", "full") if r % 2 == 0 else ("full", "off")):
                times[mode].append(timed_run(copy.deepcopy(cfg), data, Path(tmp) / f"{mode}{r}", mode == "full"))
                print(f"repeat {r} {mode:>4}: {times[mode][-1]:.2f} s", file=sys.stderr)
    tokens = args.steps * cfg["train"]["batch_size"] * cfg["model"]["context"]
    off, full = statistics.median(times["off"]), statistics.median(times["full"])
    print(f"config {args.config}: {args.steps} steps x {cfg['train']['batch_size']}x{cfg['model']['context']} tokens, "
          f"{cfg['threads']} thread(s), record.gradients={cfg['record']['gradients']} "
          f"(dim {cfg['record']['sketch_dim']}), snapshots every {cfg['record']['snapshot_every']}")
    print(f"{'recording':<10} {'train s':>8} {'ms/step':>8} {'tokens/s':>9}")
    for name, t in (("off", off), ("full", full)):
        print(f"{name:<10} {t:8.2f} {1000 * t / args.steps:8.2f} {tokens / t:9.0f}")
    print(f"A/B: overhead of full recording: {100 * (full / off - 1):+.1f}% of step time "
          "(medians of separate runs: noisy on a shared machine)")
    direct = statistics.median(r / (t - r) for r, t in RECORDER_SECONDS)
    print(f"direct: seconds inside the snapshot, tensor-norm and gradient recorders / the rest of the "
          f"training time of the same run: {100 * direct:.1f}% (target <= 5%)")


if __name__ == "__main__":
    main()
