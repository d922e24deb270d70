"""Experiment 4 (prediction-phase training) for one seed: every arm against the baseline of that seed.

Reads each run's ``summary.json`` and ``metrics.jsonl``; writes one appendix-7 log per seed.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..records.jsonl import read_metrics
from .template import log_config, write_log

__all__ = ["run_exp4"]


def _time_to_target(run_dir: Path, target: float) -> float | None:
    """Training wall-clock (s) at the first evaluation whose validation loss is <= ``target``."""
    for row in read_metrics(run_dir):
        if row.get("val_loss") is not None and row["val_loss"] <= target:
            return row["wall_s"]
    return None


def _matched_comparison(arms: dict) -> dict | None:
    """How the comparison with ``matched_r50`` stands on backward passes in this seed.

    ``matched_r50`` trains for as many steps as the NOMINAL plan of a 50% arm has backward passes.
    A gate block or a guard fallback in a 50% arm adds backward passes; the comparison is then not
    at equal backward passes. It is still made as run (final loss, paired by seed: the realised
    arm against its compute-matched control), and every difference is listed here with its cause
    (``extra_backward_causes`` of the arm) so that the reader sees it; the frontier analysis
    compares arms at equal backward passes.
    """
    if "matched_r50" not in arms:
        return None
    m = arms["matched_r50"]["backward_passes"]
    gaps = {a: v["backward_passes"] - m for a, v in arms.items()
            if a.endswith("_r50") and a != "matched_r50" and v.get("backward_passes_nominal") is not None}
    return {"matched_backward_passes": m, "backward_gap": gaps,
            "unmatched_arms": sorted(a for a, g in gaps.items() if g != 0),
            "handling": "compared as run; arms whose backward passes differ from matched_r50 are listed with "
                        "the gate/guard events that caused it (extra_backward_causes)"}


def run_exp4(cfg: dict, run_dirs: dict[str, str | Path], seed: int, out_path: str | Path) -> dict:
    """Experiment 4 for one seed: every arm against the baseline of the same seed.

    ``run_dirs`` maps arm name -> run folder (all of this seed). The loss gap is relative,
    (arm - baseline) / baseline, on the final validation loss; downstream gaps are absolute
    differences of accuracies; speedup = baseline wall-clock / arm wall-clock; time-to-target is the
    wall-clock at which the arm's validation loss first reaches the baseline's final one.
    """
    run_dirs = {a: Path(d) for a, d in run_dirs.items()}
    summaries = {a: json.loads((d / "summary.json").read_text()) for a, d in run_dirs.items()}
    base = summaries["baseline"]
    base_rows = [r for r in read_metrics(run_dirs["baseline"]) if r.get("val_loss") is not None]
    target = base_rows[-1]["val_loss"]
    arms = {}
    for arm, s in summaries.items():
        down = s["downstream"]
        arms[arm] = {
            "kind": cfg["arms"][arm]["kind"],
            "final_val_loss": s["final_val_loss"],
            "final_train_loss": s["final_train_loss"],
            "loss_gap": (s["final_val_loss"] - base["final_val_loss"]) / base["final_val_loss"],
            "downstream": down,
            "downstream_gap": {k: (None if down.get(k) is None or base["downstream"].get(k) is None
                                   else down[k] - base["downstream"][k]) for k in down},
            "wall_s": s["wall_s"],
            "wall_ratio": s["wall_s"] / base["wall_s"],
            "speedup": base["wall_s"] / s["wall_s"],
            "time_to_target_s": _time_to_target(run_dirs[arm], target),
            "target_val_loss": target,
            "forward_passes": s["forward_passes"],
            "backward_passes": s["backward_passes"],
            # the phase plan's count, and the passes a gate or guard event added (summary.json says which)
            "backward_passes_nominal": s.get("backward_passes_nominal"),
            "extra_backward_passes": s.get("extra_backward_passes"),
            "extra_backward_causes": s.get("extra_backward_causes"),
            "prediction_ratio_requested": s["prediction_ratio_requested"],
            "prediction_ratio_achieved": s["prediction_ratio_achieved"],
            "gate_blocks": s.get("gate_blocks"),
            "gate_block_reasons": s.get("gate_block_reasons"),
            "energy_j": (s.get("energy") or {}).get("joules"),
            "energy_source": (s.get("energy") or {}).get("source"),
            "energy_ratio": ((s.get("energy") or {}).get("joules") or 0) / base["energy"]["joules"]
            if (base.get("energy") or {}).get("joules") else None,
        }
    th = cfg["thresholds"]
    criteria = {}
    for arm, margin in (("hybrid_r25", th["exp4_loss_margin_r25"]), ("hybrid_r50", th["exp4_loss_margin_r50"])):
        if arm in arms:
            gap = arms[arm]["loss_gap"]
            # the achieved prediction ratio beside the gap: a hybrid that rarely predicts is not a success
            criteria[f"loss_gap_{arm[-3:]}"] = {"estimate": gap, "threshold": margin, "passed": abs(gap) < margin,
                                                "prediction_ratio_achieved": arms[arm]["prediction_ratio_achieved"],
                                                "prediction_ratio_requested": arms[arm]["prediction_ratio_requested"]}
    if "hybrid_r50" in arms:
        h = arms["hybrid_r50"]
        dg = h["downstream_gap"].get("cloze_accuracy")
        criteria["downstream_gap_r50"] = {"estimate": dg, "threshold": th["exp4_downstream_margin"],
                                          "passed": None if dg is None else abs(dg) < th["exp4_downstream_margin"],
                                          "metric": "cloze accuracy (absolute difference)"}
        red = 1 - h["wall_ratio"]
        criteria["wallclock_reduction_r50"] = {"estimate": red, "threshold": th["exp4_wallclock_reduction"],
                                               "passed": red >= th["exp4_wallclock_reduction"]}
        criteria["speedup_r50"] = {"estimate": h["speedup"], "threshold": th["exp4_speedup"],
                                   "passed": h["speedup"] > th["exp4_speedup"]}
    results = {"arms": arms, "criteria": criteria, "matched_comparison": _matched_comparison(arms),
               "notes": "wall_s is training time with every overhead, validation excluded"}
    return write_log(4, seed, log_config(cfg, base["n_params"], arms=list(arms)), results, out_path)
