"""DMD extrapolation: linear dynamics fitted to the last ``m`` per-step updates, per tensor.

Koopman / dynamic-mode-decomposition extrapolation of a training trajectory (Dogra & Redman,
NeurIPS 2020; Tano et al. 2020), behind the :class:`~.protocol.Predictor` protocol.

What is fitted. For every parameter tensor, the last ``m`` observed per-step updates ``u_1 ..
u_m`` (oldest first; divided by their learning rates when ``per_lr``, so the schedule carries over
as in the other extrapolating predictors) are the snapshots of exact DMD (Tu et al. 2014) on the
UPDATES, not the weights: ``X = [u_1 .. u_{m-1}]``, ``X' = [u_2 .. u_m]``, ``X' ~ A X``. Fitting
updates rather than states makes a constant-velocity trajectory (``u`` constant: eigenvalue 1)
and a geometric slowdown (eigenvalue below 1) exactly representable. The reduced basis is the
leading ``rank`` right singular vectors of ``X`` (at most ``m - 1``; singular values below
``rcond`` x the largest are dropped); ``A~ = S^-1 V^T X^T X' V S^-1``, its eigenpairs
``(lambda_i, w_i)`` give the exact DMD modes ``phi_i = X' V S^-1 w_i``, and the amplitudes ``b``
are the least-squares fit of the last update, ``Phi b ~ u_m``. The update ``j`` steps ahead is
``Phi Lambda^j b``; the predicted ``Y``-step delta is ``sum_j lr_j Phi Lambda^j b`` (``lr_j``
the schedule's learning rates; all 1 without ``per_lr``), a real linear combination of
``u_2 .. u_m``.

Damping. A mode with ``|lambda| > 1`` would grow without bound; its eigenvalue is replaced by
``lambda / |lambda|`` (kept on the unit circle: it neither grows nor decays), so a rollout cannot
blow up whatever the horizon. ``diagnostics`` reports how many modes were damped.

Cost. Everything is computed from the ``m x m`` Gram matrix of each tensor's buffered updates
(method of snapshots): ``m^2 N`` multiply-adds per rollout plus ``m N`` for the combination; an
observed step copies ``N`` numbers. Persistent state: the ``m`` buffered updates, ``m x N``
numbers (``m = 8``: the state bound, 8 x N).

Why ``rank`` below ``m - 1`` by default: with ``rank = m - 1`` the ``m - 1`` snapshot pairs
determine ``A~`` exactly, so the fit interpolates the noise of single steps; a smaller rank makes
it a least-squares fit (chosen before any run, not tuned on results).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import torch

from .base import BasePredictor
from .protocol import Observation, PredictedPhase, rollout_lrs

__all__ = ["DMDPredictor", "dmd_coefficients"]


def dmd_coefficients(gram: np.ndarray, weights: np.ndarray, rank: int | None = None,
                     rcond: float = 1e-6) -> tuple[np.ndarray, dict]:
    """Exact DMD from the Gram matrix of ``m`` snapshots ``u_1 .. u_m`` (oldest first).

    ``gram [m, m]``: ``G_ij = <u_i, u_j>``. ``weights [Y]``: the weight of the update ``j`` steps
    ahead (``j = 1 .. Y``; the learning rates for a per-lr fit). Returns ``(c [m - 1], info)``:
    the prediction ``sum_j weights_j u_{m+j}`` is ``sum_i c_i u_{i+1}`` (real), and ``info`` holds
    the rank used, the largest eigenvalue magnitude before damping, the number of damped modes and
    the relative one-step residual of the fit.
    """
    g = np.asarray(gram, dtype=np.float64)
    m = g.shape[0]
    if g.shape != (m, m) or m < 2:
        raise ValueError(f"gram must be [m, m] with m >= 2, got {g.shape}")
    w = np.asarray(weights, dtype=np.float64)
    info = {"rank": 0, "max_abs_eig": None, "damped": 0, "fit_residual": None}
    gxx, gxy, gyy, gy_last = g[:-1, :-1], g[:-1, 1:], g[1:, 1:], g[1:, -1]
    s2, v = np.linalg.eigh(0.5 * (gxx + gxx.T))
    order = np.argsort(s2)[::-1]
    s2, v = s2[order], v[:, order]
    top = float(s2[0]) if s2.size else 0.0
    if not top > 0:
        return np.zeros(m - 1), info
    keep = s2 > (rcond ** 2) * top
    if rank is not None:
        keep &= np.arange(s2.size) < int(rank)
    s, vr = np.sqrt(s2[keep]), v[:, keep]
    r = s.size
    inv_s = 1.0 / s
    a_til = (inv_s[:, None] * (vr.T @ gxy @ vr)) * inv_s[None, :]
    lam, wt = np.linalg.eig(a_til)
    modes = (vr * inv_s[None, :]) @ wt  # [m-1, r]: Phi = X' @ modes
    phh = modes.conj().T @ gyy @ modes
    phu = modes.conj().T @ gy_last
    b = np.linalg.lstsq(phh, phu, rcond=1e-12)[0]
    mag = np.abs(lam)
    damped = mag > 1.0
    lam_d = np.where(damped, lam / np.where(mag > 0, mag, 1.0), lam)
    powers = lam_d[None, :] ** np.arange(1, w.size + 1)[:, None]  # [Y, r]
    amp = (w[:, None] * powers).sum(0)
    c = np.real(modes @ (amp * b))
    p = vr @ vr.T  # the one-step residual ||X' (I - P)||_F / ||X'||_F, P the projection on the kept rows
    q = np.eye(m - 1) - p
    tr = float(np.trace(gyy))
    info.update(rank=int(r), max_abs_eig=float(mag.max()), damped=int(damped.sum()),
                fit_residual=float(math.sqrt(max(float(np.trace(q @ gyy @ q)), 0.0) / tr)) if tr > 0 else None)
    return c, info


class DMDPredictor(BasePredictor):
    """Per-tensor exact DMD on the last ``window`` per-step updates (see the module docstring).
    Flat loss at the last observed value; uncertainty 0 (the fit residual is a diagnostic, not a
    calibrated uncertainty)."""

    name = "dmd"

    def __init__(self, window: int = 8, rank: int | None = 4, per_lr: bool = True, rcond: float = 1e-6):
        if isinstance(window, bool) or int(window) != window or window < 2:
            raise ValueError(f"hybrid.dmd.window must be an integer >= 2, got {window!r}")
        if rank is not None and (isinstance(rank, bool) or int(rank) != rank or rank < 1):
            raise ValueError(f"hybrid.dmd.rank must be a positive integer or null, got {rank!r}")
        if not (isinstance(rcond, (int, float)) and 0 <= rcond < 1):
            raise ValueError(f"hybrid.dmd.rcond must be a number in [0, 1), got {rcond!r}")
        self.m, self.rank, self.per_lr, self.rcond = int(window), rank, bool(per_lr), float(rcond)
        self.names: list[str] | None = None
        self.shapes: dict[str, torch.Size] = {}
        self.slices: dict[str, slice] = {}
        self.buf: torch.Tensor | None = None  # [m, N] ring of flat (per-lr) updates
        self.count = 0
        self.last_loss = float("nan")
        self.n_rollouts = 0
        self.flops = 0.0

    @classmethod
    def steady_observations(cls, options: Mapping) -> int:
        return int(options.get("window", 8))  # the window of updates is full (Gram matrices window x window)

    def _setup(self, update: Mapping[str, torch.Tensor]) -> None:
        self.names = list(update)
        self.shapes = {n: t.shape for n, t in update.items()}
        ends = np.cumsum([t.numel() for t in update.values()]).tolist()
        self.slices = {n: slice(e - update[n].numel(), e) for n, e in zip(self.names, ends)}
        t0 = next(iter(update.values()))
        self.buf = torch.zeros(self.m, int(ends[-1]), dtype=torch.float32, device=t0.device)

    def observe(self, obs: Observation) -> None:
        self.last_loss = float(obs.loss)
        lr = float(obs.lr)
        scale = 1.0
        if self.per_lr:
            if not (lr > 0 and math.isfinite(lr)):
                return  # no learning rate to normalise by
            scale = 1.0 / lr
        if self.buf is None:
            self._setup(obs.update)
        row = self.buf[self.count % self.m]
        torch.cat([obs.update[n].detach().reshape(-1).to(row.dtype) for n in self.names], out=row)
        if scale != 1.0:
            row.mul_(scale)
        self.count += 1

    def ready(self) -> bool:
        return self.count >= 2

    def _rows(self) -> torch.Tensor:
        k = min(self.count, self.m)
        idx = [(self.count - k + i) % self.m for i in range(k)]  # oldest first
        return self.buf[idx]

    def rollout(self, horizon: int, lrs: Sequence[float], seed: int) -> PredictedPhase:
        lr = rollout_lrs(horizon, lrs)
        if not self.ready():
            raise ValueError("DMDPredictor.rollout needs at least two observed updates")
        weights = lr if self.per_lr else np.ones(int(horizon))
        u = self._rows()
        k = u.shape[0]
        delta, ranks, damped, maxeig, resid = {}, [], 0, 0.0, []
        for n in self.names:
            a = u[:, self.slices[n]]
            gram = (a @ a.T).double().cpu().numpy()
            c, info = dmd_coefficients(gram, weights, self.rank, self.rcond)
            coef = torch.as_tensor(c, dtype=a.dtype, device=a.device)
            delta[n] = (coef @ a[1:]).reshape(self.shapes[n])
            ranks.append(info["rank"])
            damped += info["damped"]
            if info["max_abs_eig"] is not None:
                maxeig = max(maxeig, info["max_abs_eig"])
            if info["fit_residual"] is not None:
                resid.append(info["fit_residual"])
        n_total = u.shape[1]
        self.n_rollouts += 1
        self.flops += 2.0 * (k * k + k) * n_total  # the Gram matrices and the combination
        diag = {"snapshots": int(k), "rank_mean": float(np.mean(ranks)), "damped_modes": int(damped),
                "max_abs_eig": float(maxeig), "fit_residual_mean": float(np.mean(resid)) if resid else None}
        return PredictedPhase(delta, np.full(int(horizon), self.last_loss), 0.0, diagnostics=diag)

    def state_numbers(self) -> int:
        """Numbers of persistent state: the ``m`` buffered updates (``m x N``)."""
        return 0 if self.buf is None else self.buf.numel()

    def work(self) -> dict:
        return {"rollouts": self.n_rollouts, "fit_flops": self.flops}

    def state_dict(self) -> dict:
        return {"last_loss": self.last_loss, "count": self.count, "names": self.names,
                "shapes": {n: list(s) for n, s in self.shapes.items()},
                "buf": None if self.buf is None else self.buf.clone(),
                "n_rollouts": self.n_rollouts, "flops": self.flops}

    def load_state_dict(self, state: Mapping) -> None:
        self.last_loss, self.count = float(state["last_loss"]), int(state["count"])
        self.n_rollouts, self.flops = int(state["n_rollouts"]), float(state["flops"])
        if state["buf"] is None:
            self.buf, self.names = None, None
            return
        shapes = {n: torch.Size(s) for n, s in state["shapes"].items()}
        self._setup({n: torch.empty(s, device=state["buf"].device) for n, s in shapes.items()})
        self.buf.copy_(state["buf"])
