"""The divergence guard of the hybrid trainer: is this loss or gradient norm a divergence?

A non-finite loss, a loss above ``mean + k * max(std, 1% of mean)`` of the last ``window``
training losses, or a gradient norm above ``grad_explosion_factor`` times their median is a
divergence (``hybrid.guard.*``). What the trainer then does (restore the pre-Predict snapshot,
run Full steps) is in :mod:`.hybrid` and ``docs/design.md``.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np

__all__ = ["DivergenceGuard"]


class DivergenceGuard:
    """Flags non-finite losses, loss spikes and gradient-norm explosions.

    Args: window (recent steps kept), spike_sigma (k), grad_explosion_factor, min_history (values
    needed before spike/explosion tests apply; non-finite values are always flagged).
    """

    def __init__(self, window: int = 50, spike_sigma: float = 6.0, grad_explosion_factor: float = 10.0,
                 min_history: int = 10):
        if window < 2 or spike_sigma <= 0 or grad_explosion_factor <= 1:
            raise ValueError("hybrid.guard: need window >= 2, spike_sigma > 0, grad_explosion_factor > 1")
        self.losses: deque[float] = deque(maxlen=int(window))
        self.grad_norms: deque[float] = deque(maxlen=int(window))
        self.k, self.factor, self.min_history = float(spike_sigma), float(grad_explosion_factor), int(min_history)

    def loss_threshold(self) -> float:
        """Loss above which a value is a spike (inf until ``min_history`` losses are known)."""
        if len(self.losses) < self.min_history:
            return math.inf
        a = np.asarray(self.losses)
        mean = float(a.mean())
        return mean + self.k * max(float(a.std(ddof=1)), 0.01 * abs(mean))

    def check_loss(self, loss: float) -> str | None:
        if not math.isfinite(loss):
            return "nonfinite_loss"
        return "loss_spike" if loss > self.loss_threshold() else None

    def check_grad(self, grad_norm: float) -> str | None:
        if not math.isfinite(grad_norm):
            return "nonfinite_grad"
        if len(self.grad_norms) >= self.min_history and grad_norm > self.factor * float(np.median(self.grad_norms)):
            return "grad_explosion"
        return None

    def record(self, loss: float, grad_norm: float | None) -> None:
        self.losses.append(float(loss))
        if grad_norm is not None:
            self.grad_norms.append(float(grad_norm))
