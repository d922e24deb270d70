"""Known-answer tests of predictive_training.stats.tests (values recomputed here with numpy formulas)."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sst

from predictive_training.stats import tests as S


# --------------------------------------------------------------------------- t-tests
def test_one_sample_greater_matches_hand_formula():
    x = np.array([0.74, 0.81, 0.77, 0.79, 0.72])
    thr = 0.7
    res = S.one_sample_vs_threshold(x, thr, "greater")
    t = (x.mean() - thr) / (x.std(ddof=1) / math.sqrt(x.size))
    p = sst.t.sf(t, df=x.size - 1)  # one-sided upper tail
    assert res.estimate == pytest.approx(x.mean())
    assert res.statistic == pytest.approx(t, rel=1e-12)
    assert res.p_value == pytest.approx(p, rel=1e-10)
    assert res.n == 5 and res.df == 4
    # hand value: mean 0.766, sd 0.036469, t = 4.0467 -> p ~ 0.007759
    assert t == pytest.approx(4.0467, abs=1e-4)
    assert res.p_value == pytest.approx(0.007759, abs=1e-6)


def test_one_sample_less_is_the_other_tail():
    x = np.array([0.03, 0.04, 0.02, 0.05])
    res = S.one_sample_vs_threshold(x, 0.05, "less")
    t = (x.mean() - 0.05) / (x.std(ddof=1) / 2.0)
    assert res.statistic == pytest.approx(t)
    assert res.p_value == pytest.approx(sst.t.cdf(t, df=3))
    assert res.test == "t1samp_less"


def test_one_sample_n1_gives_nan_with_reason():
    res = S.one_sample_vs_threshold([0.9], 0.7)
    assert res.n == 1 and res.estimate == 0.9
    assert math.isnan(res.p_value) and math.isnan(res.statistic)
    assert "n < 2" in res.reason


def test_a_zero_variance_sample_has_its_estimate_and_no_test_and_no_claim():
    """Identical per-seed values (Exp 5's share_positive of 1.0 in every seed) have no sampling spread:
    the estimate stays, but no statistic, no p-value and no pass (before: t = inf, p = 0, passed)."""
    for values, thr in (([0.9, 0.9, 0.9], 0.7), ([0.5, 0.5, 0.5], 0.7), ([0.7, 0.7], 0.7)):
        r = S.one_sample_vs_threshold(values, thr, "greater")
        assert r.estimate == pytest.approx(values[0]) and math.isnan(r.statistic) and math.isnan(r.p_value)
        assert r.reason == S.ZERO_VARIANCE
    d = S.paired_t([3.0, 4.0], [2.5, 3.5], "greater")
    assert d.estimate == pytest.approx(0.5) and math.isnan(d.p_value)
    row = S.one_sample_row("exp5", "share_positive", [1.0, 1.0, 1.0], 0.5, n_resamples=50)
    table = S.tests_table([row, S.one_sample_row("exp1", "x", [0.9, 0.8, 0.95], 0.5, n_resamples=50)])
    got = table.set_index("metric").loc["share_positive"]
    assert not got["passed"] and math.isnan(got["p_adjusted"]) and got["note"] == S.ZERO_VARIANCE
    assert (got["ci_low"], got["ci_high"]) == (1.0, 1.0)
    assert S.is_undecided(got["test"], got["p_adjusted"])
    # the other row's Bonferroni family counts only the test that was computed: m = 1
    other = table.set_index("metric").loc["x"]
    assert other["p_adjusted"] == pytest.approx(other["p_value"])


def test_paired_t_matches_hand_formula():
    after = np.array([3.10, 3.02, 3.21, 3.05, 3.12])
    before = np.array([3.30, 3.15, 3.38, 3.20, 3.31])
    d = after - before
    t = d.mean() / (d.std(ddof=1) / math.sqrt(d.size))
    two = S.paired_t(after, before)
    assert two.estimate == pytest.approx(d.mean())
    assert two.statistic == pytest.approx(t)
    assert two.p_value == pytest.approx(2 * sst.t.sf(abs(t), df=4))
    less = S.paired_t(after, before, alternative="less")
    assert less.p_value == pytest.approx(sst.t.cdf(t, df=4))
    assert less.test == "paired_t_less"
    # a non-zero H0 value shifts the differences
    shifted = S.paired_t(after, before, alternative="less", value=-0.1)
    t2 = (d.mean() + 0.1) / (d.std(ddof=1) / math.sqrt(d.size))
    assert shifted.statistic == pytest.approx(t2)


def test_paired_t_rejects_unequal_lengths_and_bad_alternative():
    with pytest.raises(ValueError, match="same length"):
        S.paired_t([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="alternative"):
        S.paired_t([1, 2], [1, 2], alternative="bigger")
    with pytest.raises(ValueError, match="values"):
        S.one_sample_vs_threshold([1.0, float("nan")], 0.0)


# --------------------------------------------------------------------------- TOST
def _tost_by_hand(a, b, margin):
    d = np.asarray(a) - np.asarray(b)
    n = d.size
    se = d.std(ddof=1) / math.sqrt(n)
    t_low = (d.mean() + margin) / se  # H0: mean <= -margin
    t_upp = (d.mean() - margin) / se  # H0: mean >= +margin
    return max(sst.t.sf(t_low, n - 1), sst.t.cdf(t_upp, n - 1))


def test_tost_not_equivalent_for_noisy_small_sample():
    # the difference is not significant (paired t p large) AND not equivalent: absence of
    # evidence of a difference must not be read as equivalence.
    base = np.array([3.00, 3.10, 2.95])
    arm = np.array([3.12, 2.98, 3.05])
    plain = S.paired_t(arm, base)
    assert plain.p_value > 0.5
    res = S.tost_paired(arm, base, margin_rel=0.02)
    margin = 0.02 * base.mean()
    assert res.p_value == pytest.approx(_tost_by_hand(arm, base, margin), rel=1e-10)
    assert res.p_value > 0.2
    assert "margin" in res.reason


def test_tost_equivalent_for_tiny_difference_with_low_variance():
    base = np.array([3.000, 3.100, 2.950, 3.050, 3.020])
    arm = base + np.array([0.004, 0.006, 0.005, 0.003, 0.006])  # ~0.16% worse, very consistent
    res = S.tost_paired(arm, base, margin_rel=0.02)
    margin = 0.02 * base.mean()
    assert res.p_value == pytest.approx(_tost_by_hand(arm, base, margin), rel=1e-10)
    assert res.p_value < 1e-6
    # the absolute margin gives the same answer
    res_abs = S.tost_paired(arm, base, margin_abs=margin)
    assert res_abs.p_value == pytest.approx(res.p_value)


def test_tost_margin_arguments():
    with pytest.raises(ValueError, match="exactly one"):
        S.tost_paired([1, 2], [1, 2])
    with pytest.raises(ValueError, match="exactly one"):
        S.tost_paired([1, 2], [1, 2], margin_rel=0.1, margin_abs=0.1)
    with pytest.raises(ValueError, match="margin_rel"):
        S.tost_paired([1, 2], [1, 2], margin_rel=-0.1)
    # zero-variance differences: no test, no claim, inside the margin or not
    for a in ([1.25, 2.25], [1.75, 2.75]):
        r = S.tost_paired(a, [1.0, 2.0], margin_abs=0.5)
        assert math.isnan(r.p_value) and r.reason == S.ZERO_VARIANCE


# --------------------------------------------------------------------------- Bonferroni, bootstrap
def test_bonferroni_is_min_one_p_times_m_and_ignores_nan():
    p = [0.01, 0.2, 0.004, float("nan")]
    adj = S.bonferroni(p)
    m = 3  # NaN (uncomputed test) is not part of the family
    assert adj[:3] == pytest.approx([min(1, 0.01 * m), min(1, 0.2 * m), 0.004 * m])
    assert math.isnan(adj[3])
    assert S.bonferroni([0.5, 0.6])[1] == 1.0
    with pytest.raises(ValueError, match="p_values"):
        S.bonferroni([1.5])


def test_bootstrap_ci_brackets_the_mean_and_is_deterministic():
    rng = np.random.default_rng(3)
    x = rng.normal(10.0, 1.0, size=40)
    lo, hi = S.bootstrap_ci(x, seed=1, n_resamples=2000)
    assert lo < x.mean() < hi
    # width close to the normal-theory interval 2 * 1.96 * sd / sqrt(n)
    width = 2 * 1.96 * x.std(ddof=1) / math.sqrt(x.size)
    assert hi - lo == pytest.approx(width, rel=0.2)
    assert S.bootstrap_ci(x, seed=1, n_resamples=2000) == (lo, hi)
    plo, phi = S.bootstrap_ci(x, seed=1, n_resamples=2000, method="percentile")
    assert plo < x.mean() < phi


def test_bootstrap_ci_degenerate_samples():
    assert S.bootstrap_ci([0.42]) == (0.42, 0.42)
    assert S.bootstrap_ci([0.3, 0.3, 0.3]) == (0.3, 0.3)
    lo, hi = S.bootstrap_ci([1.0, 2.0], n_resamples=500)
    assert math.isfinite(lo) and math.isfinite(hi) and lo <= 1.5 <= hi
    with pytest.raises(ValueError, match="confidence"):
        S.bootstrap_ci([1.0, 2.0], confidence=95)
    with pytest.raises(ValueError, match="values"):
        S.bootstrap_ci([])


# --------------------------------------------------------------------------- the table
def _rows():
    return [
        S.one_sample_row("exp1", "mean_cosine", [0.74, 0.81, 0.77, 0.79, 0.72], 0.7, n_resamples=500),
        S.one_sample_row("exp2", "r2", [0.86, 0.90, 0.84, 0.95, 0.80], 0.85, n_resamples=500),
        S.one_sample_row("exp3", "cosine", [0.91], 0.8, n_resamples=500),
        S.descriptive_row("exp5", "divergences", 0, 0, n=5),
        S.tost_row("exp4", "loss_gap_r50", [3.004, 3.106, 2.955, 3.053, 3.026],
                   [3.000, 3.100, 2.950, 3.050, 3.020], margin_rel=0.02, n_resamples=500),
    ]


def test_tests_table_columns_bonferroni_and_passed_rule():
    df = S.tests_table(_rows(), alpha=0.05)
    assert tuple(df.columns) == S.TESTS_COLUMNS
    by = df.set_index(["experiment", "metric"])
    x = np.array([0.74, 0.81, 0.77, 0.79, 0.72])
    p1 = sst.t.sf((x.mean() - 0.7) / (x.std(ddof=1) / math.sqrt(5)), 4)
    m = 3  # exp1, exp2, exp4 have p-values; exp3 (n=1) and exp5 (descriptive) do not
    assert by.loc[("exp1", "mean_cosine"), "p_adjusted"] == pytest.approx(min(1, p1 * m))
    assert bool(by.loc[("exp1", "mean_cosine"), "passed"]) is True
    # exp2: mean 0.87 > 0.85 but far from significant -> not passed
    r2 = by.loc[("exp2", "r2")]
    assert r2["estimate"] == pytest.approx(0.87) and r2["estimate"] > r2["threshold"]
    assert r2["p_adjusted"] > 0.05 and bool(r2["passed"]) is False
    # exp3: n=1 -> no p-value, decided by the point estimate, flagged by its test name
    c = by.loc[("exp3", "cosine")]
    assert math.isnan(c["p_value"]) and math.isnan(c["p_adjusted"])
    assert c["test"] == "point_greater" and S.is_flagged(c["test"]) and bool(c["passed"]) is True
    assert bool(by.loc[("exp5", "divergences"), "passed"]) is True
    gap = by.loc[("exp4", "loss_gap_r50")]
    assert gap["estimate"] == pytest.approx(0.0048 / 3.024, rel=1e-6)  # mean diff / mean baseline
    assert gap["threshold"] == 0.02 and bool(gap["passed"]) is True
    assert df["passed"].dtype == bool


def test_tests_table_flagged_point_estimate_can_fail():
    df = S.tests_table([S.one_sample_row("exp1", "pca_top10", [0.6], 0.7, n_resamples=200)])
    assert df.loc[0, "test"] == "point_greater" and bool(df.loc[0, "passed"]) is False


def test_tests_table_rejects_duplicates_and_unknown_tests():
    r = S.descriptive_row("exp5", "divergences", 0, 0, n=5)
    with pytest.raises(ValueError, match="duplicate"):
        S.tests_table([r, r])
    bad = S.descriptive_row("exp5", "x", 0, 0, n=5)
    bad.test = "magic"
    with pytest.raises(ValueError, match="test"):
        S.tests_table([bad])
    with pytest.raises(ValueError, match="alpha"):
        S.tests_table([], alpha=5)
    empty = S.tests_table([])
    assert tuple(empty.columns) == S.TESTS_COLUMNS and len(empty) == 0


def test_tests_table_roundtrips_through_csv(tmp_path):
    df = S.tests_table(_rows())
    path = tmp_path / "tests.csv"
    df.to_csv(path, index=False)
    back = pd.read_csv(path)
    assert list(back.columns) == list(S.TESTS_COLUMNS)
    assert back["passed"].tolist() == df["passed"].tolist()


def test_paired_row_and_tost_row_with_one_seed():
    a, b = [3.1, 3.3, 3.2], [3.4, 3.5, 3.6]
    row = S.paired_row("exp5", "before_after", a, b, threshold=0.0, direction="less", n_resamples=300)
    d = np.array(a) - np.array(b)
    assert row.estimate == pytest.approx(d.mean())
    assert row.p_value == pytest.approx(sst.t.cdf(d.mean() / (d.std(ddof=1) / math.sqrt(3)), 2))
    assert row.test == "paired_t_less" and row.ci_low <= row.estimate <= row.ci_high
    one = S.tost_row("exp4", "loss_gap_r50", [3.05], [3.0], 0.02)
    assert one.test == "point_abs_less" and math.isnan(one.p_value)
    assert one.estimate == pytest.approx(0.05 / 3.0) and one.threshold == 0.02
    df = S.tests_table([one])
    assert bool(df.loc[0, "passed"]) is True and S.is_flagged(df.loc[0, "test"])
    assert S.rule_text("tost_paired", 0.02) == "|x| < 0.02"
