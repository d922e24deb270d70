"""Training for the hyperparameter search (Experiment 6).

The sweep's runs are ordinary conventional runs of :func:`.run.run_training` with the configuration's
config (:func:`predictive_training.config.hpo_trial_config`): metrics, events and summary only. The live
Optuna studies train the same configurations in process: :func:`live_runner` gives the ``run(config,
report)`` that :func:`predictive_training.analysis.exp6.live_study` calls, where ``report(step, value)``
receives every evaluation (``step``: steps trained) and raises ``optuna.TrialPruned`` to stop the run.
The same config, seed and thread count as the sweep make the live curve the recorded one, bit for bit on
the CPU, which is what lets the live decisions be compared with the replay's.

:func:`lr_sweep` is the learning-rate check of each ``train.optimizer``: the baseline at a
few learning rates on a seed the study does not evaluate (``python -m predictive_training lr-sweep``).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import torch

from ..data.prepare import TokenData
from .loop import Observer, Trainer, lr_at

__all__ = ["EvalReporter", "live_runner", "lr_schedule", "lr_sweep", "swept_settings", "train_curve"]


def lr_schedule(cfg: dict) -> np.ndarray:
    """The learning rate of every step of a conventional run of ``cfg`` (the trainer's own schedule)."""
    steps = int(cfg["train"]["steps"])
    return np.array([lr_at(t, cfg["train"]) for t in range(steps)], dtype=float)


class EvalReporter(Observer):
    """Calls ``report(steps_trained, val_loss)`` at every evaluation step; whatever ``report`` raises
    (a pruned trial) ends the run."""

    def __init__(self, report: Callable[[int, float], None]):
        self.report = report

    def on_step(self, trainer, info, grads, update):
        if info.val_loss is not None:
            self.report(int(info.step) + 1, float(info.val_loss))


def train_curve(cfg: dict, data: TokenData, seed: int, report: Callable[[int, float], None]) -> float:
    """Train ``cfg``'s baseline arm for ``seed``, reporting every evaluation; returns the final
    validation loss (the evaluation after the last step)."""
    trainer = Trainer(cfg, data, "baseline", seed, [EvalReporter(report)])
    return float(trainer.run()["final_val_loss"])


def live_runner(configs: Mapping[str, dict], data_dir: str | Path, seed: int
                ) -> Callable[[str, Callable[[int, float], None]], float]:
    """``run(config, report)`` that trains ``configs[config]`` (a trial config) for ``seed``."""
    data = TokenData(data_dir)

    def run(config: str, report: Callable[[int, float], None]) -> float:
        cfg = configs[config]
        torch.set_num_threads(int(cfg["threads"]))
        return train_curve(cfg, data, seed, report)

    return run


def swept_settings(train: Mapping) -> dict:
    """The ``train`` settings a learning-rate sweep held fixed (every key but the rate itself): a
    config may take the sweep's rate only when its own settings are these."""
    return {k: v for k, v in sorted(train.items()) if k not in ("lr", "lr_from")}


def lr_sweep(cfg: dict, data_dir: str | Path, lrs: Sequence[float], seed: int,
             say: Callable[[str], None] = lambda m: None) -> dict:
    """The learning-rate check of ``train.optimizer``: the baseline trained once per learning rate in
    ``lrs`` for ``seed`` (which must not be one of ``cfg['seeds']``: the choice is made on a seed the
    study does not evaluate), its validation curve recorded; the chosen learning rate is the one with
    the lowest final validation loss (a run that diverges, a non-finite loss, is never chosen).

    Returns ``{"optimizer", "schedule", "seed", "lrs", "final_val_loss", "curves", "chosen_lr",
    "chosen_index", "edge", "rule"}``; ``edge`` is true when the chosen learning rate is the smallest
    or largest of the grid (the optimum may lie outside it: widen the grid)."""
    if seed in cfg["seeds"]:
        raise ValueError(f"lr sweep: seed {seed} is one of the study's seeds {cfg['seeds']}; choose the learning "
                         "rate on a seed the study does not evaluate")
    lrs = [float(x) for x in lrs]
    if len(lrs) < 2 or any(not (x > 0 and math.isfinite(x)) for x in lrs) or len(set(lrs)) != len(lrs):
        raise ValueError(f"lr sweep: give at least two distinct positive learning rates, got {lrs}")
    data = TokenData(data_dir)
    torch.set_num_threads(int(cfg["threads"]))  # as the study's training jobs run (config key threads)
    finals, curves = [], []
    for i, lr in enumerate(sorted(lrs)):
        run_cfg = copy.deepcopy(cfg)
        run_cfg["train"]["lr"] = lr
        curve: list[list[float]] = []
        final = train_curve(run_cfg, data, seed, lambda step, loss: curve.append([step, loss]))
        finals.append(final if math.isfinite(final) else None)
        curves.append(curve)
        say(f"lr sweep {i + 1}/{len(lrs)}: lr {lr:g}: final validation loss {final:.4f}")
    ok = [i for i, f in enumerate(finals) if f is not None]
    if not ok:
        raise RuntimeError(f"lr sweep: every learning rate of {sorted(lrs)} diverged")
    best = min(ok, key=lambda i: finals[i])
    return {"optimizer": cfg["train"].get("optimizer", "adamw"), "schedule": cfg["train"].get("schedule", "cosine"),
            "train": swept_settings(cfg["train"]),
            "seed": seed, "lrs": sorted(lrs), "final_val_loss": finals, "curves": curves,
            "chosen_lr": sorted(lrs)[best], "chosen_index": best, "edge": best in (0, len(lrs) - 1),
            "rule": "the learning rate with the lowest final validation loss of the baseline on a seed the study "
                    "does not evaluate; a diverged run is never chosen"}

