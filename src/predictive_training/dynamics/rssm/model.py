"""RSSM-lite: a small recurrent state-space model of training dynamics, and its online training.

What it models
--------------
At every full (backprop) training step ``t`` the model observes ``o_t`` (:mod:`.features`) and the
weight update actually applied, ``u_t``. The model is

- deterministic path: ``h_t = GRUCell([z_{t-1}, a_t], h_{t-1})`` where ``a_t`` is the known
  context of step ``t`` (normalised learning rate; optionally the step fraction);
- stochastic path: prior ``p(z_t | h_t)`` and posterior ``q(z_t | h_t, o_t)``, both diagonal
  Gaussians, sampled with the reparameterisation trick;
- heads on ``[h_t, z_t]``: observation reconstruction, a loss head (per-step change of the
  normalised log loss), and a weight-delta head (per-tensor coefficients over the direction basis,
  :mod:`.basis`).

All of it (GRU, prior, posterior, embedding and every head) is trained by backpropagation through
time with Adam on windows drawn from the replay buffer (:mod:`.replay`), on the ELBO-style objective

    recon(o) + w_loss * (Δlog-loss error) + w_delta * (coefficient error)
    + w_over * (open-loop prior-rollout errors of cumulative log loss and coefficients)
    + beta * max(KL(q || p), free_bits).

Every error term is relative to the null prediction's error on the same windows (zero change,
zero deviation from the coefficient mean, the flat loss level): 1 means no better than the null.
Without this the one-step loss-change term, whose target is mostly minibatch noise, dominates the
others and its noise is all a learning curve shows. The open-loop ("overshooting") term rolls
the PRIOR forward from the filtered state at a point inside each window and scores the
predictions against the rest of the window, so the model is trained on exactly the task the
rollout (:mod:`.rollout`) performs.

Online training and its learning curve
--------------------------------------
Every ``update_every`` observed steps :meth:`RSSMLite.observe` runs ``train_iters`` Adam steps
(learning rate ``lr / sqrt(1 + steps / lr_decay_steps)``, a fixed schedule) on ``batch_size``
windows of ``window`` steps from the replay buffer, never on its held-out windows or its forecast
block (:func:`~.replay.window_starts`; :func:`~.replay.online_train_runs` is the schedule).
Each run evaluates the objective on both, and on the forecast block again after its training
steps (same latent noise); one entry per run goes to :attr:`RSSMLite.curve`, and
:meth:`RSSMLite.learning_curve` sums the paired before/after gains over the last fifth of the
optimisation steps (levelled: < ``level_tol``). The cost budget: observing plus training,
amortised, within 25% of a full step of the default model (``benchmarks/rssm_cost.py``).
The same pieces train it offline: :meth:`RSSMLite.load_trajectory`, :meth:`RSSMLite.refilter`,
:meth:`RSSMLite.optimise` and :meth:`RSSMLite.evaluate` (the pretrained RSSM,
``dynamics/rssm_pretrain.py``, and Exp 2's offline fit, ``analysis/exp2_offline.py``).

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

Weight deltas: coefficient targets
----------------------------------
Each observed update's coefficients on the direction basis in force when it arrives, divided by
the learning rate of the step (``delta_per_lr``; Adam-like updates scale with the learning rate,
so the schedule is handled by the known future learning rates), then centred on their running
exponential mean (factor ``coef_mean_beta``, about 50 steps) and divided by the per-tensor
running RMS deviation, are the targets of the delta head. The prediction is the running mean (the
drift: ``Σ lr_t c_mean Q``, the projection of the mean update on the basis) plus the head's
predicted deviations times a per-tensor shrinkage in [0, 1], the least-squares scale of those
deviations against the targets on the forecast block (:meth:`RSSMLite.shrinkage`): deviations
that do not help forecasts on held-out data are not applied. When the basis is refreshed the
stored targets are re-expressed in the new basis (``c_new = c_old Q_old Q_newᵀ``), so targets
always match the basis the head will be read against.

Units: losses in nats; learning rates as given by the optimiser; deltas in parameter units.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import asdict

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .basis import DirectionBasis
from .config import RSSMConfig, with_threads
from .features import LOSS_COL, LR_COL, N_GLOBAL_FEATURES, STEP_COL
from .replay import Replay, forecast_starts, window_starts
from .rollout import RolloutMixin

__all__ = ["RSSMLite"]


def _mlp(inp: int, hidden: int, out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(inp, hidden), nn.ELU(), nn.Linear(hidden, out))


class RSSMLite(RolloutMixin, nn.Module):
    """RSSM-lite dynamics model of a training run (see the module docstring; its rollout is
    :meth:`~.rollout.RolloutMixin.rollout`).

    Args:
        n_features: length of each observation vector (``4 + 2 * n_tensors`` for
            :func:`~.features.step_features`).
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
        # shrinkage of the delta head's deviations from the coefficient mean, per tensor: exponential
        # means (factor error_beta) of sum(target . deviation) and sum(deviation^2) on held-out windows
        self.register_buffer("shrink_td", torch.zeros(max(self.n_tensors, 1), dtype=torch.float64))
        self.register_buffer("shrink_dd", torch.zeros(max(self.n_tensors, 1), dtype=torch.float64))
        # error model of the rollout's uncertainty: exponential mean (factor error_beta) of the
        # squared error of the centred-mean prediction of each basis window's sum, per unit lr^2
        self.register_buffer("err_count", torch.zeros((), dtype=torch.float64))
        self.register_buffer("err_ms", torch.zeros((), dtype=torch.float64))
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
        self.replay = Replay(capacity, self.n_features, self.n_tensors, cfg.basis_size,
                             cfg.deter_dim, cfg.stoch_dim)
        self._h = torch.zeros(1, cfg.deter_dim)
        self._z = torch.zeros(1, cfg.stoch_dim)
        self._recent_log_loss: deque[float] = deque(maxlen=cfg.anchor_window)
        self._last_lr = 0.0
        self._last_step_frac = 0.0
        self._step_inc = 0.0
        self._since_update = 0
        self._win_lr = [0.0, 0.0]  # sum of lr and of lr^2 over the open basis window's updates
        self.curve: list[dict] = []  # the learning curve: one entry per optimisation run
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
            "win_lr": list(self._win_lr), "curve": [dict(c) for c in self.curve],
            "n_observed": self.n_observed, "n_train_steps": self.n_train_steps,
            "np_rng": self._np_rng.bit_generator.state,
            "torch_gen": self._torch_gen.get_state(), "rollout_gen": self._rollout_gen.get_state(),
            "optimizer": self.optimizer.state_dict(),
        }

    def state_numbers(self) -> dict[str, int]:
        """Numbers (array elements) in the persistent state, per component.

        ``basis`` is the only part that grows with the tracked model's size ``N``
        (:class:`DirectionBasis`: ``(basis_size + 2) N`` plus small per-tensor matrices);
        ``network`` (weights and buffers), ``optimizer`` (Adam's two moments) and ``replay``
        (``replay_size`` rows of features, targets and states) grow only with the number of
        tensors. ``n_proportional`` is the basis's N-sized part; ``total`` everything.
        """
        net = sum(p.numel() for p in self.parameters()) + sum(b.numel() for b in self.buffers())
        opt = sum(v.numel() for st in self.optimizer.state.values() for v in st.values() if torch.is_tensor(v))
        rp = sum(v.size for v in vars(self.replay).values() if isinstance(v, np.ndarray))
        basis = self.basis.state_numbers()
        n_prop = basis["rows"] + basis["acc_ema"] + basis["acc_sum"]
        return {"network": int(net), "optimizer": int(opt), "replay": int(rp),
                "basis": int(sum(basis.values())), "n_proportional": int(n_prop),
                "total": int(net + opt + rp + sum(basis.values()))}

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
        self._win_lr = [float(v) for v in state["win_lr"]]
        self.curve = [dict(c) for c in state["curve"]]
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

    def update_normaliser(self, x: np.ndarray) -> None:
        """Add one transformed observation ``x [n_features]`` (a replay row: the log of the loss taken)
        to the running feature normaliser (Welford)."""
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

    def shrinkage(self) -> torch.Tensor:
        """``[n_tensors]`` factors in [0, 1] on the delta head's predicted deviations from the
        coefficient mean: the least-squares scale ``sum(t . d) / sum(d^2)`` of the deviations ``d``
        against the targets ``t`` on the held-out windows of the online evaluations (open loop, as
        in a rollout), clipped to [0, 1]. 0 (the mean alone) until the first evaluation and where
        the head's deviations do not help on held-out data; 1 where they are fully trusted."""
        n = self.n_tensors
        dd = self.shrink_dd[:n]
        s = torch.where(dd > 0, self.shrink_td[:n] / torch.where(dd > 0, dd, 1.0), 0.0)
        return s.clamp(0.0, 1.0).to(torch.float32)

    def _coef_center(self) -> torch.Tensor:
        """``[n_tensors, B]`` running mean of the (per-lr) coefficients."""
        return self.coef_mean[: self.n_tensors].to(torch.float32)

    def update_coef_stats(self, c: torch.Tensor) -> None:
        """Add one update's coefficient target ``c [n_tensors, B]`` (per unit learning rate when
        ``delta_per_lr``) to the running coefficient mean and mean-square deviation."""
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
    @with_threads
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
            self.update_normaliser(x)
        self._ingest(x, update, update_scale=train)
        self._since_update += 1
        stats = None
        cfg = self.config
        # optimise on a fixed grid of observed steps, once the buffer holds a training window
        # (and, unless holdout_every is 0, a held-out window)
        if train and self.n_observed % cfg.update_every == 0 and len(self._window_starts(held_out=False)) \
                and (cfg.holdout_every == 0 or len(self._window_starts(held_out=True))):
            self._since_update = 0
            stats = self._online_update()
        return stats

    def _window_starts(self, held_out: bool) -> np.ndarray:
        """:func:`window_starts` of this model's replay."""
        return window_starts(self.config, self.replay.size, self.n_observed, held_out)

    def _forecast_starts(self) -> np.ndarray:
        """:func:`~.replay.forecast_starts` of this model's replay."""
        return forecast_starts(self.config, self.replay.size)

    def _online_update(self) -> dict:
        """One online optimisation run: first the objective on the forecast block (the newest
        ``2 window`` steps, :meth:`_forecast_starts`) and on the held-out replay windows
        (:meth:`_window_starts`; the same windows from run to run until the buffer moves past
        them), then ``train_iters`` steps on training windows; one learning-curve entry
        (:attr:`curve`); then the present state is re-filtered."""
        cfg, rp = self.config, self.replay
        stripes = self._window_starts(held_out=True)
        held = self.evaluate(stripes, seed=cfg.seed + 3) if len(stripes) else {"total": None}
        held = {k: v for k, v in held.items() if not k.startswith("_")}
        # the forecast check: windows no training window has reached yet; their open-loop
        # coefficient errors set the shrinkage of the delta head (forecasting, not interpolation
        # between training windows, is what a rollout does)
        fc = self.evaluate(self._forecast_starts(), seed=cfg.seed + 4)
        if "_td" in fc:
            beta = cfg.error_beta if self.curve else 0.0
            self.shrink_td.mul_(beta).add_((1 - beta) * fc["_td"])
            self.shrink_dd.mul_(beta).add_((1 - beta) * fc["_dd"])
        # a fixed schedule: lr / sqrt(1 + steps / lr_decay_steps), so that late updates refine
        # rather than bounce (the learning curve and the fit settle; no dependence on timings)
        for g in self.optimizer.param_groups:
            g["lr"] = cfg.lr / math.sqrt(1.0 + self.n_train_steps / cfg.lr_decay_steps) if cfg.lr_decay_steps else cfg.lr
        stats = self.optimise(cfg.train_iters, self._window_starts(held_out=False))
        # the same forecast windows, same latent noise, after this run's training: the paired
        # difference is what the training did to held-out data, free of which data it was
        after = self.evaluate(self._forecast_starts(), seed=cfg.seed + 4)
        entry = {"train_steps": self.n_train_steps, "observed": self.n_observed,
                 "heldout": held["total"], "train": stats["total"], "forecast": fc["total"],
                 "forecast_after": after["total"], "forecast_open_loop_coef": fc.get("open_loop_coef")}
        entry.update({f"heldout_{k}": v for k, v in held.items() if k != "total"})
        self.curve.append(entry)
        # bring the present state up to date with the new weights
        self.refilter(max(0, rp.size - cfg.window))
        return stats

    def learning_curve(self) -> dict:
        """Whether the online training has levelled off, from the paired held-out gains.

        Every online optimisation run (:attr:`curve`) evaluates the objective on the forecast
        block (windows no training window has reached) before and after its training steps, with
        the same latent noise: ``forecast - forecast_after`` is what that run's training did to
        held-out data, with the data's own variation cancelled. ``improvement_last_fifth``: the sum
        of these gains over the runs in the last fifth of the optimisation steps, relative to the
        mean forecast objective there (the held-out objective's relative improvement over the last
        fifth of the updates); ``improvement_se``: its standard error (the gains' spread, treated
        as independent; with a few hundred optimisation steps it is a few per cent, so a verdict
        at the 2% level is uncertain and the estimate should be read with it).
        ``improvement_first_fifth``: the same over the first fifth (how much the training did
        early). ``levelled``: the last fifth's improvement is below ``config.level_tol`` (None with
        fewer than 5 runs in the last fifth). ``heldout_mean_last_fifth``: the mean objective on
        the held-out replay windows (interpolation between training windows) there.
        """
        n = self.n_train_steps
        out = {"train_steps": n, "runs": len(self.curve), "level_tol": self.config.level_tol,
               "improvement_last_fifth": None, "improvement_se": None, "levelled": None,
               "improvement_first_fifth": None, "forecast_mean_last_fifth": None,
               "heldout_mean_last_fifth": None}
        first = [c for c in self.curve if c["train_steps"] <= 0.2 * n and c.get("forecast_after") is not None]
        if first:
            lvl = float(np.mean([c["forecast"] for c in first]))
            if lvl != 0:
                out["improvement_first_fifth"] = float(sum(c["forecast"] - c["forecast_after"] for c in first) / abs(lvl))
        last = [c for c in self.curve if c["train_steps"] > 0.8 * n and c.get("forecast_after") is not None]
        if len(last) < 5:
            return out
        gains = np.array([c["forecast"] - c["forecast_after"] for c in last], dtype=np.float64)
        level = float(np.mean([c["forecast"] for c in last]))
        if level != 0:
            imp = float(gains.sum() / abs(level))
            out["improvement_last_fifth"] = imp
            out["improvement_se"] = float(gains.std(ddof=1) * math.sqrt(gains.size) / abs(level))
            out["levelled"] = bool(imp < self.config.level_tol)
        out["forecast_mean_last_fifth"] = level
        held = [c["heldout"] for c in last if c.get("heldout") is not None]
        out["heldout_mean_last_fifth"] = float(np.mean(held)) if held else None
        return out

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
            # the update's coefficients on the basis in force when it was applied (a target of the
            # delta head once a basis exists), then, at a window end, the basis refresh
            had_basis = not self.basis.is_empty
            c, transitions = self.basis.add(update)
            self._win_lr[0] += lr
            self._win_lr[1] += lr * lr
            if had_basis and (lr > 0 or not cfg.delta_per_lr):
                c = c / lr if cfg.delta_per_lr else c
                rp.coef[slot] = c.numpy()
                rp.coef_mask[slot] = True
                if update_scale:
                    self.update_coef_stats(c)
            if transitions is not None:
                if had_basis and update_scale:
                    self._update_error_model()
                self._win_lr = [0.0, 0.0]
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

    def _update_error_model(self) -> None:
        """At a basis window's end: the squared error of the centred-mean prediction of the window's
        summed update (``sum_t lr_t c_mean Q``, on the basis the window's updates were projected on),
        per unit ``sum_t lr_t^2``, into the exponential mean ``err_ms`` (factor ``error_beta``).
        ``|S - a|^2 = |S|^2 - 2 (Q S).c + |c|^2`` with ``c = sum_t lr_t c_mean`` (so no N-sized
        vector is needed: the basis hands over ``|S|^2`` and ``Q S`` per tensor)."""
        lr_sum, lr2_sum = self._win_lr
        if lr2_sum <= 0:
            return
        mean = self.coef_mean[: self.n_tensors]
        c = mean * (lr_sum if self.config.delta_per_lr else float(self.basis.window))
        sq = self.basis.last_window_sq - 2 * (self.basis.last_window_coef * c).sum(-1) + (c * c).sum(-1)
        e = float(sq.clamp(min=0).sum()) / (lr2_sum if self.config.delta_per_lr else float(self.basis.window))
        self.err_count += 1
        beta = min(self.config.error_beta, 1.0 - 1.0 / float(self.err_count))
        self.err_ms.mul_(beta).add_((1 - beta) * e)

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

    def refilter(self, from_logical: int = 0) -> None:
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

    def load_trajectory(self, features, deltas: Sequence[Mapping[str, torch.Tensor] | None] | None = None) -> None:
        """Replace every observation with a recorded trajectory (for offline training; the network's
        weights and Adam are kept): fresh feature normaliser, coefficient statistics, direction basis
        and runtime state, a replay that holds the whole trajectory; the normaliser sees the whole
        trajectory first, then every step is filtered and recorded as :meth:`observe` records it
        (no optimisation).

        Args:
            features: ``[T, n_features]`` observations, one row per step, oldest first.
            deltas: ``None`` or a length-``T`` sequence of per-step updates (``dict[name, Tensor]``
                or ``None`` where unknown).
        """
        x = np.asarray(features, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.n_features:
            raise ValueError(f"features must have shape [T, {self.n_features}], got {x.shape}")
        if deltas is not None and len(deltas) != x.shape[0]:
            raise ValueError(f"deltas must have one entry per row of features ({x.shape[0]}), got {len(deltas)}")
        cfg = self.config
        self.obs_count.zero_(); self.obs_mean.zero_(); self.obs_m2.zero_()  # noqa: E702
        self.coef_count.zero_(); self.coef_mean.zero_(); self.coef_ms.zero_()  # noqa: E702
        self.basis = DirectionBasis(self.basis.shapes, cfg.basis_size, cfg.basis_window, cfg.ema_beta)
        self._reset_runtime(max(cfg.replay_size, x.shape[0]))
        rows = [self._transform(r) for r in x]
        for r in rows:  # the normaliser sees the whole trajectory before any step is filtered
            self.update_normaliser(r)
        for t, r in enumerate(rows):
            upd = None if deltas is None else deltas[t]
            if upd is not None:
                self.basis.check_update(upd)
            self._ingest(r, upd, update_scale=True)

    # -- training ---------------------------------------------------------------------------------
    def reinitialise(self, seed: int) -> None:
        """Fresh network weights (every submodule's ``reset_parameters``, seeded) and a fresh Adam."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(seed))
            for m in self.modules():
                if m is not self and hasattr(m, "reset_parameters"):
                    m.reset_parameters()
        self.optimizer = torch.optim.Adam(self.parameters(), lr=self.config.lr)

    @torch.enable_grad()  # the trainer may call observe inside torch.no_grad()
    def optimise(self, n_iter: int, pool: np.ndarray | None = None, scheduler=None) -> dict:
        """``n_iter`` optimisation steps on windows drawn from the logical start positions ``pool``
        (default: every complete window in the buffer); mean statistics. ``scheduler``: stepped
        after every optimisation step."""
        self.train()
        totals: dict[str, float] = {}
        for _ in range(n_iter):
            stats = self._train_step(pool)
            if scheduler is not None:
                scheduler.step()
            for k, v in stats.items():
                totals[k] = totals.get(k, 0.0) + v
        self.eval()
        return {k: v / max(n_iter, 1) for k, v in totals.items()}

    def _train_step(self, pool: np.ndarray | None = None) -> dict[str, float]:
        cfg, rp = self.config, self.replay
        W = min(cfg.window, rp.size)
        if pool is None:
            starts = self._np_rng.integers(0, rp.size - W + 1, size=cfg.batch_size)
        else:
            starts = np.asarray(pool)[self._np_rng.integers(0, len(pool), size=cfg.batch_size)]
        total, stats = self._objective(starts, W, self._torch_gen)
        stats = {k: v for k, v in stats.items() if not k.startswith("_")}
        self.optimizer.zero_grad(set_to_none=True)
        total.backward()
        torch.nn.utils.clip_grad_norm_(self.parameters(), cfg.grad_clip)
        self.optimizer.step()
        self.n_train_steps += 1
        return stats

    @torch.no_grad()
    def evaluate(self, starts: np.ndarray, seed: int) -> dict[str, float]:
        """The training objective on the windows at logical ``starts`` (no update), with latent noise
        from a generator seeded with ``seed`` (so repeated evaluations are comparable)."""
        W = min(self.config.window, self.replay.size)
        was_training = self.training
        self.eval()
        _, stats = self._objective(np.asarray(starts), W, torch.Generator().manual_seed(int(seed)))
        self.train(was_training)
        return stats

    def _objective(self, starts: np.ndarray, W: int, gen: torch.Generator) -> tuple[torch.Tensor, dict]:
        """The objective of the module docstring on the windows of length ``W`` at logical
        ``starts``; returns the total (a graph) and its terms (floats, ``total`` included)."""
        cfg, rp = self.config, self.replay
        b = min(cfg.burn_in, W - 2)
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
        # every error term is relative to the error of the null prediction on the same windows
        # (zero for the standardised features, loss changes and centred coefficients; the flat
        # level for the open-loop loss): 1 = no better than the null, and the data's own noise,
        # which no predictor can remove, cancels from the held-out learning curve
        recon = _relative((obs_hat - obs) ** 2, obs ** 2)
        loss_err = _relative((dl_hat - dl) ** 2 * dl_mask, dl ** 2 * dl_mask)
        total = recon + cfg.loss_weight * loss_err + cfg.kl_weight * torch.clamp(kl, min=cfg.free_bits)
        stats = {"recon": float(recon.detach()), "loss_change": float(loss_err.detach()),
                 "kl": float(kl.detach())}
        if self.n_tensors:
            m4 = cmask[:, :, None, None]
            coef_err = _relative((coef_hat - coef) ** 2 * m4, coef ** 2 * m4)
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
        # squared error per horizon divided by the steps ahead (a trend error grows linearly with
        # the horizon, so long horizons weigh most, as in a rollout), relative to the flat level
        ol_loss = _relative((pred_cum - target) ** 2 / ahead, (anchor[:, b : b + 1] - target) ** 2 / ahead)
        total = total + cfg.overshoot_weight * ol_loss
        stats["open_loop_loss"] = float(ol_loss.detach())
        if self.n_tensors:
            _, _, ol_coef = self._heads(torch.stack(ol_h, 1), torch.stack(ol_z, 1), obs=False, loss=False)
            m = cmask[:, b + 1 :, None, None]
            ol_c = _relative((ol_coef - coef[:, b + 1 :]) ** 2 * m, coef[:, b + 1 :] ** 2 * m)
            # what the shrinkage of the head's deviations reads from a held-out evaluation:
            # per tensor, sum(target . predicted deviation) and sum(|predicted deviation|^2)
            with torch.no_grad():
                stats["_td"] = (coef[:, b + 1 :] * ol_coef * m).sum(dim=(0, 1, 3)).to(torch.float64)
                stats["_dd"] = (ol_coef ** 2 * m).sum(dim=(0, 1, 3)).to(torch.float64)
            total = total + cfg.overshoot_weight * cfg.delta_weight * ol_c
            stats["open_loop_coef"] = float(ol_c.detach())
        stats["total"] = float(total.detach())
        return total, stats

    # -- rollout ----------------------------------------------------------------------------------


def _relative(err: torch.Tensor, null: torch.Tensor) -> torch.Tensor:
    """``sum(err) / sum(null)``: an error relative to the null prediction's (the denominator is
    data, not a function of the weights; 0 / 0 gives 0)."""
    den = null.detach().sum()
    return err.sum() / den if float(den) > 0 else err.sum() * 0.0


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

