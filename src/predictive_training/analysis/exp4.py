"""Experiment 4 (prediction-phase training) for one seed: every arm against the baseline of that seed.

Reads each run's ``summary.json`` and ``metrics.jsonl`` and the study's calibration; writes one
appendix-7 log per seed.

Time: the speed criteria, time ratios and time-to-target use each run's contention-free time
(counted work x the calibration's unit costs, ``records/costs.py``), which other jobs on the
machine do not distort; the measured ``wall_s`` is reported beside it. Without a calibration they
fall back to the measured wall-clock and say so (``time_basis``).

The conventional frontier (:mod:`.frontier`): ``results.frontier`` holds this seed's frontier
(the conventional and matched arms) per cost measure and each predicted arm's gap to it at equal cost,
and the time-to-target curves (the baseline's losses after ``frontier.targets`` shares of its budget).

Target: the baseline's final validation loss, which is its evaluation at the last step (the same
``train.eval_batches`` windows as every periodic evaluation). An arm reaches it at its first
evaluation whose validation loss is at or below it; time-to-target is the time (and the backward
passes) counted up to that evaluation.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..config import FRONTIER_KINDS, arm_horizon, confirmatory_arms, frontier_arms, predicted_arms, roles
from ..records.costs import CalibrationError, contention_free_s, flops
from ..records.jsonl import read_metrics
from .frontier import baseline_targets, seed_frontier, time_to_targets
from .template import log_config, write_log

__all__ = ["run_exp4"]


def _time_to_target(run_dir: Path, target: float, calibration: dict | None) -> dict:
    """At the first evaluation whose validation loss is <= ``target``: the step, the measured
    wall-clock, the contention-free time and the backward passes so far (all None if never)."""
    for row in read_metrics(run_dir):
        if row.get("val_loss") is not None and row["val_loss"] <= target:
            work = row.get("work")
            cost = contention_free_s(work, calibration) if calibration is not None and work is not None else None
            return {"step": row["step"], "wall_s": row["wall_s"], "cost_s": cost,
                    "backward_passes": None if work is None else work.get("full_step")}
    return {"step": None, "wall_s": None, "cost_s": None, "backward_passes": None}


def _matched_comparison(arms: dict, cfg: dict) -> dict | None:
    """How the comparison with the plan's compute-matched control stands on backward passes in this
    seed (the ``matched`` control at the 50% arm's ratio, ``roles``).

    The matched arm trains for as many steps as the NOMINAL plan of its ratio has backward passes.
    A gate block or a guard fallback in an arm at that ratio adds backward passes; the comparison is
    then not at equal backward passes. It is still made as run (final loss, paired by seed: the
    realised arm against its compute-matched control), and every difference is listed here with its
    cause (``extra_backward_causes`` of the arm) so that the reader sees it; the frontier analysis
    compares arms at equal backward passes.
    """
    r = roles(cfg)
    matched = r.control_of(r.plan_r50, "matched") if r.plan_r50 is not None else None
    if matched is None or matched not in arms:
        return None
    ratio = float(cfg["arms"][matched]["prediction_ratio"])
    m = arms[matched]["backward_passes"]
    gaps = {a: v["backward_passes"] - m for a, v in arms.items()
            if a in r.predicted and abs(float(cfg["arms"][a]["prediction_ratio"]) - ratio) < 1e-9
            and v.get("backward_passes_nominal") is not None}
    return {"matched_arm": matched, "matched_backward_passes": m, "backward_gap": gaps,
            "unmatched_arms": sorted(a for a, g in gaps.items() if g != 0),
            "handling": f"compared as run; arms whose backward passes differ from {matched} are listed with "
                        "the gate/guard events that caused it (extra_backward_causes)"}


def realised_ratio(rec: dict, baseline_backward: int) -> float:
    """The share of the step budget an arm did NOT run as a real step: a predicted arm's achieved
    prediction ratio; a matched (or any conventional) arm's ``1 - backward passes / the baseline's``
    (what a "beats control" comparison needs equal, ``stats/rows.py``)."""
    if rec.get("horizon") is not None:
        return float(rec["prediction_ratio_achieved"])
    return 1.0 - float(rec["backward_passes"]) / float(baseline_backward)


def _time(summary: dict, calibration: dict | None, run_dir: Path) -> dict:
    """The run's time on the study's basis, its contention-free time and its FLOPs (None without a
    calibration)."""
    if calibration is None:
        return {"time_s": summary["wall_s"], "cost_s": None, "flops": None}
    if "work" not in summary:
        raise CalibrationError(f"{run_dir}/summary.json has no counted work ('work'): a run from before the "
                               "cost model; rerun it")
    cost = contention_free_s(summary["work"], calibration)
    return {"time_s": cost, "cost_s": cost, "flops": flops(summary["work"], calibration)}


def _frontier(cfg: dict, arms: dict, run_dirs: dict[str, Path], calibration: dict | None) -> dict:
    """The conventional frontier of this seed (:mod:`.frontier`): its points and fits per cost measure,
    every predicted arm's gap at equal cost, and the time-to-target of every arm."""
    frontier = [a for a in frontier_arms(cfg) if a in arms]
    predicted = [a for a in predicted_arms(cfg) if a in arms]
    targets = baseline_targets(run_dirs[roles(cfg).baseline], cfg["frontier"]["targets"], int(cfg["train"]["steps"]))
    return {"arms": frontier, "predicted": predicted, "confirmatory": confirmatory_arms(cfg),
            **seed_frontier(arms, frontier, predicted),
            "targets": targets,
            "time_to_target": {a: time_to_targets(d, targets, calibration) for a, d in run_dirs.items()},
            "time_basis": "contention_free" if calibration is not None else "wall_measured"}


def _cooldown_frontier(cfg: dict, arms: dict) -> dict | None:
    """The second frontier (``roles.cooldown_frontier``, the wsd branches; None without one): every
    predicted arm's gap to it (``predicted``), and its own arms' gaps to the first frontier at their
    own cost (``vs_frontier``: how much the cooldown moves the frontier, per budget)."""
    r = roles(cfg)
    cooldown = [a for a in r.cooldown_frontier if a in arms]
    if not cooldown:
        return None
    frontier = [a for a in frontier_arms(cfg) if a in arms]
    predicted = [a for a in predicted_arms(cfg) if a in arms]
    return {"arms": cooldown,
            "predicted": {"arms": cooldown, "predicted": predicted, "confirmatory": [],
                          **seed_frontier(arms, cooldown, predicted)},
            "vs_frontier": {"arms": frontier, "predicted": cooldown, "confirmatory": [],
                            **seed_frontier(arms, frontier, cooldown)}}


def run_exp4(cfg: dict, run_dirs: dict[str, str | Path], seed: int, out_path: str | Path,
             calibration: dict | None = None) -> dict:
    """Experiment 4 for one seed: every arm against the baseline of the same seed.

    ``run_dirs`` maps arm name -> run folder (all of this seed). The loss gap is relative,
    (arm - baseline) / baseline, on the final validation loss; downstream gaps are absolute
    differences of accuracies; speedup = baseline time / arm time; time-to-target is the time at
    which the arm's validation loss first reaches the baseline's final one. Time is the
    contention-free time with a ``calibration`` (:func:`~predictive_training.records.costs.read_calibration`),
    else the measured wall-clock (module docstring).
    """
    run_dirs = {a: Path(d) for a, d in run_dirs.items()}
    summaries = {a: json.loads((d / "summary.json").read_text()) for a, d in run_dirs.items()}
    r = roles(cfg)
    if r.baseline not in summaries:
        raise ValueError(f"Experiment 4 needs the baseline's run ({r.baseline!r}), got arms {sorted(summaries)}")
    base = summaries[r.baseline]
    target = base["final_val_loss"]  # = the baseline's evaluation at its last step (same windows)
    times = {a: _time(s, calibration, run_dirs[a]) for a, s in summaries.items()}
    arms = {}
    for arm, s in summaries.items():
        down = s["downstream"]
        ttt = _time_to_target(run_dirs[arm], target, calibration)
        t, bt = times[arm], times[r.baseline]
        kind = cfg["arms"][arm]["kind"]
        arms[arm] = {
            "kind": kind,
            "horizon": None if kind in FRONTIER_KINDS else arm_horizon(cfg, arm),
            "budget": cfg["arms"][arm].get("budget", 1.0) if kind == "conventional" else None,
            "final_val_loss": s["final_val_loss"],
            "final_val_loss_avg": s.get("final_val_loss_avg"),  # record.weight_average (LAWA), if recorded
            "final_train_loss": s["final_train_loss"],
            "loss_gap": (s["final_val_loss"] - base["final_val_loss"]) / base["final_val_loss"],
            "downstream": down,
            "downstream_gap": {k: (None if down.get(k) is None or base["downstream"].get(k) is None
                                   else down[k] - base["downstream"][k]) for k in down},
            # speed on the time basis (contention-free with a calibration), then as measured
            "time_s": t["time_s"],
            "wall_ratio": t["time_s"] / bt["time_s"],
            "speedup": bt["time_s"] / t["time_s"],
            "cost_s": t["cost_s"],
            "flops": t["flops"],
            "flops_ratio": t["flops"] / bt["flops"] if t["flops"] and bt["flops"] else None,
            "wall_s": s["wall_s"],
            "wall_ratio_measured": s["wall_s"] / base["wall_s"],
            "speedup_measured": base["wall_s"] / s["wall_s"],
            "cpu_s": s.get("cpu_s"),
            "time_to_target_s": ttt["cost_s"] if calibration is not None else ttt["wall_s"],
            "time_to_target_wall_s": ttt["wall_s"],
            "time_to_target_step": ttt["step"],
            "backward_passes_to_target": ttt["backward_passes"],
            "target_val_loss": target,
            "final_val_loss_se": s.get("final_val_loss_se"),
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
    for arm, rec in arms.items():  # what a "beats control" comparison needs equal (stats/rows.py)
        rec["realised_ratio"] = realised_ratio(rec, arms[r.baseline]["backward_passes"])
    th = cfg["thresholds"]
    criteria = {}
    plan = r.record(arms)
    for key, margin in (("r25", th["exp4_loss_margin_r25"]), ("r50", th["exp4_loss_margin_r50"])):
        arm = plan[f"plan_{key}"]
        if arm is not None:
            gap = arms[arm]["loss_gap"]
            # the achieved prediction ratio beside the gap: a hybrid that rarely predicts is not a success
            criteria[f"loss_gap_{key}"] = {"estimate": gap, "threshold": margin, "passed": abs(gap) < margin,
                                           "arm": arm,
                                           "prediction_ratio_achieved": arms[arm]["prediction_ratio_achieved"],
                                           "prediction_ratio_requested": arms[arm]["prediction_ratio_requested"]}
    if plan["plan_r50"] is not None:
        h = arms[plan["plan_r50"]]
        dg = h["downstream_gap"].get("cloze_accuracy")
        criteria["downstream_gap_r50"] = {"estimate": dg, "threshold": th["exp4_downstream_margin"],
                                          "passed": None if dg is None else abs(dg) < th["exp4_downstream_margin"],
                                          "metric": "cloze accuracy (absolute difference)"}
        red = 1 - h["wall_ratio"]
        criteria["wallclock_reduction_r50"] = {"estimate": red, "threshold": th["exp4_wallclock_reduction"],
                                               "passed": red >= th["exp4_wallclock_reduction"]}
        criteria["speedup_r50"] = {"estimate": h["speedup"], "threshold": th["exp4_speedup"],
                                   "passed": h["speedup"] > th["exp4_speedup"]}
    basis = "contention_free" if calibration is not None else "wall_measured"
    results = {"arms": arms, "criteria": criteria, "roles": plan, "matched_comparison": _matched_comparison(arms, cfg),
               "frontier": _frontier(cfg, arms, run_dirs, calibration),
               **({"frontier_cooldown": fc} if (fc := _cooldown_frontier(cfg, arms)) is not None else {}),
               "time_basis": basis,
               "target": {"val_loss": target, "is": "the baseline's final validation loss (its evaluation at the "
                          "last step, train.eval_batches fixed windows, as every periodic evaluation)"},
               "notes": ("time_s, wall_ratio, speedup and time_to_target_s are contention-free: counted work x the "
                         "calibration's unit costs (records/costs.py); wall_s is the measured training clock with "
                         "every overhead (validation and measurement excluded)") if calibration is not None else
                        "no calibration: time_s, wall_ratio, speedup and time_to_target_s are the measured wall_s, "
                        "which other jobs on the machine distort"}
    return write_log(4, seed, log_config(cfg, base["n_params"], arms=list(arms)), results, out_path)
