"""Verified extrapolation: step along the recent update direction while a held-aside loss falls.

The method of Fast Forward (Rannen-Triki et al., EMNLP 2024: repeat the last optimiser update
while the loss on a tiny held-out set improves) and of the verified leaps of Leap+Verify (2026:
an extrapolation is accepted only if a held-out loss check passes), behind the one
:class:`~.protocol.Predictor` protocol as a :class:`~.protocol.VerifyingPredictor`.

Direction. Every observed real step's update divided by its learning rate (a rate per unit
learning rate, as the other extrapolating predictors use: Adam-like updates scale with the
learning rate, so the schedule carries over): ``direction = "last"`` keeps the last one (Fast
Forward), ``"ema"`` an exponential moving average of them with factor ``beta`` (``r = beta r +
(1 - beta) u_t / lr_t``, started at the first). Increment ``i`` of a Predict phase is
``lr_i x r`` (``lr_i`` the schedule's learning rate of the step it replaces), so ``Y`` increments
are the unverified ``Y``-step extrapolation (:meth:`VerifiedExtrapolation.rollout`).

Verification (:meth:`VerifiedExtrapolation.verified_rollout`). The held-aside loss of the origin
is measured first; then, every ``check_every`` (``k``) increments, the loss of the origin plus all
increments so far. The first check whose loss is not below the last accepted one (a rise, a tie
or a non-finite loss) is undone: its ``k`` increments are dropped and the extrapolation stops.
The prediction replaces as many steps as it kept increments (``PredictedPhase.steps``, 0 to
``Y``); every check is ``batches`` forward passes the caller counts (at most ``1 + ceil(Y / k)``
checks per Predict phase).

Persistent state: one parameter-sized tensor (``N`` numbers) and the last loss.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import torch

from .base import BasePredictor, PredictorContext
from .protocol import HeldAsideLoss, Observation, PredictedPhase, rollout_lrs

__all__ = ["VerifiedExtrapolation", "DIRECTIONS"]

DIRECTIONS = ("last", "ema")


class VerifiedExtrapolation(BasePredictor):
    """Fast-Forward-style verified extrapolation (see the module docstring)."""

    name = "verified"

    def __init__(self, direction: str = "last", beta: float = 0.9, check_every: int = 1):
        if direction not in DIRECTIONS:
            raise ValueError(f"hybrid.verified.direction must be one of {DIRECTIONS}, got {direction!r}")
        if isinstance(beta, bool) or not isinstance(beta, (int, float)) or not (0.0 <= float(beta) < 1.0):
            raise ValueError(f"hybrid.verified.ema_beta must be a number in [0, 1), got {beta!r}")
        if isinstance(check_every, bool) or int(check_every) != check_every or check_every < 1:
            raise ValueError(f"hybrid.verified.check_every must be a positive integer, got {check_every!r}")
        self.direction, self.beta, self.k = direction, float(beta), int(check_every)
        self.names: list[str] | None = None
        self.r: list[torch.Tensor] | None = None
        self.last_loss = float("nan")
        self.n_checks = 0  # held-aside loss evaluations requested so far (each costs `batches` forwards)

    @classmethod
    def from_context(cls, context: PredictorContext, options: Mapping) -> "VerifiedExtrapolation":
        """``hybrid.verified``: direction, ema_beta, check_every (``batches`` is the trainer's: forward
        batches per check)."""
        return cls(options["direction"], options["ema_beta"], options["check_every"])

    @classmethod
    def nominal_checks(cls, options: Mapping, horizon: int) -> int:
        """Checks of a phase in which every check passes: the origin's and one per ``check_every``."""
        return 1 + -(-int(horizon) // int(options["check_every"]))

    # --- observing ----------------------------------------------------------------------------------

    def observe(self, obs: Observation) -> None:
        self.last_loss = float(obs.loss)
        lr = float(obs.lr)
        if not (lr > 0 and math.isfinite(lr)):
            return  # no learning rate to normalise by
        rate = [t.detach() / lr for t in obs.update.values()]
        if self.r is None or self.direction == "last":
            self.names, self.r = list(obs.update), [t.clone() for t in rate]
            return
        torch._foreach_mul_(self.r, self.beta)
        torch._foreach_add_(self.r, rate, alpha=1.0 - self.beta)

    def ready(self) -> bool:
        return self.r is not None

    # --- predicting ---------------------------------------------------------------------------------

    def _lrs(self, horizon: int, lrs: Sequence[float]) -> np.ndarray:
        out = rollout_lrs(horizon, lrs)
        if self.r is None:
            raise ValueError("VerifiedExtrapolation needs at least one observed update")
        return out

    def _delta(self, scale: float) -> dict[str, torch.Tensor]:
        return {n: t * scale for n, t in zip(self.names, self.r)}

    def rollout(self, horizon: int, lrs: Sequence[float], seed: int) -> PredictedPhase:
        """The unverified extrapolation: all ``Y`` increments, ``sum(lrs) x r``; a flat loss."""
        lr = self._lrs(horizon, lrs)
        return PredictedPhase(self._delta(float(lr.sum())), np.full(int(horizon), self.last_loss), 0.0,
                              diagnostics={"verified": False})

    def verified_rollout(self, horizon: int, lrs: Sequence[float], seed: int,
                         loss_at: HeldAsideLoss) -> PredictedPhase:
        """Increments checked every ``k`` on ``loss_at``; stops at the first check that does not lower
        the loss and undoes it. ``loss_path``: the held-aside loss of the last accepted check, per
        step (held between checks and after the stop). Uncertainty 0 (the check is the safeguard)."""
        lr = self._lrs(horizon, lrs)
        Y, k = int(horizon), self.k
        cum = np.concatenate([[0.0], np.cumsum(lr)])  # cum[j]: the scale of j increments
        best = float(loss_at({}))
        checks, losses, accepted, stopped = 1, [best], 0, "horizon"
        path = np.full(Y, best)
        j = 0
        while j < Y:
            nxt = min(j + k, Y)
            loss = float(loss_at(self._delta(float(cum[nxt]))))
            checks += 1
            losses.append(loss)
            if not (math.isfinite(loss) and loss < best):
                stopped = "rise" if math.isfinite(loss) else "not_finite"
                break
            best, accepted = loss, nxt
            path[j:] = loss
            j = nxt
        self.n_checks += checks
        delta = self._delta(float(cum[accepted]))
        return PredictedPhase(delta, path, 0.0, steps=accepted,
                              diagnostics={"verified": True, "checks": checks, "check_every": k,
                                           "accepted_increments": accepted, "stopped": stopped,
                                           "heldaside_losses": [_num(v) for v in losses],
                                           "direction": self.direction})

    # --- bookkeeping --------------------------------------------------------------------------------

    def state_numbers(self) -> int:
        """Numbers of persistent state (the direction: N; the state bound is 8 x N)."""
        return 0 if self.r is None else sum(t.numel() for t in self.r)

    def work(self) -> dict:
        """Own work so far: held-aside loss evaluations requested (the trainer counts their forward
        passes); the increments themselves are parameter-sized additions."""
        return {"heldaside_checks": self.n_checks}

    def state_dict(self) -> dict:
        return {"last_loss": self.last_loss, "names": self.names, "n_checks": self.n_checks,
                "r": None if self.r is None else [t.clone() for t in self.r]}

    def load_state_dict(self, state: Mapping) -> None:
        self.last_loss = float(state["last_loss"])
        self.names = None if state["names"] is None else list(state["names"])
        self.n_checks = int(state["n_checks"])
        self.r = None if state["r"] is None else [t.clone() for t in state["r"]]


def _num(x) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None
