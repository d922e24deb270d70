"""The replay buffer of observed steps and the windows the online training draws from it.

:class:`Replay` is a ring buffer of the last ``replay_size`` observed steps (features, loss
anchors, coefficient targets, filtered states). Two kinds of its windows are never trained on: one
window-long block in every ``holdout_every`` (held-out windows: interpolation between training
windows) and the newest ``2 window`` steps (the forecast block: windows no training window has
reached yet). :func:`window_starts` and :func:`forecast_starts` say where these windows start;
:func:`online_train_runs` is the schedule that follows from them, the number of online optimisation
runs after a number of observed steps (what ``plan`` counts and the model runs).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from .config import RSSMConfig

__all__ = ["Replay", "STREAM_KEYS", "window_starts", "forecast_starts", "online_train_runs"]

#: The per-step arrays of a :class:`Replay` that describe the observed steps (without the filtered
#: states, which depend on the network's weights): what :meth:`Replay.arrays` hands out.
STREAM_KEYS = ("obs", "anchor", "prev_level", "dlog", "coef", "coef_mask")


class Replay:
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

    def arrays(self) -> dict[str, np.ndarray]:
        """Copies of the :data:`STREAM_KEYS` arrays of the stored steps, oldest first."""
        idx = self.idx(np.arange(self.size))
        return {k: getattr(self, k)[idx].copy() for k in STREAM_KEYS}

    def fill(self, arrays: Mapping[str, np.ndarray]) -> None:
        """Hold exactly the steps of ``arrays`` (:data:`STREAM_KEYS`, oldest first, as :meth:`arrays`
        returns them; at most ``cap`` steps), from position 0; the filtered states are left as they
        are (re-filter before use)."""
        s = int(arrays["obs"].shape[0])
        if s > self.cap:
            raise ValueError(f"{s} steps do not fit a replay of {self.cap}")
        for k in STREAM_KEYS:
            getattr(self, k)[:s] = arrays[k]
        self.size, self.start = s, 0


def forecast_starts(cfg: RSSMConfig, size: int) -> np.ndarray:
    """The forecast check's windows in a replay holding ``size`` steps: every window inside the newest
    ``2 window`` steps (which no training window has reached yet), ``window + 1`` of them."""
    W = cfg.window
    return np.arange(size - 2 * W, size - W + 1) if size >= 2 * W else np.zeros(0, dtype=np.int64)


def window_starts(cfg: RSSMConfig, size: int, n_observed: int, held_out: bool) -> np.ndarray:
    """Logical replay positions (the replay holds the last ``size`` of ``n_observed`` observed steps)
    where a complete window starts: the held-out windows (the observed steps ``t`` with
    ``(t // window) % holdout_every == 1``, one window in every ``holdout_every``, never trained on)
    or the training windows (those that contain no held-out step and end before the newest
    ``2 window`` steps, which are kept for the forecast check, :func:`forecast_starts`).
    ``holdout_every`` 0: no held-out windows."""
    W, H = cfg.window, cfg.holdout_every
    n = size - W + 1
    if n <= 0:
        return np.zeros(0, dtype=np.int64)
    first = n_observed - size  # observation index of logical position 0
    if H == 0:
        return np.zeros(0, dtype=np.int64) if held_out else np.arange(max(n - 2 * W, 0))
    t = first + np.arange(size)
    held = (t // W) % H == 1
    if held_out:
        return np.flatnonzero(held[:n] & (t[:n] % W == 0))
    c = np.concatenate([[0], np.cumsum(held)])
    starts = np.flatnonzero(c[W : W + n] - c[:n] == 0)
    return starts[starts < n - 2 * W]  # ends before the forecast block starts


def online_train_runs(cfg: RSSMConfig, observed: int) -> int:
    """Online optimisation runs of an RSSM after ``observed`` observed real steps (its replay starting
    empty): ``RSSMLite.observe`` (:mod:`.model`) runs one when the count is a multiple of
    ``update_every`` and its replay (the last ``replay_size`` steps) holds a training window and,
    unless ``holdout_every`` is 0, a held-out one (:func:`window_starts`)."""
    runs = 0
    for m in range(cfg.update_every, int(observed) + 1, cfg.update_every):
        size = min(m, cfg.replay_size)
        if len(window_starts(cfg, size, m, held_out=False)) and (
                cfg.holdout_every == 0 or len(window_starts(cfg, size, m, held_out=True))):
            runs += 1
    return runs
