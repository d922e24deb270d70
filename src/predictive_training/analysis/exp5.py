"""Experiment 5 (correction effectiveness) for one seed: the correction alone, with its controls.

Every Correct phase logs, in its ``correction`` event, the probe loss (the mean loss of the last
``hybrid.corrector.probe_batches`` skipped Predict batches, forward only) at three points:
right after the Predict phase (``loss_after_predict``), right after the per-layer line search
with no real step in between (``loss_after_search``), and after the ``C`` real Correct steps
(``loss_after_correct``). The line search chose its scales on OTHER batches (``search_steps``),
so its effect is measured on batches it was not tuned on.

What is scored:

- The plan's criteria (``criteria``, the plan's 50% arm: ``roles.plan_r50``, ``hybrid_r50`` by
  default) are computed on the correction's OWN
  effect, after Predict -> after search: per event the relative reduction
  ``(after_predict - after_search) / after_predict``, their mean (> 5%) and the share of events
  with a reduction > 0 (> 1/2); divergences (guard restores, 0); and the share of the prediction's
  shortfall that correction recovers (> 1/2, below). Real optimiser steps are not correction: a
  control that predicts nothing (the skip control) lowers the loss in its Correct steps just as often.
- The shortfall is measured against the conventional baseline at the same step and seed: the
  baseline's ``metrics.jsonl`` holds its training loss on exactly the probe batches at their steps,
  each measured before the baseline trained on it (like the probe), with the baseline's weights at
  most ``probe_batches`` steps earlier than the hybrid's end of Predict. Per event
  ``shortfall = after_predict - mean baseline loss on the probe batches``; pooled over the events
  of a seed (the plan's "accumulated error"), ``error_reduction = sum(after_predict -
  after_search) / sum(shortfall)`` (1: the correction brought the hybrid back to the baseline; 0:
  it did nothing; None when the summed shortfall is not positive). The baseline's loss is taken in
  training mode and the probe in evaluation mode: the same numbers while ``model.dropout`` is 0
  (every shipped config); with dropout the reference would include its noise.
- Controls (``controls``, the study's own rows, not the plan's): the same numbers for the control
  arms at the plan arm's ratio and horizon (``roles``): the repeat control (a trivial fast-forward
  prediction corrected the same way) and the skip control (no prediction: its search has nothing
  to rescale, so its search effect is 0 by construction, which ``search_effect_max_abs`` checks),
  and for every arm the whole Correct phase (search + ``C`` steps), ``(after_predict -
  after_correct) / after_predict``, so that the hybrid's Correct phase can be compared with the
  same real steps when there is nothing to correct.
- Every other predicted arm that is not itself a control (``by_arm``: the RSSM's other arms, the
  field's predictors, outside predictors) gets the same summary, beside the controls at its own
  nominal ratio and horizon (the study's rows).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from .. import registry
from ..config import roles
from ..records.jsonl import read_events, read_metrics
from .template import log_config, write_log

__all__ = ["CONTROL_KINDS", "correction_rows", "summarize_corrections", "exp5_arms", "run_exp5"]

#: The control kinds Exp 5 compares a correction with: the repeat and skip controls (a trivial
#: prediction; none), the arm kinds of the registry's control predictors.
CONTROL_KINDS = tuple(s.kind for s in registry.BUILTIN.values() if s.control)


def exp5_arms(cfg: dict) -> list[str]:
    """The arms Experiment 5 reads: every predicted arm that is not a control, their control arms of
    :data:`CONTROL_KINDS` at their nominal ratio and horizon, and the baseline (the shortfall). Empty
    when no predicted arm is compared (Exp 5 does not run)."""
    r = roles(cfg)
    if not r.compared:
        return []
    ctrl = [c for a in r.compared for k, c in r.controls_of(a).items() if k in CONTROL_KINDS]
    return list(dict.fromkeys([*r.compared, *ctrl, r.baseline]))


def correction_rows(run_dir: str | Path, baseline_losses: Mapping[int, float] | None = None) -> list[dict]:
    """One row per ``correction`` event of a run: the three probe losses and what follows from them.

    ``baseline_losses``: the baseline's training loss per step (same seed), for the shortfall.
    """
    rows = []
    for e in read_events(Path(run_dir)):
        if e.get("event") != "correction":
            continue
        if "loss_after_predict" not in e:
            raise ValueError(f"{run_dir}: correction event of cycle {e.get('cycle')} has no loss_after_predict "
                             "(a run from before the three-point probe; rerun it)")
        a, b, c = e["loss_after_predict"], e["loss_after_search"], e.get("loss_after_correct")
        ok = a is not None and b is not None and a > 0
        base = None
        if baseline_losses is not None:
            vals = [baseline_losses.get(s) for s in e["probe_steps"]]
            base = float(np.mean(vals)) if vals and all(v is not None for v in vals) else None
        rows.append({
            "cycle": e["cycle"], "step": e["step"], "probe_steps": e["probe_steps"],
            "loss_after_predict": a, "loss_after_search": b, "loss_after_correct": c,
            "search_effect": a - b if ok else None,
            "relative_reduction": (a - b) / a if ok else None,
            "correct_phase_relative_reduction": (a - c) / a if ok and c is not None else None,
            "baseline_loss": base,
            "shortfall": a - base if a is not None and base is not None else None,
            "diverged": bool(e.get("diverged")),
            "correction_norm": e.get("correction_norm"),
            "per_layer_scale": {g: v.get("scale") for g, v in (e.get("per_layer") or {}).items()},
        })
    return rows


def _mean(xs: list[float]) -> float | None:
    return float(np.mean(xs)) if xs else None


def summarize_corrections(rows: list[dict], events: list[dict]) -> dict:
    """Per-arm summary of :func:`correction_rows` (the numbers the criteria and controls use)."""
    ok = [r for r in rows if r["relative_reduction"] is not None and math.isfinite(r["relative_reduction"])]
    red = [r["relative_reduction"] for r in ok]
    full = [r["correct_phase_relative_reduction"] for r in ok if r["correct_phase_relative_reduction"] is not None]
    short = [r for r in ok if r["shortfall"] is not None]
    err_b = float(sum(r["shortfall"] for r in short)) if short else None
    recovered = float(sum(r["search_effect"] for r in short)) if short else None
    restores = [e for e in events if e.get("event") == "guard" and e.get("action") == "restore"]
    return {
        "n_events": len(rows), "n_scored": len(ok),
        "mean_relative_reduction": _mean(red),
        "share_positive": sum(x > 0 for x in red) / len(red) if red else None,
        "mean_loss_after_predict": _mean([r["loss_after_predict"] for r in ok]),
        "mean_loss_after_search": _mean([r["loss_after_search"] for r in ok]),
        "mean_loss_after_correct": _mean([r["loss_after_correct"] for r in ok if r["loss_after_correct"] is not None]),
        "search_effect_max_abs": max((abs(r["search_effect"]) for r in ok), default=None),
        "correct_phase_mean_relative_reduction": _mean(full),
        "correct_phase_share_positive": sum(x > 0 for x in full) / len(full) if full else None,
        "accumulated_shortfall": err_b, "recovered": recovered,
        "error_reduction": recovered / err_b if err_b is not None and err_b > 0 else None,
        "mean_baseline_loss": _mean([r["baseline_loss"] for r in short]),
        "divergences": len(restores),
    }


def _baseline_losses(run_dir: Path) -> dict[int, float]:
    return {int(r["step"]): r["loss"] for r in read_metrics(run_dir) if r.get("loss") is not None}


def run_exp5(cfg: dict, run_dirs: Mapping[str, str | Path], seed: int, out_path: str | Path) -> dict:
    """Experiment 5 for one seed (module docstring).

    ``run_dirs``: arm -> run folder of this seed (:func:`exp5_arms`); the baseline gives the
    shortfall (without it ``error_reduction`` is None). The plan's criteria need the plan's 50% arm
    (``roles.plan_r50``); without it they are not evaluable and only ``by_arm`` is filled.
    """
    run_dirs = {a: Path(d) for a, d in run_dirs.items()}
    r = roles(cfg)
    compared = [a for a in r.compared if a in run_dirs]
    if not compared:
        raise ValueError(f"Experiment 5 needs a predicted arm that is not a control, got arms {sorted(run_dirs)}")
    base = _baseline_losses(run_dirs[r.baseline]) if r.baseline in run_dirs else None
    arms = {}

    def scored(arm: str) -> dict:
        if arm not in arms:
            events = read_events(run_dirs[arm])
            rows = correction_rows(run_dirs[arm], base)
            arms[arm] = {"summary": summarize_corrections(rows, events), "events": rows,
                         "guard_events": [e for e in events if e.get("event") == "guard"]}
        return arms[arm]

    def controls_of(arm: str) -> dict[str, str]:
        return {c: k for k, c in r.controls_of(arm).items() if k in CONTROL_KINDS and c in run_dirs}

    by_arm = {}
    for arm in compared:
        summ = json.loads((run_dirs[arm] / "summary.json").read_text())
        by_arm[arm] = {"summary": scored(arm)["summary"], "kind": cfg["arms"][arm]["kind"],
                       "prediction_ratio_achieved": summ.get("prediction_ratio_achieved"),
                       "controls": {c: {"kind": k, "summary": scored(c)["summary"]} for c, k in controls_of(arm).items()}}
    plan = r.plan_r50 if r.plan_r50 in run_dirs else None
    if plan is None:
        results = {"arm": None, "not_evaluable": "no plan arm at 50% predicted steps (roles.plan_r50) in this study: "
                   "the plan's Exp 5 criteria are not evaluated", "criteria": {}, "by_arm": by_arm,
                   "roles": r.record(run_dirs), "baseline_available": base is not None}
        return write_log(5, seed, log_config(cfg, summ["n_params"], arm=None, compared=compared), results, out_path)
    ARM = plan
    plan_controls = controls_of(plan)
    for c in plan_controls:
        scored(c)
    h = arms[ARM]["summary"]
    th = cfg["thresholds"]

    def gt(est, thr):
        return None if est is None else bool(est > thr)

    criteria = {
        "loss_reduction": {"estimate": h["mean_relative_reduction"], "threshold": th["exp5_loss_reduction"],
                           "passed": gt(h["mean_relative_reduction"], th["exp5_loss_reduction"]),
                           "definition": "mean of (after_predict - after_search) / after_predict over events"},
        "share_positive": {"estimate": h["share_positive"], "threshold": th["exp5_share_positive"],
                           "passed": gt(h["share_positive"], th["exp5_share_positive"]),
                           "definition": "share of events whose search lowered the probe loss"},
        "divergences": {"estimate": h["divergences"], "threshold": 0, "passed": h["divergences"] == 0},
        "error_reduction": {"estimate": h["error_reduction"], "threshold": th["exp5_error_reduction"],
                            "passed": gt(h["error_reduction"], th["exp5_error_reduction"]),
                            "definition": "sum(after_predict - after_search) / sum(after_predict - baseline loss "
                                          "on the probe batches at their steps), over the events of the seed"},
    }
    names = {k: c for c, k in plan_controls.items()}
    results = {
        "arm": ARM, "measured": "probe loss after Predict -> after the line search (no real step between); "
                                f"controls: {names.get('repeat', 'the repeat control')} (same search), "
                                f"{names.get('skip', 'the skip control')} (search effect 0 by construction), "
                                "whole Correct phase (search + C real steps) of every arm",
        "n_events": h["n_events"], "criteria": criteria, **{k: h[k] for k in (
            "mean_loss_after_predict", "mean_loss_after_search", "mean_loss_after_correct",
            "accumulated_shortfall", "recovered", "mean_baseline_loss")},
        "events": arms[ARM]["events"], "guard_events": arms[ARM]["guard_events"],
        "summary": h,
        "controls": {a: {"summary": arms[a]["summary"], "events": arms[a]["events"]} for a in plan_controls},
        "control_kinds": dict(plan_controls),
        "by_arm": by_arm,
        "roles": r.record(run_dirs),
        "baseline_available": base is not None,
    }
    summary = json.loads((run_dirs[ARM] / "summary.json").read_text())
    return write_log(5, seed, log_config(cfg, summary["n_params"], arm=ARM, controls=sorted(results["controls"])),
                     results, out_path)
