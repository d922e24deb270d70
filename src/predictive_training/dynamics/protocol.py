"""What the hybrid trainer needs from a predictor, and what they exchange.

The trainer hands every full (backprop) step to :meth:`Predictor.observe` as an
:class:`Observation`, and at the start of a Predict phase asks for ONE aggregate Y-step
:class:`PredictedPhase` (:meth:`Predictor.rollout`). Predictors never see the trainer.

A :class:`VerifyingPredictor` (verified extrapolation) also checks its own prediction while it
makes it: the trainer hands it a :data:`HeldAsideLoss`, a callable that measures the loss of the
origin's weights plus a candidate delta on held-aside batches (every call is forward passes the
trainer counts), and the prediction may replace fewer than ``Y`` steps
(:attr:`PredictedPhase.steps`). :func:`verifies` tells the two apart.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import torch

__all__ = ["Observation", "PredictedPhase", "Predictor", "HeldAsideLoss", "VerifyingPredictor", "verifies",
           "rollout_lrs"]


@dataclass
class Observation:
    """One full (backprop) training step as the predictors see it.

    loss: training loss of the step's batch before the update (nats). grad_norm: global norm
    before clipping. lr: learning rate of the step. grad_norms: per-tensor gradient norms before
    clipping. update: the weight change the step applied, ``name -> Tensor`` (parameter shapes).
    """

    step: int
    total_steps: int
    loss: float
    grad_norm: float
    lr: float
    grad_norms: dict[str, float]
    update: dict[str, torch.Tensor] = field(repr=False)

    @classmethod
    def of_step(cls, step: int, total_steps: int, loss: float, grad_norm: float, lr: float,
                clipped_grads: Mapping[str, torch.Tensor | None], grad_clip: float,
                update: dict[str, torch.Tensor]) -> "Observation":
        """The observation of a real step from what the trainer holds after it: the gradients as
        left by clipping (``p.grad``; ``None`` for a parameter without one) and the clip threshold.
        The clip scaled every gradient by ``min(1, grad_clip / (grad_norm + 1e-6))`` (as
        ``torch.nn.utils.clip_grad_norm_`` does); it is undone to report pre-clip norms. The one
        definition of what a predictor sees, for the hybrid trainer and for shadow mode alike."""
        clip = min(1.0, grad_clip / (grad_norm + 1e-6))
        gnorms = {n: float(torch.linalg.vector_norm(g.float())) / clip if g is not None else 0.0
                  for n, g in clipped_grads.items()}
        return cls(step, total_steps, loss, grad_norm, lr, gnorms, update)


@dataclass
class PredictedPhase:
    """One aggregate Y-step prediction.

    delta: ``name -> Tensor`` the predicted total weight change over the Y steps (parameter shapes).
    loss_path: ``[Y]`` predicted training loss at each of the Y steps (nats).
    uncertainty: dimensionless; compared with ``hybrid.gate.max_uncertainty``.
    loss_q05, loss_q95: optional ``[Y]`` 90% interval of the loss path.
    steps: how many of the ``Y`` steps the delta replaces (``None``: all ``Y``); a verified
        extrapolation that stops early replaces fewer (0: it applies nothing).
    diagnostics: JSON-serialisable facts about how the prediction was made (e.g. the held-aside
        losses of a verified extrapolation, the spectrum of a DMD fit); copied into the
        ``prediction`` event and the shadow rows.
    """

    delta: dict[str, torch.Tensor]
    loss_path: np.ndarray
    uncertainty: float
    loss_q05: np.ndarray | None = None
    loss_q95: np.ndarray | None = None
    steps: int | None = None
    diagnostics: dict = field(default_factory=dict)


class Predictor(Protocol):
    """What the hybrid trainer needs from a predictor (plus ``state_dict``/``load_state_dict``
    for checkpoints).

    Optional, used when present: ``drain_events() -> list[dict]`` (events since the last call,
    e.g. the RSSM's ``predictor_train`` learning-curve entries, which the trainer writes to
    ``events.jsonl``) and ``summary() -> dict`` (written under ``predictor`` in ``summary.json``).
    ``rollout`` must not change the predictor's state (the gate also calls it at the start of
    every Full gap, to measure skill).
    """

    name: str

    def observe(self, obs: Observation) -> None: ...

    def ready(self) -> bool: ...

    def rollout(self, horizon: int, lrs: Sequence[float], seed: int) -> PredictedPhase: ...


#: The held-aside loss (nats) of the origin's weights plus ``delta`` (``name -> Tensor``, the
#: parameter shapes; an empty mapping means the origin itself). The caller restores the weights.
HeldAsideLoss = Callable[[Mapping[str, torch.Tensor]], float]


class VerifyingPredictor(Predictor, Protocol):
    """A predictor that checks its prediction on a held-aside loss while it makes it (verified
    extrapolation). ``rollout`` stays the unverified prediction (used where no loss can be
    measured, e.g. loss-forecast origins); the hybrid trainer and shadow mode call
    :meth:`verified_rollout`, whose ``PredictedPhase.steps`` may be below ``horizon``."""

    def verified_rollout(self, horizon: int, lrs: Sequence[float], seed: int,
                         loss_at: HeldAsideLoss) -> PredictedPhase: ...


def verifies(predictor) -> bool:
    """Whether ``predictor`` verifies its predictions (has a callable ``verified_rollout``)."""
    return callable(getattr(predictor, "verified_rollout", None))


def rollout_lrs(horizon: int, lrs: Sequence[float]) -> np.ndarray:
    """The arguments of :meth:`Predictor.rollout` checked: ``horizon`` a positive integer and
    ``lrs`` its ``horizon`` finite non-negative learning rates (returned as float64)."""
    if isinstance(horizon, bool) or int(horizon) != horizon or horizon < 1:
        raise ValueError(f"horizon must be a positive integer, got {horizon!r}")
    out = np.asarray(lrs, dtype=np.float64)
    if out.shape != (int(horizon),) or not np.all(np.isfinite(out)) or np.any(out < 0):
        raise ValueError(f"lrs must hold {horizon} finite non-negative learning rates")
    return out
