"""Statistics for the study (plan section 3.3): bootstrap intervals, t-tests, TOST, Bonferroni.

All numerics come from scipy and statsmodels; this module only validates input, handles the
degenerate cases that small seed counts produce (n = 1, zero variance), and assembles the
``stats/tests.csv`` table of the interface contract.

Units: every function works on 1-D samples of per-seed values (one value per seed, in the unit of
the metric: a cosine, a share, a relative loss gap, a speedup ratio...). Estimates are means of
those samples (or of the paired differences ``a - b``).

Test kinds (the ``test`` column of the tests table) and the rule each applies
-------------------------------------------------------------------------------
The ``test`` column names both the test that produced the p-value and the direction of the
threshold rule, so that the table alone (contract columns only) says how ``passed`` was decided:

===================  =========================================  ==============================
test                 hypothesis test (H1)                       estimate rule
===================  =========================================  ==============================
``t1samp_greater``   one-sample t, mean > threshold             estimate > threshold
``t1samp_less``      one-sample t, mean < threshold             estimate < threshold
``paired_t_greater`` paired t, mean(a - b) > threshold          estimate > threshold
``paired_t_less``    paired t, mean(a - b) < threshold          estimate < threshold
``tost_paired``      TOST, -margin < mean(a - b) < margin       abs(estimate) < threshold
``descriptive_le``   none (deterministic count, e.g. divergences) estimate <= threshold
``point_greater``    none: n < 2, no test possible (flagged)    estimate > threshold
``point_less``       none: n < 2, no test possible (flagged)    estimate < threshold
``point_abs_less``   none: n < 2, no test possible (flagged)    abs(estimate) < threshold
``not_comparable``   none: the arms cannot be compared as run      none (never passes)
``bootstrap_less``   bootstrap, mean < threshold: p = share of  estimate < threshold
                     resampled means >= threshold (Exp 6: the
                     configuration sets; stats/exp6.py)
===================  =========================================  ==============================

For ``tost_paired`` the ``threshold`` column holds the equivalence margin in the unit of the
estimate (a relative gap of 0.02 means "within 2%"), and the estimate/CI are of the same unit.

The ``passed`` rule (:func:`tests_table`)
-----------------------------------------
- A row with a p-value passes only if BOTH its estimate satisfies the rule above AND its
  Bonferroni-adjusted p-value is < ``alpha``. A correct-looking estimate that is not significant
  fails: the study needs evidence, not a lucky mean.
- ``descriptive_*`` rows (deterministic criteria without sampling error to test, e.g. "no
  divergence" with the estimate being the total count over seeds) pass on the rule alone.
- ``point_*`` rows are the n = 1 fallback: no test can be computed (p_value NaN), so ``passed`` is
  decided by the point estimate, and the row is flagged by its ``point_`` test name;
  :func:`is_flagged` says so, and the decisions and the report carry that caveat forward. Such a
  row never passes silently.
- A sample with zero variance (every per-seed value, or every paired difference, equal) has no
  sampling spread to test: its row keeps the estimate (and the point interval) but no statistic and
  no p-value, ``passed`` is False and ``note`` says "zero variance: no test, no claim". The
  decisions count such a criterion as not evaluated (:func:`is_undecided`), never as met or failed:
  a t statistic of infinity from identical values is not evidence.
- ``not_comparable`` rows (an arm against a control whose realised prediction ratio differs by
  more than 0.05, ``stats/rows.py``) carry the estimate for information, no test, ``passed`` False,
  and a ``note`` that says why; they make no claim and are outside Bonferroni.
- Bonferroni runs within a family (column ``family``): ``plan``, the plan's criteria and the
  evidence it names (STUDY.md section 2), and ``study``, the study's own controls and comparisons
  (section 6), reported apart so that adding a control never changes a plan verdict. Within a
  family, every row with a finite p-value counts (a test that could not be computed does not).
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as _st
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.weightstats import ttost_paired as _ttost_paired

__all__ = [
    "FAMILIES",
    "TEST_KINDS",
    "TESTS_COLUMNS",
    "TestResult",
    "TestRow",
    "ZERO_VARIANCE",
    "bootstrap_ci",
    "is_undecided",
    "not_comparable_row",
    "bonferroni",
    "descriptive_row",
    "is_flagged",
    "one_sample_row",
    "one_sample_vs_threshold",
    "paired_row",
    "paired_t",
    "rule_holds",
    "rule_text",
    "tests_table",
    "tost_paired",
    "tost_row",
]

#: Contract columns of ``stats/tests.csv``, in order.
TESTS_COLUMNS: tuple[str, ...] = (
    "experiment",
    "metric",
    "n",
    "estimate",
    "ci_low",
    "ci_high",
    "test",
    "statistic",
    "p_value",
    "p_adjusted",
    "threshold",
    "passed",
    "family",
    "note",
)

#: Bonferroni families (the ``family`` column): the plan's criteria, the study's own controls.
FAMILIES: tuple[str, ...] = ("plan", "study")

#: test kind -> estimate-vs-threshold operator (see the module docstring).
TEST_KINDS: dict[str, str] = {
    "t1samp_greater": ">",
    "t1samp_less": "<",
    "paired_t_greater": ">",
    "paired_t_less": "<",
    "tost_paired": "|x| <",
    "descriptive_le": "<=",
    "point_greater": ">",
    "point_less": "<",
    "point_abs_less": "|x| <",
    "not_comparable": "no claim",
    "bootstrap_less": "<",  # Exp 6: a test over resampled configuration sets
}

#: The ``note`` of a row whose sample has zero variance.
ZERO_VARIANCE = "zero variance: no test, no claim"

_ALTERNATIVES = ("greater", "less", "two-sided")


# --------------------------------------------------------------------------- input checks
def _sample(values, name: str, min_n: int = 1) -> np.ndarray:
    """Return ``values`` as a finite 1-D float array, or raise ValueError naming ``name``."""
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a 1-D sequence of numbers: {exc}") from exc
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    if arr.size < min_n:
        raise ValueError(f"{name} needs at least {min_n} value(s), got {arr.size}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values: {arr.tolist()}")
    return arr


def _check_alternative(alternative: str, name: str = "alternative") -> str:
    if alternative not in _ALTERNATIVES:
        raise ValueError(f"{name} must be one of {_ALTERNATIVES}, got {alternative!r}")
    return alternative


def _check_alpha(alpha: float, name: str = "alpha") -> float:
    if not (isinstance(alpha, (int, float)) and 0.0 < float(alpha) < 1.0):
        raise ValueError(f"{name} must be in (0, 1), got {alpha!r}")
    return float(alpha)


# --------------------------------------------------------------------------- results
@dataclass(frozen=True)
class TestResult:
    """Outcome of one hypothesis test.

    ``estimate`` is the mean of the sample (one-sample) or of the differences ``a - b`` (paired);
    ``statistic`` is the t statistic (for TOST: the t of the binding one-sided test, i.e. the one
    with the larger p-value); ``p_value`` is NaN when the test could not be computed, with
    ``reason`` saying why.
    """

    __test__ = False  # not a pytest test class despite the name

    test: str
    n: int
    estimate: float
    statistic: float
    p_value: float
    df: float
    reason: str = ""


@dataclass
class TestRow:
    """One row of ``stats/tests.csv`` (exactly the contract columns).

    ``p_adjusted`` and ``passed`` are filled in by :func:`tests_table`; build rows with
    :func:`one_sample_row`, :func:`paired_row`, :func:`tost_row` or :func:`descriptive_row`.
    """

    __test__ = False  # not a pytest test class despite the name

    experiment: str
    metric: str
    n: int
    estimate: float
    ci_low: float
    ci_high: float
    test: str
    statistic: float
    p_value: float
    p_adjusted: float
    threshold: float
    passed: bool | None
    family: str = "plan"
    note: str = ""


# --------------------------------------------------------------------------- bootstrap
def bootstrap_ci(
    values,
    confidence: float = 0.95,
    n_resamples: int = 9999,
    seed: int = 0,
    method: str = "BCa",
) -> tuple[float, float]:
    """Bootstrap confidence interval of the mean of ``values`` (scipy.stats.bootstrap).

    Args:
        values: 1-D sample (e.g. one value per seed).
        confidence: two-sided confidence level in (0, 1).
        n_resamples: bootstrap resamples.
        seed: seed of the resampling generator (deterministic result for a given seed).
        method: ``"BCa"`` (default) or ``"percentile"`` (or ``"basic"``). BCa needs a jackknife
            acceleration that is undefined for some tiny samples; when it yields NaN the
            percentile interval is returned instead.

    Returns:
        ``(low, high)`` in the unit of ``values``. Degenerate cases do not crash: a single value
        or a constant sample has no sampling spread to resample, so the interval is the point
        ``(value, value)``.
    """
    arr = _sample(values, "values")
    if not (0.0 < float(confidence) < 1.0):
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    if int(n_resamples) < 1:
        raise ValueError(f"n_resamples must be >= 1, got {n_resamples!r}")
    if method not in ("BCa", "percentile", "basic"):
        raise ValueError(f"method must be 'BCa', 'percentile' or 'basic', got {method!r}")
    if arr.size == 1 or np.ptp(arr) == 0.0:
        v = float(arr.mean())
        return (v, v)

    def _run(m: str) -> tuple[float, float]:
        with warnings.catch_warnings():
            # BCa on tiny samples warns (degenerate jackknife); we detect NaN and fall back.
            warnings.simplefilter("ignore")
            res = _st.bootstrap(
                (arr,),
                np.mean,
                n_resamples=int(n_resamples),
                confidence_level=float(confidence),
                method=m,
                rng=np.random.default_rng(seed),
                vectorized=True,
            )
        return float(res.confidence_interval.low), float(res.confidence_interval.high)

    low, high = _run(method)
    if not (math.isfinite(low) and math.isfinite(high)) and method != "percentile":
        low, high = _run("percentile")
    return low, high


# --------------------------------------------------------------------------- t-tests
def one_sample_vs_threshold(values, threshold: float, direction: str = "greater") -> TestResult:
    """One-sided one-sample t-test that the mean of ``values`` is above (or below) ``threshold``.

    Args:
        values: 1-D sample, one value per seed.
        threshold: the criterion's threshold, in the unit of ``values``.
        direction: ``"greater"`` (H1: mean > threshold) or ``"less"`` (H1: mean < threshold).

    Returns:
        :class:`TestResult` with ``estimate = mean(values)``; with n < 2 the test cannot be
        computed: statistic and p_value are NaN and ``reason`` says so.
    """
    arr = _sample(values, "values")
    if direction not in ("greater", "less"):
        raise ValueError(f"direction must be 'greater' or 'less', got {direction!r}")
    threshold = float(threshold)
    if not math.isfinite(threshold):
        raise ValueError(f"threshold must be finite, got {threshold!r}")
    kind = f"t1samp_{direction}"
    est = float(arr.mean())
    if arr.size < 2:
        return TestResult(kind, 1, est, math.nan, math.nan, math.nan, "n < 2: no t-test possible")
    if np.ptp(arr) == 0.0:  # no sampling spread: no test (a t of infinity is not evidence)
        return TestResult(kind, int(arr.size), est, math.nan, math.nan, float(arr.size - 1), ZERO_VARIANCE)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        res = _st.ttest_1samp(arr, popmean=threshold, alternative=direction)
    return TestResult(kind, int(arr.size), est, float(res.statistic), float(res.pvalue), float(res.df), "")


def paired_t(a, b, alternative: str = "two-sided", value: float = 0.0) -> TestResult:
    """Paired t-test on ``d = a - b`` (e.g. after vs before, arm vs baseline paired by seed).

    Args:
        a, b: 1-D samples of equal length, element i of both from the same seed.
        alternative: ``"two-sided"``, ``"greater"`` (H1: mean(d) > value) or ``"less"``.
        value: hypothesised mean difference under H0 (default 0).

    Returns:
        :class:`TestResult` with ``estimate = mean(a - b)``.
    """
    xa, xb = _sample(a, "a"), _sample(b, "b")
    if xa.size != xb.size:
        raise ValueError(f"a and b must have the same length (paired by seed), got {xa.size} and {xb.size}")
    _check_alternative(alternative)
    value = float(value)
    d = xa - xb
    est = float(d.mean())
    kind = "paired_t" if alternative == "two-sided" else f"paired_t_{alternative}"
    if d.size < 2:
        return TestResult(kind, 1, est, math.nan, math.nan, math.nan, "n < 2: no t-test possible")
    if np.ptp(d) == 0.0:  # every paired difference equal: no test (a t of infinity is not evidence)
        return TestResult(kind, int(d.size), est, math.nan, math.nan, float(d.size - 1), ZERO_VARIANCE)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        # ttest_1samp on the differences equals ttest_rel but supports a non-zero H0 value.
        res = _st.ttest_1samp(d, popmean=value, alternative=alternative)
    return TestResult(kind, int(d.size), est, float(res.statistic), float(res.pvalue), float(res.df), "")


def _margin(b: np.ndarray, margin_rel: float | None, margin_abs: float | None) -> float:
    if (margin_rel is None) == (margin_abs is None):
        raise ValueError("give exactly one of margin_rel or margin_abs")
    if margin_abs is not None:
        m = float(margin_abs)
        if not (math.isfinite(m) and m > 0):
            raise ValueError(f"margin_abs must be a positive finite number, got {margin_abs!r}")
        return m
    r = float(margin_rel)
    if not (math.isfinite(r) and r > 0):
        raise ValueError(f"margin_rel must be a positive finite share (0.02 = 2%), got {margin_rel!r}")
    base = abs(float(b.mean()))
    if base == 0.0:
        raise ValueError("margin_rel needs a non-zero baseline mean (b); use margin_abs")
    return r * base


def tost_paired(a, b, margin_rel: float | None = None, margin_abs: float | None = None) -> TestResult:
    """Paired equivalence test (TOST, statsmodels ``ttost_paired``): is ``a`` within a margin of ``b``?

    H0: ``|mean(a - b)| >= margin``; H1: ``-margin < mean(a - b) < margin``. A small p-value is
    evidence of equivalence; a non-significant difference is NOT evidence of equivalence.

    Args:
        a, b: paired 1-D samples (``b`` the baseline, e.g. final loss per seed).
        margin_rel: margin as a share of ``|mean(b)|`` (0.02 = "within 2% of baseline").
        margin_abs: margin in the unit of ``a`` and ``b``. Give exactly one of the two.

    Returns:
        :class:`TestResult` with ``estimate = mean(a - b)`` (unit of ``a``), ``statistic`` the t of
        the binding one-sided test, ``p_value`` the TOST p-value (max of the two one-sided ones),
        and ``reason`` stating the absolute margin used.
    """
    xa, xb = _sample(a, "a"), _sample(b, "b")
    if xa.size != xb.size:
        raise ValueError(f"a and b must have the same length (paired by seed), got {xa.size} and {xb.size}")
    m = _margin(xb, margin_rel, margin_abs)
    d = xa - xb
    est = float(d.mean())
    if d.size < 2:
        return TestResult("tost_paired", 1, est, math.nan, math.nan, math.nan,
                          f"n < 2: no TOST possible (margin {m:.6g})")
    if np.ptp(d) == 0.0:  # every paired difference equal: no test, no claim
        return TestResult("tost_paired", int(d.size), est, math.nan, math.nan, float(d.size - 1), ZERO_VARIANCE)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        p, (t1, p1, df1), (t2, p2, df2) = _ttost_paired(xa, xb, -m, m)
    stat = float(t1) if p1 >= p2 else float(t2)
    return TestResult("tost_paired", int(d.size), est, stat, float(p), float(df1), f"margin {m:.6g}")


def bonferroni(p_values: Sequence[float]) -> np.ndarray:
    """Bonferroni-adjusted p-values, ``min(1, p * m)`` (statsmodels ``multipletests``).

    NaN entries (tests that could not be computed) stay NaN and are not counted in the family
    size ``m``.
    """
    p = np.asarray(list(p_values), dtype=float)
    if p.ndim != 1:
        raise ValueError(f"p_values must be 1-D, got shape {p.shape}")
    finite = np.isfinite(p)
    if np.any((p[finite] < 0) | (p[finite] > 1)):
        raise ValueError(f"p_values must lie in [0, 1], got {p.tolist()}")
    out = np.full(p.shape, np.nan)
    if finite.any():
        out[finite] = multipletests(p[finite], method="bonferroni")[1]
    return out


# --------------------------------------------------------------------------- row builders
def _check_family(family: str) -> str:
    if family not in FAMILIES:
        raise ValueError(f"family must be one of {FAMILIES}, got {family!r}")
    return family


def _row(experiment: str, metric: str, res: TestResult, ci: tuple[float, float],
         threshold: float, test: str, family: str = "plan") -> TestRow:
    if not isinstance(experiment, str) or not experiment:
        raise ValueError(f"experiment must be a non-empty string, got {experiment!r}")
    if not isinstance(metric, str) or not metric:
        raise ValueError(f"metric must be a non-empty string, got {metric!r}")
    note = ZERO_VARIANCE if res.reason == ZERO_VARIANCE else ""
    return TestRow(experiment, metric, int(res.n), float(res.estimate), float(ci[0]), float(ci[1]),
                   test, float(res.statistic), float(res.p_value), math.nan, float(threshold), None,
                   _check_family(family), note)


def one_sample_row(experiment: str, metric: str, values, threshold: float, direction: str = "greater",
                   *, confidence: float = 0.95, n_resamples: int = 9999, seed: int = 0,
                   family: str = "plan") -> TestRow:
    """Row for "mean of the per-seed ``values`` is > (or <) ``threshold``" with a bootstrap CI.

    With n = 1 the row's test is ``point_<direction>`` (flagged, decided by the point estimate).
    """
    res = one_sample_vs_threshold(values, threshold, direction)
    ci = bootstrap_ci(values, confidence, n_resamples, seed)
    test = res.test if res.n >= 2 else f"point_{direction}"
    return _row(experiment, metric, res, ci, threshold, test, family)


def paired_row(experiment: str, metric: str, a, b, threshold: float = 0.0, direction: str = "greater",
               *, confidence: float = 0.95, n_resamples: int = 9999, seed: int = 0,
               family: str = "plan") -> TestRow:
    """Row for "mean of ``a - b`` (paired by seed) is > (or <) ``threshold``", bootstrap CI of ``a - b``."""
    if direction not in ("greater", "less"):
        raise ValueError(f"direction must be 'greater' or 'less', got {direction!r}")
    res = paired_t(a, b, alternative=direction, value=threshold)
    d = _sample(a, "a") - _sample(b, "b")
    ci = bootstrap_ci(d, confidence, n_resamples, seed)
    test = res.test if res.n >= 2 else f"point_{direction}"
    return _row(experiment, metric, res, ci, threshold, test, family)


def tost_row(experiment: str, metric: str, a, b, margin_rel: float, *, relative_estimate: bool = True,
             confidence: float = 0.95, n_resamples: int = 9999, seed: int = 0, family: str = "plan") -> TestRow:
    """Row for "``a`` is within ``margin_rel`` of the baseline ``b``" (TOST, paired by seed).

    With ``relative_estimate`` (default) the estimate, CI and threshold are expressed as a share
    of ``|mean(b)|`` (estimate 0.013 = 1.3% worse than baseline; threshold = ``margin_rel``);
    otherwise in the unit of ``a`` with threshold = the absolute margin. The p-value is the same
    either way (dividing by a constant does not change the test).
    """
    res = tost_paired(a, b, margin_rel=margin_rel)
    xa, xb = _sample(a, "a"), _sample(b, "b")
    d = xa - xb
    scale = abs(float(xb.mean())) if relative_estimate else 1.0
    ci = bootstrap_ci(d / scale, confidence, n_resamples, seed)
    thr = float(margin_rel) if relative_estimate else float(margin_rel) * abs(float(xb.mean()))
    res = dataclasses.replace(res, estimate=res.estimate / scale)
    test = "tost_paired" if res.n >= 2 else "point_abs_less"
    return _row(experiment, metric, res, ci, thr, test, family)


def not_comparable_row(experiment: str, metric: str, a, b, why: str, *, family: str = "study") -> TestRow:
    """Row for a comparison that cannot be made as run (``why``, e.g. "not comparable: realised ratio
    0.10 vs 0.50"): the mean of ``a - b`` for information, no test, no claim (test ``not_comparable``)."""
    d = _sample(a, "a") - _sample(b, "b")
    est = float(d.mean())
    return TestRow(experiment, metric, int(d.size), est, est, est, "not_comparable", math.nan, math.nan, math.nan,
                   0.0, None, _check_family(family), str(why))


def descriptive_row(experiment: str, metric: str, estimate: float, threshold: float, n: int,
                    family: str = "plan") -> TestRow:
    """Row for a deterministic criterion without a test (e.g. total divergences over seeds <= 0)."""
    est = float(estimate)
    if not math.isfinite(est):
        raise ValueError(f"estimate must be finite, got {estimate!r}")
    if int(n) < 1:
        raise ValueError(f"n must be >= 1, got {n!r}")
    return TestRow(experiment, metric, int(n), est, est, est, "descriptive_le", math.nan, math.nan,
                   math.nan, float(threshold), None, _check_family(family))


# --------------------------------------------------------------------------- the table
def rule_holds(test: str, estimate: float, threshold: float) -> bool:
    """Whether ``estimate`` satisfies the threshold rule of test kind ``test`` (see TEST_KINDS)."""
    if test not in TEST_KINDS:
        raise ValueError(f"test must be one of {sorted(TEST_KINDS)}, got {test!r}")
    if not (math.isfinite(estimate) and math.isfinite(threshold)):
        return False
    op = TEST_KINDS[test]
    if op == "no claim":
        return False
    if op == ">":
        return estimate > threshold
    if op == "<":
        return estimate < threshold
    if op == "<=":
        return estimate <= threshold
    return abs(estimate) < threshold  # "|x| <"


def rule_text(test: str, threshold: float) -> str:
    """Human-readable rule, e.g. ``"> 0.7"`` or ``"|x| < 0.02"``."""
    if test not in TEST_KINDS:
        raise ValueError(f"test must be one of {sorted(TEST_KINDS)}, got {test!r}")
    if TEST_KINDS[test] == "no claim":
        return "no claim"
    return f"{TEST_KINDS[test]} {threshold:.6g}"


def is_flagged(test: str) -> bool:
    """True for rows decided by a point estimate because no test could be computed (n < 2)."""
    return str(test).startswith("point_")


def is_undecided(test: str, p_value: float) -> bool:
    """True for rows that make no claim: a test that needs a p-value but has none (zero variance),
    and ``not_comparable`` rows. The decisions count them as not evaluated."""
    test = str(test)
    if test == "not_comparable":
        return True
    if test.startswith(("point_", "descriptive_")):
        return False
    try:
        return not math.isfinite(float(p_value))
    except (TypeError, ValueError):
        return True


def tests_table(rows: Iterable[TestRow], alpha: float = 0.05) -> pd.DataFrame:
    """Assemble the tests table: Bonferroni within each family, then ``passed`` per row.

    Args:
        rows: :class:`TestRow` objects (their ``p_adjusted``/``passed`` are ignored and recomputed).
        alpha: family-wise significance level (of each family).

    Returns:
        DataFrame with exactly :data:`TESTS_COLUMNS`; ``passed`` is a bool column, decided as in
        the module docstring (estimate rule AND adjusted p < alpha; rule only for descriptive and
        flagged point rows).
    """
    alpha = _check_alpha(alpha)
    rows = list(rows)
    for i, r in enumerate(rows):
        if not isinstance(r, TestRow):
            raise ValueError(f"rows[{i}] must be a TestRow, got {type(r).__name__}")
        if r.test not in TEST_KINDS:
            raise ValueError(f"rows[{i}].test must be one of {sorted(TEST_KINDS)}, got {r.test!r}")
        if r.family not in FAMILIES:
            raise ValueError(f"rows[{i}].family must be one of {FAMILIES}, got {r.family!r}")
    keys = [(r.experiment, r.metric) for r in rows]
    if len(set(keys)) != len(keys):
        dup = sorted({k for k in keys if keys.count(k) > 1})
        raise ValueError(f"rows contain duplicate (experiment, metric) pairs: {dup}")
    if not rows:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in TESTS_COLUMNS})
    df = pd.DataFrame([dataclasses.asdict(r) for r in rows], columns=list(TESTS_COLUMNS))
    df["p_adjusted"] = np.nan
    for fam in FAMILIES:
        sel = (df["family"] == fam).to_numpy()
        if sel.any():
            df.loc[sel, "p_adjusted"] = bonferroni(df.loc[sel, "p_value"].to_numpy(dtype=float))
    passed = []
    for r, p_adj in zip(rows, df["p_adjusted"]):
        ok = r.test != "not_comparable" and rule_holds(r.test, r.estimate, r.threshold)
        if r.test.startswith(("point_", "descriptive_")):
            passed.append(bool(ok))
        else:
            passed.append(bool(ok and math.isfinite(p_adj) and p_adj < alpha))
    df["passed"] = pd.Series(passed, dtype=bool)
    df["n"] = df["n"].astype(int)
    return df
