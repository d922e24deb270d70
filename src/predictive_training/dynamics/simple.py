"""Predictors that need no learning: of the loss, of weight deltas, and the control arms' ones.

The dynamics model (:mod:`.rssm`) is only worth its cost if it beats these. They are the
reference points of Exp 2 (loss prediction) and Exp 3 (weight-delta prediction), and two of them
drive control arms of Exp 4.

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

The control arms' predictors follow the trainer's :class:`~.protocol.Predictor` protocol:
:class:`ZeroPredictor` (``skip``: no weight change) and :class:`RepeatPredictor` (``repeat``:
``Y x`` the mean of the recent per-step updates); both predict a flat loss at the last observed
value and report uncertainty 0.
"""

from __future__ import annotations

import math
import warnings
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from scipy.optimize import OptimizeWarning, least_squares

from .protocol import Observation, PredictedPhase
from .scores import finite_1d

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
    "ZeroPredictor",
    "RepeatPredictor",
]


# ----------------------------------------------------------------------------------------------
# input checks (shared with the scores: finite_1d)
# ----------------------------------------------------------------------------------------------


def _steps_losses(steps, losses, *, min_len: int = 1) -> tuple[np.ndarray, np.ndarray]:
    s = finite_1d("steps", steps, min_len=min_len)
    y = finite_1d("losses", losses, min_len=min_len)
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
# the control arms' predictors (the Predictor protocol: observe, ready, rollout)
# ----------------------------------------------------------------------------------------------


class _LossTracker:
    """Last observed loss (for the flat loss paths of the control predictors)."""

    last_loss: float = float("nan")

    def _track(self, obs: Observation) -> None:
        self.last_loss = float(obs.loss)


class ZeroPredictor(_LossTracker):
    """The ``skip`` control: predicts no weight change and a flat loss. Uncertainty 0."""

    name = "skip"

    def __init__(self, params: Mapping[str, torch.Tensor]):
        self.params = params

    def observe(self, obs: Observation) -> None:
        self._track(obs)

    def ready(self) -> bool:
        return True

    def rollout(self, horizon: int, lrs: Sequence[float], seed: int) -> PredictedPhase:
        delta = {n: torch.zeros_like(p) for n, p in self.params.items()}
        return PredictedPhase(delta, np.full(horizon, self.last_loss), 0.0)

    def state_dict(self) -> dict:
        return {"last_loss": self.last_loss}

    def load_state_dict(self, state: Mapping) -> None:
        self.last_loss = float(state["last_loss"])


class RepeatPredictor(_LossTracker):
    """The ``repeat`` control: ``Y x`` the mean of the last ``window`` per-step updates, flat loss.

    Keeps the window's updates and their running sum (float32). The updates are stored in
    float32 while ``window + 1`` copies fit the predictors' state bound (8 float32 copies of the
    model, :mod:`.footprint`), else in bfloat16 (relative rounding at most 2^-9 per element); the
    sum is the exact float32 sum of the stored values, so the mean is that of the stored updates.
    Uncertainty 0.
    """

    name = "repeat"

    def __init__(self, window: int):
        if isinstance(window, bool) or int(window) != window or window < 1:
            raise ValueError(f"hybrid.repeat_window must be a positive integer, got {window!r}")
        self.window = int(window)
        # float32 copies of the model held: window updates + the sum (footprint.STATE_BOUND = 8)
        self.dtype = torch.float32 if self.window + 1 <= 8 else torch.bfloat16
        self.recent: deque[dict[str, torch.Tensor]] = deque()
        self.total: dict[str, torch.Tensor] | None = None

    def observe(self, obs: Observation) -> None:
        self._track(obs)
        u = {n: t.detach().to(self.dtype, copy=True) for n, t in obs.update.items()}
        if self.total is None:
            self.total = {n: torch.zeros_like(t, dtype=torch.float32) for n, t in u.items()}
        for n, t in u.items():
            self.total[n].add_(t)
        self.recent.append(u)
        if len(self.recent) > self.window:
            old = self.recent.popleft()
            for n, t in old.items():
                self.total[n].sub_(t)

    def ready(self) -> bool:
        return bool(self.recent)

    def rollout(self, horizon: int, lrs: Sequence[float], seed: int) -> PredictedPhase:
        if not self.recent:
            raise ValueError("RepeatPredictor.rollout needs at least one observed update")
        k = len(self.recent)
        delta = {n: t * (horizon / k) for n, t in self.total.items()}
        return PredictedPhase(delta, np.full(horizon, self.last_loss), 0.0)

    def state_dict(self) -> dict:
        # the running sum is saved as it is (not re-summed): float addition is not associative
        return {"last_loss": self.last_loss, "recent": [dict(u) for u in self.recent],
                "total": None if self.total is None else dict(self.total)}

    def load_state_dict(self, state: Mapping) -> None:
        self.last_loss = float(state["last_loss"])
        self.recent = deque({n: t.clone() for n, t in u.items()} for u in state["recent"])
        self.total = None if state["total"] is None else {n: t.clone() for n, t in state["total"].items()}
