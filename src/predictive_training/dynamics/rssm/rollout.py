"""The rollout: ONE aggregate Y-step prediction of the RSSM-lite, open loop from the filtered state.

:meth:`RolloutMixin.rollout` (a method of :class:`~.model.RSSMLite`, which mixes it in) samples
``n_samples`` latent trajectories from the prior and returns a :class:`Rollout`: the loss mean,
standard deviation and 90% interval per step (the loss head's per-step changes integrated from the
loss anchor, :mod:`.model`), the aggregate weight delta for every parameter tensor (mean over
samples: the coefficient mean, the drift, plus the delta head's deviations times the shrinkage,
materialised on the direction basis), and an uncertainty: the predicted relative L2 error
``|real - delta| / |real|``, from the samples' spread plus the error model (the squared error of the
mean-drift prediction of each basis window's summed update, per unit ``lr^2``, exponential mean
``error_beta``) scaled by ``Σ lr_t^2`` over the horizon. For updates ``lr_t (d + noise)`` the delta
is the drift's Y-step displacement ``Σ lr_t d``, the conditional mean, which is smaller than a real
noisy displacement; the real movement's remaining part is in the uncertainty.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from .config import with_threads

__all__ = ["Rollout", "RolloutMixin"]


@dataclass
class Rollout:
    """One aggregate Y-step prediction.

    loss_mean, loss_std, loss_q05, loss_q95: ``[Y]`` float64, nats, for the steps after the last
        observed one (90% interval = [q05, q95] over samples).
    loss_samples: ``[n_samples, Y]`` nats.
    delta: ``dict[name, Tensor]`` the predicted aggregate weight change over the Y steps (mean over
        samples), exact parameter shapes, float32 (empty if the model tracks no parameters).
    coeffs: ``[n_tensors, B]`` the mean aggregate basis coefficients behind ``delta``.
    delta_uncertainty: the predicted relative L2 error ``sqrt(E / (|delta|^2 + E))``, the realised
        ``|real - delta| / |real|`` of a real delta that is ``delta`` plus an error of expected
        squared norm ``E``. ``E`` = the samples' mean squared distance from ``delta`` plus the error
        model's (updated at the end of every basis window) squared error per unit ``lr^2`` times ``sum lr^2``
        over the horizon. In [0, 1); NaN before the error model has seen a window or without tensors.
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



class RolloutMixin:
    """The open-loop prediction of :class:`~.model.RSSMLite` (its networks, normalisers, filtered
    state and direction basis are the model's own)."""

    @with_threads
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
            c = c * (self.shrinkage() * self._coef_scale())[None, None, :, None] + self._coef_center()
            if cfg.delta_per_lr:
                c = c * torch.as_tensor(lr_seq, dtype=torch.float32)[None, :, None, None]
            agg = c.sum(1)  # [n, n_tensors, B] aggregate over the Y steps
            mean_c = agg.mean(0)
            delta = self.basis.materialise(mean_c, dtype=dtype, device=device)
            pred_sq = float(sum(float(torch.linalg.vector_norm(d.float())) ** 2 for d in delta.values()))
            # expected squared error: the latent samples' spread around their mean (the basis rows
            # are orthonormal, so coefficient distances are delta distances) plus the error model's
            # squared error of a window sum per unit lr^2 times sum lr^2 over the horizon
            spread_sq = float(((agg - mean_c) ** 2).sum(dim=(1, 2)).mean())
            scale_sq = float(np.sum(lr_seq ** 2)) if cfg.delta_per_lr else float(horizon)
            err_sq = (float(self.err_ms) * scale_sq if self.err_count > 0 else float("nan")) + spread_sq
            delta_unc = math.sqrt(err_sq / (pred_sq + err_sq)) if pred_sq + err_sq > 0 else float("nan")
        else:
            mean_c = torch.zeros(0, B)
            delta_unc = float("nan")
            delta = {}
        return Rollout(loss_mean=loss_mean, loss_std=loss_std, loss_q05=q05, loss_q95=q95,
                       loss_samples=loss, delta=delta, coeffs=mean_c,
                       delta_uncertainty=delta_unc, loss_uncertainty=loss_unc,
                       uncertainty=delta_unc if math.isfinite(delta_unc) else loss_unc)
