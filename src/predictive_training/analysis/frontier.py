"""The conventional frontier of one seed: does a predicted arm beat simply training less?

The frontier's points are the seed's conventional runs (the baseline at budget 1, every
``conventional`` arm with a shorter ``budget`` and the ``matched`` arms), each with its own full
warmup and cosine schedule. For a cost measure (``MEASURES``: the contention-free time, the backward
passes, the FLOPs) the frontier of a metric is

1. the points sorted by cost, points of equal cost pooled (mean, weighted by their count);
2. an isotonic fit (``scipy.optimize.isotonic_regression``, weighted): the final validation loss
   non-increasing in cost, the cloze accuracy non-decreasing (more training is never modelled as
   worse: a point above the curve of its cheaper neighbours is noise of the frontier's runs);
3. linear interpolation of the fitted values in log cost between the fitted points.

A predicted arm's gap is its own value minus the frontier's at the arm's own cost (loss: negative =
below the frontier = better than training less for the same cost; cloze accuracy: positive =
better). Outside the frontier's cost range there is no gap (``None``, ``in_range`` false): that is
extrapolation, reported and never tested.

Time-to-target: the targets are the baseline's own validation losses after ``frontier.targets``
shares of its budget (the evaluation rows of its ``metrics.jsonl``, the same windows as the final
loss); an arm reaches a target at its first evaluation at or below it, and the cost to get there
is the work counted up to that evaluation.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from scipy.optimize import isotonic_regression

from ..records.costs import contention_free_s, flops
from ..records.jsonl import read_metrics

__all__ = ["MEASURES", "fit_frontier", "frontier_at", "seed_frontier", "baseline_targets", "time_to_targets"]

#: cost measure -> the key of the Exp 4 arm record that holds it
MEASURES: dict[str, str] = {"time": "time_s", "backward": "backward_passes", "flops": "flops"}
#: metric -> (key of the Exp 4 arm record, "decreasing" if lower is better else "increasing")
#: (``loss_avg``: the loss of the LAWA-averaged weights, where ``record.weight_average`` recorded it)
METRICS: dict[str, tuple[str, str]] = {"loss": ("final_val_loss", "decreasing"),
                                       "cloze": ("downstream.cloze_accuracy", "increasing"),
                                       "loss_avg": ("final_val_loss_avg", "decreasing")}
_REL_TOL = 1e-9  # a cost equal to an end of the range up to rounding is inside it


def fit_frontier(costs: Sequence[float], values: Sequence[float], increasing: bool = False) -> tuple[list, list]:
    """The frontier's fitted points: ``(costs, fitted values)``, sorted by cost, equal costs pooled,
    the values isotonic (non-decreasing if ``increasing``, else non-increasing) in cost.

    Raises ValueError for a cost that is not finite and positive (the interpolation is in log cost),
    a value that is not finite, or inputs of different lengths.
    """
    c = np.asarray(costs, dtype=float)
    v = np.asarray(values, dtype=float)
    if c.shape != v.shape or c.ndim != 1:
        raise ValueError(f"costs and values must be 1-D of the same length, got {c.shape} and {v.shape}")
    if c.size == 0:
        raise ValueError("the frontier needs at least one point")
    if not (np.isfinite(c).all() and (c > 0).all()):
        raise ValueError(f"frontier costs must be finite and positive, got {c.tolist()}")
    if not np.isfinite(v).all():
        raise ValueError(f"frontier values must be finite, got {v.tolist()}")
    xs, inv = np.unique(c, return_inverse=True)
    w = np.bincount(inv).astype(float)
    ys = np.bincount(inv, weights=v) / w
    fitted = isotonic_regression(ys, weights=w, increasing=increasing).x
    return xs.tolist(), [float(y) for y in fitted]


def frontier_at(fit: tuple[Sequence[float], Sequence[float]], cost: float) -> float | None:
    """The fitted frontier at ``cost``, linear in log cost between its points; None outside its range
    (extrapolation) or for a cost that is not finite and positive."""
    xs, ys = fit
    if cost is None or not math.isfinite(cost) or cost <= 0:
        return None
    lo, hi = xs[0] * (1 - _REL_TOL), xs[-1] * (1 + _REL_TOL)
    if not lo <= cost <= hi:
        return None
    if len(xs) == 1:
        return float(ys[0])
    return float(np.interp(math.log(cost), np.log(np.asarray(xs)), np.asarray(ys)))


def _value(rec: Mapping, key: str):
    for part in key.split("."):
        if not isinstance(rec, Mapping) or rec.get(part) is None:
            return None
        rec = rec[part]
    return float(rec) if isinstance(rec, (int, float)) and math.isfinite(rec) else None


def seed_frontier(arms: Mapping[str, Mapping], frontier: Sequence[str], predicted: Sequence[str]) -> dict:
    """The frontier of one seed and every predicted arm's gap to it, per cost measure and metric.

    ``arms``: the Exp 4 arm records of the seed (``final_val_loss``, ``downstream.cloze_accuracy``,
    ``time_s``, ``backward_passes``, ``flops``); ``frontier``: the frontier's arms; ``predicted``: the
    arms compared with it. A measure that a frontier arm lacks (no calibration: no FLOPs) is left out.

    Returns ``{"measures": {measure: {"points": [{arm, cost, loss, cloze}], "fit": {metric: {"cost",
    "value"}}}}, "gaps": {arm: {measure: {"cost", "in_range", metric: value, "frontier_<metric>",
    "<metric>_gap", "outside": "costlier" or "cheaper" than every frontier run when out of range}}}}``.
    """
    out: dict = {"measures": {}, "gaps": {a: {} for a in predicted}}
    for measure, ckey in MEASURES.items():
        points = [{"arm": a, "cost": _value(arms[a], ckey),
                   **{m: _value(arms[a], k) for m, (k, _) in METRICS.items()}} for a in frontier]
        if not points or any(p["cost"] is None or p["cost"] <= 0 for p in points):
            continue
        fits = {}
        for metric, (_, direction) in METRICS.items():
            if all(p[metric] is not None for p in points):
                xs, ys = fit_frontier([p["cost"] for p in points], [p[metric] for p in points],
                                      increasing=direction == "increasing")
                fits[metric] = {"cost": xs, "value": ys}
        out["measures"][measure] = {"points": points, "fit": fits}
        for arm in predicted:
            cost = _value(arms[arm], ckey)
            g: dict = {"cost": cost}
            in_range = None
            for metric, (key, _) in METRICS.items():
                own = _value(arms[arm], key)
                g[metric] = own
                if metric not in fits:
                    continue
                f = frontier_at((fits[metric]["cost"], fits[metric]["value"]), cost)
                in_range = f is not None
                g[f"frontier_{metric}"] = f
                g[f"{metric}_gap"] = None if f is None or own is None else own - f
            g["in_range"] = in_range
            if in_range is False and cost is not None:  # which side of the range: more costly or cheaper
                g["outside"] = "costlier" if cost > next(iter(fits.values()))["cost"][-1] else "cheaper"
                # the frontier never gets worse with cost: beyond its longest run it is at most its value
                # there, so a costlier arm that ends worse than that is above it (dominated)
                if g["outside"] == "costlier" and "loss" in fits and g["loss"] is not None:
                    g["dominated"] = g["loss"] > fits["loss"]["value"][-1]
            out["gaps"][arm][measure] = g
    return out


def baseline_targets(baseline_dir: str | Path, shares: Sequence[float], steps: int) -> list[dict]:
    """The time-to-target targets: the baseline's validation loss at its evaluation after ``share x
    steps`` steps (the last evaluation at or before that many steps; the final one for share 1)."""
    evals = [r for r in read_metrics(baseline_dir) if r.get("val_loss") is not None]
    if not evals:
        raise ValueError(f"{baseline_dir}/metrics.jsonl has no evaluation rows (val_loss)")
    out = []
    for share in shares:
        done = share * steps
        rows = [r for r in evals if r["step"] + 1 <= done + 1e-9] or evals[:1]
        r = rows[-1]
        out.append({"share": float(share), "step": int(r["step"]), "val_loss": float(r["val_loss"])})
    return out


def time_to_targets(run_dir: str | Path, targets: Sequence[Mapping], calibration: Mapping | None) -> list[dict]:
    """For each target: the arm's first evaluation at or below its loss, with the contention-free time
    (None without a calibration), the measured ``wall_s``, the FLOPs and the backward passes counted up
    to it; ``reached`` false (and no costs) if no evaluation gets there."""
    evals = [r for r in read_metrics(run_dir) if r.get("val_loss") is not None]
    out = []
    for t in targets:
        hit = next((r for r in evals if r["val_loss"] <= t["val_loss"]), None)
        rec = {"share": t["share"], "target": t["val_loss"], "reached": hit is not None, "step": None,
               "time_s": None, "wall_s": None, "flops": None, "backward_passes": None}
        if hit is not None:
            work = hit.get("work")
            rec.update(step=int(hit["step"]), wall_s=hit.get("wall_s"),
                       backward_passes=None if work is None else work.get("full_step"))
            if calibration is not None and work is not None:
                rec.update(time_s=contention_free_s(work, calibration), flops=flops(work, calibration))
            elif calibration is None:
                rec["time_s"] = hit.get("wall_s")
        out.append(rec)
    return out
