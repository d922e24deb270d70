"""The direction basis: per parameter tensor, a few orthonormal directions of recent updates.

Predicting every weight's change per step from a 64-dimensional state is neither cheap nor
learnable, so :class:`DirectionBasis` keeps, for every parameter tensor, up to ``B = basis_size``
orthonormal directions made from the updates seen during full training: an EMA of the updates
(direction 0) and the sums of the last ``B - 1`` windows of ``basis_window`` consecutive updates,
orthonormalised by Gram-Schmidt (in that order, so the EMA direction is kept exactly). The basis is
stored as its source vectors plus small per-tensor combination matrices, in ``(B + 2) N`` numbers
(7 N at the default ``B = 5``; with the network and the replay, which do not grow with N, the whole
state stays within the study's bound of 8 N, ``dynamics/footprint.py``), and each observed update
is projected on the basis in force when it arrives (inner products, the rows being orthonormal; no
buffer of recent updates). When the basis is refreshed, :meth:`DirectionBasis.add` hands over the
transitions ``Q_old Q_newᵀ`` that re-express stored coefficients in the new basis. A Y-step
prediction is ``Σ_steps coeffs_step @ Q`` per tensor, materialised with the exact parameter shapes
(:meth:`DirectionBasis.materialise`; deltas in parameter units).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import torch

__all__ = ["DirectionBasis"]


class DirectionBasis:
    """Per-tensor orthonormal bases of recent update directions, in ``(size + 2) x N`` numbers.

    For each parameter tensor (name -> shape) the basis has up to ``size`` orthonormal directions,
    in this order: the EMA of the updates (factor ``ema_beta``) and the sums of the last
    ``size - 1`` complete windows of ``window`` updates, newest first (dependent or missing
    directions are zero rows). It is rebuilt at the end of every window; ``ema``, ``basis`` and the
    window sums are as of the last window end.

    Persistent state (``N`` = elements of all tensors; :meth:`state_numbers` reports it):

    - ``rows [size, N]`` float32: row 0 the EMA at the last window end, rows ``1 .. size - 1``
      the window sums (a ring; :attr:`_order` lists their rows newest first);
    - ``acc_ema [N]``, ``acc_sum [N]`` float32: the open window's weighted and plain sums;
    - ``T [n_tensors, size, size]`` float64: per tensor, the orthonormal directions as
      combinations of its rows, ``Q_n = T_n @ rows[:, n]``. The basis itself is never stored.

    So the N-proportional state is ``(size + 2) N`` numbers (7 N at the RSSM's default ``basis_size`` 5), and
    no per-step buffer of updates is kept: each update is projected when it arrives
    (:meth:`add`: ``c_n = T_n (rows_n u_n)``, one ``[size, numel]`` product per tensor) and added
    to the two accumulators. At the window end the refresh needs the Gram matrix of the ``size +
    2`` stored vectors per tensor (float64, accumulated over chunks of at most ``_CHUNK``
    elements, so the transient memory is ``(size + 2) x _CHUNK`` doubles), Gram-Schmidt in
    coefficient space, and the transition ``Q_old Q_newᵀ`` that re-expresses stored coefficients.
    """

    _CHUNK = 1 << 20

    def __init__(self, shapes: Mapping[str, Sequence[int]], size: int, window: int, ema_beta: float):
        self.names = list(shapes.keys())
        self.shapes = {n: torch.Size(s) for n, s in shapes.items()}
        self.size, self.window, self.ema_beta = int(size), int(window), float(ema_beta)
        self.numel = {n: int(math.prod(s)) for n, s in self.shapes.items()}
        ends = np.cumsum([self.numel[n] for n in self.names]).tolist()
        self._slices = {n: slice(e - self.numel[n], e) for n, e in zip(self.names, ends)}
        self.n_total = int(ends[-1]) if ends else 0
        self.rows = torch.zeros(self.size, self.n_total)
        self.acc_ema = torch.zeros(self.n_total)
        self.acc_sum = torch.zeros(self.n_total)
        self.T = torch.zeros(len(self.names), self.size, self.size, dtype=torch.float64)
        self._order: list[int] = []  # physical rows of the window sums, newest first
        self.n_updates = 0
        self.n_refresh = 0
        # the statistics of the last refresh that the dynamics model's error model reads:
        # per tensor |window sum|^2 and the window sum's coefficients on the basis it replaced
        self.last_window_sq = torch.zeros(len(self.names), dtype=torch.float64)
        self.last_window_coef = torch.zeros(len(self.names), self.size, dtype=torch.float64)

    def state_numbers(self) -> dict[str, int]:
        """Numbers held per component (the N-proportional ones and the small ones)."""
        return {"rows": self.rows.numel(), "acc_ema": self.acc_ema.numel(), "acc_sum": self.acc_sum.numel(),
                "T": self.T.numel(), "window_stats": self.last_window_sq.numel() + self.last_window_coef.numel()}

    # -- views ----------------------------------------------------------------------------------
    @property
    def basis(self) -> dict[str, torch.Tensor]:
        """``{name: [size, numel]}`` the orthonormal directions (computed in float64: ``T_n @ rows_n``)."""
        return {n: (self.T[i] @ self.rows[:, self._slices[n]].to(torch.float64)).to(torch.float32)
                for i, n in enumerate(self.names)}

    @property
    def ema(self) -> dict[str, torch.Tensor]:
        """``{name: [numel]}`` views of the update EMA (as of the last window end)."""
        return {n: self.rows[0, self._slices[n]] for n in self.names}

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

    def _flatten(self, update: Mapping[str, torch.Tensor]) -> torch.Tensor:
        return torch.cat([update[n].detach().reshape(-1).to("cpu", torch.float32) for n in self.names])

    def _project_flat(self, flat: torch.Tensor) -> torch.Tensor:
        """Flat vector ``[N]`` -> coefficients ``[n_tensors, size]`` (float32) on the basis."""
        raw = torch.empty(len(self.names), self.size, dtype=torch.float64)
        for i, n in enumerate(self.names):
            s = self._slices[n]
            raw[i] = torch.mv(self.rows[:, s], flat[s]).to(torch.float64)
        return torch.einsum("nij,nj->ni", self.T, raw).to(torch.float32)

    def project(self, update: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Coefficients of ``update`` on the current basis, ``[n_tensors, size]`` float32."""
        return self._project_flat(self._flatten(update))

    def add(self, update: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, list[torch.Tensor] | None]:
        """Record one update. Returns ``(coeffs, transitions)``: ``coeffs [n_tensors, size]`` the
        update projected on the basis in force when it was applied (all zero while the basis is
        empty), and at the end of a window the per-tensor ``[size, size]`` transitions
        ``Q_old Q_newᵀ`` of the refresh (else ``None``)."""
        flat = self._flatten(update)
        coeffs = self._project_flat(flat)
        k = self.n_updates % self.window
        b, W = self.ema_beta, self.window
        # EMA over the window: m = b^W m_prev + sum_i (1 - b) b^(W-1-i) u_i, started at the first
        # update (m_0 = u_0: weight b^(W-1) and no carry) in the first window
        w = b ** (W - 1) if (self.n_updates == 0) else (1.0 - b) * b ** (W - 1 - k)
        self.acc_ema.add_(flat, alpha=w)
        self.acc_sum.add_(flat)
        self.n_updates += 1
        if k + 1 < W:
            return coeffs, None
        return coeffs, self._refresh()

    def _gram(self, vectors: list[torch.Tensor]) -> torch.Tensor:
        """``[n_tensors, k, k]`` float64 Gram matrices of ``k`` flat vectors, per tensor."""
        k = len(vectors)
        gram = torch.zeros(len(self.names), k, k, dtype=torch.float64)
        for i, n in enumerate(self.names):
            s = self._slices[n]
            for a in range(s.start, s.stop, self._CHUNK):
                e = min(a + self._CHUNK, s.stop)
                m = torch.stack([v[a:e] for v in vectors]).to(torch.float64)
                gram[i] += m @ m.T
        return gram

    def _refresh(self) -> list[torch.Tensor]:
        B = self.size
        if self.n_refresh > 0:  # acc_ema becomes the new EMA
            self.acc_ema.add_(self.rows[0], alpha=self.ema_beta ** self.window)
        ring_full = len(self._order) >= B - 1
        new_slot = (self._order[-1] if ring_full else 1 + len(self._order)) if B > 1 else None
        new_windows = ([new_slot] + (self._order[:-1] if ring_full else list(self._order))) if B > 1 else []
        # vectors S: the B stored rows (index = physical row), then the new EMA (B), the new window (B + 1)
        gram = self._gram([self.rows[j] for j in range(B)] + [self.acc_ema, self.acc_sum])
        # the new directions in S coordinates: the new EMA, the new window, the kept windows newest first
        logical = [B] + ([B + 1] + new_windows[1:] if B > 1 else [])
        g = gram[:, logical][:, :, logical]
        t = _gram_schmidt(g, B)  # [n, B, k] rows of the new basis as combinations of `logical`
        t_new_s = torch.zeros(len(self.names), B, B + 2, dtype=torch.float64)
        t_new_s[:, :, logical] = t
        t_old_s = torch.zeros_like(t_new_s)
        t_old_s[:, :, :B] = self.T
        transitions = list(torch.einsum("nik,nkl,njl->nij", t_old_s, gram, t_new_s).to(torch.float32))
        # what the error model reads: the new window's squared norm and coefficients on the old basis
        self.last_window_sq = gram[:, B + 1, B + 1].clone()
        self.last_window_coef = torch.einsum("nik,nk->ni", t_old_s, gram[:, :, B + 1])
        # store: the new EMA in row 0, the new window in its ring row; T in physical coordinates
        t_phys = torch.zeros(len(self.names), B, B, dtype=torch.float64)
        t_phys[:, :, 0] = t_new_s[:, :, B]
        for j in new_windows[1:]:
            t_phys[:, :, j] = t_new_s[:, :, j]
        self.rows[0].copy_(self.acc_ema)
        if new_slot is not None:
            t_phys[:, :, new_slot] = t_new_s[:, :, B + 1]
            self.rows[new_slot].copy_(self.acc_sum)
        self._order = new_windows
        self.T = t_phys
        self.acc_ema.zero_()
        self.acc_sum.zero_()
        self.n_refresh += 1
        return transitions

    def materialise(self, coeffs: torch.Tensor, dtype: torch.dtype | None = None,
                    device: torch.device | str | None = None) -> dict[str, torch.Tensor]:
        """``coeffs [n_tensors, size]`` -> ``dict[name, Tensor]`` with the parameter shapes."""
        out = {}
        raw = torch.einsum("ni,nij->nj", coeffs.to(torch.float64), self.T)
        for i, n in enumerate(self.names):
            # float64: the rows may be nearly dependent, so T can have large, cancelling entries
            d = (raw[i] @ self.rows[:, self._slices[n]].to(torch.float64)).reshape(self.shapes[n])
            out[n] = d.to(dtype=dtype or torch.float32, device=device)
        return out

    def state_dict(self) -> dict:
        return {"names": list(self.names), "shapes": {n: list(s) for n, s in self.shapes.items()},
                "size": self.size, "window": self.window, "ema_beta": self.ema_beta,
                "rows": self.rows.clone(), "acc_ema": self.acc_ema.clone(), "acc_sum": self.acc_sum.clone(),
                "T": self.T.clone(), "order": list(self._order),
                "last_window_sq": self.last_window_sq.clone(), "last_window_coef": self.last_window_coef.clone(),
                "n_updates": self.n_updates, "n_refresh": self.n_refresh}

    def load_state_dict(self, state: Mapping) -> None:
        if list(state["names"]) != self.names:
            raise ValueError("basis state was saved for different parameter names")
        for k in ("rows", "acc_ema", "acc_sum", "T", "last_window_sq", "last_window_coef"):
            setattr(self, k, state[k].clone())
        self._order = [int(j) for j in state["order"]]
        self.n_updates, self.n_refresh = int(state["n_updates"]), int(state["n_refresh"])


def _gram_schmidt(gram: torch.Tensor, size: int) -> torch.Tensor:
    """Gram-Schmidt in coefficient space: ``gram [n, k, k]`` (float64) of ``k`` column vectors per
    tensor -> ``t [n, size, k]`` whose row ``j`` combines the columns into orthonormal direction
    ``j``. A column whose residual norm is <= 1e-4 of its own norm (numerically dependent on the
    earlier ones) or that is zero gives a zero row."""
    n_t, k = gram.shape[0], gram.shape[1]
    t = torch.zeros(n_t, size, k, dtype=torch.float64)
    for j in range(min(k, size)):
        proj = torch.einsum("nil,nl->ni", t[:, :j], gram[:, :, j])  # <q_i, a_j>, i < j
        resid = gram[:, j, j] - (proj ** 2).sum(-1)
        col_norm = gram[:, j, j].clamp(min=0).sqrt()
        r = resid.clamp(min=0).sqrt()
        keep = (r > 1e-4 * col_norm) & (col_norm > 0)
        row = -torch.einsum("ni,nil->nl", proj, t[:, :j])
        row[:, j] += 1.0
        t[:, j] = torch.where(keep[:, None], row / torch.where(keep, r, 1.0)[:, None], 0.0)
    return t
