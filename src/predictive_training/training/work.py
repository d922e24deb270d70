"""Counted training work: what a run did, in units whose cost a calibration measures.

A run's contention-free time is its counted work times the unit costs that a serial calibration
(:mod:`.calibrate`) measured on the same config, model and device
(``records/costs.py``: ``contention_free_s``). Other jobs on the machine change the run's
elapsed ``wall_s`` but not its counts, so the speed verdicts use the counts.

Units (keys of ``summary.json``'s ``work`` and of the metrics rows' ``work`` on evaluation steps;
cumulative):

``full_step``
    a real optimisation step: batch, forward, backward, clipping, AdamW, the applied update
    (``Trainer.full_step``); equal to ``backward_passes``.
``forward_batch``
    a forward-only pass over one training batch inside the timed work: the held-aside losses
    after Predict and Correct and the line search's evaluations; equal to ``forward_passes -
    backward_passes`` (validation is measurement and runs outside ``forward_loss``).
``observe/<predictor>``
    one ``Predictor.observe`` call with the trainer's preparation of the observation (per-tensor
    gradient norms) and the guard's check, without the predictor's own optimisation steps.
``predictor_train/<predictor>``
    one optimisation step of a learning predictor (the RSSM trains every ``update_every``
    observed steps), with whatever the predictor does around it per step (for the RSSM: basis
    refresh and re-filtering; they happen on the same grid of observed steps).
``rollout/<predictor>/<Y>``
    one aggregate ``Y``-step rollout. For a verifying predictor (``verified``) one verified
    rollout: its own work apart from its checks (the origin's copy and restore, the kept delta).
``verify_check/<predictor>``
    one check of a verifying predictor's verified rollout, without its forward batches (those
    are ``forward_batch``): the origin's weights restored and the candidate delta (made by the
    predictor) added; the origin's own check (nothing added) counts as one too.
``pre_predict_snapshot``
    the copy of weights and AdamW state taken before a Predict phase (the guard's restore point).
``apply_delta``
    adding a predicted delta to the weights.
``search_trial``
    one candidate evaluation of the per-layer line search: moving a layer group's weights to the
    candidate scale and back, without the forward batches of its loss (those are
    ``forward_batch``).
``guard_restore``
    restoring the pre-Predict weights and AdamW state after a divergence.
``observe/reference_<name>``, ``rollout/reference_<name>/<F>``
    the skill gate's reference predictor (``hybrid.gate.reference``: ``reference_ema`` for
    ``ema_of_deltas``, ``reference_skip`` for ``zero``) observing a real step (the observation is
    already prepared) and forecasting a Full gap of ``F`` steps; the predictor's own forecast of
    the gap counts as ``rollout/<predictor>/<F>``.
``skill_check``
    the skill gate's bookkeeping of one Full gap: the copy of the weights at its start and the
    scoring of both forecasts against the real delta at its end (``training/gate.py``).

Rollout units are measured at the lengths a study's plans use (``calibrate``); a length the
calibration did not time is interpolated linearly in the length between the nearest timed
lengths of the same predictor (``records/costs.py``).

Measurement is not training work and is neither counted nor inside ``wall_s``: periodic
validation, weight snapshots, gradient and tensor-norm records, shadow predictors (observers
marked ``untimed``), checkpoints. The predictor's own observation of every real step IS training
work (the hybrid cannot predict without it).

:class:`CountingPredictor` and :class:`CountingCorrector` wrap a predictor and the line search so
that the hybrid trainer's flow needs no counting code: they count into the trainer's
``work`` counter (checkpointed with the trainer).
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Sequence

__all__ = ["FULL_STEP", "FORWARD_BATCH", "PRE_PREDICT_SNAPSHOT", "APPLY_DELTA", "SEARCH_TRIAL", "GUARD_RESTORE", "SKILL_CHECK",
           "CountingPredictor", "CountingCorrector", "predictor_train_steps"]

FULL_STEP = "full_step"
FORWARD_BATCH = "forward_batch"
PRE_PREDICT_SNAPSHOT = "pre_predict_snapshot"
APPLY_DELTA = "apply_delta"
SEARCH_TRIAL = "search_trial"
GUARD_RESTORE = "guard_restore"
SKILL_CHECK = "skill_check"


def predictor_train_steps(predictor) -> int:
    """Optimisation steps a predictor has run so far: its ``train_steps`` if it has one, else its
    dynamics model's ``n_train_steps`` (the RSSM), else 0 (predictors that do not learn)."""
    n = getattr(predictor, "train_steps", None)
    if n is None:
        n = getattr(getattr(predictor, "model", None), "n_train_steps", 0)
    return int(n)


class CountingPredictor:
    """A predictor that counts its observe calls, optimisation steps and rollouts into ``work``.

    Everything else (``name``, ``ready``, ``state_dict``, attributes of the wrapped predictor) is
    passed through; ``inner`` is the wrapped predictor.
    """

    def __init__(self, inner, work: collections.Counter, prefix: str = ""):
        self.inner, self.work, self.prefix = inner, work, prefix

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def unit_name(self) -> str:
        """The predictor's name in unit names (``prefix`` + name; the skill gate's reference:
        ``reference_``)."""
        return self.prefix + self.inner.name

    def observe(self, obs) -> None:
        before = predictor_train_steps(self.inner)
        self.inner.observe(obs)
        self.work[f"observe/{self.unit_name}"] += 1
        trained = predictor_train_steps(self.inner) - before
        if trained:
            self.work[f"predictor_train/{self.unit_name}"] += trained

    def ready(self) -> bool:
        return self.inner.ready()

    def rollout(self, horizon: int, lrs: Sequence[float], seed: int):
        out = self.inner.rollout(horizon, lrs, seed)
        self.work[f"rollout/{self.unit_name}/{int(horizon)}"] += 1
        return out

    def state_dict(self) -> dict:
        return self.inner.state_dict()

    def load_state_dict(self, state) -> None:
        self.inner.load_state_dict(state)

    def __getattr__(self, attr):  # only called for attributes not found on the wrapper
        if attr in ("inner", "work", "prefix"):
            raise AttributeError(attr)
        value = getattr(self.inner, attr)
        if attr == "verified_rollout" and callable(value):  # a verifying predictor's rollout counts too
            def counted(horizon: int, lrs, seed, loss_at, *args, **kwargs):
                def check(delta):  # its checks' own work (their forward batches are forward_batch)
                    self.work[f"verify_check/{self.unit_name}"] += 1
                    return loss_at(delta)

                out = value(horizon, lrs, seed, check, *args, **kwargs)
                self.work[f"rollout/{self.unit_name}/{int(horizon)}"] += 1
                return out
            return counted
        return value


class CountingCorrector:
    """The per-layer line search, counting each evaluation of its loss as one ``search_trial``;
    the forward batches that the loss runs are counted by the trainer (``forward_batch``)."""

    def __init__(self, inner, work: collections.Counter):
        self.inner, self.work = inner, work

    def correct(self, params, delta, loss_fn: Callable[[], float], *args, **kwargs):
        def counted() -> float:
            self.work[SEARCH_TRIAL] += 1
            return loss_fn()

        return self.inner.correct(params, delta, counted, *args, **kwargs)

    def state_dict(self) -> dict:
        return self.inner.state_dict()

    def load_state_dict(self, state) -> None:
        self.inner.load_state_dict(state)

    def __getattr__(self, attr):
        if attr in ("inner", "work"):
            raise AttributeError(attr)
        return getattr(self.inner, attr)
