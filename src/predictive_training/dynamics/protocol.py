"""What the hybrid trainer needs from a predictor, and what they exchange.

The trainer hands every full (backprop) step to :meth:`Predictor.observe` as an
:class:`Observation`, and at the start of a Predict phase asks for ONE aggregate Y-step
:class:`PredictedPhase` (:meth:`Predictor.rollout`). Predictors never see the trainer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import torch

__all__ = ["Observation", "PredictedPhase", "Predictor"]


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
    """

    delta: dict[str, torch.Tensor]
    loss_path: np.ndarray
    uncertainty: float
    loss_q05: np.ndarray | None = None
    loss_q95: np.ndarray | None = None


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
