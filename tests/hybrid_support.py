"""What the tests of the hybrid trainer, its gate, guard and corrector share: a tiny hybrid config, a
fixed predictor (:class:`Spy`), an observer that keeps every step (:class:`Capture`)."""

from __future__ import annotations

import copy

import numpy as np
import torch

from predictive_training import config as config_mod
from predictive_training.data.prepare import TokenData
from predictive_training.dynamics.protocol import Observation, PredictedPhase
from predictive_training.training.loop import Observer
from predictive_training.training.run import make_trainer

Y, C = 5, 2
# a dynamics model small enough to train within the tiny 40-step run
TINY_RSSM = {"window": 8, "burn_in": 3, "update_every": 4, "basis_window": 4, "batch_size": 4,
             "deter_dim": 16, "stoch_dim": 4, "hidden": 16, "n_samples": 4, "min_train_steps": 1}
# the tests of the Predict phase mechanics inject fixed predictors: no skill check there
NO_SKILL_GATE = {"reference": "none"}


def hybrid_cfg(tiny_cfg, kind="hybrid", ratio=0.5, gate=NO_SKILL_GATE, **train):
    cfg = copy.deepcopy(tiny_cfg)
    cfg["arms"] = {"baseline": {"kind": "conventional"}, "arm": {"kind": kind, "prediction_ratio": ratio}}
    cfg["hybrid"] = {"horizon": Y, "correct_steps": C, "rssm": TINY_RSSM, "gate": dict(gate)}
    cfg["train"].update(train)
    return config_mod.validate(cfg)


class Spy:
    """A predictor with a fixed, seeded delta; counts rollout calls and their horizons."""

    name = "spy"

    def __init__(self, params, scale=1e-3, uncertainty=0.0, poison=None):
        g = torch.Generator().manual_seed(7)
        self.delta = {n: scale * torch.randn(p.shape, generator=g) for n, p in params.items()}
        if poison == "nan":
            first = next(iter(self.delta))
            self.delta[first].view(-1)[0] = float("nan")
        self.uncertainty = uncertainty
        self.calls: list[int] = []
        self.observed = 0

    def observe(self, obs: Observation) -> None:
        self.observed += 1

    def ready(self) -> bool:
        return True

    def rollout(self, horizon, lrs, seed):
        self.calls.append(horizon)
        return PredictedPhase({n: d.clone() for n, d in self.delta.items()}, np.full(horizon, 5.0),
                              self.uncertainty)


class Capture(Observer):
    """Weights after every step and the metrics rows."""

    def __init__(self):
        self.weights: dict[int, dict[str, torch.Tensor]] = {}
        self.rows: list[dict] = []
        self.events: list[dict] = []

    def on_step(self, trainer, info, grads, update):
        self.rows.append(info.to_row())
        self.weights[info.step] = {n: p.detach().clone() for n, p in trainer.params.items()}

    def on_event(self, trainer, event):
        self.events.append(event)


def hybrid_trainer(cfg, tiny_data, predictor_factory=None, arm="arm", seed=0):
    cap = Capture()
    tr = make_trainer(cfg, TokenData(tiny_data), arm, seed, [cap])
    if predictor_factory is not None:
        tr.predictor = predictor_factory(tr.params)
    return tr, cap


def predict_runs(rows) -> list[tuple[int, int]]:
    """(first, last) step of every contiguous run of predict rows."""
    runs, start = [], None
    for r in rows + [{"phase": None, "step": None}]:
        if r["phase"] == "predict" and start is None:
            start = r["step"]
        elif r["phase"] != "predict" and start is not None:
            runs.append((start, r["step"] - 1 if r["step"] is not None else rows[-1]["step"]))
            start = None
    return runs
