"""Each branch of each milestone and decision rule of predictive_training.stats.decisions."""

import json
import math

import pandas as pd
import pytest

from predictive_training.stats import decisions as D
from predictive_training.stats.tests import TESTS_COLUMNS

# (experiment, metric) -> (estimate, test, threshold) of a study where every criterion holds.
GOOD = {
    ("exp1", "mean_cosine"): (0.82, "t1samp_greater", 0.7),
    ("exp1", "pca_top10"): (0.81, "t1samp_greater", 0.7),
    ("exp1", "autocorr_lag50"): (0.2, "t1samp_greater", 0.0),
    ("exp2", "r2"): (0.93, "t1samp_greater", 0.85),
    ("exp2", "mae_over_range"): (0.02, "t1samp_less", 0.05),
    ("exp3", "cosine"): (0.9, "t1samp_greater", 0.8),
    ("exp3", "rel_l2"): (0.1, "t1samp_less", 0.2),
    ("exp3", "per_layer_accuracy"): (0.9, "t1samp_greater", 0.75),
    ("exp4", "loss_gap_r25"): (0.002, "tost_paired", 0.01),
    ("exp4", "loss_gap_r50"): (0.01, "tost_paired", 0.02),
    ("exp4", "downstream_gap_r50"): (0.001, "tost_paired", 0.01),
    ("exp4", "speedup_r50"): (2.4, "t1samp_greater", 2.0),
    ("exp5", "loss_reduction"): (0.09, "t1samp_greater", 0.05),
    ("exp5", "share_positive"): (0.8, "t1samp_greater", 0.5),
    ("exp5", "divergences"): (0.0, "descriptive_le", 0.0),
}


def table(overrides=None, drop=(), extra=None):
    """Tests table; overrides: key -> dict(estimate=..., passed=..., test=..., n=...)."""
    rows = []
    spec = dict(GOOD)
    spec.update(extra or {})
    for (exp, metric), (est, test, thr) in spec.items():
        if (exp, metric) in drop:
            continue
        row = dict(experiment=exp, metric=metric, n=5, estimate=est, ci_low=est - 0.01, ci_high=est + 0.01,
                   test=test, statistic=3.0, p_value=0.001, p_adjusted=0.015, threshold=thr, passed=True)
        row.update((overrides or {}).get((exp, metric), {}))
        rows.append(row)
    return pd.DataFrame(rows, columns=list(TESTS_COLUMNS))


def by_id(result):
    return {r["id"]: r for r in result["milestones"] + result["decisions"]}


def test_all_good_study_and_structure():
    res = D.decide(table())
    assert [m["id"] for m in res["milestones"]] == ["M1", "M2", "M3", "M4", "M5"]
    assert [d["id"] for d in res["decisions"]] == ["D1", "D2", "D3"]
    r = by_id(res)
    for mid in ("M1", "M2", "M3", "M4"):
        assert r[mid]["outcome"] == D.GO and r[mid]["mitigation"] is None
    assert r["D1"]["outcome"] == D.PROCEED
    assert r["D2"]["outcome"] == D.SCALE_UP
    for rec in r.values():
        assert {"id", "title", "inputs", "thresholds", "outcome", "rule", "mitigation"} <= set(rec)
        assert rec["outcome"] in D.OUTCOMES
    inp = r["M1"]["inputs"]["exp1.mean_cosine"]
    assert inp["estimate"] == 0.82 and inp["ci_low"] == pytest.approx(0.81) and inp["p_adjusted"] == 0.015
    assert r["M1"]["thresholds"]["exp1.mean_cosine"] == "> 0.7"
    json.dumps(res, allow_nan=False)  # valid JSON (NaN mapped to None)


def test_milestone5_never_passes_without_production_run():
    r = by_id(D.decide(table()))
    assert r["M5"]["outcome"] == D.NOT_EVALUATED
    assert "FineWeb-Edu" in r["M5"]["reason"] and "energy" in r["M5"]["reason"]
    # so Decision 3 cannot be "Prepare paper" at the default scale
    assert r["D3"]["outcome"] == D.OPEN_SOURCE
    assert r["D3"]["inputs"]["criteria"]["M5"] == "not evaluated"


def test_milestone5_and_paper_with_production_rows():
    extra = {("prod", "downstream_gap"): (0.002, "tost_paired", 0.01), ("prod", "speedup"): (3.5, "t1samp_greater", 3.0)}
    r = by_id(D.decide(table(extra=extra)))
    assert r["M5"]["outcome"] == D.GO
    assert r["D3"]["outcome"] == D.PAPER


@pytest.mark.parametrize("metric", ["mean_cosine", "pca_top10"])
def test_milestone1_no_go_names_risk1(metric):
    r = by_id(D.decide(table({("exp1", metric): dict(estimate=0.6, passed=False)})))
    assert r["M1"]["outcome"] == D.NO_GO
    assert "Risk 1" in r["M1"]["mitigation"] and f"exp1.{metric}" in r["M1"]["reason"]


def test_milestone_missing_row_is_not_evaluated_but_a_failure_is_still_no_go():
    r = by_id(D.decide(table(drop=[("exp1", "pca_top10")])))
    assert r["M1"]["outcome"] == D.NOT_EVALUATED and "exp1.pca_top10" in r["M1"]["reason"]
    r = by_id(D.decide(table({("exp1", "mean_cosine"): dict(estimate=0.5, passed=False)}, drop=[("exp1", "pca_top10")])))
    assert r["M1"]["outcome"] == D.NO_GO and "missing" in r["M1"]["reason"]
    # a NaN estimate counts as missing
    r = by_id(D.decide(table({("exp3", "cosine"): dict(estimate=math.nan, passed=False)})))
    assert r["M3"]["outcome"] == D.NOT_EVALUATED


def test_milestone2_and_3_and_4_branches():
    r = by_id(D.decide(table({("exp2", "mae_over_range"): dict(estimate=0.08, passed=False)})))
    assert r["M2"]["outcome"] == D.NO_GO and r["D1"]["outcome"] == D.PROCEED  # D1 looks at R^2 only
    r = by_id(D.decide(table({("exp3", "cosine"): dict(estimate=0.5, passed=False)})))
    assert r["M3"]["outcome"] == D.NO_GO and "Risk 2" in r["M3"]["mitigation"]
    r = by_id(D.decide(table({("exp4", "speedup_r50"): dict(estimate=1.3, passed=False)})))
    assert r["M4"]["outcome"] == D.NO_GO and "Risk 4" in r["M4"]["mitigation"] and "Risk 3" not in r["M4"]["mitigation"]
    r = by_id(D.decide(table({("exp4", "loss_gap_r50"): dict(estimate=0.05, passed=False)})))
    assert r["M4"]["outcome"] == D.NO_GO and "Risk 3" in r["M4"]["mitigation"]


@pytest.mark.parametrize(
    "estimate, passed, outcome",
    [
        (0.93, True, D.PROCEED),
        (0.8501, False, D.REFINE),  # above 0.85 but not significant: no evidence to proceed
        (0.85, False, D.REFINE),  # boundary: "> 0.85" does not hold at 0.85
        (0.78, False, D.REFINE),
        (0.70, False, D.REFINE),  # boundary: 0.70 is inside [0.70, 0.85]
        (0.6999, False, D.PIVOT),
        (0.10, False, D.PIVOT),
    ],
)
def test_decision1_bands(estimate, passed, outcome):
    r = by_id(D.decide(table({("exp2", "r2"): dict(estimate=estimate, passed=passed)})))
    assert r["D1"]["outcome"] == outcome
    if outcome != D.PROCEED:
        assert "Risk 1" in r["D1"]["mitigation"]
    if estimate == 0.8501:
        assert "not significant" in r["D1"]["reason"]


def test_decision1_missing_and_custom_band():
    assert by_id(D.decide(table(drop=[("exp2", "r2")])))["D1"]["outcome"] == D.NOT_EVALUATED
    r = by_id(D.decide(table({("exp2", "r2"): dict(estimate=0.72, passed=False)}), r2_refine=0.75))
    assert r["D1"]["outcome"] == D.PIVOT


@pytest.mark.parametrize(
    "speed, quality, outcome, risks",
    [
        ((2.4, True), (0.01, True), D.SCALE_UP, []),
        ((1.5, False), (0.01, True), D.OPTIMIZE, ["Risk 4"]),
        ((2.0, False), (0.01, True), D.OPTIMIZE, ["Risk 4"]),  # exactly 2x is not > 2x
        ((2.4, True), (0.05, False), D.INCREASE_CORRECTION, ["Risk 3"]),
        ((1.5, False), (0.05, False), D.DECISION2_BOTH, ["Risk 3", "Risk 4"]),
    ],
)
def test_decision2_branches(speed, quality, outcome, risks):
    over = {("exp4", "speedup_r50"): dict(estimate=speed[0], passed=speed[1]),
            ("exp4", "loss_gap_r50"): dict(estimate=quality[0], passed=quality[1])}
    r = by_id(D.decide(table(over)))
    assert r["D2"]["outcome"] == outcome
    for risk in risks:
        assert risk in r["D2"]["mitigation"]
    if not risks:
        assert r["D2"]["mitigation"] is None


def test_decision2_missing():
    r = by_id(D.decide(table(drop=[("exp4", "speedup_r50")])))
    assert r["D2"]["outcome"] == D.NOT_EVALUATED
    r = by_id(D.decide(table({("exp4", "loss_gap_r50"): dict(passed=False)}, drop=[("exp4", "speedup_r50")])))
    assert r["D2"]["outcome"] == D.INCREASE_CORRECTION and "speedup_r50" in r["D2"]["reason"]


def test_decision3_negative_results_and_not_evaluated():
    fail = {k: dict(passed=False) for k in GOOD}
    r = by_id(D.decide(table(fail)))
    assert r["D3"]["outcome"] == D.NEGATIVE
    for risk in ("Risk 1", "Risk 2", "Risk 3", "Risk 4"):
        assert risk in r["D3"]["mitigation"]
    empty = pd.DataFrame(columns=list(TESTS_COLUMNS))
    r = by_id(D.decide(empty))
    assert all(rec["outcome"] == D.NOT_EVALUATED for rec in r.values())


def test_decision3_partial_when_only_correction_fails():
    extra = {("prod", "downstream_gap"): (0.002, "tost_paired", 0.01), ("prod", "speedup"): (3.5, "t1samp_greater", 3.0)}
    r = by_id(D.decide(table({("exp5", "divergences"): dict(estimate=2.0, passed=False)}, extra=extra)))
    assert r["D3"]["outcome"] == D.OPEN_SOURCE and "Risk 3" in r["D3"]["mitigation"]


def test_point_estimate_rows_carry_a_caveat():
    r = by_id(D.decide(table({("exp3", "cosine"): dict(n=1, test="point_greater", p_value=math.nan,
                                                       p_adjusted=math.nan)})))
    assert r["M3"]["outcome"] == D.GO
    assert any("point estimate" in c for c in r["M3"]["caveats"])
    assert r["M3"]["inputs"]["exp3.cosine"]["p_adjusted"] is None
    assert any("exp3.cosine" in c for c in r["D3"]["caveats"])


def test_reads_a_csv_round_trip(tmp_path):
    df = table({("exp2", "r2"): dict(estimate=0.8, passed=False)})
    df.to_csv(tmp_path / "t.csv", index=False)
    r = by_id(D.decide(pd.read_csv(tmp_path / "t.csv")))
    assert r["D1"]["outcome"] == D.REFINE and r["M1"]["outcome"] == D.GO


def test_bad_input():
    with pytest.raises(ValueError, match="tests_df"):
        D.decide([1, 2])
    with pytest.raises(ValueError, match="passed"):
        D.decide(pd.DataFrame({"experiment": ["exp1"], "metric": ["r2"]}))
    with pytest.raises(ValueError, match="duplicate"):
        D.decide(pd.concat([table(), table()]))
