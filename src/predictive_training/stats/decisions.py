"""Go/No-Go decisions of the validation plan (sections 4, 5 and 6), from the tests table.

Input: the tests table of :func:`predictive_training.stats.tests.tests_table` (``stats/tests.csv``), one
row per (experiment, metric). A criterion is *met* only when its row ``passed`` (estimate rule
AND Bonferroni-adjusted significance; see :mod:`predictive_training.stats.tests`). Rows decided by a
point estimate because n < 2 (test kind ``point_*``) count by their point estimate, and every
record built from them carries a caveat saying so. Rows that make no claim (a zero-variance sample:
no statistic, no p-value; :func:`~.tests.is_undecided`) count as not evaluated, with a caveat.

Expected rows (:data:`EXPECTED_METRICS`; thresholds are the plan's defaults, the rows carry the
configured ones and decisions use the rows' ``passed``):

==========  ======================  ==========================================================
experiment  metric                  meaning (per seed, then tested over seeds)
==========  ======================  ==========================================================
exp1        mean_cosine             mean cosine of adjacent gradients, rule > 0.7
exp1        pca_top10               variance share of the top 10 gradient PCA components, > 0.70
exp1        autocorr_lag50          gradient autocorrelation at lag 50 (significance, informative)
exp2        r2                      R^2 of held-out loss predictions, > 0.85
exp2        mae_over_range          MAE / held-out loss range, < 0.05
exp3        cosine                  cosine(predicted, actual 50-step weight delta), > 0.8
exp3        rel_l2                  ||pred - actual|| / ||actual||, < 0.20
exp3        per_layer_accuracy      share of tensors with delta cosine > 0.8, > 0.75
exp4        loss_gap_r25            relative final-loss gap hybrid_r25 vs baseline, |x| < 0.01
exp4        loss_gap_r50            relative final-loss gap hybrid_r50 vs baseline, |x| < 0.02
exp4        downstream_gap_r50      relative downstream-metric gap hybrid_r50, |x| < 0.01
exp4        speedup_r50             baseline time / hybrid_r50 time (contention-free), > 2
exp5        loss_reduction          mean relative loss reduction by the correction (line search), > 0.05
exp5        share_positive          share of corrections that reduce the loss, > 0.5
exp5        divergences             number of diverged runs/phases (total), <= 0
prod        downstream_gap          production run (100M, FineWeb-Edu) downstream gap, |x| < 0.01
prod        speedup                 production run speedup, > 3
==========  ======================  ==========================================================

Rules (outcome strings are the module constants):

- Milestone 1: exp1 mean_cosine and pca_top10 met -> Go, else No-Go.
- Milestone 2: exp2 r2 and mae_over_range met -> Go, else No-Go.
- Milestone 3: exp3 cosine met -> Go, else No-Go.
- Milestone 4: exp4 loss_gap_r50 and speedup_r50 met -> Go, else No-Go.
- Milestone 5: prod downstream_gap and speedup met -> Go. The default study has no production
  run (no FineWeb-Edu training, no energy comparison), so without ``prod`` rows it is
  "not evaluated", never a pass.
- A milestone with an AND rule is No-Go as soon as one present criterion fails; it is "not
  evaluated" when no criterion failed but one is missing (or its estimate is NaN).
- Decision 1 (r2): row passed (estimate > threshold, significant) -> Proceed; otherwise the point
  estimate's band: >= ``r2_refine`` (0.70; so 0.70 and 0.85 both give Refine) -> Refine the
  dynamics model; < 0.70 -> Pivot or abandon.
- Decision 2 (speedup_r50, loss_gap_r50): both met -> Scale up; quality not met -> Increase
  correction frequency; speedup not met (a speedup of exactly 2 is not "> 2") -> Optimize the
  implementation; both not met -> the combined outcome (both actions).
- Decision 3 over six criteria (Milestones 1-5 and the H3 correction criterion = the exp5 rows
  loss_reduction, share_positive and divergences met; the study's control rows do not enter): all met -> Prepare paper; at least one met -> Document and open-source; none met (and at
  least one evaluated) -> Document negative results. Since Milestone 5 is not evaluated at the
  default scale, "Prepare paper" needs a production run.

Failed criteria name the plan's matching risk mitigation (plan section 5) in ``mitigation``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd

from .tests import TEST_KINDS, is_flagged, is_undecided, rule_text
from ..io import finite_or_none as _num

__all__ = [
    "DECISION2_BOTH",
    "EXPECTED_METRICS",
    "GO",
    "HYPOTHESIS_OF",
    "NOT_EVALUATED",
    "NO_GO",
    "OUTCOMES",
    "RISKS",
    "decide",
]

GO = "Go"
NO_GO = "No-Go"
NOT_EVALUATED = "not evaluated"
PROCEED = "Proceed"
REFINE = "Refine the dynamics model"
PIVOT = "Pivot or abandon"
SCALE_UP = "Scale up"
OPTIMIZE = "Optimize the implementation"
INCREASE_CORRECTION = "Increase correction frequency"
DECISION2_BOTH = "Increase correction frequency and optimize the implementation"
PAPER = "Prepare paper"
OPEN_SOURCE = "Document and open-source"
NEGATIVE = "Document negative results"

#: Every outcome string a record can carry.
OUTCOMES: tuple[str, ...] = (GO, NO_GO, NOT_EVALUATED, PROCEED, REFINE, PIVOT, SCALE_UP, OPTIMIZE,
                             INCREASE_CORRECTION, DECISION2_BOTH, PAPER, OPEN_SOURCE, NEGATIVE)

#: experiment -> hypothesis it measures (STUDY.md section 1).
HYPOTHESIS_OF: dict[str, str] = {"exp1": "H1", "exp2": "H1", "exp3": "H1", "exp4": "H2",
                                 "exp5": "H3", "prod": "H2",
                                 "exp6": "pivot"}  # Exp 6, the plan's pivot (a study rule)

#: (experiment, metric) -> (plan rule with its default threshold, meaning).
EXPECTED_METRICS: dict[tuple[str, str], tuple[str, str]] = {
    ("exp1", "mean_cosine"): ("> 0.7", "mean cosine of adjacent gradients"),
    ("exp1", "pca_top10"): ("> 0.7", "variance share of the top-10 gradient PCA components"),
    ("exp1", "autocorr_lag50"): ("significant at alpha 0.05", "gradient autocorrelation at lag 50"),
    ("exp2", "r2"): ("> 0.85", "R^2 of held-out loss predictions"),
    ("exp2", "mae_over_range"): ("< 0.05", "MAE over the held-out loss range"),
    ("exp3", "cosine"): ("> 0.8", "cosine of predicted vs actual weight delta"),
    ("exp3", "rel_l2"): ("< 0.2", "L2 error over the actual delta norm"),
    ("exp3", "per_layer_accuracy"): ("> 0.75", "share of tensors with delta cosine > 0.8"),
    ("exp4", "loss_gap_r25"): ("|x| < 0.01", "relative final-loss gap, 25% predicted steps"),
    ("exp4", "loss_gap_r50"): ("|x| < 0.02", "relative final-loss gap, 50% predicted steps"),
    ("exp4", "downstream_gap_r50"): ("|x| < 0.01", "relative downstream gap, 50% predicted steps"),
    ("exp4", "speedup_r50"): ("> 2", "speedup (contention-free time), 50% predicted steps"),
    ("exp5", "loss_reduction"): ("> 0.05", "mean relative loss reduction by the correction (line search)"),
    ("exp5", "share_positive"): ("> 0.5", "share of corrections (line searches) that reduce the loss"),
    ("exp5", "divergences"): ("<= 0", "diverged runs or phases"),
    ("prod", "downstream_gap"): ("|x| < 0.01", "production-scale downstream gap"),
    ("prod", "speedup"): ("> 3", "production-scale speedup"),
}

#: Plan section 5 risks and their mitigations (in this project's words).
RISKS: dict[str, str] = {
    "risk1": ("Risk 1 (gradients not predictable): try a different architecture (skip connections "
              "change the gradient structure), a different optimizer (LAMB instead of AdamW), or "
              "shorter prediction horizons."),
    "risk2": ("Risk 2 (weight deltas not predictable): predict the loss only, not the weights; use "
              "loss prediction for early stopping only; or turn to curriculum optimization."),
    "risk3": ("Risk 3 (prediction errors compound): correct more often, shorten the prediction "
              "horizon dynamically, or fall back to full training when the predictor is not "
              "confident."),
    "risk4": ("Risk 4 (speedup below 2x): combine with other techniques (mixed precision, "
              "checkpointing), aim at memory efficiency instead of compute, or target another use "
              "case such as hyperparameter search."),
}

_REQUIRED_COLUMNS = ("experiment", "metric", "n", "estimate", "ci_low", "ci_high", "test",
                     "p_adjusted", "threshold", "passed")

#: "exp.metric" -> plan risk whose mitigation applies when that criterion fails.
_RISK_OF_METRIC: dict[str, str] = {
    "exp1.mean_cosine": "risk1", "exp1.pca_top10": "risk1",
    "exp2.r2": "risk1", "exp2.mae_over_range": "risk1",
    "exp3.cosine": "risk2",
    "exp4.loss_gap_r50": "risk3", "exp4.speedup_r50": "risk4",
    "prod.downstream_gap": "risk3", "prod.speedup": "risk4",
}

_M5_REASON = ("no production-scale run in this study (no 100M model trained on FineWeb-Edu, no "
              "downstream evaluation at that scale, no energy comparison); Milestone 5 cannot be "
              "evaluated at the default scale")


# --------------------------------------------------------------------------- helpers
class _Table:
    """Lookup of tests-table rows by (experiment, metric)."""

    def __init__(self, df: pd.DataFrame):
        if not isinstance(df, pd.DataFrame):
            raise ValueError(f"tests_df must be a pandas DataFrame, got {type(df).__name__}")
        missing = [c for c in _REQUIRED_COLUMNS if c not in df.columns]
        if missing:
            raise ValueError(f"tests_df lacks the columns {missing}")
        self.rows: dict[tuple[str, str], dict] = {}
        for rec in df.to_dict("records"):
            key = (str(rec["experiment"]), str(rec["metric"]))
            if key in self.rows:
                raise ValueError(f"tests_df has duplicate rows for {key}")
            self.rows[key] = rec

    def get(self, exp: str, metric: str) -> dict | None:
        """The row, or None when missing or its estimate is not a finite number."""
        rec = self.rows.get((exp, metric))
        if rec is None or _num(rec.get("estimate")) is None:
            return None
        return rec


def _passed(rec: dict) -> bool:
    v = rec.get("passed")
    if isinstance(v, str):  # read back from CSV without dtype
        return v.strip().lower() in ("true", "1", "yes")
    return bool(v) if v is not None and not (isinstance(v, float) and math.isnan(v)) else False


def _key(exp: str, metric: str) -> str:
    return f"{exp}.{metric}"


class _Criteria:
    """Collects inputs, thresholds and caveats of the criteria of one record."""

    def __init__(self, table: _Table, criteria: Sequence[tuple[str, str]]):
        self.inputs: dict[str, dict] = {}
        self.thresholds: dict[str, str] = {}
        self.caveats: list[str] = []
        self.status: dict[tuple[str, str], str] = {}  # "met" | "not met" | "missing"
        for exp, metric in criteria:
            rec = table.get(exp, metric)
            k = _key(exp, metric)
            if rec is None:
                self.status[(exp, metric)] = "missing"
                plan_rule = EXPECTED_METRICS.get((exp, metric), ("", ""))[0]
                if plan_rule:
                    self.thresholds[k] = plan_rule
                continue
            test = str(rec["test"])
            thr = _num(rec["threshold"])
            self.inputs[k] = {
                "estimate": _num(rec["estimate"]),
                "ci_low": _num(rec["ci_low"]),
                "ci_high": _num(rec["ci_high"]),
                "p_adjusted": _num(rec["p_adjusted"]),
                "n": int(rec["n"]) if _num(rec["n"]) is not None else None,
                "test": test,
                "passed": _passed(rec),
            }
            if test in TEST_KINDS and thr is not None:
                self.thresholds[k] = rule_text(test, thr)
            if is_flagged(test):
                self.caveats.append(f"{k}: n={self.inputs[k]['n']}, no test possible; decided by "
                                    "the point estimate only")
            if is_undecided(test, rec["p_adjusted"]):  # zero variance: no test, no claim
                note = rec.get("note")
                self.caveats.append(f"{k}: {note if isinstance(note, str) and note else 'no test'}; "
                                    "counted as not evaluated")
                self.status[(exp, metric)] = "missing"
                continue
            self.status[(exp, metric)] = "met" if _passed(rec) else "not met"

    def missing(self) -> list[str]:
        return [_key(*k) for k, s in self.status.items() if s == "missing"]

    def failed(self) -> list[str]:
        return [_key(*k) for k, s in self.status.items() if s == "not met"]

    def state(self) -> str:
        """AND over the criteria: 'met', 'not met' (any failed) or 'missing' (none failed, some missing)."""
        if self.failed():
            return "not met"
        if self.missing():
            return "missing"
        return "met"


def _record(rid: str, title: str, c: _Criteria, outcome: str, rule: str,
            mitigation: str | None, reason: str = "") -> dict:
    return {"id": rid, "title": title, "inputs": c.inputs, "thresholds": c.thresholds,
            "outcome": outcome, "rule": rule, "mitigation": mitigation, "reason": reason,
            "caveats": list(c.caveats)}


def _join_risks(ids: Sequence[str]) -> str | None:
    seen = list(dict.fromkeys(ids))
    return " ".join(RISKS[i] for i in seen) if seen else None


# --------------------------------------------------------------------------- milestones
def _milestone(table: _Table, rid: str, title: str, criteria, rule: str,
               missing_reason: str | None = None) -> dict:
    c = _Criteria(table, criteria)
    st = c.state()
    if st == "met":
        return _record(rid, title, c, GO, rule, None)
    if st == "not met":
        failed = c.failed()
        reason = "failed: " + ", ".join(failed)
        if c.missing():
            reason += "; missing: " + ", ".join(c.missing())
        risks = [_RISK_OF_METRIC[k] for k in failed if k in _RISK_OF_METRIC]
        return _record(rid, title, c, NO_GO, rule, _join_risks(risks), reason)
    reason = missing_reason or ("missing or non-finite rows in the tests table: " + ", ".join(c.missing()))
    return _record(rid, title, c, NOT_EVALUATED, rule, None, reason)


def _milestones(t: _Table) -> list[dict]:
    return [
        _milestone(t, "M1", "Milestone 1: gradient structure", [("exp1", "mean_cosine"), ("exp1", "pca_top10")],
                   "Go if mean adjacent-gradient cosine > 0.7 and top-10 PCA variance > 70% (both rows "
                   "passed), else No-Go"),
        _milestone(t, "M2", "Milestone 2: loss prediction", [("exp2", "r2"), ("exp2", "mae_over_range")],
                   "Go if held-out loss R^2 > 0.85 and MAE < 5% of the loss range (both rows passed), "
                   "else No-Go"),
        _milestone(t, "M3", "Milestone 3: weight-delta prediction", [("exp3", "cosine")],
                   "Go if cosine(predicted, actual weight delta) > 0.8 (row passed), else No-Go"),
        _milestone(t, "M4", "Milestone 4: training integration", [("exp4", "loss_gap_r50"), ("exp4", "speedup_r50")],
                   "Go if the 50% arm's final loss is within 2% of baseline and its speedup > 2x (both "
                   "rows passed), else No-Go"),
        _milestone(t, "M5", "Milestone 5: production validation", [("prod", "downstream_gap"), ("prod", "speedup")],
                   "Go if a production-scale run (100M, FineWeb-Edu) shows equivalent downstream "
                   "performance and a 3x speedup; not evaluated without such a run",
                   missing_reason=_M5_REASON),
    ]


# --------------------------------------------------------------------------- decisions
def _decision1(t: _Table, r2_refine: float) -> dict:
    c = _Criteria(t, [("exp2", "r2")])
    rule = (f"Proceed if the R^2 row passed (estimate above its threshold and significant); "
            f"otherwise by the point estimate: >= {r2_refine:g} Refine the dynamics model, "
            f"< {r2_refine:g} Pivot or abandon")
    c.thresholds["exp2.r2 (refine band)"] = f">= {r2_refine:g}"
    rec = t.get("exp2", "r2")
    title = "Decision 1: proceed with full implementation?"
    if rec is None:
        return _record("D1", title, c, NOT_EVALUATED, rule, None, "exp2.r2 missing from the tests table")
    est = float(rec["estimate"])
    if _passed(rec):
        return _record("D1", title, c, PROCEED, rule, None)
    reason = ""
    thr = _num(rec["threshold"])
    if thr is not None and est > thr:
        reason = "estimate above the threshold but not significant after Bonferroni"
    if est >= r2_refine:
        return _record("D1", title, c, REFINE, rule, RISKS["risk1"], reason)
    return _record("D1", title, c, PIVOT, rule, RISKS["risk1"], reason)


def _decision2(t: _Table) -> dict:
    c = _Criteria(t, [("exp4", "speedup_r50"), ("exp4", "loss_gap_r50")])
    rule = ("Scale up if speedup > 2x and final loss within 2% (both rows passed); speedup not > 2x "
            "-> Optimize the implementation; quality not within 2% -> Increase correction frequency; "
            "both -> both actions")
    title = "Decision 2: scale to production?"
    s, q = c.status[("exp4", "speedup_r50")], c.status[("exp4", "loss_gap_r50")]
    missing = c.missing()
    reason = ("missing: " + ", ".join(missing)) if missing else ""
    if s == "not met" and q == "not met":
        return _record("D2", title, c, DECISION2_BOTH, rule, _join_risks(["risk3", "risk4"]), reason)
    if q == "not met":
        return _record("D2", title, c, INCREASE_CORRECTION, rule, RISKS["risk3"], reason)
    if s == "not met":
        return _record("D2", title, c, OPTIMIZE, rule, RISKS["risk4"], reason)
    if missing:
        return _record("D2", title, c, NOT_EVALUATED, rule, None, reason)
    return _record("D2", title, c, SCALE_UP, rule, None)


def _decision3(t: _Table, milestones: list[dict]) -> dict:
    exp5 = _Criteria(t, [("exp5", "loss_reduction"), ("exp5", "share_positive"), ("exp5", "divergences")])
    c = _Criteria(t, [])
    c.inputs.update(exp5.inputs)
    c.thresholds.update(exp5.thresholds)
    c.caveats.extend(exp5.caveats)
    status: dict[str, str] = {}
    risks: list[str] = []
    for m in milestones:
        status[m["id"]] = {GO: "met", NO_GO: "not met"}.get(m["outcome"], "not evaluated")
        c.caveats.extend(m["caveats"])
    st = exp5.state()
    status["H3 correction (exp5)"] = {"met": "met", "not met": "not met"}.get(st, "not evaluated")
    for m in milestones:
        if status[m["id"]] == "not met":
            risks += [_RISK_OF_METRIC[k] for k, v in m["inputs"].items()
                      if not v["passed"] and k in _RISK_OF_METRIC]
    if status["H3 correction (exp5)"] == "not met":
        risks.append("risk3")
    c.inputs["criteria"] = dict(status)
    rule = ("Over Milestones 1-5 and the H3 correction criterion (exp5 loss_reduction, share_positive and "
            "divergences passed): all met -> "
            "Prepare paper; at least one met -> Document and open-source; none met -> Document "
            "negative results; a criterion not evaluated counts as not met")
    title = "Decision 3: publish results?"
    vals = list(status.values())
    not_met = [k for k, v in status.items() if v != "met"]
    reason = ("not met or not evaluated: " + ", ".join(not_met)) if not_met else ""
    if all(v == "met" for v in vals):
        return _record("D3", title, c, PAPER, rule, None)
    if any(v == "met" for v in vals):
        return _record("D3", title, c, OPEN_SOURCE, rule, _join_risks(risks), reason)
    if any(v == "not met" for v in vals):
        return _record("D3", title, c, NEGATIVE, rule, _join_risks(risks), reason)
    return _record("D3", title, c, NOT_EVALUATED, rule, None, "no criterion could be evaluated")


def decide(tests_df: pd.DataFrame, r2_refine: float = 0.70) -> dict:
    """Apply the plan's milestone and decision rules to the tests table.

    Args:
        tests_df: the tests table (contract columns; see :data:`EXPECTED_METRICS` for the rows).
        r2_refine: lower edge of Decision 1's "Refine" band (plan: 0.70).

    Returns:
        ``{"milestones": [M1..M5], "decisions": [D1..D3]}``; each record has ``id``, ``title``,
        ``inputs`` (``"exp.metric" -> {estimate, ci_low, ci_high, p_adjusted, n, test, passed}``;
        NaN as None so the dict is valid JSON), ``thresholds`` (``"exp.metric" -> rule text``),
        ``outcome``, ``rule``, ``mitigation`` (plan risk text or None), ``reason`` and
        ``caveats`` (list of strings, e.g. point-estimate-only criteria).
    """
    if not (isinstance(r2_refine, (int, float)) and math.isfinite(r2_refine)):
        raise ValueError(f"r2_refine must be a finite number, got {r2_refine!r}")
    t = _Table(tests_df)
    milestones = _milestones(t)
    decisions = [_decision1(t, float(r2_refine)), _decision2(t), _decision3(t, milestones)]
    return {"milestones": milestones, "decisions": decisions}
