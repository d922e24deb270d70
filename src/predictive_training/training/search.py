"""Training for the hyperparameter search (Experiment 6).

The sweep's runs are ordinary conventional runs of :func:`.run.run_training` with the configuration's
config (:func:`predictive_training.config.hpo_trial_config`): metrics, events and summary only. The live
Optuna studies train the same configurations in process: :func:`live_runner` gives the ``run(config,
report)`` that :func:`predictive_training.analysis.exp6.live_study` calls, where ``report(step, value)``
receives every evaluation (``step``: steps trained) and raises ``optuna.TrialPruned`` to stop the run.
The same config, seed and thread count as the sweep make the live curve the recorded one, bit for bit on
the CPU, which is what lets the live decisions be compared with the replay's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import torch

from ..data.prepare import TokenData
from .loop import Observer, Trainer, lr_at

__all__ = ["EvalReporter", "live_runner", "lr_schedule", "train_curve"]


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
