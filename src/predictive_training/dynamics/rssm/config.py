"""The hyper-parameters of the RSSM-lite (:class:`RSSMConfig`) and its torch-thread setting."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Mapping
from dataclasses import dataclass, fields

import numpy as np
import torch

__all__ = ["RSSMConfig", "torch_threads", "with_threads"]


@dataclass
class RSSMConfig:
    """Hyper-parameters of :class:`~.model.RSSMLite` (defaults sized for a ~0.5M-parameter model on CPU).

    The online defaults (``window``/``burn_in``, ``batch_size``, ``update_every``, ``train_iters``)
    are set by the cost budget of the hybrid trainer: observing a full step plus the online
    training, amortised, may add at most 25% to a full training step of the default model
    (``benchmarks/rssm_cost.py`` measures it). An optimisation run (two held-out evaluations, one
    BPTT step over ``batch_size`` windows, a third evaluation, re-filtering) is op-bound (a larger
    batch is nearly free), so the model takes one run of many windows every few observed steps
    (:func:`~.replay.online_train_runs` counts the runs of a run's observed steps). The ``fit_*``
    fields configure the offline fit of Experiment 2's labelled extra
    (:func:`predictive_training.analysis.exp2_offline.fit_offline`), which takes as many steps as
    asked. ``min_train_steps``: optimisation steps before :class:`~.predictor.RSSMPredictor` is ready.
    """

    deter_dim: int = 64          # GRU state size
    stoch_dim: int = 16          # stochastic latent size
    hidden: int = 64             # MLP width
    basis_size: int = 5          # directions per parameter tensor (B): (B + 2) N + fixed parts <= 8 N
    basis_window: int = 25       # updates summed into one stored direction; basis refresh period
    ema_beta: float = 0.9        # EMA factor of the update direction (direction 0)
    replay_size: int = 1024      # steps kept for online training
    window: int = 16             # BPTT window length (steps)
    burn_in: int = 4             # filtered steps before the open-loop part of each window
    batch_size: int = 32         # windows per optimisation step
    update_every: int = 8        # online: optimise when the observed-step count is a multiple of this
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
    error_beta: float = 0.9      # EMA factor of the window errors behind the rollout's uncertainty
    min_train_steps: int = 20    # the predictor is ready only after this many optimisation steps
    holdout_every: int = 8       # one window-long block of observed steps in every 8 is held out
    lr_decay_steps: int = 50     # online Adam lr: lr / sqrt(1 + steps / this) (0: constant)
    fit_val_frac: float = 0.0    # offline fit: validation share at the trajectory's end (0: none)
    fit_restarts: int = 3        # offline fit: restarts from fresh weights; the best on validation is kept
    fit_patience: int = 3        # offline fit: epochs without validation improvement before stopping
    level_tol: float = 0.02      # levelled: held-out objective improves < this over the last fifth
    level_in_context: bool = True  # feed the (observed, then predicted) log-loss level back
    step_in_context: bool = False  # also feed the step fraction as context (extrapolates badly)
    heads_on_prior: bool = True  # one-step loss/delta errors from prior latents (see _train_step)
    min_std: float = 0.1         # floor of the latent standard deviations
    n_samples: int = 8           # default rollout samples
    num_threads: int = 1         # torch threads inside observe, fit and rollout (0: leave as set);
                                 # the tensors are tiny, so more threads only add overhead
    seed: int = 0

    def __post_init__(self):
        positive_int = ("deter_dim", "stoch_dim", "hidden", "basis_size", "basis_window",
                        "replay_size", "window", "batch_size", "update_every", "train_iters",
                        "anchor_window", "n_samples", "min_train_steps", "fit_restarts", "fit_patience")
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
        if not (0.0 <= self.error_beta < 1.0):
            raise ValueError(f"RSSMConfig.error_beta must be in [0, 1), got {self.error_beta}")
        if isinstance(self.holdout_every, bool) or not isinstance(self.holdout_every, (int, np.integer)) \
                or self.holdout_every == 1 or self.holdout_every < 0:
            raise ValueError(f"RSSMConfig.holdout_every must be 0 or an integer >= 2, got {self.holdout_every!r}")
        if isinstance(self.lr_decay_steps, bool) or not isinstance(self.lr_decay_steps, (int, np.integer)) \
                or self.lr_decay_steps < 0:
            raise ValueError(f"RSSMConfig.lr_decay_steps must be an integer >= 0, got {self.lr_decay_steps!r}")
        if not (0.0 <= self.fit_val_frac < 1.0):
            raise ValueError(f"RSSMConfig.fit_val_frac must be in [0, 1), got {self.fit_val_frac}")
        if not self.level_tol > 0:
            raise ValueError(f"RSSMConfig.level_tol must be > 0, got {self.level_tol}")
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



@contextlib.contextmanager
def torch_threads(n: int):
    """Run the block with ``n`` torch threads (0: leave the setting as it is), restoring it after."""
    have = torch.get_num_threads()
    if n == 0 or n == have:
        yield
        return
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(have)


def with_threads(method):
    """Run ``method`` with ``self.config.num_threads`` torch threads (:func:`torch_threads`)."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        with torch_threads(self.config.num_threads):
            return method(self, *args, **kwargs)

    return wrapper
