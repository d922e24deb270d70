"""Experiment 3 (weight-delta prediction) from the shadow records of a baseline run.

Writes one appendix-7 log per seed (:mod:`.template`). The records are the run's
``shadow.jsonl`` (:mod:`predictive_training.records.shadow`, written by ``training/shadow.py``).

Protocol: at every shadow origin the hybrid arm's predictor (shadow predictor ``rssm``, configured
by ``hybrid.rssm`` exactly as in the ``hybrid`` arms) has observed every real step before it, as a
hybrid's predictor observes its Full steps, and rolls out the next ``Y`` steps with the learning
rates the schedule will use. The plan's criteria (cosine > 0.8, L2 error < 20% of the real norm,
per-layer accuracy > 75%, and as evidence Pearson R > 0.9) are the means over origins of the
per-origin scores of that rollout's ``Y``-step delta against the real one (weights at ``o + Y``
minus weights at ``o``) at ``Y = dynamics.exp3_horizon`` (50, the plan's 50-step delta).

Besides the criteria, for every shadow predictor and span oracle at every horizon: the mean
scores, the norm ratio ``|pred| / |real|``, progress captured (pooled over origins, with a bootstrap
interval over origins; also after the scale search where it ran), the resolution of the
measurement (median standard errors), and the Spearman rank correlation between the rollout's
uncertainty and its relative L2 error. The per-origin records of every cell are kept
(``shadow.origins``) so that the report can pool them over seeds.

The field's predictors (:data:`~.shadow.FIELD`: verified extrapolation, DMD, the nowcaster and the
pretrained RSSM) are reported beside the simple ones (``best_field_predictor``); the nowcaster's and
the pretrained RSSM's rows come from the replay of this baseline (``replay_dir``, the workflow's
``shadow_replay`` rule), scored at the same origins on the same held-out windows.

The predictors see the real per-step updates. Nothing here (or anywhere in the study) splits a
snapshot delta over its steps: such pseudo-updates make any basis-and-coefficient predictor an
average of past deltas by construction (STUDY.md section 3, item 10).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..records.shadow import read_shadow
from .features import run_n_params
from .. import registry
from ..config import plan_predictor
from .shadow import FIELD, is_simple, records_by_cell, summarise
from .template import log_config, write_log

__all__ = ["HYBRID_PREDICTOR", "exp3_results", "run_exp3"]

#: The shadow predictor configured as the hybrid arms' predictor (``hybrid.rssm``) when the study has
#: no plan arm to name it (``config.plan_predictor``).
HYBRID_PREDICTOR = registry.BUILTIN["rssm"].name


def _crit(est, thr, below: bool = False) -> dict:
    if est is None or not math.isfinite(est):
        return {"estimate": None if est is None else float(est), "threshold": thr, "passed": None}
    return {"estimate": float(est), "threshold": thr, "passed": bool(est < thr) if below else bool(est > thr)}


def exp3_results(rows: list[dict], horizon: int, thresholds: dict, plan: str = HYBRID_PREDICTOR) -> dict:
    """Experiment 3 on one run's shadow rows (see the module docstring); returns ``results``.
    ``plan``: the shadow predictor whose rows carry the plan's criteria (the plan arms' predictor)."""
    by_cell = records_by_cell(rows)
    table = summarise([by_cell])
    key = f"{plan}@{int(horizon)}"
    cell = table.get(key, {})
    missing = None
    if not cell.get("n_origins"):
        missing = (f"no scored shadow rows of predictor {plan!r} at horizon {horizon} "
                   "(record.shadow.predictors and record.shadow.horizons, dynamics.exp3_horizon)")
    criteria = {
        "cosine": _crit(cell.get("cosine_mean"), thresholds["exp3_cosine"]),
        "rel_l2": _crit(cell.get("rel_l2_mean"), thresholds["exp3_rel_l2"], below=True),
        "per_layer_accuracy": _crit(cell.get("per_layer_accuracy_mean"), thresholds["exp3_per_layer_accuracy"]),
        "pearson_r": _crit(cell.get("pearson_r_mean"), thresholds["exp3_pearson_r"]),
    }
    predictors = list(dict.fromkeys(c["predictor"] for c in table.values()))
    simple = [p for p in predictors if p != plan and is_simple(p)]
    at_y = {p: table.get(f"{p}@{int(horizon)}", {}) for p in predictors}
    scored = [p for p in simple if at_y[p].get("cosine_mean") is not None]
    best_simple = max(scored, key=lambda p: at_y[p]["cosine_mean"]) if scored else None
    field = [p for p in predictors if p in FIELD and at_y[p].get("cosine_mean") is not None]
    best_field = max(field, key=lambda p: at_y[p]["cosine_mean"]) if field else None
    outside = [p for p in predictors if p != plan and registry.group_of(p) == "outside"
               and at_y[p].get("cosine_mean") is not None]
    best_outside = max(outside, key=lambda p: at_y[p]["cosine_mean"]) if outside else None
    rs = cell.get("cosine_mean")
    origins = sorted({r["origin"] for r in rows if r.get("kind") != "forecast"})
    per_tensor = {}
    for p in predictors:
        pt = [r["per_tensor_cosine"] for r in rows if r.get("kind") != "forecast" and r["predictor"] == p
              and int(r["horizon"]) == int(horizon) and r.get("per_tensor_cosine")]
        if pt:
            per_tensor[p] = {n: float(np.nanmean([np.nan if c.get(n) is None else c[n] for c in pt])) for n in pt[0]}
    return {
        "criteria": criteria,
        "criteria_from": {"predictor": plan, "horizon": int(horizon), "statistic": "mean over origins",
                          "records": "shadow.jsonl of this baseline run (real per-step updates)"},
        "not_evaluable": missing,
        "horizon": int(horizon),
        "n_origins": len(origins),
        "origins": origins,
        "predictors": predictors,
        "table": table,
        "best_simple_predictor": best_simple,
        "rssm_beats_best_simple": (bool(rs > at_y[best_simple]["cosine_mean"])
                                   if rs is not None and best_simple else None),
        "best_field_predictor": best_field,
        "rssm_beats_best_field": (bool(rs > at_y[best_field]["cosine_mean"]) if rs is not None and best_field else None),
        **({"outside_predictors": outside, "best_outside_predictor": best_outside,
            "rssm_beats_best_outside": (bool(rs > at_y[best_outside]["cosine_mean"])
                                        if rs is not None and best_outside else None)} if outside else {}),
        "uncertainty_vs_rel_l2": {k: v.get("uncertainty_vs_rel_l2") for k, v in table.items()},
        "per_tensor_cosine_mean": per_tensor,
        "shadow": {"origins": by_cell},
    }


def run_exp3(cfg: dict, run_dir: str | Path, seed: int, out_path: str | Path,
             replay_dir: str | Path | None = None) -> dict:
    """Experiment 3 on a baseline run folder's shadow records; writes and returns the log.
    ``replay_dir``: the shadow records of the leave-one-seed-out predictors (``nowcaster``,
    ``rssm_pretrained``) on a replay of the same baseline, scored at the same origins on the same
    held-out windows; their rows join the table (none of them is the plan's criteria)."""
    run_dir = Path(run_dir)
    rows = read_shadow(run_dir)
    if replay_dir is not None:
        rows = rows + read_shadow(replay_dir)
    horizon = int(cfg["dynamics"]["exp3_horizon"])
    res = exp3_results(rows, horizon, cfg["thresholds"], plan_predictor(cfg))
    s = cfg["record"]["shadow"]
    res["settings"] = {"exp3_horizon": horizon, "shadow": s}
    if replay_dir is not None:
        res["replay"] = {"folder": str(replay_dir), "predictors": sorted({r["predictor"] for r in rows
                                                                          if r.get("kind") != "forecast"
                                                                          and r["predictor"] in FIELD})}
    config = log_config(cfg, run_n_params(run_dir), horizon=horizon, eval_batches=s["eval_batches"])
    return write_log(3, seed, config, res, out_path)
