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
value and report uncertainty 0. Two more protocol predictors are references of shadow mode
(``training/shadow.py``): :class:`EmaDeltaPredictor` (an EMA of the per-step updates per unit
learning rate, times the coming learning rates) and :class:`LinearDeltaPredictor` (Brown's double
exponential smoothing of the same: level plus linear trend), both with a flat loss and uncertainty
0, each holding one or two parameter-sized tensors. :class:`EmaDeltaPredictor` with
``beta = 1 - hybrid.gate.ema_alpha`` is also the reference of the hybrid's skill gate.

:func:`span_projection` is the span oracle of shadow mode: the least-squares projection of a real
delta on the span of recent per-step updates, fitted in hindsight (a ceiling, not a predictor).
"""

from __future__ import annotations

import math
import warnings
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from .base import BasePredictor, PredictorContext
from .protocol import Observation, PredictedPhase, rollout_lrs
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
    "EmaDeltaPredictor",
    "LinearDeltaPredictor",
    "span_projection",
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
        from scipy.optimize import OptimizeWarning, least_squares  # here: a training job need not import it

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


class _LossTracker(BasePredictor):
    """Last observed loss (for the flat loss paths of the control predictors)."""

    last_loss: float = float("nan")

    def _track(self, obs: Observation) -> None:
        self.last_loss = float(obs.loss)


class ZeroPredictor(_LossTracker):
    """The ``skip`` control: predicts no weight change and a flat loss. Uncertainty 0."""

    name = "skip"
    transient = ("params",)

    def __init__(self, params: Mapping[str, torch.Tensor]):
        self.params = params

    @classmethod
    def from_context(cls, context: PredictorContext, options: Mapping) -> "ZeroPredictor":
        return cls(context.params)

    @classmethod
    def check_options(cls, options: Mapping) -> None:
        if options:
            raise ValueError(f"the zero predictor (skip) takes no options, got {sorted(options)}")

    def observe(self, obs: Observation) -> None:
        self._track(obs)

    def ready(self) -> bool:
        return True

    def state_numbers(self) -> int:
        return 0  # the last loss

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

    @classmethod
    def steady_observations(cls, options: Mapping) -> int:
        return int(options["window"])  # its window of updates is full

    def state_numbers(self) -> float:
        """Float32 equivalents of the stored updates (bfloat16 counts half) and the float32 sum."""
        held = sum(t.numel() * t.element_size() for u in self.recent for t in u.values()) / 4
        return held + (0 if self.total is None else sum(t.numel() for t in self.total.values()))

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


class _PerLrRate(_LossTracker):
    """Shared by the smoothing predictors: each observed update divided by its learning rate
    (Adam-like updates scale with the learning rate, so a rate per unit learning rate carries over
    a changing schedule; the RSSM's delta head does the same, ``RSSMConfig.delta_per_lr``)."""

    @staticmethod
    def _check_beta(beta) -> float:
        if isinstance(beta, bool) or not isinstance(beta, (int, float)) or not (0.0 <= float(beta) < 1.0):
            raise ValueError(f"the EMA's beta (record.shadow.ema_beta, or 1 - hybrid.gate.ema_alpha) must be a number in [0, 1), got {beta!r}")
        return float(beta)

    @staticmethod
    def _rate(obs: Observation) -> list[torch.Tensor] | None:
        lr = float(obs.lr)
        if not (lr > 0 and math.isfinite(lr)):
            return None  # no learning rate to normalise by: the step tells nothing about the rate
        return [t.detach() / lr for t in obs.update.values()]

    @staticmethod
    def _lrs(horizon: int, lrs: Sequence[float]) -> np.ndarray:
        return rollout_lrs(horizon, lrs)


class EmaDeltaPredictor(_PerLrRate):
    """``delta = (sum of the coming learning rates) x m``, with ``m`` the exponential moving
    average of the per-step updates per unit learning rate: ``m = beta m + (1 - beta) u_t / lr_t``
    (started at the first update). Flat loss at the last observed value; uncertainty 0.
    Holds one parameter-sized copy."""

    name = "ema"

    def __init__(self, beta: float):
        self.beta = self._check_beta(beta)
        self.names: list[str] | None = None
        self.m: list[torch.Tensor] | None = None

    def observe(self, obs: Observation) -> None:
        self._track(obs)
        r = self._rate(obs)
        if r is None:
            return
        if self.m is None:
            self.names, self.m = list(obs.update), [t.clone() for t in r]
            return
        if self.m[0].device != r[0].device:  # restored from a checkpoint loaded onto the CPU
            self.m = [t.to(r[0].device) for t in self.m]
        torch._foreach_mul_(self.m, self.beta)
        torch._foreach_add_(self.m, r, alpha=1.0 - self.beta)

    def ready(self) -> bool:
        return self.m is not None

    def state_numbers(self) -> int:
        return 0 if self.m is None else sum(t.numel() for t in self.m)

    def rollout(self, horizon: int, lrs: Sequence[float], seed: int) -> PredictedPhase:
        lr = self._lrs(horizon, lrs)
        if self.m is None:
            raise ValueError("EmaDeltaPredictor.rollout needs at least one observed update")
        total = float(lr.sum())
        delta = {n: t * total for n, t in zip(self.names, self.m)}
        return PredictedPhase(delta, np.full(int(horizon), self.last_loss), 0.0)

    def state_dict(self) -> dict:
        return {"last_loss": self.last_loss, "names": self.names,
                "m": None if self.m is None else [t.clone() for t in self.m]}

    def load_state_dict(self, state: Mapping) -> None:
        self.last_loss = float(state["last_loss"])
        self.names = None if state["names"] is None else list(state["names"])
        self.m = None if state["m"] is None else [t.clone() for t in state["m"]]


class LinearDeltaPredictor(_PerLrRate):
    """Linear extrapolation of the per-step update rate (per unit learning rate) by Brown's double
    exponential smoothing with ``alpha = 1 - beta``: ``s1 = alpha r + (1 - alpha) s1``,
    ``s2 = alpha s1 + (1 - alpha) s2`` (both started at the first rate); level ``a = 2 s1 - s2``,
    trend ``b = alpha / (1 - alpha) (s1 - s2)`` per step; the rate ``i`` steps ahead is ``a + i b``
    and ``delta = sum_i lr_i (a + i b)`` over the ``Y`` coming steps. ``s1`` is exactly
    :class:`EmaDeltaPredictor`'s average, so the two differ only by the trend. Flat loss at the last
    observed value; uncertainty 0. Holds two parameter-sized copies."""

    name = "linear"

    def __init__(self, beta: float):
        self.beta = self._check_beta(beta)
        self.names: list[str] | None = None
        self.s1: list[torch.Tensor] | None = None
        self.s2: list[torch.Tensor] | None = None

    def observe(self, obs: Observation) -> None:
        self._track(obs)
        r = self._rate(obs)
        if r is None:
            return
        if self.s1 is None:
            self.names = list(obs.update)
            self.s1, self.s2 = [t.clone() for t in r], [t.clone() for t in r]
            return
        a = 1.0 - self.beta
        torch._foreach_mul_(self.s1, self.beta)
        torch._foreach_add_(self.s1, r, alpha=a)
        torch._foreach_mul_(self.s2, self.beta)
        torch._foreach_add_(self.s2, self.s1, alpha=a)

    def ready(self) -> bool:
        return self.s1 is not None

    def state_numbers(self) -> int:
        return 0 if self.s1 is None else 2 * sum(t.numel() for t in self.s1)

    def rollout(self, horizon: int, lrs: Sequence[float], seed: int) -> PredictedPhase:
        lr = self._lrs(horizon, lrs)
        if self.s1 is None:
            raise ValueError("LinearDeltaPredictor.rollout needs at least one observed update")
        a = 1.0 - self.beta
        k_level = float(lr.sum())
        k_trend = float((lr * np.arange(1, lr.size + 1)).sum())
        # delta = k_level (2 s1 - s2) + k_trend a / (1 - a) (s1 - s2)
        c_trend = k_trend * a / self.beta if self.beta > 0 else 0.0
        delta = {n: s1 * (2.0 * k_level + c_trend) - s2 * (k_level + c_trend)
                 for n, s1, s2 in zip(self.names, self.s1, self.s2)}
        return PredictedPhase(delta, np.full(int(horizon), self.last_loss), 0.0)

    def state_dict(self) -> dict:
        return {"last_loss": self.last_loss, "names": self.names,
                "s1": None if self.s1 is None else [t.clone() for t in self.s1],
                "s2": None if self.s2 is None else [t.clone() for t in self.s2]}

    def load_state_dict(self, state: Mapping) -> None:
        self.last_loss = float(state["last_loss"])
        self.names = None if state["names"] is None else list(state["names"])
        self.s1 = None if state["s1"] is None else [t.clone() for t in state["s1"]]
        self.s2 = None if state["s2"] is None else [t.clone() for t in state["s2"]]


# ----------------------------------------------------------------------------------------------
# the span oracle (hindsight)
# ----------------------------------------------------------------------------------------------


def span_projection(updates: torch.Tensor, target: torch.Tensor, gram: torch.Tensor | None = None,
                    rcond: float = 1e-7) -> tuple[torch.Tensor, np.ndarray]:
    """Least-squares projection of ``target`` on the span of the rows of ``updates``.

    The span oracle of shadow mode: ``updates [m, N]`` are the last ``m`` observed per-step updates
    before an origin (flattened), ``target [N]`` the real ``Y``-step delta after it; the result
    ``updates.T @ c`` with ``c = argmin ||updates.T c - target||`` is the best any predictor that
    combines those updates linearly could have done (fitted in hindsight, with the answer).

    ``gram``: ``updates @ updates.T`` if already computed (float32 is enough). Solved from the
    eigen-decomposition of the Gram matrix in float64, directions with an eigenvalue below
    ``rcond`` x the largest dropped (dependent updates), then one step of iterative refinement on
    the exact residual, so the float32 Gram costs no accuracy. Returns ``(projection [N] in the
    dtype of updates, c [m] float64)``. An all-zero ``updates`` gives a zero projection.
    """
    if updates.ndim != 2 or target.ndim != 1 or updates.shape[1] != target.shape[0]:
        raise ValueError(f"updates must be [m, N] and target [N], got {tuple(updates.shape)} and {tuple(target.shape)}")
    m = updates.shape[0]
    if m == 0:
        return torch.zeros_like(target), np.zeros(0)
    g = (updates @ updates.T) if gram is None else gram
    g = g.detach().to("cpu", torch.float64).numpy()
    if g.shape != (m, m):
        raise ValueError(f"gram must be [{m}, {m}], got {g.shape}")
    w, v = np.linalg.eigh(0.5 * (g + g.T))
    top = float(w.max()) if w.size else 0.0
    if not top > 0:
        return torch.zeros_like(target), np.zeros(m)
    keep = w > rcond * top
    inv = (v[:, keep] / w[keep]) @ v[:, keep].T

    def rhs(vec: torch.Tensor) -> np.ndarray:
        return (updates @ vec.to(updates.dtype)).detach().to("cpu", torch.float64).numpy()

    c = inv @ rhs(target)
    proj = torch.as_tensor(c, dtype=updates.dtype, device=updates.device) @ updates
    c = c + inv @ rhs(target - proj)  # refinement: the normal equations on the exact residual
    proj = torch.as_tensor(c, dtype=updates.dtype, device=updates.device) @ updates
    return proj, c
