"""Simple predictors that need no learning, and the metrics Experiments 2 and 3 share.

The dynamics model (``rssm.RSSMLite``) is only worth its cost if it beats these. They are the
reference points of Exp 2 (loss prediction) and Exp 3 (weight-delta prediction), and ``repeat``-
style predictors are also what the ``repeat_r50`` control arm uses.

Loss predictors (all share ``fit(steps, losses) -> self`` then ``predict(steps_future) -> losses``;
steps are training-step indices, losses are in nats):

- :class:`LastValue` (``last_value()``): the last observed loss, held flat.
- :class:`EMA` (``ema(alpha)``): an exponential moving average of the observed losses, held flat.
- :class:`PowerLaw` (``power_law()``): ``L(t) = a + b (t + t0)^-c`` fitted by
  ``scipy.optimize.least_squares`` (bounded trust-region) from several initial guesses;
  if every fit fails it falls back to the mean of the last 10% of the losses (flat) and says so in
  ``fallback``.

Weight-delta predictors map a history of deltas (oldest first; each a ``dict[str, Tensor]`` with
the model's parameter names and shapes) to a predicted next delta with the same keys and shapes:
:func:`repeat_previous`, :func:`linear_extrapolation`, :func:`ema_of_deltas`.

Metrics: :func:`mae_over_range`, :func:`r2`, :func:`delta_metrics`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from scipy.optimize import OptimizeWarning, least_squares

__all__ = [
    "LastValue",
    "EMA",
    "PowerLaw",
    "last_value",
    "ema",
    "power_law",
    "repeat_previous",
    "linear_extrapolation",
    "ema_of_deltas",
    "mae_over_range",
    "r2",
    "delta_metrics",
]


# ----------------------------------------------------------------------------------------------
# input checks
# ----------------------------------------------------------------------------------------------


def _as_1d(name: str, values, *, min_len: int = 1) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if arr.size < min_len:
        raise ValueError(f"{name} must hold at least {min_len} values, got {arr.size}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite (no NaN or inf)")
    return arr


def _steps_losses(steps, losses, *, min_len: int = 1) -> tuple[np.ndarray, np.ndarray]:
    s = _as_1d("steps", steps, min_len=min_len)
    y = _as_1d("losses", losses, min_len=min_len)
    if s.shape != y.shape:
        raise ValueError(f"steps and losses must have the same length, got {s.size} and {y.size}")
    if np.any(np.diff(s) <= 0):
        raise ValueError("steps must be strictly increasing")
    return s, y


# ----------------------------------------------------------------------------------------------
# loss predictors
# ----------------------------------------------------------------------------------------------


class _FlatPredictor:
    """A predictor whose forecast is one constant level."""

    level: float | None = None

    def predict(self, steps_future) -> np.ndarray:
        """Predicted losses (nats), shape ``[len(steps_future)]``."""
        if self.level is None:
            raise ValueError("predict called before fit")
        s = np.asarray(steps_future, dtype=np.float64)
        if s.ndim != 1:
            raise ValueError(f"steps_future must be one-dimensional, got shape {s.shape}")
        return np.full(s.shape, self.level, dtype=np.float64)


class LastValue(_FlatPredictor):
    """Predict that the loss stays at its last observed value."""

    def fit(self, steps, losses) -> "LastValue":
        _, y = _steps_losses(steps, losses)
        self.level = float(y[-1])
        return self


class EMA(_FlatPredictor):
    """Predict the exponential moving average of the observed losses, held flat.

    ``alpha`` in (0, 1] is the weight of each new observation:
    ``m_t = alpha * L_t + (1 - alpha) * m_{t-1}``, ``m_0 = L_0``.
    """

    def __init__(self, alpha: float = 0.1):
        if not (0.0 < float(alpha) <= 1.0):
            raise ValueError(f"alpha must be in (0, 1], got {alpha}")
        self.alpha = float(alpha)

    def fit(self, steps, losses) -> "EMA":
        _, y = _steps_losses(steps, losses)
        m = y[0]
        for v in y[1:]:
            m = self.alpha * v + (1.0 - self.alpha) * m
        self.level = float(m)
        return self


def _power_law(t, a, b, c, t0):
    return a + b * np.power(t + t0, -c)


def _power_law_jac(t, a, b, c, t0):
    """Analytic Jacobian ``[len(t), 4]`` of :func:`_power_law` (saves the finite-difference
    evaluations that made the fit the slowest part of Experiment 2)."""
    u = t + t0
    p = np.power(u, -c)
    return np.stack([np.ones_like(t), p, -b * p * np.log(u), -b * c * p / u], axis=1)


@dataclass
class PowerLaw:
    """``L(t) = a + b (t + t0)^-c`` fitted by bounded nonlinear least squares.

    Bounds: ``0 <= a <= min(L)`` (the asymptote cannot lie above any observed loss),
    ``b >= 0`` (a decreasing curve), ``1e-3 <= c <= 5``, ``1e-3 <= t0 <= 10 * (t_max - t_min + 1)``
    (steps are shifted so that the first observed step is 0). Several initial guesses are tried
    (``scipy.optimize.least_squares``, trust-region reflective, analytic Jacobian, at most
    ``maxfev`` evaluations each: on noisy curves the ``(b, c, t0)`` valley is nearly flat and an
    unbounded search crawls for seconds without changing the forecast) and the fit with the
    smallest squared error is kept. If every start fails, or fewer than 5 points are given, the predictor falls back to a flat line at the mean of the last 10% of the
    losses and sets ``fallback = True`` (with the reason in ``fallback_reason``).
    """

    maxfev: int = 300
    params: tuple[float, float, float, float] | None = field(default=None, init=False)
    fallback: bool = field(default=False, init=False)
    fallback_reason: str = field(default="", init=False)
    _origin: float = field(default=0.0, init=False, repr=False)
    _level: float = field(default=0.0, init=False, repr=False)
    _fitted: bool = field(default=False, init=False, repr=False)

    def fit(self, steps, losses) -> "PowerLaw":
        s, y = _steps_losses(steps, losses)
        self._origin = float(s[0])
        t = s - self._origin
        tail = max(1, int(math.ceil(0.1 * y.size)))
        self._level = float(np.mean(y[-tail:]))
        self.params, self.fallback, self.fallback_reason = None, False, ""
        self._fitted = True
        if y.size < 5:
            self._fall_back(f"only {y.size} points (need 5)")
            return self

        span = float(t[-1] - t[0] + 1.0)
        y_min = float(np.min(y))
        lower = [0.0, 0.0, 1e-3, 1e-3]
        upper = [max(y_min, 1e-12), np.inf, 5.0, 10.0 * span]
        best, best_sse = None, np.inf
        for c0 in (0.3, 1.0, 2.0):
            for t0_0 in (1.0, 0.1 * span):
                a0 = 0.5 * max(y_min, 0.0)
                # choose b so that the curve passes through the first observation
                b0 = max((y[0] - a0) * (t[0] + t0_0) ** c0, 1e-6)
                p0 = [min(a0, upper[0]), b0, c0, min(max(t0_0, lower[3]), upper[3])]
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore", OptimizeWarning)
                        warnings.simplefilter("ignore", RuntimeWarning)
                        res = least_squares(
                            lambda p: _power_law(t, *p) - y, p0, jac=lambda p: _power_law_jac(t, *p),
                            bounds=(lower, upper), x_scale="jac", max_nfev=self.maxfev,
                        )
                except (ValueError, FloatingPointError):
                    continue
                if res.status < 0:  # improper input; status 0 (evaluation budget spent) is kept
                    continue
                popt = res.x
                pred = _power_law(t, *popt)
                if not np.all(np.isfinite(pred)):
                    continue
                sse = float(np.sum((pred - y) ** 2))
                if sse < best_sse:
                    best, best_sse = popt, sse
        if best is None:
            self._fall_back("least squares failed from every initial guess")
        else:
            self.params = tuple(float(v) for v in best)
        return self

    def _fall_back(self, reason: str) -> None:
        self.fallback, self.fallback_reason, self.params = True, reason, None

    def predict(self, steps_future) -> np.ndarray:
        """Predicted losses (nats), shape ``[len(steps_future)]``."""
        if not self._fitted:
            raise ValueError("predict called before fit")
        s = np.asarray(steps_future, dtype=np.float64)
        if s.ndim != 1:
            raise ValueError(f"steps_future must be one-dimensional, got shape {s.shape}")
        if self.params is None:
            return np.full(s.shape, self._level, dtype=np.float64)
        return _power_law(s - self._origin, *self.params)


def last_value() -> LastValue:
    """A :class:`LastValue` predictor."""
    return LastValue()


def ema(alpha: float = 0.1) -> EMA:
    """An :class:`EMA` predictor with observation weight ``alpha``."""
    return EMA(alpha)


def power_law(maxfev: int = 300) -> PowerLaw:
    """A :class:`PowerLaw` predictor."""
    return PowerLaw(maxfev=maxfev)


# ----------------------------------------------------------------------------------------------
# weight-delta predictors
# ----------------------------------------------------------------------------------------------


def _check_history(history: Sequence[Mapping[str, torch.Tensor]]) -> list[Mapping[str, torch.Tensor]]:
    hist = list(history)
    if not hist:
        raise ValueError("history must hold at least one delta")
    keys = list(hist[-1].keys())
    for i, d in enumerate(hist):
        if set(d.keys()) != set(keys):
            raise ValueError(f"history[{i}] has different parameter names from the last delta")
        for k in keys:
            if tuple(d[k].shape) != tuple(hist[-1][k].shape):
                raise ValueError(f"history[{i}][{k!r}] has shape {tuple(d[k].shape)}, "
                                 f"expected {tuple(hist[-1][k].shape)}")
    return hist


def repeat_previous(history: Sequence[Mapping[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Predict that the next delta equals the last one (a copy)."""
    hist = _check_history(history)
    return {k: v.detach().clone() for k, v in hist[-1].items()}


def linear_extrapolation(history: Sequence[Mapping[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Extrapolate linearly from the last two deltas: ``d_next = 2 d_{-1} - d_{-2}``.

    With a single delta in the history this is :func:`repeat_previous`.
    """
    hist = _check_history(history)
    if len(hist) == 1:
        return repeat_previous(hist)
    last, prev = hist[-1], hist[-2]
    return {k: (2.0 * last[k] - prev[k]).detach().clone() for k in last}


def ema_of_deltas(history: Sequence[Mapping[str, torch.Tensor]], alpha: float = 0.5) -> dict[str, torch.Tensor]:
    """Exponential moving average of the deltas, oldest first, ``m = alpha d + (1 - alpha) m``,
    started at the oldest delta; the prediction is the final ``m``."""
    if not (0.0 < float(alpha) <= 1.0):
        raise ValueError(f"alpha must be in (0, 1], got {alpha}")
    hist = _check_history(history)
    m = {k: v.detach().clone() for k, v in hist[0].items()}
    for d in hist[1:]:
        for k in m:
            m[k].mul_(1.0 - alpha).add_(d[k].detach(), alpha=alpha)
    return m


# ----------------------------------------------------------------------------------------------
# metrics
# ----------------------------------------------------------------------------------------------


def _pred_actual(pred, actual) -> tuple[np.ndarray, np.ndarray]:
    p = _as_1d("pred", np.ravel(np.asarray(pred, dtype=np.float64)))
    a = _as_1d("actual", np.ravel(np.asarray(actual, dtype=np.float64)))
    if p.shape != a.shape:
        raise ValueError(f"pred and actual must have the same size, got {p.size} and {a.size}")
    return p, a


def mae_over_range(pred, actual) -> float:
    """Mean absolute error divided by the range (max - min) of ``actual``; dimensionless.

    Exp 2's criterion is ``mae_over_range < 0.05``. Raises ValueError if ``actual`` is constant.
    """
    p, a = _pred_actual(pred, actual)
    rng = float(np.max(a) - np.min(a))
    if rng <= 0.0:
        raise ValueError("actual has zero range; MAE over range is undefined")
    return float(np.mean(np.abs(p - a)) / rng)


def r2(pred, actual) -> float:
    """Coefficient of determination ``1 - SS_res / SS_tot`` of ``pred`` against ``actual``.

    Can be negative (worse than predicting the mean of ``actual``). Raises ValueError if
    ``actual`` is constant.
    """
    p, a = _pred_actual(pred, actual)
    ss_tot = float(np.sum((a - a.mean()) ** 2))
    if ss_tot <= 0.0:
        raise ValueError("actual is constant; R^2 is undefined")
    return float(1.0 - np.sum((p - a) ** 2) / ss_tot)


def _cos(x: torch.Tensor, y: torch.Tensor) -> float:
    nx, ny = float(torch.linalg.vector_norm(x)), float(torch.linalg.vector_norm(y))
    if nx == 0.0 or ny == 0.0:
        return 0.0  # no direction to agree with: counted as no agreement
    return float(torch.dot(x, y) / (nx * ny))


def delta_metrics(pred: Mapping[str, torch.Tensor], actual: Mapping[str, torch.Tensor],
                  threshold: float = 0.8) -> dict:
    """Compare a predicted weight delta with the actual one (Exp 3).

    Args:
        pred, actual: ``dict[name, Tensor]`` with identical keys and shapes.
        threshold: per-tensor cosine above which a tensor counts as well predicted (plan: 0.8).

    Returns a dict with
        ``cosine``: cosine over all elements of all tensors (0.0 if either delta is all zeros),
        ``rel_l2``: ``||pred - actual|| / ||actual||`` over all elements (NaN if actual is zero),
        ``pearson_r``: Pearson correlation over all elements (NaN if either is constant),
        ``per_tensor_cosine``: ``dict[name, float]``,
        ``per_layer_accuracy``: share of tensors whose cosine exceeds ``threshold``.
    All computed in float64.
    """
    if set(pred.keys()) != set(actual.keys()):
        missing = sorted(set(actual) - set(pred))
        extra = sorted(set(pred) - set(actual))
        raise ValueError(f"pred and actual must have the same keys; missing {missing[:5]}, extra {extra[:5]}")
    if not actual:
        raise ValueError("actual holds no tensors")
    names = list(actual.keys())
    per_tensor = {}
    ps, as_ = [], []
    for k in names:
        p = pred[k].detach().to(torch.float64).reshape(-1).cpu()
        a = actual[k].detach().to(torch.float64).reshape(-1).cpu()
        if p.shape != a.shape:
            raise ValueError(f"pred[{k!r}] has {p.numel()} elements, actual has {a.numel()}")
        per_tensor[k] = _cos(p, a)
        ps.append(p)
        as_.append(a)
    p, a = torch.cat(ps), torch.cat(as_)
    na = float(torch.linalg.vector_norm(a))
    rel_l2 = float(torch.linalg.vector_norm(p - a)) / na if na > 0 else float("nan")
    pc, ac = p - p.mean(), a - a.mean()
    npc, nac = float(torch.linalg.vector_norm(pc)), float(torch.linalg.vector_norm(ac))
    pearson = float(torch.dot(pc, ac) / (npc * nac)) if npc > 0 and nac > 0 else float("nan")
    acc = float(np.mean([c > threshold for c in per_tensor.values()]))
    return {
        "cosine": _cos(p, a),
        "rel_l2": rel_l2,
        "pearson_r": pearson,
        "per_tensor_cosine": per_tensor,
        "per_layer_accuracy": acc,
    }
