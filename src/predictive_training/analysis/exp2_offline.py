"""Experiment 2's offline fit of the RSSM-lite: a labelled extra (``dynamics.exp2_offline``, off by
default), no verdict uses it.

The plan's protocol read literally: features per step
(:func:`~predictive_training.dynamics.rssm.step_features`, from ``metrics.jsonl`` and
``snapshots/tensor_norms.safetensors``, :func:`.features.load_run_features`); the RSSM (loss-only:
no weight-delta head) is fitted offline (:func:`fit_offline`) on the first ``exp2_train_frac`` of
the steps and predicts all the held-out steps in one open-loop rollout, given the learning rates of
the schedule (known in advance). Rolling origins: every ``exp2_origin_every`` steps across the
held-out part, the RSSM is filtered on the true observations up to the origin
(``observe(train=False)``: no refitting) and rolls out ``min(exp2_max_horizon, steps left)`` steps;
the simple predictors are refitted on the whole history up to the origin. Calibration: share of
held-out losses inside the RSSM's 90% predictive interval (5%-95% over its sampled trajectories).
The study's Experiment 2 verdict comes from shadow mode instead (:mod:`.exp2`).

The fit is built from the model's public training pieces (``RSSMLite.load_trajectory``,
``refilter``, ``optimise``, ``evaluate``, ``reinitialise``), the same that train it online, with a
fixed cosine learning-rate schedule so that its estimates do not hinge on floating-point noise;
optionally (``fit_val_frac`` > 0) with a validation part, restarts and early stopping. The
validation variant never trains on the most recent part of the trajectory, the part nearest to
what it forecasts, so it is off by default.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import torch

from ..dynamics import simple as P
from ..dynamics.rssm import RSSMConfig, RSSMLite
from ..dynamics.rssm.config import torch_threads
from .features import score_forecast, smooth_centred, target_notes

__all__ = ["fit_offline", "exp2_offline_results"]


def fit_offline(model: RSSMLite, features, deltas: Sequence[Mapping[str, torch.Tensor] | None] | None = None,
                epochs: int = 30, iters_per_epoch: int | None = None) -> list[dict]:
    """Train ``model`` offline on a recorded trajectory (replacing any previous observations).

    Args:
        model: the RSSM-lite to train (its weights and Adam are the starting point).
        features: ``[T, n_features]`` observations, one row per step, oldest first.
        deltas: ``None`` or a length-``T`` sequence of per-step updates (``dict[name, Tensor]``
            or ``None`` where unknown).
        epochs: at most this many passes; each re-filters the whole trajectory with the
            current weights (fresh start states for the windows) and then runs
            ``iters_per_epoch`` optimisation steps (default ``max(1, T // window)``).

    A stable fit: the last ``config.fit_val_frac`` of the trajectory (at least one window) is a
    validation part that no training window reaches; each of ``config.fit_restarts`` restarts
    (fresh weights from the seeds ``seed + 1000 r``, a fresh Adam whose learning rate follows a
    fixed cosine schedule over its ``epochs x iters_per_epoch`` steps) is scored after every epoch
    by the objective on the validation windows (fixed latent noise) and stopped early after
    ``config.fit_patience`` epochs without improvement; the weights of the best epoch of the best
    restart are kept. ``fit_val_frac`` 0: no validation, one restart, every epoch kept.

    Returns the per-epoch statistics of every restart (``restart``, ``epoch``, the training terms,
    ``val`` the validation objective or None, ``best`` whether these weights were kept).
    Afterwards the filtered state is at the end of the trajectory, ready for ``model.rollout``.
    """
    cfg = model.config
    with torch_threads(cfg.num_threads):
        x = np.asarray(features, dtype=np.float64)
        if x.ndim == 2 and x.shape[1] == model.n_features and x.shape[0] < cfg.window:
            raise ValueError(f"features must have at least window={cfg.window} rows, got {x.shape[0]}")
        if int(epochs) < 0:
            raise ValueError(f"epochs must be >= 0, got {epochs}")
        model.load_trajectory(x, deltas)  # fresh normalisers, basis and buffer: this trajectory only
        n_iter = int(iters_per_epoch) if iters_per_epoch else max(1, x.shape[0] // cfg.window)
        T, W = x.shape[0], cfg.window
        n_val = max(W, int(round(cfg.fit_val_frac * T))) if cfg.fit_val_frac > 0 else 0
        if n_val and T - n_val < W:
            n_val = 0  # too short to hold out a validation part: fit on everything
        pool = np.arange(0, T - n_val - W + 1)
        val = np.arange(T - n_val, T - W + 1, max(1, W // 2)) if n_val else None
        restarts = cfg.fit_restarts if n_val else 1
        history, best = [], (math.inf, None, None)
        for r in range(restarts):
            if r > 0 or n_val:
                model.reinitialise(cfg.seed + 1000 * r)
            sched = torch.optim.lr_scheduler.CosineAnnealingLR(model.optimizer, T_max=max(1, int(epochs) * n_iter))
            since_best, run_best = 0, math.inf
            for epoch in range(int(epochs)):
                model.refilter(0)
                stats = {"restart": r, "epoch": epoch, **model.optimise(n_iter, pool, scheduler=sched)}
                v = model.evaluate(val, seed=cfg.seed + 5)["total"] if val is not None else None
                stats["val"], stats["best"] = v, False
                history.append(stats)
                if v is None:
                    continue
                if v < best[0]:
                    best = (v, {k: t.detach().clone() for k, t in model.state_dict().items() if k != "_extra_state"},
                            len(history) - 1)
                if v < run_best:
                    run_best, since_best = v, 0
                else:
                    since_best += 1
                    if since_best >= cfg.fit_patience:
                        break
        if best[1] is not None:
            model.load_state_dict({**best[1], "_extra_state": model.get_extra_state()})
            history[best[2]]["best"] = True
        elif history:
            history[-1]["best"] = True
        for g in model.optimizer.param_groups:  # online training after a fit starts at config.lr
            g["lr"] = cfg.lr
        model.refilter(0)
        return history


def exp2_offline_results(data: dict, rcfg: RSSMConfig, settings: dict, thresholds: dict) -> dict:
    """Experiment 2 on loaded features (see the module docstring); returns the ``results`` dict."""
    s = settings
    steps, loss, lr, x = data["steps"], data["loss"], data["lr"], data["features"]
    T = steps.size
    n_train = int(math.floor(float(s["exp2_train_frac"]) * T))
    if n_train < rcfg.window or T - n_train < 2:
        raise ValueError(f"run has {T} steps; Experiment 2 needs >= {rcfg.window} training steps "
                         f"(RSSM window) and >= 2 held-out steps at train_frac={s['exp2_train_frac']}")
    smooth = smooth_centred(loss, int(s["exp2_smooth_window"]))
    targets = {"per_step": loss, "smoothed": smooth}
    held = slice(n_train, T)
    ranges = {k: float(v[held].max() - v[held].min()) for k, v in targets.items()}
    H = T - n_train
    Ymax = min(int(s["exp2_max_horizon"]), H)

    rssm = RSSMLite(x.shape[1], None, rcfg)
    history = fit_offline(rssm, x[:n_train], epochs=int(s["exp2_epochs"]))
    n_samp = int(s["exp2_samples"])
    roll = rssm.rollout(H, n_samples=n_samp, seed=rcfg.seed, lrs=lr[held])

    simple = {"last_value": lambda: P.last_value(), "ema": lambda: P.ema(float(s["exp2_ema_alpha"])),
              "power_law": lambda: P.power_law()}
    full_pred = {"rssm": roll.loss_mean}
    fallback = {}
    for name, make in simple.items():
        p = make().fit(steps[:n_train], loss[:n_train])
        full_pred[name] = p.predict(steps[held])
        if name == "power_law":
            fallback["full"] = bool(p.fallback)

    # rolling origins: walk the RSSM forward with the true observations, no refitting
    origins = list(range(n_train, T, int(s["exp2_origin_every"])))
    err = {name: {k: np.full((len(origins), Ymax), np.nan) for k in targets} for name in full_pred}
    inside = []
    t_obs = n_train  # the RSSM has observed steps < t_obs
    for oi, o in enumerate(origins):
        while t_obs < o:
            rssm.observe(x[t_obs], None, train=False)
            t_obs += 1
        Y = min(Ymax, T - o)
        r = rssm.rollout(Y, n_samples=n_samp, seed=rcfg.seed + 1 + oi, lrs=lr[o : o + Y])
        preds = {"rssm": r.loss_mean}
        inside.append((loss[o : o + Y] >= r.loss_q05) & (loss[o : o + Y] <= r.loss_q95))
        for name, make in simple.items():
            preds[name] = make().fit(steps[:o], loss[:o]).predict(steps[o : o + Y])
        for name, pr in preds.items():
            for k, tgt in targets.items():
                err[name][k][oi, :Y] = np.abs(pr - tgt[o : o + Y])

    decision = "smoothed"
    out_pred = {}
    for name, pr in full_pred.items():
        entry = {k: score_forecast(pr, tgt[held], ranges[k]) for k, tgt in targets.items()}
        curve = {k: (np.nanmean(err[name][k], axis=0) / ranges[k]).tolist() for k in targets}
        entry["horizon"] = {"Y": list(range(1, Ymax + 1)), "mae_over_range": curve[decision],
                            "mae_over_range_per_step": curve["per_step"], "n_origins": len(origins)}
        c = curve[decision]
        entry["horizon"]["growth_last_over_first"] = float(c[-1] / c[0]) if c[0] > 0 else float("nan")
        out_pred[name] = entry
    out_pred["power_law"]["fallback"] = fallback.get("full", False)

    q_in = lambda tgt: float(np.mean((tgt[held] >= roll.loss_q05) & (tgt[held] <= roll.loss_q95)))  # noqa: E731
    calibration = {"per_step": q_in(loss), "smoothed": q_in(smooth),
                   "rolling_per_step": float(np.mean(np.concatenate(inside))) if inside else float("nan"),
                   "nominal": 0.9}

    rs = out_pred["rssm"][decision]
    th_r2, th_mae = thresholds["exp2_r2"], thresholds["exp2_mae_over_range"]
    criteria = {
        "r2": {"estimate": rs["r2"], "threshold": th_r2, "passed": bool(rs["r2"] > th_r2) if math.isfinite(rs["r2"]) else None},
        "mae_over_range": {"estimate": rs["mae_over_range"], "threshold": th_mae,
                           "passed": bool(rs["mae_over_range"] < th_mae) if math.isfinite(rs["mae_over_range"]) else None},
    }
    ps = out_pred["rssm"]["per_step"]
    noise = loss[held] - smooth[held]
    noise_share = float(np.var(noise) / np.var(loss[held])) if np.var(loss[held]) > 0 else float("nan")
    best_simple = max(simple, key=lambda n: out_pred[n][decision]["r2"])
    return {
        "criteria": criteria,
        "target_used": decision,
        **target_notes(s["exp2_smooth_window"], noise_share),
        "held_out_noise_share": noise_share,
        "n_steps": int(T), "n_train": int(n_train), "n_held_out": int(H),
        "held_out_range": ranges,
        "predictors": out_pred,
        "calibration_90": calibration,
        "best_simple_predictor": best_simple,
        "rssm_beats_best_simple": bool(rs["r2"] > out_pred[best_simple][decision]["r2"]),
        "rssm": {"config": {k: v for k, v in vars(rcfg).items()}, "fit_epochs": int(s["exp2_epochs"]),
                 "final_fit_stats": history[-1] if history else {}, "samples": n_samp,
                 "per_step_r2": ps["r2"]},
        "settings": s,
    }
