"""Learning-curve laws: predict a run's final validation loss from its curve so far (Experiment 6).

A curve is the validation loss after ``s`` training steps at the evaluation steps ``s_1 < s_2 <
... < s_n``; the budget is ``T`` steps and ``lr`` holds the learning rate of every step ``0 .. T-1``
(the configuration's own warmup and cosine schedule, known before the run: the replay reads it from
the recorded ``metrics.jsonl``, the live study computes it with the trainer's schedule). Three laws:

- ``last``: the final loss is the last value (persistence; no fit).
- ``power``: ``L(s) = L0 + A s^-alpha`` in steps (Kaplan-style; blind to the schedule).
- ``schedule``: the learning-rate annealing law of Tissue et al. 2024 ("Scaling law with learning rate
  annealing"), ``L(s) = L0 + A S1(s)^-alpha - C S2(s)``, where ``S1(s)`` is the forward area (the sum
  of the learning rates of the first ``s`` steps) and ``S2(s)`` the annealing area (the sum of the
  momentum ``m_i = lambda m_{i-1} + (eta_{i-1} - eta_i)`` of the learning-rate decreases, lambda =
  ``hpo.predictors.decay``, 0.999 as in the paper). Warmup counts in ``S1``; ``m`` starts at the peak
  (the paper's warmup is not annealing). Both areas are in units of the peak rate (steps at peak), so
  that the parameters are of order one for every configuration. The law knows the whole schedule, so
  it can foresee the loss drop of the coming cosine decay that the power law cannot.

The annealing coefficient ``C`` is identified only once the curve shows the decay's curvature, and a
free fit on an early curve extrapolates noise into drops of tenths of a nat; so the schedule law's fit
carries a prior, a pseudo-observation that the annealing drop at the end of the budget, ``C S2(T)``,
is zero, weighted ``prior`` (``hpo.predictors.prior``, 0.03: the evaluation noise, about 0.008 nats,
over a plausible drop, about 0.3 nats): the fit predicts a drop only as far as the curve so far supports it. (A drop
that every curve shares is no error for the pruners, which compare predictions with predictions:
:class:`predictive_training.analysis.exp6.LawPruner`.)

Fits are least squares (:func:`scipy.optimize.least_squares`, trust-region reflective) within bounds
(``A, C >= 0``, ``0.01 <= alpha <= 3``, ``0 <= L0 <= min(y)`` for the power law, which decreases
to ``L0``, and ``<= max(y)`` for the schedule law, whose annealing term goes below it) from a few fixed starts; the lowest cost
wins, so a fit is exactly repeatable. A law that has fewer points than parameters plus one, or whose
fit fails, falls back (``schedule`` -> ``power`` -> ``last``), and :class:`Prediction` says which law
produced the number.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import least_squares

__all__ = ["LAWS", "PRIOR_WEIGHT", "Prediction", "annealing_areas", "fit_law", "predict_final", "predict_curve"]

#: law -> number of fitted parameters (``last`` fits none).
LAWS: dict[str, int] = {"last": 0, "power": 3, "schedule": 4}
_FALLBACK = {"schedule": "power", "power": "last"}
_ALPHA_STARTS = (0.3, 0.7, 1.5)
#: default weight of the schedule law's prior (``hpo.predictors.prior``): the evaluation noise (about 0.008 nats
#: at the default model, 16 windows) over a plausible final annealing drop (about 0.3 nats)
PRIOR_WEIGHT = 0.03


@dataclass(frozen=True)
class Prediction:
    """A law's prediction of the loss at step ``total``: ``value`` (nats), the law that produced it
    (``used``: the requested one or its fallback) and the fitted parameters (empty for ``last``)."""

    value: float
    law: str
    used: str
    params: tuple[float, ...] = ()


def annealing_areas(lr: Sequence[float], decay: float = 0.999) -> tuple[np.ndarray, np.ndarray]:
    """``(S1, S2)``, each of length ``len(lr) + 1``: the forward and annealing areas after ``s`` steps
    (``S1[0] = S2[0] = 0``), in units of the peak learning rate.

    ``S1[s] = sum_{i<s} lr_i / peak``; ``S2[s] = sum_{i<s} m_i / peak`` with ``m_i = decay * m_{i-1} +
    (lr_{i-1} - lr_i)`` from the step after the peak on (``m = 0`` before it, during warmup).
    """
    eta = np.asarray(lr, dtype=float)
    if eta.ndim != 1 or eta.size == 0 or not np.all(np.isfinite(eta)) or np.any(eta < 0) or eta.max() <= 0:
        raise ValueError("lr must be a non-empty 1-D sequence of non-negative, finite learning rates with a positive peak")
    peak_at = int(np.argmax(eta))
    peak = float(eta[peak_at])
    m = np.zeros_like(eta)
    for i in range(peak_at + 1, eta.size):
        m[i] = decay * m[i - 1] + (eta[i - 1] - eta[i])
    s1 = np.concatenate([[0.0], np.cumsum(eta)]) / peak
    s2 = np.concatenate([[0.0], np.cumsum(m)]) / peak
    return s1, s2


def _model(law: str, p: np.ndarray, s: np.ndarray, s1: np.ndarray | None, s2: np.ndarray | None) -> np.ndarray:
    if law == "power":
        return p[0] + p[1] * np.power(s, -p[2])
    # schedule: S1 > 0 from the first step on (the first step's rate is positive)
    return p[0] + p[1] * np.power(s1, -p[2]) - p[3] * s2


def fit_law(law: str, steps: Sequence[int], values: Sequence[float], lr: Sequence[float] | None = None,
            decay: float = 0.999, prior: float = PRIOR_WEIGHT) -> tuple[np.ndarray, float] | None:
    """Least-squares fit of ``power`` or ``schedule`` to the points ``(steps, values)``; returns the
    parameters and the residual sum of squares, or None when there are too few points or no start
    converges. ``steps`` are steps trained (>= 1); ``lr`` (the schedule law only) has at least
    ``max(steps)`` entries: the whole budget's, since the prior is on the drop at its end, weighted
    ``prior``."""
    if law not in ("power", "schedule"):
        raise ValueError(f"law must be 'power' or 'schedule', got {law!r}")
    s = np.asarray(steps, dtype=float)
    y = np.asarray(values, dtype=float)
    if s.size != y.size or s.size < LAWS[law] + 1 or not np.all(np.isfinite(y)) or np.any(s < 1):
        return None
    s1 = s2 = None
    if law == "schedule":
        if lr is None:
            raise ValueError("the schedule law needs the learning rate of every step")
        a1, a2 = annealing_areas(lr, decay)
        idx = s.astype(int)
        if idx.max() >= a1.size:
            raise ValueError(f"lr has {a1.size - 1} steps, fewer than the curve's last step {int(idx.max())}")
        s1, s2 = a1[idx], a2[idx]
        s2_end = float(a2[-1])  # the annealing area of the whole budget
    y_min, y_span = float(y.min()), float(max(y.max() - y.min(), 1e-6))
    x_ref = s1 if law == "schedule" else s
    best: tuple[np.ndarray, float] | None = None
    for alpha in _ALPHA_STARTS:
        # start: L0 just below the last value, A from the first point at that alpha
        l0 = max(0.0, y_min - 0.1 * y_span)
        a = max((y[0] - l0) * float(x_ref[0]) ** alpha, 1e-6)
        p0 = [l0, a, alpha] + ([0.0] if law == "schedule" else [])
        lower = [0.0, 0.0, 0.01] + ([0.0] if law == "schedule" else [])
        # the power law decreases to L0, so L0 <= min(y); the schedule law's annealing term takes the
        # loss below L0, so there L0 is only bounded by the curve's top
        upper = [y_min if law == "power" else float(y.max()), np.inf, 3.0] + ([np.inf] if law == "schedule" else [])
        p0 = np.clip(np.asarray(p0, dtype=float), lower, upper)

        def resid(p):
            r = _model(law, p, s, s1, s2) - y
            if law == "schedule":  # the prior: a pseudo-observation that the final annealing drop is 0
                r = np.append(r, prior * p[3] * s2_end)
            return r

        try:
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                res = least_squares(resid, p0, bounds=(lower, upper), method="trf", x_scale="jac", max_nfev=400)
        except (ValueError, FloatingPointError, np.linalg.LinAlgError):
            continue
        if not np.all(np.isfinite(res.x)):
            continue
        cost = float(np.sum(res.fun ** 2))  # (with the prior's term for the schedule law)
        if math.isfinite(cost) and (best is None or cost < best[1]):
            best = (res.x.copy(), cost)
    return best


def predict_curve(law: str, params: np.ndarray, at_steps: Sequence[int], lr: Sequence[float] | None = None,
                  decay: float = 0.999) -> np.ndarray:
    """The fitted law's loss after each of ``at_steps`` steps."""
    s = np.asarray(at_steps, dtype=float)
    s1 = s2 = None
    if law == "schedule":
        a1, a2 = annealing_areas(lr, decay)
        s1, s2 = a1[s.astype(int)], a2[s.astype(int)]
    with np.errstate(all="ignore"):
        return _model(law, np.asarray(params, dtype=float), s, s1, s2)


def predict_final(law: str, steps: Sequence[int], values: Sequence[float], total: int,
                  lr: Sequence[float] | None = None, decay: float = 0.999, prior: float = PRIOR_WEIGHT) -> Prediction:
    """Predict the loss after ``total`` steps from the curve so far with ``law``, falling back
    (``schedule`` -> ``power`` -> ``last``) where the law cannot be fitted or predicts a non-finite
    or negative value. ``values`` must be finite and non-empty."""
    if law not in LAWS:
        raise ValueError(f"law must be one of {sorted(LAWS)}, got {law!r}")
    y = np.asarray(values, dtype=float)
    if y.size == 0 or not np.all(np.isfinite(y)):
        raise ValueError("values must be a non-empty sequence of finite losses")
    used = law
    while used != "last":
        fit = fit_law(used, steps, y, lr, decay, prior)
        if fit is not None:
            value = float(predict_curve(used, fit[0], [total], lr, decay)[0])
            if math.isfinite(value) and value >= 0:
                return Prediction(value, law, used, tuple(float(v) for v in fit[0]))
        used = _FALLBACK[used]
    return Prediction(float(y[-1]), law, "last")
