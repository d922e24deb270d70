"""A predictor in one file: ``factor x Y x`` the mean of the last ``window`` per-step updates.

The worked example of ``docs/predictors.md``. It is the study's ``repeat`` control scaled by
``factor`` (0.5 by default: half of the recent pace), written the way an outside author would:
subclass :class:`~predictive_training.dynamics.base.BasePredictor`, implement ``observe`` and
``rollout``, declare the options. Its state is the ``window`` stored updates (``window x N`` numbers):
with ``window`` at most 8 it stays within the study's bound of 8 copies of the model, and
``check_predictor`` says so (a window of 20 holds 20 N and is refused, by the check and in a run).
"""

from __future__ import annotations

from collections import deque

import numpy as np

from predictive_training.dynamics.base import BasePredictor
from predictive_training.dynamics.protocol import Observation, PredictedPhase


class HalfMeanPredictor(BasePredictor):
    """``delta = factor x horizon x mean(last window updates)``; a flat loss at the last observed
    value; uncertainty 0 (it has no estimate of its own error)."""

    options_schema = {
        "type": "object",
        "additionalProperties": False,
        "properties": {"window": {"type": "integer", "minimum": 1},
                       "factor": {"type": "number", "minimum": 0}},
    }

    def __init__(self, window: int = 5, factor: float = 0.5):
        self.window, self.factor = int(window), float(factor)
        self.recent: deque = deque(maxlen=self.window)  # the last updates, name -> tensor
        self.last_loss = float("nan")

    def observe(self, obs: Observation) -> None:
        # obs.update is the step's applied weight change: copy it, never modify it
        self.recent.append({n: u.detach().clone() for n, u in obs.update.items()})
        self.last_loss = float(obs.loss)

    def ready(self) -> bool:
        return len(self.recent) > 0

    def rollout(self, horizon: int, lrs, seed: int) -> PredictedPhase:
        k = len(self.recent)
        scale = self.factor * horizon / k
        delta = {n: scale * sum(u[n] for u in self.recent) for n in self.recent[0]}
        return PredictedPhase(delta, np.full(horizon, self.last_loss), 0.0)

    @classmethod
    def steady_observations(cls, options) -> int:
        return int(options.get("window", 5))  # the calibration times rollouts over a full window
