"""The nominal phase schedule of a hybrid arm: how many Predict phases, and where.

``prediction_ratio`` ``r`` is the share of the WHOLE step budget ``T`` spent in Predict. With
horizon ``Y`` (steps per Predict phase), ``C`` Correct steps after each Predict phase and ``W``
warmup steps, the plan has

    n = nearest integer to r T / Y  (halves round down)      Predict phases,
    G = T - W - n (Y + C)                                     Full steps in all,

and the ``G`` Full steps are spread evenly over ``n + 1`` gaps: one before each Predict phase and a
tail after the last Correct phase. Gap ``k`` (0-based) gets ``round((k + 1) G / (n + 1)) -
round(k G / (n + 1))`` steps (round half up), so the gaps differ by at most one step and sum to
``G`` exactly:

    [Warmup W] [Full F_0][Predict Y][Correct C] ... [Full F_{n-1}][Predict Y][Correct C] [Full F_n]

The nominal Predict share is ``n Y / T``: equal to ``r`` when ``r T`` is a multiple of ``Y``,
else the nearest multiple of ``Y / T``. A ratio whose ``n`` cycles do not fit after warmup
(``G < 0``) is an error. This module is pure arithmetic (no torch), so the config check can build
every arm's plan before any work starts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["PhasePlan"]


def _positive_int(value, key: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value or value < minimum:
        raise ValueError(f"{key} must be an integer >= {minimum}, got {value!r}")
    return int(value)


@dataclass(frozen=True)
class PhasePlan:
    """The nominal schedule for ``ratio`` (share of ``total_steps`` in Predict).

    Args: ratio in [0, 1); horizon Y >= 1; correct C >= 0; total_steps T >= 1;
    warmup_steps W in [0, T).
    """

    ratio: float
    horizon: int
    correct: int
    total_steps: int
    warmup_steps: int

    def __post_init__(self):
        _positive_int(self.horizon, "hybrid.horizon", 1)
        _positive_int(self.correct, "hybrid.correct_steps", 0)
        _positive_int(self.total_steps, "train.steps", 1)
        _positive_int(self.warmup_steps, "train.warmup_steps", 0)
        if self.warmup_steps >= self.total_steps:
            raise ValueError(f"train.warmup_steps ({self.warmup_steps}) must be below train.steps ({self.total_steps})")
        if not (0.0 <= self.ratio < 1.0):
            raise ValueError(f"prediction_ratio must be in [0, 1), got {self.ratio}")
        if self.full_total < 0:
            room = self.total_steps - self.warmup_steps
            raise ValueError(
                f"prediction_ratio {self.ratio} is not reachable: it needs {self.cycles} Predict phases of "
                f"hybrid.horizon={self.horizon} steps, each followed by hybrid.correct_steps={self.correct}, "
                f"that is {self.cycles * (self.horizon + self.correct)} steps, but only {room} steps follow "
                f"train.warmup_steps (at most {room // (self.horizon + self.correct) * self.horizon / self.total_steps:.3f})")

    @property
    def cycles(self) -> int:
        """n: the number of Predict phases, nearest integer to r T / Y (halves round down)."""
        return max(0, math.ceil(self.ratio * self.total_steps / self.horizon - 0.5))

    @property
    def full_total(self) -> int:
        """G = T - W - n (Y + C): the Full steps after warmup (negative if the plan does not fit)."""
        return self.total_steps - self.warmup_steps - self.cycles * (self.horizon + self.correct)

    @property
    def full_mean(self) -> float:
        """G / (n + 1): the mean length of a Full gap."""
        return self.full_total / (self.cycles + 1)

    @property
    def predict_steps(self) -> int:
        return self.cycles * self.horizon

    @property
    def backward_passes(self) -> int:
        """Steps with a backward pass when neither gate nor guard fires: T - n Y."""
        return self.total_steps - self.predict_steps

    def full_len(self, gap: int) -> int:
        """Full steps of gap ``gap`` (0 <= gap <= n; gap n is the tail after the last Correct phase)."""
        n = self.cycles
        if not 0 <= gap <= n:
            raise ValueError(f"gap must be in [0, {n}], got {gap}")
        g, m = self.full_total, self.cycles + 1
        # round(j g / m), half up, in integer arithmetic: floor((2 j g + m) / 2m)
        return (2 * (gap + 1) * g + m) // (2 * m) - (2 * gap * g + m) // (2 * m)

    def phases(self) -> list[str]:
        """The phase (``warmup|full|predict|correct``) of every step when neither gate nor guard fires."""
        out = ["warmup"] * self.warmup_steps
        for k in range(self.cycles):
            out += ["full"] * self.full_len(k) + ["predict"] * self.horizon + ["correct"] * self.correct
        out += ["full"] * self.full_len(self.cycles)
        assert len(out) == self.total_steps
        return out
