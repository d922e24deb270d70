"""From per-seed experiment logs to the study's tests table (``stats/tests.csv``) and decisions.

One row per criterion of the plan (STUDY.md section 2), tested over seeds:

- a "mean over seeds exceeds (or is below) the threshold" criterion is a one-sided one-sample t
  test of the per-seed estimates against the threshold, with a bootstrap 95% interval;
- a "within X% of baseline" criterion is an equivalence test (TOST, paired by seed) with the
  plan's margin; its estimate is the relative gap (arm - baseline) / baseline;
- before/after correction and arm-vs-control comparisons are paired t tests by seed; an arm is
  compared with a control (``<arm>_beats_<control>``, family ``study``) only when their realised
  prediction ratios (mean over seeds) lie within :data:`COMPARABLE` of each other; otherwise the row
  says "not comparable: realised ratio X vs Y" and makes no claim (the frontier at equal backward
  passes is the like-for-like comparison);
- every row names its family (``family``): ``plan`` for the plan's criteria and the evidence it
  names, ``study`` for the study's own controls (Exp 4's hybrid-vs-control comparisons and the
  confirmatory "beats the conventional frontier at equal time" rows, Exp 5's repeat/skip controls); Bonferroni correction runs within each family (every row with a p-value).

The rule for ``passed`` (estimate on the right side of the threshold AND adjusted p < alpha) is
in :func:`.tests.tests_table`. Experiments not in the study contribute no rows, and the decisions
then say "not evaluated". Arms are read through their roles, as the experiment logs record them
(``results.roles``: ``config.Roles.record``), never by their names.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from . import tests
from .decisions import decide
from .frontier import cooldown_frontier_table, frontier_table, frontier_test_rows

#: How far apart (absolute) an arm's and a control's realised prediction ratios may be for a
#: "beats control" row to make a claim.
COMPARABLE = 0.05


def _crit(logs: list[dict], name: str) -> np.ndarray:
    return np.array([lg["results"]["criteria"][name]["estimate"] for lg in logs], dtype=float)


def _finite(values: np.ndarray) -> np.ndarray:
    return values[np.isfinite(values)]


def exp1_rows(logs: list[dict], th: dict) -> list[tests.TestRow]:
    lag50 = np.array(
        [lg["results"]["gradients"]["autocorrelation"]["series"][0]["acf_lag"] for lg in logs], dtype=float
    )
    return [
        tests.one_sample_row("exp1", "mean_cosine", _crit(logs, "mean_cosine"), th["exp1_mean_cosine"]),
        tests.one_sample_row("exp1", "pca_top10", _crit(logs, "pca_top10"), th["exp1_pca_top10"]),
        # Across seeds: is the lag-L autocorrelation of the leading gradient PC score positive?
        # (each seed's own Bartlett test is in its Exp 1 log).
        tests.one_sample_row("exp1", "autocorr_lag50", _finite(lag50), 0.0),
        tests.one_sample_row("exp1", "update_pca_top10", _crit(logs, "update_pca_top10"),
                             th["exp1_update_pca_top10"]),
    ]


def _evaluable_row(exp: str, metric: str, logs: list[dict], threshold: float,
                   direction: str = "greater") -> list[tests.TestRow]:
    """The one-sample row over the seeds whose log could evaluate the criterion (none: no row, and
    the decisions say "not evaluated"; e.g. no shadow origin in Exp 2's held-out segment)."""
    values = _finite(_crit(logs, metric))
    return [tests.one_sample_row(exp, metric, values, threshold, direction)] if values.size else []


def exp2_rows(logs: list[dict], th: dict) -> list[tests.TestRow]:
    return [
        *_evaluable_row("exp2", "r2", logs, th["exp2_r2"]),
        *_evaluable_row("exp2", "mae_over_range", logs, th["exp2_mae_over_range"], "less"),
    ]


def exp3_rows(logs: list[dict], th: dict) -> list[tests.TestRow]:
    return [
        *_evaluable_row("exp3", "cosine", logs, th["exp3_cosine"]),
        *_evaluable_row("exp3", "rel_l2", logs, th["exp3_rel_l2"], "less"),
        *_evaluable_row("exp3", "per_layer_accuracy", logs, th["exp3_per_layer_accuracy"]),
        *_evaluable_row("exp3", "pearson_r", logs, th["exp3_pearson_r"]),
    ]


def _arm_values(logs: list[dict], arm: str, key: str) -> np.ndarray:
    return np.array([_dig(lg["results"]["arms"][arm], key) for lg in logs], dtype=float)


def _dig(d: dict, key: str):
    for part in key.split("."):
        d = d[part]
    return d


def _roles(logs: list[dict]) -> dict:
    """The roles the logs record (``config.Roles.record``); ValueError for a log from before them."""
    r = logs[0]["results"].get("roles")
    if r is None:
        raise ValueError(f"{logs[0].get('experiment_id')} log has no results.roles: a log from before roles; "
                         "rerun the experiment")
    return r


def _ratio(logs: list[dict], arm: str) -> float:
    return float(np.mean(_arm_values(logs, arm, "realised_ratio")))


def control_rows(logs: list[dict], roles: dict) -> list[tests.TestRow]:
    """Every compared arm against each control at its nominal ratio and horizon (``<arm>_beats_<control>``:
    control loss - arm loss > 0, paired t, family ``study``), or a ``not_comparable`` row when their
    realised prediction ratios differ by more than :data:`COMPARABLE`."""
    arms = set(logs[0]["results"]["arms"])
    rows: list[tests.TestRow] = []
    for arm in roles["compared"]:
        if arm not in arms:
            continue
        own = _arm_values(logs, arm, "final_val_loss")
        for kind, control in roles["controls_of"].get(arm, {}).items():
            if control not in arms:
                continue
            name = f"{arm}_beats_{control}"
            ctrl = _arm_values(logs, control, "final_val_loss")
            ra, rc = _ratio(logs, arm), _ratio(logs, control)
            if abs(ra - rc) > COMPARABLE:
                rows.append(tests.not_comparable_row(
                    "exp4", name, ctrl, own, f"not comparable: realised ratio {ra:.2f} vs {rc:.2f} (more than "
                    f"{COMPARABLE} apart; see the frontier at equal backward passes)"))
            else:
                rows.append(tests.paired_row("exp4", name, ctrl, own, 0.0, family="study"))
    return rows


def exp4_rows(logs: list[dict], th: dict) -> list[tests.TestRow]:
    roles = _roles(logs)
    rows: list[tests.TestRow] = []
    base = _arm_values(logs, roles["baseline"], "final_val_loss")
    for key, margin in (("r25", th["exp4_loss_margin_r25"]), ("r50", th["exp4_loss_margin_r50"])):
        arm = roles[f"plan_{key}"]
        if arm is not None:
            rows.append(tests.tost_row("exp4", f"loss_gap_{key}", _arm_values(logs, arm, "final_val_loss"), base,
                                       margin))
    plan = roles["plan_r50"]
    if plan is not None:
        # "Downstream delta < 1%": an absolute margin of 1 percentage point of cloze accuracy.
        base_acc = _arm_values(logs, roles["baseline"], "downstream.cloze_accuracy")
        if np.isfinite(base_acc).all() and base_acc.mean() > 0:
            rows.append(tests.tost_row(
                "exp4", "downstream_gap_r50", _arm_values(logs, plan, "downstream.cloze_accuracy"),
                base_acc, th["exp4_downstream_margin"] / abs(base_acc.mean()), relative_estimate=False))
        rows.append(tests.one_sample_row("exp4", "speedup_r50", _arm_values(logs, plan, "speedup"),
                                         th["exp4_speedup"]))
    rows.extend(control_rows(logs, roles))
    # the conventional frontier: the confirmatory "beats the frontier at equal time" rows
    rows.extend(frontier_test_rows(logs))
    return rows


def exp5_rows(logs: list[dict], th: dict) -> list[tests.TestRow]:
    """The plan's Exp 5 rows on the correction's own effect (probe loss after Predict -> after the
    line search, :mod:`predictive_training.analysis.exp5`; the plan's 50% arm), and the study's
    control rows and rows for every other compared arm."""
    res = [lg["results"] for lg in logs]
    if res[0].get("arm") is None:  # no plan arm: only the study's rows of the other arms
        return exp5_arm_rows(logs, th)
    rows = []
    for metric, threshold in (("loss_reduction", th["exp5_loss_reduction"]),
                              ("share_positive", th["exp5_share_positive"])):
        vals = _finite(_crit(logs, metric))  # None for a seed without a scored correction
        if vals.size:
            rows.append(tests.one_sample_row("exp5", metric, vals, threshold))
    rows.append(tests.descriptive_row("exp5", "divergences", float(sum(_crit(logs, "divergences"))), 0.0, len(logs)))
    before = np.array([r["mean_loss_after_predict"] for r in res], dtype=float)
    after = np.array([r["mean_loss_after_search"] for r in res], dtype=float)
    if np.isfinite(before).all() and np.isfinite(after).all():
        rows.append(tests.paired_row("exp5", "loss_before_minus_after", before, after, 0.0))
    err = _finite(_crit(logs, "error_reduction"))  # None where the summed shortfall is not positive
    if err.size:
        rows.append(tests.one_sample_row("exp5", "error_reduction", err, th["exp5_error_reduction"]))
    return rows + exp5_control_rows(logs, th) + exp5_arm_rows(logs, th)


def _control(logs: list[dict], arm: str, key: str) -> np.ndarray | None:
    """Per-seed value of ``controls.<arm>.summary.<key>``, None if the arm is not in every log."""
    if not all(arm in lg["results"].get("controls", {}) for lg in logs):
        return None
    return np.array([lg["results"]["controls"][arm]["summary"][key] for lg in logs], dtype=float)


def _control_of(logs: list[dict], kind: str) -> str | None:
    """The plan arm's control of ``kind`` (``skip``, ``repeat``) that every log has."""
    names = [{k: c for c, k in (lg["results"].get("control_kinds") or {}).items()}.get(kind) for lg in logs]
    return names[0] if names and names[0] is not None and all(n == names[0] for n in names) else None


def exp5_control_rows(logs: list[dict], th: dict) -> list[tests.TestRow]:
    """The study's Exp 5 controls of the plan arm (family ``study``), paired by seed:

    - ``<repeat>_loss_reduction``, ``<repeat>_share_positive``: the same search effect, with the
      plan's thresholds, for a trivial fast-forward prediction corrected the same way (the repeat
      control, ``repeat_r50`` by default);
    - ``<skip>_search_effect_max_abs``: the largest |search effect| of the skip control over all
      events and seeds, which must be 0 (nothing to rescale: a check of the measurement);
    - ``correct_phase_<arm>_minus_<skip>``: the whole Correct phase's mean relative reduction
      (search + C real steps) of the plan arm minus that of the skip control (the same real steps
      with nothing to correct), paired t, > 0.
    """
    rows: list[tests.TestRow] = []
    arm = logs[0]["results"]["arm"]
    rep, skip = _control_of(logs, "repeat"), _control_of(logs, "skip")
    if rep is not None:
        rep_red, rep_share = _control(logs, rep, "mean_relative_reduction"), _control(logs, rep, "share_positive")
        if rep_red is not None and _finite(rep_red).size:
            rows.append(tests.one_sample_row("exp5", f"{rep}_loss_reduction", _finite(rep_red),
                                             th["exp5_loss_reduction"], family="study"))
            rows.append(tests.one_sample_row("exp5", f"{rep}_share_positive", _finite(rep_share),
                                             th["exp5_share_positive"], family="study"))
    if skip is not None:
        skip_max = _control(logs, skip, "search_effect_max_abs")
        if skip_max is not None and np.isfinite(skip_max).any():
            rows.append(tests.descriptive_row("exp5", f"{skip}_search_effect_max_abs",
                                              float(np.nanmax(skip_max)), 0.0, len(logs), family="study"))
        skip_full = _control(logs, skip, "correct_phase_mean_relative_reduction")
        if skip_full is not None:
            hyb = np.array([lg["results"]["summary"]["correct_phase_mean_relative_reduction"] for lg in logs],
                           dtype=float)
            ok = np.isfinite(hyb) & np.isfinite(skip_full)
            if ok.any():
                rows.append(tests.paired_row("exp5", f"correct_phase_{arm}_minus_{skip}", hyb[ok], skip_full[ok],
                                             0.0, family="study"))
    return rows


def exp5_arm_rows(logs: list[dict], th: dict) -> list[tests.TestRow]:
    """Every compared arm but the plan's (``by_arm``; family ``study``): its search effect with the
    plan's thresholds (``<arm>_loss_reduction``, ``<arm>_share_positive``) and, where a skip control
    runs at its ratio and horizon, its whole Correct phase against the skip control's
    (``correct_phase_<arm>_minus_<skip>``)."""
    plan = logs[0]["results"].get("arm")
    arms = [a for a in logs[0]["results"].get("by_arm", {}) if a != plan
            and all(a in lg["results"].get("by_arm", {}) for lg in logs)]
    rows: list[tests.TestRow] = []
    for arm in arms:
        rec = [lg["results"]["by_arm"][arm] for lg in logs]
        red = _finite(np.array([r["summary"]["mean_relative_reduction"] for r in rec], dtype=float))
        share = _finite(np.array([r["summary"]["share_positive"] for r in rec], dtype=float))
        if red.size:
            rows.append(tests.one_sample_row("exp5", f"{arm}_loss_reduction", red, th["exp5_loss_reduction"],
                                             family="study"))
        if share.size:
            rows.append(tests.one_sample_row("exp5", f"{arm}_share_positive", share, th["exp5_share_positive"],
                                             family="study"))
        skips = [{c for c, v in r["controls"].items() if v["kind"] == "skip"} for r in rec]
        skip = next(iter(skips[0]), None) if skips and all(s == skips[0] for s in skips) else None
        if skip is not None:
            own = np.array([r["summary"]["correct_phase_mean_relative_reduction"] for r in rec], dtype=float)
            ctl = np.array([r["controls"][skip]["summary"]["correct_phase_mean_relative_reduction"] for r in rec],
                           dtype=float)
            ok = np.isfinite(own) & np.isfinite(ctl)
            if ok.any():
                rows.append(tests.paired_row("exp5", f"correct_phase_{arm}_minus_{skip}", own[ok], ctl[ok], 0.0,
                                             family="study"))
    return rows


BUILDERS = {
    "exp1_gradient_structure": exp1_rows,
    "exp2_loss_prediction": exp2_rows,
    "exp3_weight_delta": exp3_rows,
    "exp4_prediction_phases": exp4_rows,
    "exp5_correction": exp5_rows,
}


def frontier(cfg: dict, log_paths: list[str | Path], table: pd.DataFrame) -> pd.DataFrame:
    """``stats/frontier.csv`` from the Exp 4 logs and the tests table (:func:`.frontier.frontier_table`)."""
    logs = [json.loads(p.read_text()) for p in sorted(map(Path, log_paths)) if p.parent.name == "exp4_prediction_phases"]
    return frontier_table(logs, table, alpha=cfg["thresholds"]["alpha"])


def cooldown_frontier(cfg: dict, log_paths: list[str | Path]) -> pd.DataFrame:
    """``stats/frontier_cooldown.csv`` from the Exp 4 logs (:func:`.frontier.cooldown_frontier_table`)."""
    logs = [json.loads(p.read_text()) for p in sorted(map(Path, log_paths)) if p.parent.name == "exp4_prediction_phases"]
    return cooldown_frontier_table(logs, alpha=cfg["thresholds"]["alpha"])


def build(cfg: dict, log_paths: list[str | Path]) -> tuple[pd.DataFrame, dict]:
    """Tests table and decisions from the experiment logs (grouped by experiment folder)."""
    groups: dict[str, list[dict]] = {}
    for p in sorted(map(Path, log_paths)):
        groups.setdefault(p.parent.name, []).append(json.loads(p.read_text()))
    th = cfg["thresholds"]
    rows: list[tests.TestRow] = []
    for name, builder in BUILDERS.items():
        if name in groups:
            rows.extend(r for r in builder(groups[name], th) if r.n >= 1)
    table = tests.tests_table(rows, alpha=th["alpha"])
    return table, decide(table, r2_refine=th["exp2_r2_refine"])
