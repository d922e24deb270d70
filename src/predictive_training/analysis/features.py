"""Experiment 2's settings, its decision target and scores, and what its offline fit reads from a run.

Experiments 2 and 3 score the shadow records of the baseline run (:mod:`.shadow`); the offline
fit of Experiment 2 (:mod:`.exp2_offline`, ``dynamics.exp2_offline``, a labelled extra) fits the
RSSM-lite dynamics model (:mod:`predictive_training.dynamics.rssm`, with the hybrid arm's overrides ``hybrid.rssm``)
on the per-step observations loaded here. Experiment 2's settings are read, with defaults, from
``cfg.get("dynamics", {})``: ``exp2_train_frac`` (0.8), ``exp2_epochs`` (8, passes of
:func:`.exp2_offline.fit_offline`), ``exp2_max_horizon`` (50), ``exp2_origin_every`` (10 steps),
``exp2_smooth_window`` (21 steps), ``exp2_samples`` (32 rollout samples), ``exp2_ema_alpha`` (0.1).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from ..dynamics.rssm import RSSMConfig, step_features
from ..records.jsonl import read_metrics
from ..records.tensor_norms import FILENAME as TENSOR_NORMS
from ..records.tensor_norms import read_tensor_norms

__all__ = ["EXP2_DEFAULTS", "settings", "smooth_centred", "score_forecast", "target_notes", "rssm_config",
           "load_run_features", "run_n_params"]

EXP2_DEFAULTS = {"exp2_train_frac": 0.8, "exp2_epochs": 8, "exp2_max_horizon": 50, "exp2_origin_every": 10,
                 "exp2_smooth_window": 21, "exp2_samples": 32, "exp2_ema_alpha": 0.1}


def settings(cfg: dict, defaults: dict) -> dict:
    """The ``dynamics.*`` settings named in ``defaults``, each with its default where the config has none."""
    dyn = dict(cfg.get("dynamics", {}) or {})
    return {k: dyn.get(k, v) for k, v in defaults.items()}


def smooth_centred(y, window: int) -> np.ndarray:
    """Centred moving average of width ``window`` (odd), truncated at the ends (mean of the values
    that exist). Shape as ``y``. Experiment 2's decision target."""
    y = np.asarray(y, dtype=np.float64)
    if int(window) < 1 or int(window) % 2 == 0:
        raise ValueError(f"window must be a positive odd integer, got {window}")
    h = int(window) // 2
    c = np.concatenate([[0.0], np.cumsum(y)])
    i = np.arange(y.size)
    lo, hi = np.maximum(0, i - h), np.minimum(y.size, i + h + 1)
    return (c[hi] - c[lo]) / (hi - lo)


def score_forecast(pred: np.ndarray, actual: np.ndarray, rng: float) -> dict:
    """Experiment 2's scores of a loss forecast ``pred`` against ``actual`` (same shape, nats): ``r2``,
    ``mae``, ``mae_over_range`` (MAE over the target's range ``rng``) and ``range``."""
    err = np.abs(pred - actual)
    ss_tot = float(np.sum((actual - actual.mean()) ** 2))
    return {"r2": float(1.0 - np.sum((pred - actual) ** 2) / ss_tot) if ss_tot > 0 else float("nan"),
            "mae": float(err.mean()), "mae_over_range": float(err.mean() / rng) if rng > 0 else float("nan"),
            "range": rng}


def target_notes(smooth_window: int, noise_share: float | None) -> dict:
    """Experiment 2's description of its two targets (``targets``) and why its criteria use the smoothed
    one (``target_reasoning``), for its logs; ``noise_share``: the held-out variance's share of noise
    around the smoothed curve (None when unknown)."""
    return {
        "targets": {
            "per_step": "training loss of each step's minibatch (nats)",
            "smoothed": f"centred moving average of the per-step loss over {int(smooth_window)} steps "
                        "(truncated at the run's ends)",
        },
        "target_reasoning": (
            "The per-step loss is the loss trend plus minibatch sampling noise that is independent from step "
            "to step; no predictor of the future can forecast it, so R^2 against the per-step loss is capped "
            "by the noise share of the held-out variance"
            + (f" (here {noise_share:.2f} of it is noise around the smoothed curve, which caps R^2 near "
               f"{1 - noise_share:.2f})" if noise_share is not None else "")
            + " and measures the noise level, not predictability. The plan's 'loss' is read as the "
            "training-loss trajectory, i.e. the smoothed curve; the criteria use it. Per-step scores are "
            "reported beside it."),
    }


def rssm_config(cfg: dict, seed: int) -> RSSMConfig:
    """The dynamics model's config: ``hybrid.rssm`` with the run seed as its default seed."""
    over = dict((cfg.get("hybrid", {}) or {}).get("rssm", {}) or {})
    over.setdefault("seed", int(seed))
    return RSSMConfig.from_dict(over)


def load_run_features(run_dir: str | Path) -> dict:
    """Per-step observations of a conventional run.

    Returns ``steps [T]`` int, ``loss [T]`` nats, ``lr [T]``, ``features [T, 4 + 2n]`` float64
    (:func:`step_features`, tensors in the recorded order), ``update_norm [T, n]`` and ``names``.
    Only steps with a backward pass (every step of a conventional run) are kept.
    """
    run_dir = Path(run_dir)
    rows = read_metrics(run_dir)
    norms_path = run_dir / "snapshots" / TENSOR_NORMS
    if not norms_path.exists():
        raise FileNotFoundError(f"{norms_path} is missing: Experiments 2 and 3 need the per-tensor norms "
                                "(rerun the training with the current recorder)")
    tn = read_tensor_norms(norms_path)
    names = list(tn["names"])
    by_step = {int(r["step"]): r for r in rows if r.get("backward") and r.get("loss") is not None}
    steps = [int(s) for s in tn["steps"].tolist() if int(s) in by_step]
    if len(steps) < 10:
        raise ValueError(f"run_dir {run_dir} has only {len(steps)} full steps with norms; need >= 10")
    pos = {int(s): i for i, s in enumerate(tn["steps"].tolist())}
    gn, un = tn["grad_norm"].to(torch.float64).numpy(), tn["update_norm"].to(torch.float64).numpy()
    total = max(int(r["step"]) for r in rows) + 1
    feats, loss, lr, upd = [], [], [], []
    for s in steps:
        r, i = by_step[s], pos[s]
        feats.append(step_features(r["loss"], r["grad_norm"], r["lr"], s, total,
                                   dict(zip(names, gn[i])), dict(zip(names, un[i])), names=names))
        loss.append(r["loss"]); lr.append(r["lr"]); upd.append(un[i])
    return {"steps": np.asarray(steps), "loss": np.asarray(loss, dtype=np.float64),
            "lr": np.asarray(lr, dtype=np.float64), "features": np.stack(feats),
            "update_norm": np.stack(upd), "names": names}


def run_n_params(run_dir: Path) -> int | None:
    """The trained model's parameter count from the run's ``summary.json`` (None without one)."""
    f = run_dir / "summary.json"
    return json.loads(f.read_text()).get("n_params") if f.exists() else None
