"""The observation of one full training step, as the RSSM-lite sees it.

At every full (backprop) training step the trainer hands the dynamics model an observation vector
(:func:`step_features`: loss, log gradient norm, learning rate, step fraction, per-tensor log
gradient and update norms) and the weight update actually applied (a dict keyed by the trained
model's own parameter names). Units: losses in nats; learning rates as given by the optimiser.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

__all__ = ["step_features", "feature_names", "LOSS_COL", "GRAD_NORM_COL", "LR_COL", "STEP_COL",
           "N_GLOBAL_FEATURES"]

LOSS_COL, GRAD_NORM_COL, LR_COL, STEP_COL = 0, 1, 2, 3
N_GLOBAL_FEATURES = 4
_LOG_FLOOR = 1e-12  # floor before log of norms; a zero norm becomes log(1e-12) = -27.6


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
