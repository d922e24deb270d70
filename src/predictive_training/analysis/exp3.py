"""Experiment 3 (weight-delta prediction) on a baseline run: the RSSM against the simple delta predictors.

Writes one appendix-7 log per seed (:mod:`.template`); inputs and settings: :mod:`.features`.

Experiment 3: weight deltas at snapshot granularity
---------------------------------------------------
A baseline run stores weights every ``record.snapshot_every`` steps, not every update, so window
``i`` has the actual delta ``D_i = S_{i+1} - S_i``. The RSSM is run ONLINE, as in the hybrid
trainer (``observe(train=True)`` every step, its own periodic optimisation), walking forward:
before window ``i`` it has observed every step before it, with the recorded per-step features and,
as the update of step t in an earlier window j, the pseudo-update ``D_j * u_t[n] / sum_{s in j}
u_s[n]`` per tensor n (``u`` = the recorded per-step update norms of that tensor), i.e. the
window's actual direction spread over its steps in proportion to the recorded update sizes (exact
in sum, and no information from window ``i`` or later). At the window start it makes one
aggregate rollout of the window's length with the schedule's learning rates; that is its
prediction of ``D_i``. Then it observes the window's steps and goes on. The simple predictors see
``D_0 .. D_{i-1}``. The first ``exp3_skip_windows`` windows are not scored (no or one delta of
history, and the RSSM has no direction basis yet); every predictor is scored on the same windows.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from ..dynamics import simple as P
from ..dynamics.rssm import RSSMConfig, RSSMLite
from ..dynamics.scores import delta_metrics
from ..records.snapshots import load_snapshots
from .features import EXP3_DEFAULTS, load_run_features, rssm_config, run_n_params, settings
from .template import log_config, write_log

__all__ = ["exp3_results", "run_exp3"]


def _snapshots(run_dir: Path) -> list[tuple[int, dict[str, torch.Tensor]]]:
    snaps = load_snapshots(run_dir / "snapshots")  # sha256 manifest checked
    if len(snaps) < 3:
        raise ValueError(f"{run_dir}/snapshots holds {len(snaps)} weight snapshots; Experiment 3 needs >= 3")
    return snaps


def exp3_results(data: dict, snaps: list[tuple[int, dict[str, torch.Tensor]]], rcfg: RSSMConfig,
                 settings: dict, thresholds: dict) -> dict:
    """Experiment 3 on loaded features and snapshots (see the module docstring)."""
    s = settings
    names = list(snaps[0][1].keys())
    if set(names) != set(data["names"]):
        raise ValueError("snapshot tensors and recorded tensor norms name different parameters")
    names = list(data["names"])  # the recorded (named_parameters) order
    bounds = [st for st, _ in snaps]
    deltas = [{n: snaps[i + 1][1][n] - snaps[i][1][n] for n in names} for i in range(len(snaps) - 1)]
    step_pos = {int(st): i for i, st in enumerate(data["steps"])}
    skip = int(s["exp3_skip_windows"])
    if len(deltas) <= skip:
        raise ValueError(f"{len(deltas)} snapshot windows; Experiment 3 scores windows after the first {skip}")

    shapes = {n: tuple(deltas[0][n].shape) for n in names}
    rssm = RSSMLite(data["features"].shape[1], shapes, rcfg)
    un = data["update_norm"]
    th = float(thresholds["exp3_cosine"])
    preds: dict[str, list] = {k: [] for k in ("rssm", "repeat_previous", "linear_extrapolation", "ema_of_deltas")}
    windows = []
    for i, d in enumerate(deltas):
        a, b = bounds[i], bounds[i + 1]
        idx = [step_pos[t] for t in range(a, b) if t in step_pos]
        if i >= skip:
            lrs = data["lr"][idx] if len(idx) == b - a else np.full(b - a, data["lr"][idx[-1] if idx else -1])
            r = rssm.rollout(b - a, n_samples=int(s["exp3_samples"]), seed=rcfg.seed + i, lrs=lrs)
            hist = deltas[:i]
            cand = {"rssm": r.delta, "repeat_previous": P.repeat_previous(hist),
                    "linear_extrapolation": P.linear_extrapolation(hist),
                    "ema_of_deltas": P.ema_of_deltas(hist, float(s["exp3_ema_alpha"]))}
            for k, p in cand.items():
                preds[k].append(delta_metrics(p, d, threshold=th))
            windows.append((a, b))
        # then observe the window's steps, with the window's delta spread over them
        if idx:
            w = un[idx]  # [k, n]
            tot = w.sum(0)
            share = np.where(tot > 0, w / np.where(tot > 0, tot, 1.0), 1.0 / len(idx))
            for j, t in enumerate(idx):
                upd = {n: d[n] * float(share[j, c]) for c, n in enumerate(names)}
                rssm.observe(data["features"][t], upd, train=True)

    def summary(ms: list[dict]) -> dict:
        out = {f"{k}_mean": float(np.nanmean([m[k] for m in ms]))
               for k in ("cosine", "rel_l2", "pearson_r", "per_layer_accuracy")}
        out["windows"] = [{"start": int(a), "end": int(b), **{k: m[k] for k in ("cosine", "rel_l2", "pearson_r",
                                                                               "per_layer_accuracy")}}
                          for (a, b), m in zip(windows, ms)]
        out["per_tensor_cosine_mean"] = {n: float(np.mean([m["per_tensor_cosine"][n] for m in ms])) for n in names}
        return out

    out_pred = {k: summary(v) for k, v in preds.items()}
    r = out_pred["rssm"]

    def crit(est, thr, below=False):
        if not math.isfinite(est):
            return {"estimate": est, "threshold": thr, "passed": None}
        return {"estimate": est, "threshold": thr, "passed": bool(est < thr) if below else bool(est > thr)}

    criteria = {
        "cosine": crit(r["cosine_mean"], thresholds["exp3_cosine"]),
        "rel_l2": crit(r["rel_l2_mean"], thresholds["exp3_rel_l2"], below=True),
        "per_layer_accuracy": crit(r["per_layer_accuracy_mean"], thresholds["exp3_per_layer_accuracy"]),
        "pearson_r": crit(r["pearson_r_mean"], thresholds["exp3_pearson_r"]),
    }
    best_simple = max((k for k in out_pred if k != "rssm"), key=lambda k: out_pred[k]["cosine_mean"])
    return {
        "criteria": criteria,
        "predictors": out_pred,
        "n_windows": len(deltas), "n_scored": len(windows), "skipped_windows": skip,
        "window_steps": [int(b - a) for a, b in zip(bounds[:-1], bounds[1:])],
        "best_simple_predictor": best_simple,
        "rssm_beats_best_simple": bool(r["cosine_mean"] > out_pred[best_simple]["cosine_mean"]),
        "rssm": {"config": {k: v for k, v in vars(rcfg).items()}, "train_steps": int(rssm.n_train_steps),
                 "mode": "online walk-forward; per-step pseudo-updates from the snapshot deltas"},
        "settings": s,
    }


def run_exp3(cfg: dict, run_dir: str | Path, seed: int, out_path: str | Path) -> dict:
    """Experiment 3 on a baseline run folder; writes and returns the log."""
    run_dir = Path(run_dir)
    data = load_run_features(run_dir)
    snaps = _snapshots(run_dir)
    s = settings(cfg, EXP3_DEFAULTS)
    res = exp3_results(data, snaps, rssm_config(cfg, seed), s, cfg["thresholds"])
    return write_log(3, seed, log_config(cfg, run_n_params(run_dir), snapshot_every=cfg["record"]["snapshot_every"]),
                     res, out_path)
