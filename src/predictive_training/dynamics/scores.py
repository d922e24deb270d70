"""How close a prediction came: the scores of Experiments 2 and 3.

:func:`mae_over_range` and :func:`r2` compare a predicted loss path with the actual one;
:func:`delta_metrics` compares a predicted weight delta with the actual one (cosine, relative L2
error, Pearson r, per-tensor cosines and the per-layer accuracy). :func:`finite_1d` is the input
check the predictors share.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch

__all__ = ["finite_1d", "mae_over_range", "r2", "delta_metrics"]


def finite_1d(name: str, values, *, min_len: int = 1) -> np.ndarray:
    """``values`` as a one-dimensional float64 array of at least ``min_len`` finite values (else ValueError)."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if arr.size < min_len:
        raise ValueError(f"{name} must hold at least {min_len} values, got {arr.size}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite (no NaN or inf)")
    return arr




def _pred_actual(pred, actual) -> tuple[np.ndarray, np.ndarray]:
    p = finite_1d("pred", np.ravel(np.asarray(pred, dtype=np.float64)))
    a = finite_1d("actual", np.ravel(np.asarray(actual, dtype=np.float64)))
    if p.shape != a.shape:
        raise ValueError(f"pred and actual must have the same size, got {p.size} and {a.size}")
    return p, a


def mae_over_range(pred, actual) -> float:
    """Mean absolute error divided by the range (max - min) of ``actual``; dimensionless.

    Exp 2's criterion is ``mae_over_range < 0.05``. Raises ValueError if ``actual`` is constant.
    """
    p, a = _pred_actual(pred, actual)
    rng = float(np.max(a) - np.min(a))
    if rng <= 0.0:
        raise ValueError("actual has zero range; MAE over range is undefined")
    return float(np.mean(np.abs(p - a)) / rng)


def r2(pred, actual) -> float:
    """Coefficient of determination ``1 - SS_res / SS_tot`` of ``pred`` against ``actual``.

    Can be negative (worse than predicting the mean of ``actual``). Raises ValueError if
    ``actual`` is constant.
    """
    p, a = _pred_actual(pred, actual)
    ss_tot = float(np.sum((a - a.mean()) ** 2))
    if ss_tot <= 0.0:
        raise ValueError("actual is constant; R^2 is undefined")
    return float(1.0 - np.sum((p - a) ** 2) / ss_tot)


def _cos(x: torch.Tensor, y: torch.Tensor) -> float:
    nx, ny = float(torch.linalg.vector_norm(x)), float(torch.linalg.vector_norm(y))
    if nx == 0.0 or ny == 0.0:
        return 0.0  # no direction to agree with: counted as no agreement
    return float(torch.dot(x, y) / (nx * ny))


def delta_metrics(pred: Mapping[str, torch.Tensor], actual: Mapping[str, torch.Tensor],
                  threshold: float = 0.8) -> dict:
    """Compare a predicted weight delta with the actual one (Exp 3).

    Args:
        pred, actual: ``dict[name, Tensor]`` with identical keys and shapes.
        threshold: per-tensor cosine above which a tensor counts as well predicted (plan: 0.8).

    Returns a dict with
        ``cosine``: cosine over all elements of all tensors (0.0 if either delta is all zeros),
        ``rel_l2``: ``||pred - actual|| / ||actual||`` over all elements (NaN if actual is zero),
        ``pearson_r``: Pearson correlation over all elements (NaN if either is constant),
        ``per_tensor_cosine``: ``dict[name, float]``,
        ``per_layer_accuracy``: share of tensors whose cosine exceeds ``threshold``.
    All computed in float64.
    """
    if set(pred.keys()) != set(actual.keys()):
        missing = sorted(set(actual) - set(pred))
        extra = sorted(set(pred) - set(actual))
        raise ValueError(f"pred and actual must have the same keys; missing {missing[:5]}, extra {extra[:5]}")
    if not actual:
        raise ValueError("actual holds no tensors")
    names = list(actual.keys())
    per_tensor = {}
    ps, as_ = [], []
    for k in names:
        p = pred[k].detach().to(torch.float64).reshape(-1).cpu()
        a = actual[k].detach().to(torch.float64).reshape(-1).cpu()
        if p.shape != a.shape:
            raise ValueError(f"pred[{k!r}] has {p.numel()} elements, actual has {a.numel()}")
        per_tensor[k] = _cos(p, a)
        ps.append(p)
        as_.append(a)
    p, a = torch.cat(ps), torch.cat(as_)
    na = float(torch.linalg.vector_norm(a))
    rel_l2 = float(torch.linalg.vector_norm(p - a)) / na if na > 0 else float("nan")
    pc, ac = p - p.mean(), a - a.mean()
    npc, nac = float(torch.linalg.vector_norm(pc)), float(torch.linalg.vector_norm(ac))
    pearson = float(torch.dot(pc, ac) / (npc * nac)) if npc > 0 and nac > 0 else float("nan")
    acc = float(np.mean([c > threshold for c in per_tensor.values()]))
    return {
        "cosine": _cos(p, a),
        "rel_l2": rel_l2,
        "pearson_r": pearson,
        "per_tensor_cosine": per_tensor,
        "per_layer_accuracy": acc,
    }
