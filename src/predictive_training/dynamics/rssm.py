"""RSSM-lite: a small recurrent state-space model of training dynamics.

What it models
--------------
At every full (backprop) training step ``t`` the trainer hands the model an observation vector
``o_t`` (:func:`step_features`: loss, log gradient norm, learning rate, step fraction, per-tensor
log gradient and update norms) and the weight update actually applied, ``u_t`` (a dict keyed by
the trained model's own parameter names). The model is

- deterministic path: ``h_t = GRUCell([z_{t-1}, a_t], h_{t-1})`` where ``a_t`` is the known
  context of step ``t`` (normalised learning rate; optionally the step fraction);
- stochastic path: prior ``p(z_t | h_t)`` and posterior ``q(z_t | h_t, o_t)``, both diagonal
  Gaussians, sampled with the reparameterisation trick;
- heads on ``[h_t, z_t]``: observation reconstruction, a loss head (per-step change of the
  normalised log loss), and a weight-delta head (per-tensor coefficients over a direction basis).

All of it (GRU, prior, posterior, embedding and every head) is trained by backpropagation through
time with Adam on windows drawn from a replay buffer, on the ELBO-style objective

    recon(o) + w_loss * (Δlog-loss error) + w_delta * (coefficient error)
    + w_over * (open-loop prior-rollout errors of cumulative log loss and coefficients)
    + beta * max(KL(q || p), free_bits).

The open-loop ("overshooting") term rolls the PRIOR forward from the filtered state at a point
inside each window and scores the predictions against the rest of the window, so the model is
trained on exactly the task the rollout performs.

Loss extrapolation: why changes, not levels
-------------------------------------------
A held-out tail of a loss curve lies below everything seen in training; a head that outputs an
absolute normalised loss must extrapolate outside its training range, which a small network does
badly. The loss head therefore predicts the per-step CHANGE of the log loss (in units of
``loss_change_scale`` normalised log-loss units) and the rollout integrates these changes from an
anchor: a causal local-linear estimate of the current log loss over the last ``anchor_window``
observed losses (a denoised "now", computed the same way in training and in rollouts). Log loss
is used because training-loss decreases are closer to multiplicative than additive and the log
keeps the integrated prediction positive. The per-step changes of a decelerating curve stay in
the range seen in training (they shrink towards zero), so the network interpolates rather than
extrapolates; the integration turns that into a level below the training range.

Weight deltas: a direction basis
--------------------------------
Predicting 0.5M numbers per step from a 64-dimensional state is neither cheap nor learnable, so
:class:`DirectionBasis` keeps, for every parameter tensor, up to ``B = basis_size`` orthonormal
directions made from the updates seen during full training: an EMA of the updates (direction 0)
and the sums of the last ``B - 1`` windows of ``basis_window`` consecutive updates, orthonormalised
by Gram-Schmidt (in that order, so the EMA direction is kept exactly). Each observed update is
projected on the basis in force when it was applied (least squares = inner products, the rows
being orthonormal; computed in one batch at the end of each window, for speed); those coefficients, divided by the learning rate of the step (``delta_per_lr``; Adam-like updates scale
with the learning rate, so the schedule is handled by the known future learning rates), then
centred on their running exponential mean and divided by the per-tensor running RMS deviation, are
the targets of the delta head. So an untrained head predicts the recent mean update (the
``ema_of_deltas`` baseline expressed in the basis) and training adds the state-dependent part;
without the centring the head underfits the mean drift in the few hundred online optimisation
steps a run affords. When the basis is refreshed the stored
targets are re-expressed in the new basis (``c_new = c_old Q_old Q_newᵀ``), so targets always
match the basis the head will be read against. A Y-step prediction is
``Σ_steps coeffs_step @ Q`` per tensor, materialised with the exact parameter shapes.

Rollouts
--------
:meth:`RSSMLite.rollout` makes ONE aggregate Y-step prediction, open loop from the filtered state,
with ``n_samples`` sampled latent trajectories from the prior. It returns the loss mean, standard
deviation and 90% interval per step, the aggregate weight delta for every parameter tensor (mean
over samples), and an uncertainty (relative spread over samples).

Units: losses in nats; learning rates as given by the optimiser; deltas in parameter units.
"""

from __future__ import annotations

import functools
import math
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .protocol import Observation, PredictedPhase

__all__ = [
    "RSSMConfig",
    "RSSMLite",
    "RSSMPredictor",
    "DirectionBasis",
    "Rollout",
    "step_features",
    "feature_names",
    "LOSS_COL",
    "GRAD_NORM_COL",
    "LR_COL",
    "STEP_COL",
    "N_GLOBAL_FEATURES",
]

LOSS_COL, GRAD_NORM_COL, LR_COL, STEP_COL = 0, 1, 2, 3
N_GLOBAL_FEATURES = 4
_LOG_FLOOR = 1e-12  # floor before log of norms; a zero norm becomes log(1e-12) = -27.6


# ----------------------------------------------------------------------------------------------
# features
# ----------------------------------------------------------------------------------------------


def feature_names(param_names: Sequence[str]) -> list[str]:
    """Names of the columns :func:`step_features` returns for these parameter names (in order)."""
    names = ["loss", "log_grad_norm", "lr", "step_frac"]
    names += [f"log_grad_norm/{n}" for n in param_names]
    names += [f"log_update_norm/{n}" for n in param_names]
    return names


def _finite(name: str, value) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(v):
        raise ValueError(f"{name} must be finite, got {v}")
    return v


def step_features(loss: float, grad_norm: float, lr: float, step: int, total_steps: int,
                  grad_norms: Mapping[str, float], update_norms: Mapping[str, float],
                  names: Sequence[str] | None = None) -> np.ndarray:
    """Observation vector of one full training step, float64, shape ``[4 + 2 * n_tensors]``.

    Columns (see :func:`feature_names`): ``loss`` (nats, raw: the model takes the log itself),
    ``log(grad_norm)``, ``lr`` (raw), ``step / total_steps``, then ``log`` of each tensor's gradient
    norm and then ``log`` of each tensor's update norm, in the order of ``names`` (default: the
    sorted keys of ``grad_norms``; pass the model's ``named_parameters`` order to fix it). Norms
    are floored at 1e-12 before the log. ``grad_norms`` and ``update_norms`` values may be floats
    or 0-d tensors, and must have the same keys.
    """
    loss = _finite("loss", loss)
    if loss < 0:
        raise ValueError(f"loss must be >= 0, got {loss}")
    grad_norm = _finite("grad_norm", grad_norm)
    if grad_norm < 0:
        raise ValueError(f"grad_norm must be >= 0, got {grad_norm}")
    lr = _finite("lr", lr)
    if lr < 0:
        raise ValueError(f"lr must be >= 0, got {lr}")
    if int(total_steps) <= 0:
        raise ValueError(f"total_steps must be positive, got {total_steps}")
    if int(step) < 0:
        raise ValueError(f"step must be >= 0, got {step}")
    if set(grad_norms.keys()) != set(update_norms.keys()):
        raise ValueError("grad_norms and update_norms must have the same parameter names")
    order = sorted(grad_norms.keys()) if names is None else list(names)
    if set(order) != set(grad_norms.keys()) or len(order) != len(grad_norms):
        raise ValueError("names must list exactly the keys of grad_norms")
    out = np.empty(N_GLOBAL_FEATURES + 2 * len(order), dtype=np.float64)
    out[LOSS_COL] = loss
    out[GRAD_NORM_COL] = math.log(max(grad_norm, _LOG_FLOOR))
    out[LR_COL] = lr
    out[STEP_COL] = int(step) / int(total_steps)
    for i, n in enumerate(order):
        g = _finite(f"grad_norms[{n!r}]", grad_norms[n])
        u = _finite(f"update_norms[{n!r}]", update_norms[n])
        if g < 0 or u < 0:
            raise ValueError(f"norms of {n!r} must be >= 0")
        out[N_GLOBAL_FEATURES + i] = math.log(max(g, _LOG_FLOOR))
        out[N_GLOBAL_FEATURES + len(order) + i] = math.log(max(u, _LOG_FLOOR))
    return out


# ----------------------------------------------------------------------------------------------
# config
# ----------------------------------------------------------------------------------------------


@dataclass
class RSSMConfig:
    """Hyper-parameters of :class:`RSSMLite` (defaults sized for a ~0.5M-parameter model on CPU).

    The online defaults (``basis_window``, ``window``/``burn_in``, ``update_every``,
    ``train_iters``) are set by the cost budget of the hybrid trainer: observing a full step,
    amortised over the periodic basis refreshes and optimisation runs, may add at most ~10% to a
    full training step of the default model (``benchmarks/rssm_cost.py`` measures it). An
    optimisation step is a BPTT pass over ``batch_size`` windows and costs about one full training
    step of that model on one core, so the model takes one every 25 observed steps; offline
    (:meth:`RSSMLite.fit`) it takes as many as asked.
    """

    deter_dim: int = 64          # GRU state size
    stoch_dim: int = 16          # stochastic latent size
    hidden: int = 64             # MLP width
    basis_size: int = 6          # directions per parameter tensor (B)
    basis_window: int = 25       # updates summed into one stored direction; basis refresh period
    ema_beta: float = 0.9        # EMA factor of the update direction (direction 0)
    replay_size: int = 1024      # steps kept for online training
    window: int = 32             # BPTT window length (steps)
    burn_in: int = 8             # filtered steps before the open-loop part of each window
    batch_size: int = 16         # windows per optimisation step
    update_every: int = 25       # online: optimise when the observed-step count is a multiple of this
    train_iters: int = 1         # online: optimisation steps per update
    lr: float = 3e-3             # Adam learning rate
    grad_clip: float = 10.0      # global gradient-norm clip
    kl_weight: float = 0.1       # beta
    free_bits: float = 1.0       # nats; KL below this is not penalised
    loss_weight: float = 1.0     # weight of the one-step loss-change error
    delta_weight: float = 1.0    # weight of the coefficient errors
    overshoot_weight: float = 1.0  # weight of the open-loop errors
    loss_change_scale: float = 0.01  # loss-head unit, in normalised log-loss units per step
    anchor_window: int = 32      # losses in the local-linear anchor of the rollout
    delta_per_lr: bool = True    # predict update coefficients per unit learning rate
    coef_mean_beta: float = 0.98  # EMA factor of the coefficient mean the delta head is centred on
    level_in_context: bool = True  # feed the (observed, then predicted) log-loss level back
    step_in_context: bool = False  # also feed the step fraction as context (extrapolates badly)
    heads_on_prior: bool = True  # one-step loss/delta errors from prior latents (see _train_step)
    min_std: float = 0.1         # floor of the latent standard deviations
    n_samples: int = 8           # default rollout samples
    num_threads: int = 1         # torch threads inside observe/fit/rollout (0: leave as set);
                                 # the tensors are tiny, so more threads only add overhead
    seed: int = 0

    def __post_init__(self):
        positive_int = ("deter_dim", "stoch_dim", "hidden", "basis_size", "basis_window",
                        "replay_size", "window", "batch_size", "update_every", "train_iters",
                        "anchor_window", "n_samples")
        for name in positive_int:
            v = getattr(self, name)
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v <= 0:
                raise ValueError(f"RSSMConfig.{name} must be a positive integer, got {v!r}")
        if self.window < 3:
            raise ValueError(f"RSSMConfig.window must be >= 3, got {self.window}")
        if self.replay_size <= self.basis_window:
            # the steps of an open basis window get their targets at its end: they must still be stored
            raise ValueError(f"RSSMConfig.replay_size must exceed basis_window={self.basis_window}, "
                             f"got {self.replay_size}")
        if not (0 < self.burn_in < self.window - 1):
            raise ValueError(f"RSSMConfig.burn_in must be in [1, window - 2], got {self.burn_in}")
        if not isinstance(self.num_threads, (int, np.integer)) or self.num_threads < 0:
            raise ValueError(f"RSSMConfig.num_threads must be an integer >= 0, got {self.num_threads!r}")
        if not (0.0 <= self.coef_mean_beta < 1.0):
            raise ValueError(f"RSSMConfig.coef_mean_beta must be in [0, 1), got {self.coef_mean_beta}")
        if not (0.0 <= self.ema_beta < 1.0):
            raise ValueError(f"RSSMConfig.ema_beta must be in [0, 1), got {self.ema_beta}")
        for name in ("lr", "grad_clip", "loss_change_scale", "min_std"):
            if not getattr(self, name) > 0:
                raise ValueError(f"RSSMConfig.{name} must be > 0, got {getattr(self, name)}")
        for name in ("kl_weight", "free_bits", "loss_weight", "delta_weight", "overshoot_weight"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"RSSMConfig.{name} must be >= 0, got {getattr(self, name)}")

    @classmethod
    def from_dict(cls, d: Mapping) -> "RSSMConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown RSSMConfig keys: {unknown}")
        return cls(**dict(d))


# ----------------------------------------------------------------------------------------------
# direction basis
# ----------------------------------------------------------------------------------------------


class DirectionBasis:
    """Per-tensor orthonormal bases of recent update directions.

    For each parameter tensor (name -> shape) it keeps ``basis[name]``: ``[size, numel]`` float32,
    orthonormal rows (unused or dependent rows are zero). Directions, in this order: the EMA of
    updates (factor ``ema_beta``) and the sums of the last ``size - 1`` complete windows of
    ``window`` updates, newest first. The basis is rebuilt at the end of every window.

    Cost (why it is built this way): the trainer hands over one update per full step, so the
    per-step work is a single copy of the update into a flat ``[window, N]`` buffer (``N`` = all
    elements). Everything else happens once per window and is batched: the window's EMA and sum
    (one matrix-vector product each), the projection of its ``window`` updates on the old basis
    (one matrix product per tensor, returned by :meth:`add` for the caller's targets), and the
    re-orthonormalisation from per-tensor ``[k, k]`` Gram matrices (Gram-Schmidt in coefficient
    space, float64; one Gram product and one ``[k, k] @ [k, numel]`` product per tensor instead of
    a Householder QR). ``ema``, ``basis`` and the window sums are as of the last window end.
    """

    def __init__(self, shapes: Mapping[str, Sequence[int]], size: int, window: int, ema_beta: float):
        self.names = list(shapes.keys())
        self.shapes = {n: torch.Size(s) for n, s in shapes.items()}
        self.size, self.window, self.ema_beta = int(size), int(window), float(ema_beta)
        self.numel = {n: int(math.prod(s)) for n, s in self.shapes.items()}
        ends = np.cumsum([self.numel[n] for n in self.names]).tolist()
        self._slices = {n: slice(e - self.numel[n], e) for n, e in zip(self.names, ends)}
        self.n_total = int(ends[-1]) if ends else 0
        self._q = torch.zeros(self.size, self.n_total)        # flat basis rows
        self._q_spare = torch.zeros(self.size, self.n_total)  # the next basis is built here
        self._cols64: torch.Tensor | None = None
        self._ema = torch.zeros(self.n_total)
        self._pending = torch.zeros(self.window, self.n_total)  # updates of the open window
        self.windows: deque[torch.Tensor] = deque(maxlen=max(self.size - 1, 0))  # flat window sums
        self.n_updates = 0
        self.n_refresh = 0

    # -- views ----------------------------------------------------------------------------------
    @property
    def basis(self) -> dict[str, torch.Tensor]:
        """``{name: [size, numel]}`` views of the flat basis."""
        return {n: self._q[:, self._slices[n]] for n in self.names}

    @property
    def ema(self) -> dict[str, torch.Tensor]:
        """``{name: [numel]}`` views of the update EMA (as of the last window end)."""
        return {n: self._ema[self._slices[n]] for n in self.names}

    # -- checks ---------------------------------------------------------------------------------
    def check_update(self, update: Mapping[str, torch.Tensor]) -> None:
        """Raise ValueError unless ``update`` has exactly this basis's names and shapes."""
        keys = set(update.keys())
        if keys != set(self.names):
            missing = sorted(set(self.names) - keys)[:5]
            extra = sorted(keys - set(self.names))[:5]
            raise ValueError(f"update must be keyed by the model's parameter names; "
                             f"missing {missing}, unknown {extra}")
        for n in self.names:
            if tuple(update[n].shape) != tuple(self.shapes[n]):
                raise ValueError(f"update[{n!r}] has shape {tuple(update[n].shape)}, "
                                 f"parameter has {tuple(self.shapes[n])}")

    @property
    def is_empty(self) -> bool:
        return self.n_refresh == 0

    def _flatten(self, update: Mapping[str, torch.Tensor], out: torch.Tensor | None = None) -> torch.Tensor:
        parts = [update[n].detach().reshape(-1).to("cpu", torch.float32) for n in self.names]
        if out is None:
            return torch.cat(parts)
        return torch.cat(parts, out=out)

    def _project_rows(self, rows: torch.Tensor) -> torch.Tensor:
        """``rows [k, N]`` flat updates -> coefficients ``[k, n_tensors, size]`` on the basis."""
        out = torch.empty(rows.shape[0], len(self.names), self.size)
        for i, n in enumerate(self.names):
            s = self._slices[n]
            out[:, i] = rows[:, s] @ self._q[:, s].T
        return out

    def project(self, update: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Coefficients of ``update`` on the current basis, ``[n_tensors, size]`` float32."""
        return self._project_rows(self._flatten(update)[None])[0]

    def add(self, update: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, list[torch.Tensor]] | None:
        """Record one update. At the end of a window return ``(coeffs, transitions)``:
        ``coeffs [window, n_tensors, size]`` the window's updates (oldest first) projected on the
        basis in force during the window (all zero while the basis was empty), and the per-tensor
        ``[size, size]`` transitions ``Q_old Q_newᵀ`` of the refresh. Else ``None``."""
        k = self.n_updates % self.window
        self._flatten(update, out=self._pending[k])
        self.n_updates += 1
        if k + 1 < self.window:
            return None
        rows = self._pending
        coeffs = self._project_rows(rows)
        b = self.ema_beta
        # EMA over the window in one product: m = b^W m_prev + sum_i (1 - b) b^(W-1-i) u_i,
        # started at the first update (m_0 = u_0) in the first window
        w = (1.0 - b) * b ** torch.arange(self.window - 1, -1, -1, dtype=torch.float64)
        carry = b ** self.window
        if self.n_updates == self.window:
            w[0], carry = b ** (self.window - 1), 0.0
        self._ema = carry * self._ema + w.to(torch.float32) @ rows
        if self.windows.maxlen:
            self.windows.append(rows.sum(0))
        return coeffs, self._refresh()

    def _refresh(self) -> list[torch.Tensor]:
        k = 1 + len(self.windows)
        if self._cols64 is None:  # reused float64 work buffer: fresh large allocations page-fault
            self._cols64 = torch.empty(self.size, self.n_total, dtype=torch.float64)
        cols64 = self._cols64[:k]
        cols64[0].copy_(self._ema)
        for i, w in enumerate(reversed(self.windows)):  # newest window first
            cols64[i + 1].copy_(w)
        n_t = len(self.names)
        gram = torch.empty(n_t, k, k, dtype=torch.float64)
        for i, n in enumerate(self.names):
            a = cols64[:, self._slices[n]]
            torch.mm(a, a.T, out=gram[i])
        # Gram-Schmidt in coefficient space (float64): row j of t holds the combination of the
        # columns that gives orthonormal direction j; a column whose residual norm is <= 1e-4 of
        # its own norm (numerically dependent on the earlier ones) or that is zero gives a zero row
        t = torch.zeros(n_t, self.size, k, dtype=torch.float64)
        for j in range(k):
            proj = torch.einsum("nil,nl->ni", t[:, :j], gram[:, :, j])  # <q_i, a_j>, i < j
            resid = gram[:, j, j] - (proj ** 2).sum(-1)
            col_norm = gram[:, j, j].clamp(min=0).sqrt()
            r = resid.clamp(min=0).sqrt()
            keep = (r > 1e-4 * col_norm) & (col_norm > 0)
            row = -torch.einsum("ni,nil->nl", proj, t[:, :j])
            row[:, j] += 1.0
            t[:, j] = torch.where(keep[:, None], row / torch.where(keep, r, 1.0)[:, None], 0.0)
        old_q, new_q = self._q, self._q_spare
        transitions = []
        for i, n in enumerate(self.names):
            s = self._slices[n]
            new_q[:, s] = t[i] @ cols64[:, s]
            transitions.append(old_q[:, s] @ new_q[:, s].T)  # [size, size]
        self._q, self._q_spare = new_q, old_q
        self.n_refresh += 1
        return transitions

    def materialise(self, coeffs: torch.Tensor, dtype: torch.dtype | None = None,
                    device: torch.device | str | None = None) -> dict[str, torch.Tensor]:
        """``coeffs [n_tensors, size]`` -> ``dict[name, Tensor]`` with the parameter shapes."""
        out = {}
        c = coeffs.to(torch.float32)
        for i, n in enumerate(self.names):
            d = (c[i] @ self._q[:, self._slices[n]]).reshape(self.shapes[n])
            out[n] = d.to(dtype=dtype or torch.float32, device=device)
        return out

    def state_dict(self) -> dict:
        k = self.n_updates % self.window
        return {"names": list(self.names), "shapes": {n: list(s) for n, s in self.shapes.items()},
                "size": self.size, "window": self.window, "ema_beta": self.ema_beta,
                "q": self._q.clone(), "ema": self._ema.clone(), "pending": self._pending[:k].clone(),
                "windows": [w.clone() for w in self.windows],
                "n_updates": self.n_updates, "n_refresh": self.n_refresh}

    def load_state_dict(self, state: Mapping) -> None:
        if list(state["names"]) != self.names:
            raise ValueError("basis state was saved for different parameter names")
        self._q = state["q"].clone()
        self._ema = state["ema"].clone()
        self._pending.zero_()
        self._pending[: state["pending"].shape[0]] = state["pending"]
        self.windows = deque((w.clone() for w in state["windows"]), maxlen=max(self.size - 1, 0))
        self.n_updates, self.n_refresh = int(state["n_updates"]), int(state["n_refresh"])


# ----------------------------------------------------------------------------------------------
# rollout result
# ----------------------------------------------------------------------------------------------


@dataclass
class Rollout:
    """One aggregate Y-step prediction.

    loss_mean, loss_std, loss_q05, loss_q95: ``[Y]`` float64, nats, for the steps after the last
        observed one (90% interval = [q05, q95] over samples).
    loss_samples: ``[n_samples, Y]`` nats.
    delta: ``dict[name, Tensor]`` the predicted aggregate weight change over the Y steps (mean over
        samples), exact parameter shapes, float32 (empty if the model tracks no parameters).
    coeffs: ``[n_tensors, B]`` the mean aggregate basis coefficients behind ``delta``.
    delta_uncertainty: RMS over samples of ``||delta_s - delta||`` divided by ``||delta||``
        (NaN if there are no tensors or the mean delta is zero).
    loss_uncertainty: ``loss_std[-1] / loss_mean[-1]`` (coefficient of variation at the horizon).
    uncertainty: ``delta_uncertainty`` when defined, else ``loss_uncertainty``.
    """

    loss_mean: np.ndarray
    loss_std: np.ndarray
    loss_q05: np.ndarray
    loss_q95: np.ndarray
    loss_samples: np.ndarray
    delta: dict[str, torch.Tensor]
    coeffs: torch.Tensor
    delta_uncertainty: float
    loss_uncertainty: float
    uncertainty: float


# ----------------------------------------------------------------------------------------------
# the model
# ----------------------------------------------------------------------------------------------


def _threads(method):
    """Run ``method`` with ``config.num_threads`` torch threads, restoring the setting after."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        want, have = self.config.num_threads, torch.get_num_threads()
        if want == 0 or want == have:
            return method(self, *args, **kwargs)
        torch.set_num_threads(want)
        try:
            return method(self, *args, **kwargs)
        finally:
            torch.set_num_threads(have)

    return wrapper


def _mlp(inp: int, hidden: int, out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(inp, hidden), nn.ELU(), nn.Linear(hidden, out))


class _Replay:
    """Ring buffer of observed steps (numpy, contiguous in time)."""

    def __init__(self, cap: int, n_feat: int, n_tensors: int, basis: int, deter: int, stoch: int):
        self.cap = cap
        self.obs = np.zeros((cap, n_feat))          # transformed, un-normalised features
        self.anchor = np.zeros(cap)                 # local-linear log-loss level (raw log units)
        self.prev_level = np.zeros(cap)             # the anchor of the previous step (GRU context)
        self.dlog = np.full(cap, np.nan)            # log-loss change from the previous step
        self.coef = np.zeros((cap, n_tensors, basis), dtype=np.float32)  # raw (per-lr) coefficients
        self.coef_mask = np.zeros(cap, dtype=bool)
        self.h0 = np.zeros((cap, deter), dtype=np.float32)  # state before the step
        self.z0 = np.zeros((cap, stoch), dtype=np.float32)
        self.start = 0
        self.size = 0

    def idx(self, logical) -> np.ndarray:
        return (self.start + np.asarray(logical)) % self.cap

    def next_slot(self) -> int:
        if self.size < self.cap:
            slot = (self.start + self.size) % self.cap
            self.size += 1
        else:
            slot = self.start
            self.start = (self.start + 1) % self.cap
        return slot

    def state(self) -> dict:
        return {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in vars(self).items()}

    def load(self, state: Mapping) -> None:
        for k, v in state.items():
            setattr(self, k, v.copy() if isinstance(v, np.ndarray) else v)


class RSSMLite(nn.Module):
    """RSSM-lite dynamics model of a training run (see the module docstring).

    Args:
        n_features: length of each observation vector (``4 + 2 * n_tensors`` for
            :func:`step_features`).
        param_shapes: ``{name: shape}`` of the trained model's parameters, in the order the deltas
            should use (``None`` or empty: loss-only model, rollouts return an empty delta).
        config: :class:`RSSMConfig`.
    """

    def __init__(self, n_features: int, param_shapes: Mapping[str, Sequence[int]] | None = None,
                 config: RSSMConfig | None = None):
        super().__init__()
        if int(n_features) < N_GLOBAL_FEATURES:
            raise ValueError(f"n_features must be >= {N_GLOBAL_FEATURES}, got {n_features}")
        self.config = cfg = config or RSSMConfig()
        self.n_features = int(n_features)
        shapes = dict(param_shapes or {})
        self.param_names = list(shapes.keys())
        self.n_tensors = len(self.param_names)
        self.ctx_dim = 1 + int(cfg.step_in_context) + int(cfg.level_in_context)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed)
            self.embed = nn.Sequential(nn.Linear(self.n_features, cfg.hidden), nn.ELU())
            self.gru = nn.GRUCell(cfg.stoch_dim + self.ctx_dim, cfg.deter_dim)
            self.prior_net = _mlp(cfg.deter_dim, cfg.hidden, 2 * cfg.stoch_dim)
            self.post_net = _mlp(cfg.deter_dim + cfg.hidden, cfg.hidden, 2 * cfg.stoch_dim)
            feat = cfg.deter_dim + cfg.stoch_dim
            self.obs_head = _mlp(feat, cfg.hidden, self.n_features)
            self.loss_head = _mlp(feat, cfg.hidden, 1)
            self.delta_head = _mlp(feat, cfg.hidden, max(self.n_tensors * cfg.basis_size, 1))
        # running normaliser of the transformed features (Welford), kept in buffers
        self.register_buffer("obs_count", torch.zeros((), dtype=torch.float64))
        self.register_buffer("obs_mean", torch.zeros(self.n_features, dtype=torch.float64))
        self.register_buffer("obs_m2", torch.zeros(self.n_features, dtype=torch.float64))
        # running (exponential) mean and mean-square deviation of the per-tensor coefficient
        # vectors: the delta head predicts the standardised deviation from this mean
        self.register_buffer("coef_count", torch.zeros((), dtype=torch.float64))
        self.register_buffer("coef_mean", torch.zeros(max(self.n_tensors, 1), cfg.basis_size,
                                                      dtype=torch.float64))
        self.register_buffer("coef_ms", torch.zeros(max(self.n_tensors, 1), dtype=torch.float64))
        self.basis = DirectionBasis(shapes, cfg.basis_size, cfg.basis_window, cfg.ema_beta)
        self.optimizer = torch.optim.Adam(self.parameters(), lr=cfg.lr)
        self._reset_runtime(cfg.replay_size)

    @classmethod
    def for_model(cls, model: nn.Module, config: RSSMConfig | None = None) -> "RSSMLite":
        """A dynamics model for ``model``'s trainable parameters (named_parameters order), with
        ``n_features`` matching :func:`step_features`."""
        shapes = {n: tuple(p.shape) for n, p in model.named_parameters() if p.requires_grad}
        return cls(N_GLOBAL_FEATURES + 2 * len(shapes), shapes, config)

    # -- runtime state ----------------------------------------------------------------------------
    def _reset_runtime(self, capacity: int) -> None:
        cfg = self.config
        self.replay = _Replay(capacity, self.n_features, self.n_tensors, cfg.basis_size,
                              cfg.deter_dim, cfg.stoch_dim)
        self._h = torch.zeros(1, cfg.deter_dim)
        self._z = torch.zeros(1, cfg.stoch_dim)
        self._recent_log_loss: deque[float] = deque(maxlen=cfg.anchor_window)
        self._last_lr = 0.0
        self._last_step_frac = 0.0
        self._step_inc = 0.0
        self._since_update = 0
        self._pending: list[tuple[int, float, bool]] = []  # (slot, lr, update_scale) of the open basis window
        self.n_observed = 0
        self.n_train_steps = 0
        self._np_rng = np.random.default_rng(cfg.seed)
        self._torch_gen = torch.Generator().manual_seed(cfg.seed + 1)
        self._rollout_gen = torch.Generator().manual_seed(cfg.seed + 2)

    def get_extra_state(self):
        return {
            "config": asdict(self.config),
            "param_shapes": {n: list(s) for n, s in self.basis.shapes.items()},
            "basis": self.basis.state_dict(),
            "replay": self.replay.state(),
            "h": self._h.clone(), "z": self._z.clone(),
            "recent_log_loss": list(self._recent_log_loss),
            "last_lr": self._last_lr, "last_step_frac": self._last_step_frac,
            "step_inc": self._step_inc, "since_update": self._since_update,
            "pending": list(self._pending),
            "n_observed": self.n_observed, "n_train_steps": self.n_train_steps,
            "np_rng": self._np_rng.bit_generator.state,
            "torch_gen": self._torch_gen.get_state(), "rollout_gen": self._rollout_gen.get_state(),
            "optimizer": self.optimizer.state_dict(),
        }

    def set_extra_state(self, state) -> None:
        if list(state["param_shapes"].keys()) != self.param_names:
            raise ValueError("state was saved for a model with different parameter names")
        self.basis.load_state_dict(state["basis"])
        cap = state["replay"]["cap"]
        self._reset_runtime(cap)
        self.replay.load(state["replay"])
        self._h, self._z = state["h"].clone(), state["z"].clone()
        self._recent_log_loss = deque(state["recent_log_loss"], maxlen=self.config.anchor_window)
        self._last_lr, self._last_step_frac = state["last_lr"], state["last_step_frac"]
        self._step_inc, self._since_update = state["step_inc"], state["since_update"]
        self._pending = [tuple(p) for p in state["pending"]]
        self.n_observed, self.n_train_steps = state["n_observed"], state["n_train_steps"]
        self._np_rng.bit_generator.state = state["np_rng"]
        self._torch_gen.set_state(state["torch_gen"])
        self._rollout_gen.set_state(state["rollout_gen"])
        self.optimizer.load_state_dict(state["optimizer"])

    # -- normalisation ----------------------------------------------------------------------------
    def _transform(self, features) -> np.ndarray:
        x = np.asarray(features, dtype=np.float64)
        if x.shape != (self.n_features,):
            raise ValueError(f"features must have shape ({self.n_features},), got {x.shape}")
        if not np.all(np.isfinite(x)):
            raise ValueError("features must be finite")
        if x[LOSS_COL] < 0:
            raise ValueError(f"features[{LOSS_COL}] (loss) must be >= 0, got {x[LOSS_COL]}")
        x = x.copy()
        x[LOSS_COL] = math.log(max(x[LOSS_COL], 1e-8))
        return x

    def _update_norm(self, x: np.ndarray) -> None:
        xt = torch.as_tensor(x, dtype=torch.float64)
        self.obs_count += 1
        d = xt - self.obs_mean
        self.obs_mean += d / self.obs_count
        self.obs_m2 += d * (xt - self.obs_mean)

    def _std(self) -> torch.Tensor:
        if self.obs_count < 2:
            return torch.ones(self.n_features, dtype=torch.float64)
        std = torch.sqrt(self.obs_m2 / (self.obs_count - 1))
        # constant features (e.g. a flat learning rate) get unit scale instead of a division by 0
        return torch.where(std > 1e-8, std, torch.ones_like(std))

    def _normalise(self, x: np.ndarray) -> torch.Tensor:
        """``[..., F]`` transformed features -> normalised float32 tensor."""
        xt = torch.as_tensor(x, dtype=torch.float64)
        return ((xt - self.obs_mean) / self._std()).to(torch.float32)

    def _loss_norm(self) -> tuple[float, float]:
        return float(self.obs_mean[LOSS_COL]), float(self._std()[LOSS_COL])

    def _gru_in(self, z: torch.Tensor, ctx: torch.Tensor, level: torch.Tensor) -> torch.Tensor:
        """GRU input ``[z_{t-1}, a_t]``; ``level [...]`` is the normalised log-loss level before
        step t (appended when ``level_in_context``)."""
        parts = [z, ctx]
        if self.config.level_in_context:
            parts.append(level.unsqueeze(-1).to(z.dtype))
        return torch.cat(parts, dim=-1)

    def _context(self, lr, step_frac) -> torch.Tensor:
        """``[..., 1 or 2]`` normalised exogenous context: learning rate (and step fraction)."""
        mean, std = self.obs_mean, self._std()
        lr_n = (torch.as_tensor(lr, dtype=torch.float64) - mean[LR_COL]) / std[LR_COL]
        parts = [lr_n]
        if self.config.step_in_context:
            parts.append((torch.as_tensor(step_frac, dtype=torch.float64) - mean[STEP_COL]) / std[STEP_COL])
        return torch.stack(parts, dim=-1).to(torch.float32)

    def _coef_scale(self) -> torch.Tensor:
        """``[n_tensors]`` RMS deviation per component of the (per-lr) coefficients from their
        running mean; 1 where unknown."""
        s = torch.sqrt(self.coef_ms / self.config.basis_size)
        return torch.where(s > 0, s, torch.ones_like(s)).to(torch.float32)[: self.n_tensors]

    def _coef_center(self) -> torch.Tensor:
        """``[n_tensors, B]`` running mean of the (per-lr) coefficients."""
        return self.coef_mean[: self.n_tensors].to(torch.float32)

    def _update_coef_stats(self, c: torch.Tensor) -> None:
        c = c.to(torch.float64)
        self.coef_count += 1
        # exponential mean with a 1/count start, so the first observations are not shrunk to 0
        beta = min(self.config.coef_mean_beta, 1.0 - 1.0 / float(self.coef_count))
        dev = ((c - self.coef_mean[: self.n_tensors]) ** 2).sum(dim=1)
        self.coef_mean[: self.n_tensors] = beta * self.coef_mean[: self.n_tensors] + (1 - beta) * c
        if self.coef_count > 1:
            self.coef_ms[: self.n_tensors] = beta * self.coef_ms[: self.n_tensors] + (1 - beta) * dev

    # -- latent pieces ----------------------------------------------------------------------------
    def _dist(self, net: nn.Module, inp: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, raw = net(inp).chunk(2, dim=-1)
        return mu, F.softplus(raw) + self.config.min_std

    def _heads(self, h: torch.Tensor, z: torch.Tensor, obs: bool = True, loss: bool = True):
        """Observation, loss-change and coefficient heads on ``[h, z]`` (``None`` for a head
        switched off by ``obs``/``loss``; the coefficients are always computed)."""
        feat = torch.cat([h, z], dim=-1)
        coef = self.delta_head(feat)[..., : self.n_tensors * self.config.basis_size]
        coef = coef.reshape(*feat.shape[:-1], self.n_tensors, self.config.basis_size)
        return (self.obs_head(feat) if obs else None,
                self.loss_head(feat).squeeze(-1) if loss else None, coef)

    # -- observing --------------------------------------------------------------------------------
    @_threads
    def observe(self, features, update: Mapping[str, torch.Tensor] | None = None,
                train: bool = True) -> dict | None:
        """Record one full training step and advance the filtered state.

        Args:
            features: ``[n_features]`` observation of this step (:func:`step_features`).
            update: the weight change applied by this step, ``dict[name, Tensor]`` keyed by the
                model's parameter names with their shapes (``None``: no delta target this step).
                Its direction is stored in the basis whatever ``train`` is.
            train: if True, update the feature normalisers and, every ``update_every`` steps,
                run ``train_iters`` optimisation steps on random replay windows. If False, only
                filter and record (normalisers frozen, no optimisation).
        Returns the training statistics of the optimisation run this call triggered, else None.
        """
        x = self._transform(features)
        if update is not None:
            self.basis.check_update(update)
        if train:
            self._update_norm(x)
        self._ingest(x, update, update_scale=train)
        self._since_update += 1
        stats = None
        cfg = self.config
        # optimise on a fixed grid of observed steps (with update_every == basis_window, right
        # after a window's coefficient targets arrive)
        if train and self.n_observed % cfg.update_every == 0 and self.replay.size >= cfg.window:
            self._since_update = 0
            stats = self._train(cfg.train_iters)
            # bring the present state up to date with the new weights
            self._refilter(max(0, self.replay.size - cfg.window))
        return stats

    def _ingest(self, x: np.ndarray, update, update_scale: bool) -> None:
        cfg, rp = self.config, self.replay
        log_loss = x[LOSS_COL]
        prev = self._recent_log_loss[-1] if self._recent_log_loss else None
        self._recent_log_loss.append(log_loss)
        anchor = _local_linear_end(np.asarray(self._recent_log_loss))
        prev_level = anchor if self.n_observed == 0 else float(rp.anchor[rp.idx(rp.size - 1)])
        lr = float(x[LR_COL])
        if self.n_observed > 0:
            self._step_inc = float(x[STEP_COL]) - self._last_step_frac
        slot = rp.next_slot()
        rp.obs[slot] = x
        rp.anchor[slot] = anchor
        rp.prev_level[slot] = prev_level
        rp.dlog[slot] = np.nan if prev is None else log_loss - prev
        rp.h0[slot] = self._h[0].numpy()
        rp.z0[slot] = self._z[0].numpy()
        rp.coef_mask[slot] = False
        rp.coef[slot] = 0.0
        if update is not None and self.n_tensors:
            # the coefficients of this update are computed in one batch at the end of the basis
            # window (DirectionBasis.add), on the basis in force now; until then its mask is False
            self._pending.append((slot, lr, update_scale))
            had_basis = not self.basis.is_empty
            res = self.basis.add(update)
            if res is not None:
                coeffs, transitions = res
                if had_basis:
                    for (s, lr_s, scale_s), c in zip(self._pending, coeffs):
                        if cfg.delta_per_lr:
                            if lr_s <= 0:
                                continue
                            c = c / lr_s
                        rp.coef[s] = c.numpy()
                        rp.coef_mask[s] = True
                        if scale_s:
                            self._update_coef_stats(c)
                self._pending.clear()
                self._reproject(transitions)
        # filter: h_t = GRU([z_{t-1}, a_t], h_{t-1}); z_t = posterior mean
        with torch.no_grad():
            o = self._normalise(x)[None]
            ctx = self._context([lr], [float(x[STEP_COL])])
            level = torch.tensor([(prev_level - float(self.obs_mean[LOSS_COL])) / float(self._std()[LOSS_COL])])
            self._h = self.gru(self._gru_in(self._z, ctx, level), self._h)
            mu, _ = self._dist(self.post_net, torch.cat([self._h, self.embed(o)], dim=-1))
            self._z = mu
        self._last_lr, self._last_step_frac = lr, float(x[STEP_COL])
        self.n_observed += 1

    def _reproject(self, transitions: list[torch.Tensor]) -> None:
        """Express the stored coefficients and their running mean in the new basis."""
        rp = self.replay
        m = torch.stack(transitions)  # [n, B, B]
        self.coef_mean[: self.n_tensors] = torch.einsum("nb,nbc->nc", self.coef_mean[: self.n_tensors],
                                                        m.to(torch.float64))
        if rp.size == 0:
            return
        idx = rp.idx(np.arange(rp.size))
        c = torch.from_numpy(rp.coef[idx])  # [N, n, B]
        rp.coef[idx] = torch.einsum("tnb,nbc->tnc", c, m).numpy()

    def _refilter(self, from_logical: int) -> None:
        """Re-run the filter with the current weights from buffer position ``from_logical`` to the
        end, starting from the state stored there; refresh the stored states and the present."""
        rp = self.replay
        if rp.size == 0:
            return
        i0 = rp.idx(from_logical)
        h = torch.from_numpy(rp.h0[i0].copy())[None]
        z = torch.from_numpy(rp.z0[i0].copy())[None]
        idx = rp.idx(np.arange(from_logical, rp.size))
        obs = self._normalise(rp.obs[idx])
        ctx = self._context(rp.obs[idx, LR_COL], rp.obs[idx, STEP_COL])
        mean0, std0 = self._loss_norm()
        level = torch.as_tensor((rp.prev_level[idx] - mean0) / std0, dtype=torch.float32)
        with torch.no_grad():
            emb = self.embed(obs)
            for k, j in enumerate(idx):
                rp.h0[j] = h[0].numpy()
                rp.z0[j] = z[0].numpy()
                h = self.gru(self._gru_in(z, ctx[k : k + 1], level[k : k + 1]), h)
                z, _ = self._dist(self.post_net, torch.cat([h, emb[k : k + 1]], dim=-1))
        self._h, self._z = h, z

    # -- training ---------------------------------------------------------------------------------
    @_threads
    def fit(self, features, deltas: Sequence[Mapping[str, torch.Tensor] | None] | None = None,
            epochs: int = 30, iters_per_epoch: int | None = None) -> list[dict]:
        """Offline training on a recorded trajectory (replaces any previous observations).

        Args:
            features: ``[T, n_features]`` observations, one row per step, oldest first.
            deltas: ``None`` or a length-``T`` sequence of per-step updates (``dict[name, Tensor]``
                or ``None`` where unknown).
            epochs: passes; each re-filters the whole trajectory with the current weights (fresh
                start states for the windows) and then runs ``iters_per_epoch`` optimisation steps
                (default ``max(1, T // window)``).
        Returns the per-epoch mean training statistics. Afterwards the filtered state is at the
        end of the trajectory, ready for :meth:`rollout`.
        """
        x = np.asarray(features, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.n_features:
            raise ValueError(f"features must have shape [T, {self.n_features}], got {x.shape}")
        cfg = self.config
        if x.shape[0] < cfg.window:
            raise ValueError(f"features must have at least window={cfg.window} rows, got {x.shape[0]}")
        if deltas is not None and len(deltas) != x.shape[0]:
            raise ValueError(f"deltas must have one entry per row of features ({x.shape[0]}), got {len(deltas)}")
        if int(epochs) < 0:
            raise ValueError(f"epochs must be >= 0, got {epochs}")
        # fresh normalisers, basis and buffer: fit describes this trajectory only
        self.obs_count.zero_(); self.obs_mean.zero_(); self.obs_m2.zero_()
        self.coef_count.zero_(); self.coef_mean.zero_(); self.coef_ms.zero_()
        self.basis = DirectionBasis(self.basis.shapes, cfg.basis_size, cfg.basis_window, cfg.ema_beta)
        self._reset_runtime(max(cfg.replay_size, x.shape[0]))
        rows = [self._transform(r) for r in x]
        for r in rows:  # the normaliser sees the whole training trajectory before training
            self._update_norm(r)
        for t, r in enumerate(rows):
            upd = None if deltas is None else deltas[t]
            if upd is not None:
                self.basis.check_update(upd)
            self._ingest(r, upd, update_scale=True)
        n_iter = int(iters_per_epoch) if iters_per_epoch else max(1, x.shape[0] // cfg.window)
        history = []
        for _ in range(int(epochs)):
            self._refilter(0)
            history.append(self._train(n_iter))
        self._refilter(0)
        return history

    @torch.enable_grad()  # the trainer may call observe inside torch.no_grad()
    def _train(self, n_iter: int) -> dict:
        self.train()
        totals: dict[str, float] = {}
        for _ in range(n_iter):
            stats = self._train_step()
            for k, v in stats.items():
                totals[k] = totals.get(k, 0.0) + v
        self.eval()
        return {k: v / max(n_iter, 1) for k, v in totals.items()}

    def _train_step(self) -> dict[str, float]:
        cfg, rp = self.config, self.replay
        W = min(cfg.window, rp.size)
        b = min(cfg.burn_in, W - 2)
        starts = self._np_rng.integers(0, rp.size - W + 1, size=cfg.batch_size)
        idx = rp.idx(starts[:, None] + np.arange(W)[None, :])  # [Bt, W]
        obs = self._normalise(rp.obs[idx])  # [Bt, W, F]
        ctx = self._context(rp.obs[idx, LR_COL], rp.obs[idx, STEP_COL])
        mean0, std0 = self._loss_norm()
        ell = torch.as_tensor((rp.obs[idx, LOSS_COL] - mean0) / std0, dtype=torch.float32)
        anchor = torch.as_tensor((rp.anchor[idx] - mean0) / std0, dtype=torch.float32)
        prev_level = torch.as_tensor((rp.prev_level[idx] - mean0) / std0, dtype=torch.float32)
        dl = torch.as_tensor(rp.dlog[idx] / std0 / cfg.loss_change_scale, dtype=torch.float32)
        dl_mask = torch.isfinite(dl)
        dl = torch.nan_to_num(dl)
        scale = self._coef_scale()
        coef = (torch.from_numpy(rp.coef[idx]) - self._coef_center()) / scale[None, None, :, None]
        cmask = torch.from_numpy(rp.coef_mask[idx]).to(torch.float32)  # [Bt, W]
        h = torch.from_numpy(rp.h0[idx[:, 0]])
        z = torch.from_numpy(rp.z0[idx[:, 0]])
        gen = self._torch_gen

        emb = self.embed(obs)
        # noise for every sampled latent, drawn at once (fewer small ops: the loop is op-bound)
        eps = torch.randn(3, W, *z.shape, generator=gen)  # posterior, prior, open loop
        # filtered pass: only the posterior is inside the loop; the prior depends on h alone and
        # is evaluated on all steps at once afterwards
        hs, zs, qms, qss = [], [], [], []
        for t in range(W):
            h = self.gru(self._gru_in(z, ctx[:, t], prev_level[:, t]), h)
            qm, qs = self._dist(self.post_net, torch.cat([h, emb[:, t]], dim=-1))
            z = qm + qs * eps[0, t]
            hs.append(h); zs.append(z); qms.append(qm); qss.append(qs)
        H, Z = torch.stack(hs, 1), torch.stack(zs, 1)
        qm, qs = torch.stack(qms, 1), torch.stack(qss, 1)
        pm, ps = self._dist(self.prior_net, H)
        kl = (torch.log(ps / qs) + (qs ** 2 + (qm - pm) ** 2) / (2 * ps ** 2) - 0.5).sum(-1).mean()
        obs_hat, dl_hat, coef_hat = self._heads(H, Z)
        if cfg.heads_on_prior:
            # the loss and delta heads are predictors: score them one step ahead, from the prior
            zp = pm + ps * eps[1].transpose(0, 1)
            _, dl_hat, coef_hat = self._heads(H, zp, obs=False)
        recon = ((obs_hat - obs) ** 2).mean()
        loss_err = (((dl_hat - dl) ** 2) * dl_mask).sum() / dl_mask.sum().clamp(min=1)
        total = recon + cfg.loss_weight * loss_err + cfg.kl_weight * torch.clamp(kl, min=cfg.free_bits)
        stats = {"recon": float(recon.detach()), "loss_change": float(loss_err.detach()),
                 "kl": float(kl.detach())}
        if self.n_tensors:
            cerr = ((coef_hat - coef) ** 2).mean(dim=(-1, -2))
            coef_err = (cerr * cmask).sum() / cmask.sum().clamp(min=1)
            total = total + cfg.delta_weight * coef_err
            stats["coef"] = float(coef_err.detach())

        # open loop: from the filtered state after step b, roll the prior over the rest
        # (the level fed back is the model's own integrated prediction, as in a rollout); only
        # the loss head feeds back, so the delta head runs on all open-loop states at once after
        h, z = hs[b], zs[b]
        level = anchor[:, b]
        ol_level, ol_h, ol_z = [], [], []
        for t in range(b + 1, W):
            h = self.gru(self._gru_in(z, ctx[:, t], level), h)
            pm_t, ps_t = self._dist(self.prior_net, h)
            z = pm_t + ps_t * eps[2, t]
            level = level + cfg.loss_change_scale * self.loss_head(torch.cat([h, z], dim=-1)).squeeze(-1)
            ol_level.append(level); ol_h.append(h); ol_z.append(z)
        pred_cum = torch.stack(ol_level, 1)
        target = ell[:, b + 1 :]
        ahead = torch.arange(1, W - b, dtype=torch.float32)
        # error per horizon in units of loss_change_scale * sqrt(steps ahead): a trend error
        # grows linearly with the horizon, so long horizons weigh most, as in a rollout
        ol_loss = (((pred_cum - target) / cfg.loss_change_scale) ** 2 / ahead).mean()
        total = total + cfg.overshoot_weight * ol_loss
        stats["open_loop_loss"] = float(ol_loss.detach())
        if self.n_tensors:
            _, _, ol_coef = self._heads(torch.stack(ol_h, 1), torch.stack(ol_z, 1), obs=False, loss=False)
            c_err = ((ol_coef - coef[:, b + 1 :]) ** 2).mean(dim=(-1, -2))
            m = cmask[:, b + 1 :]
            ol_c = (c_err * m).sum() / m.sum().clamp(min=1)
            total = total + cfg.overshoot_weight * cfg.delta_weight * ol_c
            stats["open_loop_coef"] = float(ol_c.detach())

        self.optimizer.zero_grad(set_to_none=True)
        total.backward()
        torch.nn.utils.clip_grad_norm_(self.parameters(), cfg.grad_clip)
        self.optimizer.step()
        self.n_train_steps += 1
        stats["total"] = float(total.detach())
        return stats

    # -- rollout ----------------------------------------------------------------------------------
    @_threads
    @torch.no_grad()
    def rollout(self, horizon: int, n_samples: int | None = None, seed: int | None = None,
                generator: torch.Generator | None = None, lrs: Sequence[float] | None = None,
                dtype: torch.dtype | None = None, device: torch.device | str | None = None) -> Rollout:
        """One open-loop prediction of the next ``horizon`` steps from the filtered state.

        Latents are sampled from the PRIOR (``n_samples`` trajectories, default
        ``config.n_samples``), with ``generator``, else a fresh generator seeded with ``seed``,
        else the model's own rollout generator. ``lrs``: the learning rates of the next
        ``horizon`` steps (default: the last observed one held). The returned ``delta`` has the
        parameter names and shapes (in ``dtype``/``device`` if given).
        """
        cfg = self.config
        if isinstance(horizon, bool) or int(horizon) != horizon or horizon <= 0:
            raise ValueError(f"horizon must be a positive integer, got {horizon!r}")
        horizon = int(horizon)
        n = cfg.n_samples if n_samples is None else n_samples
        if isinstance(n, bool) or int(n) != n or n <= 0:
            raise ValueError(f"n_samples must be a positive integer, got {n_samples!r}")
        n = int(n)
        if self.n_observed == 0:
            raise ValueError("rollout needs at least one observed step (call observe or fit first)")
        if lrs is None:
            lr_seq = np.full(horizon, self._last_lr)
        else:
            lr_seq = np.asarray(lrs, dtype=np.float64)
            if lr_seq.shape != (horizon,) or not np.all(np.isfinite(lr_seq)) or np.any(lr_seq < 0):
                raise ValueError(f"lrs must hold {horizon} finite non-negative learning rates")
        gen = generator
        if gen is None:
            gen = torch.Generator().manual_seed(int(seed)) if seed is not None else self._rollout_gen
        steps = self._last_step_frac + self._step_inc * np.arange(1, horizon + 1)
        ctx = self._context(lr_seq, steps)  # [Y, C]
        h = self._h.expand(n, -1).contiguous()
        z = self._z.expand(n, -1).contiguous()
        mean0, std0 = self._loss_norm()
        anchor_n = (self.replay.anchor[self.replay.idx(self.replay.size - 1)] - mean0) / std0
        level = torch.full((n,), anchor_n, dtype=torch.float32)
        levels, coefs = [], []
        for t in range(horizon):
            h = self.gru(self._gru_in(z, ctx[t].expand(n, -1), level), h)
            pm, ps = self._dist(self.prior_net, h)
            z = pm + ps * torch.randn(pm.shape, generator=gen)
            feat = torch.cat([h, z], dim=-1)
            level = level + cfg.loss_change_scale * self.loss_head(feat).squeeze(-1)
            levels.append(level)
            if self.n_tensors:
                coefs.append(self.delta_head(feat))
        ell = torch.stack(levels, 1).to(torch.float64)
        loss = torch.exp(ell * std0 + mean0).numpy()  # [n, Y] nats
        q05, q95 = np.quantile(loss, [0.05, 0.95], axis=0)
        loss_mean, loss_std = loss.mean(0), loss.std(0)
        loss_unc = float(loss_std[-1] / loss_mean[-1])

        B = cfg.basis_size
        if self.n_tensors:
            c = torch.stack(coefs, 1)[..., : self.n_tensors * B].reshape(n, horizon, self.n_tensors, B)
            c = c * self._coef_scale()[None, None, :, None] + self._coef_center()
            if cfg.delta_per_lr:
                c = c * torch.as_tensor(lr_seq, dtype=torch.float32)[None, :, None, None]
            agg = c.sum(1)  # [n, n_tensors, B] aggregate over the Y steps
            mean_c = agg.mean(0)
            denom = float(torch.linalg.vector_norm(mean_c))
            spread = float(torch.sqrt(((agg - mean_c) ** 2).sum(dim=(1, 2)).mean()))
            delta_unc = spread / denom if denom > 0 else float("nan")
            delta = self.basis.materialise(mean_c, dtype=dtype, device=device)
        else:
            mean_c = torch.zeros(0, B)
            delta_unc = float("nan")
            delta = {}
        return Rollout(loss_mean=loss_mean, loss_std=loss_std, loss_q05=q05, loss_q95=q95,
                       loss_samples=loss, delta=delta, coeffs=mean_c,
                       delta_uncertainty=delta_unc, loss_uncertainty=loss_unc,
                       uncertainty=delta_unc if math.isfinite(delta_unc) else loss_unc)


def _local_linear_end(y: np.ndarray) -> float:
    """Value at the last point of the least-squares line through ``y`` (equally spaced)."""
    k = y.size
    if k < 3:
        return float(y[-1])
    # closed form (x = 0..k-1): cheaper than np.polyfit, called once per observed step
    x = np.arange(k, dtype=np.float64)
    xm, ym = 0.5 * (k - 1), float(y.mean())
    slope = float(((x - xm) * (y - ym)).sum()) / float(((x - xm) ** 2).sum())
    return ym + slope * (k - 1 - xm)


# ----------------------------------------------------------------------------------------------
# the Predictor protocol
# ----------------------------------------------------------------------------------------------


class RSSMPredictor:
    """Adapter from :class:`RSSMLite` to the :class:`~.protocol.Predictor` protocol.

    Every full step is observed with :func:`step_features` (per-tensor
    norms in the model's ``named_parameters`` order) and its applied update; the dynamics model
    trains online (``RSSMConfig.update_every``). Ready once it has trained at least once and has a
    direction basis. ``rssm_overrides``: ``RSSMConfig`` fields (``hybrid.rssm``); ``seed`` defaults
    to the run seed.
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

    def observe(self, obs: Observation) -> None:
        update_norms = {n: float(torch.linalg.vector_norm(obs.update[n].float())) for n in self.names}
        feats = step_features(obs.loss, obs.grad_norm, obs.lr, obs.step, obs.total_steps,
                              {n: obs.grad_norms[n] for n in self.names}, update_norms, names=self.names)
        self.model.observe(feats, {n: obs.update[n] for n in self.names}, train=True)

    def ready(self) -> bool:
        return self.model.n_train_steps > 0 and not self.model.basis.is_empty

    def rollout(self, horizon: int, lrs: Sequence[float], seed: int) -> PredictedPhase:
        r = self.model.rollout(horizon, seed=seed, lrs=list(lrs), dtype=self.dtype, device=self.device)
        return PredictedPhase(r.delta, np.asarray(r.loss_mean, dtype=np.float64), float(r.uncertainty),
                              np.asarray(r.loss_q05), np.asarray(r.loss_q95))

    def state_dict(self) -> dict:
        """The dynamics model's full state: weights, normalisers, basis, replay, filtered state,
        its Adam optimiser and its generators (``RSSMLite.get_extra_state``)."""
        return {"model": self.model.state_dict()}

    def load_state_dict(self, state: Mapping) -> None:
        self.model.load_state_dict(state["model"])
