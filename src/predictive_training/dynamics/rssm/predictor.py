"""The RSSM-lite as a predictor of the study (:class:`RSSMPredictor`, registry name ``rssm``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch

from ..base import BasePredictor, PredictorContext
from ..protocol import Observation, PredictedPhase
from .config import RSSMConfig
from .features import step_features
from .model import RSSMLite
from .replay import online_train_runs

__all__ = ["RSSMPredictor"]


class RSSMPredictor(BasePredictor):
    """Adapter from :class:`~.model.RSSMLite` to the predictor protocol (:mod:`..protocol`).

    Every full step is observed with :func:`step_features` (per-tensor norms in the model's
    ``named_parameters`` order) and its applied update; the dynamics model trains online
    (``RSSMConfig.update_every``, ``train_iters``). Ready once it has a direction basis, an error
    model (one basis window seen with a basis in force) and at least ``min_train_steps``
    optimisation steps. Whether its predictions are worth applying is the hybrid trainer's gate
    (measured skill). ``rssm_overrides``: ``RSSMConfig`` fields (``hybrid.rssm``); ``seed``
    defaults to the run seed. :meth:`drain_events` hands over one ``predictor_train`` event per
    online optimisation run (the learning curve); :meth:`summary` the curve's verdict.
    """

    name = "rssm"

    def __init__(self, model: torch.nn.Module, rssm_overrides: Mapping | None, seed: int):
        over = dict(rssm_overrides or {})
        over.setdefault("seed", int(seed))
        try:
            rcfg = RSSMConfig.from_dict(over)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"config key 'hybrid.rssm': {exc}") from exc
        self.model = RSSMLite.for_model(model, rcfg)
        self.names = list(self.model.param_names)
        p0 = next(model.parameters())
        self.dtype, self.device = p0.dtype, p0.device
        self._drained = 0  # learning-curve entries already handed over as events

    @classmethod
    def from_context(cls, context: PredictorContext, options: Mapping) -> "RSSMPredictor":
        """``options``: ``RSSMConfig`` fields (``hybrid.rssm``); the seed defaults to the run's."""
        return cls(context.model, options, context.seed)

    @classmethod
    def check_options(cls, options: Mapping) -> None:
        RSSMConfig.from_dict({**dict(options), "seed": 0})  # ValueError/TypeError name the field

    @classmethod
    def nominal_train_steps(cls, options: Mapping, observed: int) -> int:
        r = RSSMConfig.from_dict({**dict(options), "seed": 0})
        return online_train_runs(r, observed) * r.train_iters

    def state_numbers(self) -> dict:
        """Numbers of the dynamics model's persistent state (:meth:`RSSMLite.state_numbers`): ``total``,
        and ``fixed``, the network, its optimiser and the replay, whose size depends on the number of
        the model's tensors but not on N (the direction basis is the part that grows with N)."""
        s = self.model.state_numbers()
        return {**s, "fixed": s["network"] + s["optimizer"] + s["replay"]}

    def observe(self, obs: Observation) -> None:
        update_norms = {n: float(torch.linalg.vector_norm(obs.update[n].float())) for n in self.names}
        feats = step_features(obs.loss, obs.grad_norm, obs.lr, obs.step, obs.total_steps,
                              {n: obs.grad_norms[n] for n in self.names}, update_norms, names=self.names)
        self.model.observe(feats, {n: obs.update[n] for n in self.names}, train=True)

    def ready(self) -> bool:
        m = self.model
        return (not m.basis.is_empty and m.err_count > 0
                and m.n_train_steps >= m.config.min_train_steps)

    def rollout(self, horizon: int, lrs: Sequence[float], seed: int) -> PredictedPhase:
        r = self.model.rollout(horizon, seed=seed, lrs=list(lrs), dtype=self.dtype, device=self.device)
        return PredictedPhase(r.delta, np.asarray(r.loss_mean, dtype=np.float64), float(r.uncertainty),
                              np.asarray(r.loss_q05), np.asarray(r.loss_q95))

    def drain_events(self) -> list[dict]:
        """``predictor_train`` events for the optimisation runs since the last call (oldest first)."""
        new = self.model.curve[self._drained:]
        self._drained = len(self.model.curve)
        return [{"event": "predictor_train", "predictor": self.name, **c} for c in new]

    def summary(self) -> dict:
        """Optimisation steps, the learning curve's verdict and the persistent state's size."""
        return {"name": self.name, "observed": self.model.n_observed, **self.model.learning_curve(),
                "ready": self.ready(), "state_numbers": self.model.state_numbers()}

    def state_dict(self) -> dict:
        """The dynamics model's full state: weights, normalisers, basis, replay, filtered state,
        its Adam optimiser and its generators (``RSSMLite.get_extra_state``)."""
        return {"model": self.model.state_dict(), "drained": self._drained}

    def load_state_dict(self, state: Mapping) -> None:
        self.model.load_state_dict(state["model"])
        self._drained = int(state.get("drained", len(self.model.curve)))
