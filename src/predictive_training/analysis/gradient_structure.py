"""Experiment 1: structure of the gradient (and weight-update) stream of a conventional run.

Input is a matrix ``X`` of shape [T, D]: one row per recorded step, rows in step order, D the
number of parameters ("exact" mode) or the sketch dimension k ("sketch" mode, see
:mod:`predictive_training.records.sketch`). Everything below depends on X only through inner
products of its rows, which the sketch preserves in expectation.

Quantities (all unitless):

* adjacent cosine ``cos(x_t, x_{t+1})`` between consecutive recorded rows, and the mean
  ``cos(x_t, x_{t+k})`` for lags k = 1..max_lag;
* PCA explained variance of the rows. Rows are **mean-centred** (over the rows used) before
  the decomposition, the standard PCA convention; the uncentred share (variance about the
  origin, which credits a persistent mean direction) is reported beside it as ``*_uncentred``
  but no criterion uses it;
* temporal autocorrelation of the leading principal-component score series
  (score_j(t) = <x_t - mean, v_j>, v_j the j-th principal axis of the whole run).

"Significant at lag L" (L = 50 by default), as used by the criterion: for at least one of the
m leading score series (m = ``n_series``, default 5), DETRENDED, the lag-L sample
autocorrelation r_L differs from zero in a two-sided z-test with Bartlett's standard error under
the MA(L-1) null, ``se_L = sqrt((1 + 2 * sum_{j=1}^{L-1} r_j^2) / T)``, at level alpha after
Bonferroni correction over the m series (p_adjusted = min(1, m * p) < alpha). This asks whether
the stream still remembers L steps back, not merely whether it is autocorrelated somewhere.

Why detrended: the score of a leading component of a training run drifts (gradients shrink and
turn as the loss falls), and a trend alone makes every sample autocorrelation large, so the test
on raw scores passes almost by construction. Each score series is first detrended by a
least-squares polynomial in t of order ``detrend_order`` (default 2, statsmodels ``detrend``):
a quadratic absorbs linear and curved monotone drifts (a decaying exponential over the run
included) but not structure on the scale of L. Known answers (tests/test_gradient_structure.py):
a trend plus white noise is NOT declared autocorrelated; a series with real lag-L memory (e.g.
``x_t = 0.4 x_{t-L} + e_t``, with or without a trend) is. Note that an AR(1) with phi = 0.9 has
rho_L = 0.9^50 = 0.005 at L = 50: it has short memory, and a correct lag-50 test does not flag
it. The raw (not detrended) r_L and the share of each series' variance the trend explains are
reported beside the test (``acf_lag_raw``, ``trend_share``).

The Ljung-Box portmanteau test of lags 1..L (H0: white noise) of the same detrended series,
Bonferroni-corrected the same way, is reported beside it (``ljung_box``); it rejects for any
series with short memory, so it is the weaker statement. The test is evaluated only when
T >= 2 L (so that r_L is an average over at least T/2 products); otherwise it is reported as not
evaluable (``None``).

Which gradients: the trainer's recorder stores RAW (pre-clipping) gradients with the clip factor
of each row (:mod:`predictive_training.records.gradients`); the criteria use the raw stream, as
the plan describes. :func:`run_experiment1` reports how often clipping acted and the criteria's
estimates on the clipped stream (``grad * clip_coef``, what the optimiser used) beside them.
Adjacent cosines are the same for both (clipping scales a whole row).

Input: the gradient and update records of a run (:mod:`predictive_training.records.gradients`).
"""

from __future__ import annotations

import inspect
import math
from typing import Any

import numpy as np
import torch
from scipy.stats import norm
from statsmodels.stats.diagnostic import acorr_ljungbox
from statsmodels.tsa.stattools import acf as _sm_acf
from statsmodels.tsa.tsatools import detrend as _sm_detrend

from ..records.gradients import as_cpu_tensor, check_steps, read_records

__all__ = [
    "DEFAULT_THRESHOLDS",
    "adjacent_cosines",
    "lagged_cosines",
    "pca_spectrum",
    "window_pca",
    "autocorrelation_test",
    "analyze",
    "run_experiment1",
]

# The plan's Experiment 1 success criteria (section 2) and "evidence required" for weight
# updates (section 1): never tuned to the data.
DEFAULT_THRESHOLDS: dict[str, float] = {
    "mean_cosine": 0.7,  # mean adjacent gradient cosine must exceed this
    "pca_top10": 0.7,  # share of gradient variance in the top 10 components must exceed this
    "autocorr_alpha": 0.05,  # significance level of the lag-50 autocorrelation test
    "autocorr_lag": 50,  # the lag L of "significant at lag 50"
    "update_pca_top10": 0.8,  # share of weight-update variance in the top 10 components
}

#: order of the polynomial trend removed from each score series before the lag-L test (module docstring)
DETREND_ORDER = 2

_QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
_BLOCK_BYTES = 1 << 27  # temporary float32 block size when building a Gram matrix (128 MiB)


# ============================================================================ second moments
def _prepare(X, row_scale) -> tuple[torch.Tensor, np.ndarray | None]:
    X = as_cpu_tensor(X, "X")
    if X.dim() != 2:
        raise ValueError(f"X must be 2-D [T, D], got shape {list(X.shape)}")
    if not X.is_floating_point():
        raise ValueError("X must be floating point")
    if X.shape[0] < 2 or X.shape[1] < 1:
        raise ValueError(f"X needs at least 2 rows and 1 column, got {list(X.shape)}")
    scale = None
    if row_scale is not None:
        scale = as_cpu_tensor(row_scale, "row_scale").to(torch.float64).numpy()
        if scale.shape != (X.shape[0],):
            raise ValueError(f"row_scale must have shape [{X.shape[0]}], got {list(scale.shape)}")
    return X, scale


class _Moments:
    """Inner products of the rows of X (true rows = X[t] * row_scale[t]), computed once.

    If T <= D the uncentred Gram matrix G = X X^T (float64 [T, T]) is built block by block
    over columns, so memory is O(T^2) beside X; otherwise (D < T, e.g. a sketch over many
    steps) a float64 copy of X is kept and covariances are D x D.
    """

    def __init__(self, X, row_scale=None):
        X, scale = _prepare(X, row_scale)
        T, D = X.shape
        self.T, self.D = T, D
        if T <= D:
            self.route = "gram"
            G = np.zeros((T, T), dtype=np.float64)
            block = max(1, _BLOCK_BYTES // (4 * T))
            for lo in range(0, D, block):
                xb = X[:, lo : lo + block].to(torch.float32)
                G += (xb @ xb.T).double().numpy()
            if scale is not None:
                G *= np.outer(scale, scale)
            self.G = G
            self.sq = np.diag(G).copy()
        else:
            self.route = "rows"
            Xd = X.to(torch.float64).numpy().copy()
            if scale is not None:
                Xd *= scale[:, None]
            self.X = Xd
            self.sq = np.einsum("ij,ij->i", Xd, Xd)
        if not np.all(np.isfinite(self.sq)):
            raise ValueError("X contains non-finite values")

    def dots_at_lag(self, k: int) -> np.ndarray:
        """<x_t, x_{t+k}> for t = 0..T-k-1."""
        if self.route == "gram":
            return np.diagonal(self.G, offset=k).copy()
        return np.einsum("ij,ij->i", self.X[:-k], self.X[k:])

    def cos_at_lag(self, k: int) -> np.ndarray:
        """cos(x_t, x_{t+k}) for t = 0..T-k-1; NaN where a row is exactly zero."""
        denom = np.sqrt(self.sq[:-k] * self.sq[k:])
        with np.errstate(invalid="ignore", divide="ignore"):
            c = self.dots_at_lag(k) / denom
        c[denom == 0] = np.nan
        return np.clip(c, -1.0, 1.0)

    def eig(self, lo: int, hi: int, center: bool, n_scores: int) -> tuple[np.ndarray, np.ndarray]:
        """Spectrum of rows lo..hi-1: eigenvalues (descending, >= 0, length min(hi-lo, D)) of
        their (centred) second-moment matrix, and the first n_scores score series [hi-lo, .]."""
        n = hi - lo
        if self.route == "gram":
            M = self.G[lo:hi, lo:hi]
            if center:
                r = M.mean(axis=0)
                M = M - r[None, :] - r[:, None] + r.mean()
            w, V = np.linalg.eigh((M + M.T) / 2)
            w, V = w[::-1], V[:, ::-1]
            w = np.clip(w, 0.0, None)
            scores = V[:, :n_scores] * np.sqrt(w[:n_scores])[None, :]
            return w, scores
        Xs = self.X[lo:hi]
        if center:
            Xs = Xs - Xs.mean(axis=0, keepdims=True)
        if n <= self.D:
            M = Xs @ Xs.T
            w, V = np.linalg.eigh((M + M.T) / 2)
            w, V = w[::-1], V[:, ::-1]
            w = np.clip(w, 0.0, None)
            return w, V[:, :n_scores] * np.sqrt(w[:n_scores])[None, :]
        C = Xs.T @ Xs
        w, V = np.linalg.eigh((C + C.T) / 2)
        w, V = w[::-1], V[:, ::-1]
        w = np.clip(w, 0.0, None)
        return w, Xs @ V[:, :n_scores]


def _moments(X, row_scale=None) -> _Moments:
    return X if isinstance(X, _Moments) else _Moments(X, row_scale)


# ============================================================================ cosines
def adjacent_cosines(X, row_scale=None) -> np.ndarray:
    """cos(x_t, x_{t+1}) for t = 0..T-2, float64 [T-1]; NaN where a row is exactly zero.

    Args:
        X: [T, D] rows in step order. row_scale: optional [T] positive factors (cosines do not
        depend on them).
    """
    return _moments(X, row_scale).cos_at_lag(1)


def lagged_cosines(X, max_lag: int = 50, row_scale=None) -> np.ndarray:
    """Mean over t of cos(x_t, x_{t+k}) for k = 1..min(max_lag, T-1), float64 [<= max_lag]."""
    if not isinstance(max_lag, int) or max_lag < 1:
        raise ValueError(f"max_lag must be an int >= 1, got {max_lag!r}")
    m = _moments(X, row_scale)
    out = []
    for k in range(1, min(max_lag, m.T - 1) + 1):
        c = m.cos_at_lag(k)
        out.append(float(np.nanmean(c)) if np.any(np.isfinite(c)) else float("nan"))
    return np.asarray(out)


# ============================================================================ PCA
def _shares(w: np.ndarray, n_components: int) -> tuple[np.ndarray, float]:
    total = float(w.sum())
    if total <= 0:
        return np.full_like(w, np.nan), float("nan")
    ratio = w / total
    return ratio, float(ratio[:n_components].sum())


def pca_spectrum(X, n_components: int = 10, center: bool = True, row_scale=None) -> dict:
    """PCA of the rows of X over the whole run.

    Returns a dict with ``explained_ratio`` (float64 [min(T, D)], descending, sums to 1),
    ``top_share`` (share of the first ``n_components``), ``eigenvalues`` and ``centered``.
    """
    m = _moments(X, row_scale)
    w, _ = m.eig(0, m.T, center, 0)
    ratio, top = _shares(w, n_components)
    return {"eigenvalues": w, "explained_ratio": ratio, "top_share": top, "centered": center}


def window_pca(
    X, window: int, stride: int, n_components: int = 10, center: bool = True, row_scale=None,
    steps=None,
) -> list[dict]:
    """Top-``n_components`` variance share in sliding windows of ``window`` rows every ``stride``
    rows (each window centred on its own mean when ``center``). Windows that do not fit
    entirely are dropped; an empty list means the run is shorter than one window."""
    if not isinstance(window, int) or window < 2:
        raise ValueError(f"window must be an int >= 2, got {window!r}")
    if not isinstance(stride, int) or stride < 1:
        raise ValueError(f"stride must be an int >= 1, got {stride!r}")
    m = _moments(X, row_scale)
    steps = np.arange(m.T) if steps is None else np.asarray(steps)
    out = []
    for lo in range(0, m.T - window + 1, stride):
        w, _ = m.eig(lo, lo + window, center, 0)
        _, top = _shares(w, n_components)
        out.append({"start_step": int(steps[lo]), "end_step": int(steps[lo + window - 1]),
                    "top_share": top})
    return out


# ============================================================================ autocorrelation
def _acf(x: np.ndarray, nlags: int) -> np.ndarray:
    kwargs = {}
    if "result_object" in inspect.signature(_sm_acf).parameters:
        kwargs["result_object"] = False  # plain array; silences statsmodels' FutureWarning
    return np.asarray(_sm_acf(x, nlags=nlags, fft=True, **kwargs), dtype=np.float64)


def autocorrelation_test(series, max_lag: int = 50, alpha: float = 0.05,
                         detrend_order: int | None = DETREND_ORDER) -> dict:
    """Autocorrelation of m scalar series up to ``max_lag``, with Bonferroni over the m series.

    Args:
        series: [T, m] (or [T]) float array, one column per series, rows in step order.
        max_lag: L, the lag of the test; requires T >= 2 L (else ``evaluable`` is False).
        alpha: family-wise significance level.
        detrend_order: each series is detrended by a least-squares polynomial in t of this order
            before the test (module docstring); None tests the series as given.
    Returns (JSON-ready apart from numpy arrays) a dict with, per series (statistics of the
    detrended series unless noted): ``acf`` [L+1], ``acf_lag_raw`` (r_L before detrending),
    ``trend_share`` (share of the series' variance the trend explains),
    ``bartlett_bound`` [L] (the Bonferroni-corrected two-sided bound z_{1-alpha/(2m)} * se_k,
    se_k = sqrt((1 + 2 sum_{j<k} r_j^2) / T), k = 1..L), ``acf_lag``, ``z_lag``,
    ``p_lag`` / ``p_lag_adjusted`` (lag-L z-test), ``ljung_box_stat``, ``ljung_box_p`` /
    ``ljung_box_p_adjusted`` (Q over lags 1..L), ``exceeds_white_noise_bound``
    (|r_L| > z_{1-alpha/(2m)} / sqrt(T), for comparison only); and overall ``significant_at_lag``
    (any series with p_lag_adjusted < alpha: the definition used by the criterion),
    ``ljung_box_significant``, ``min_p_lag_adjusted``, ``white_noise_bound``.
    """
    if not isinstance(max_lag, int) or max_lag < 1:
        raise ValueError(f"max_lag must be an int >= 1, got {max_lag!r}")
    if not (0 < alpha < 1):
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    if detrend_order is not None and (isinstance(detrend_order, bool) or not isinstance(detrend_order, int)
                                      or detrend_order < 0):
        raise ValueError(f"detrend_order must be an int >= 0 or None, got {detrend_order!r}")
    S = np.asarray(series, dtype=np.float64)
    if S.ndim == 1:
        S = S[:, None]
    if S.ndim != 2:
        raise ValueError(f"series must be [T] or [T, m], got shape {list(S.shape)}")
    T, m = S.shape
    detrended = "none" if detrend_order is None else f"least-squares polynomial trend of order {detrend_order} removed"
    base = {"max_lag": max_lag, "alpha": alpha, "n_obs": T, "n_series": m, "detrend": detrended,
            "definition": "any series, detrended: two-sided Bartlett z-test of ACF(L)=0, Bonferroni over series"}
    keep = [j for j in range(m) if np.all(np.isfinite(S[:, j])) and np.std(S[:, j]) > 0]
    if T < 2 * max_lag or not keep:
        reason = (f"needs T >= 2*max_lag = {2 * max_lag} rows, got {T}" if T < 2 * max_lag
                  else "no non-constant series")
        return {**base, "evaluable": False, "reason": reason, "significant_at_lag": None,
                "ljung_box_significant": None, "min_p_lag_adjusted": None,
                "min_ljung_box_p_adjusted": None, "series": []}
    m_eff = len(keep)
    z_crit = float(norm.isf(alpha / (2 * m_eff)))
    out_series = []
    for j in keep:
        raw = S[:, j]
        x = raw if detrend_order is None else np.asarray(_sm_detrend(raw, order=detrend_order), dtype=np.float64)
        var_raw = float(np.var(raw))
        trend_share = 1.0 - float(np.var(x)) / var_raw
        if not np.std(x) > 1e-12 * math.sqrt(var_raw):  # the series is its trend: nothing to test
            x = np.zeros_like(x)
        r = _acf(x, max_lag) if np.any(x) else np.r_[1.0, np.zeros(max_lag)]
        cum = np.concatenate([[0.0], np.cumsum(r[1:max_lag] ** 2)])  # sum_{j<k} r_j^2, k=1..L
        se = np.sqrt((1.0 + 2.0 * cum) / T)
        z = float(r[max_lag] / se[-1])
        p = float(2.0 * norm.sf(abs(z)))
        if np.any(x):
            lb = acorr_ljungbox(x, lags=[max_lag], return_df=True)
            lb_stat, lb_p = float(lb["lb_stat"].iloc[0]), float(lb["lb_pvalue"].iloc[0])
        else:
            lb_stat, lb_p = 0.0, 1.0
        out_series.append({
            "index": j, "acf": r, "bartlett_bound": z_crit * se, "acf_lag": float(r[max_lag]),
            "acf_lag_raw": float(_acf(raw, max_lag)[max_lag]), "trend_share": trend_share,
            "z_lag": z, "p_lag": p, "p_lag_adjusted": min(1.0, m_eff * p),
            # the plain white-noise band (R's default acf plot); not a valid test of rho_L = 0
            # for a series with short memory, reported for comparison only
            "exceeds_white_noise_bound": bool(abs(r[max_lag]) > z_crit / math.sqrt(T)),
            "ljung_box_stat": lb_stat, "ljung_box_p": lb_p,
            "ljung_box_p_adjusted": min(1.0, m_eff * lb_p),
        })
    min_p = min(s["p_lag_adjusted"] for s in out_series)
    min_lb = min(s["ljung_box_p_adjusted"] for s in out_series)
    return {**base, "evaluable": True, "n_series_tested": m_eff, "z_critical": z_crit,
            "white_noise_bound": z_crit / math.sqrt(T),
            "significant_at_lag": bool(min_p < alpha), "min_p_lag_adjusted": min_p,
            "ljung_box_significant": bool(min_lb < alpha), "min_ljung_box_p_adjusted": min_lb,
            "series": out_series}


# ============================================================================ analysis
def _describe(c: np.ndarray, pair_steps: np.ndarray, hist_bins: int) -> dict:
    ok = np.isfinite(c)
    v = c[ok]
    d: dict[str, Any] = {"n": int(v.size), "n_undefined": int((~ok).sum())}
    if v.size == 0:
        d.update(mean=None, std=None, quantiles={}, phases=[])
        return d
    d["mean"] = float(v.mean())
    d["std"] = float(v.std(ddof=1)) if v.size > 1 else 0.0
    d["min"], d["max"] = float(v.min()), float(v.max())
    d["quantiles"] = {str(q): float(np.quantile(v, q)) for q in _QUANTILES}
    counts, edges = np.histogram(v, bins=hist_bins, range=(-1.0, 1.0))
    d["histogram"] = {"counts": counts, "edges": edges}
    phases = []
    for name, idx in zip(("first", "middle", "last"), np.array_split(np.arange(c.size), 3)):
        seg = c[idx]
        seg = seg[np.isfinite(seg)]
        phases.append({
            "phase": name,
            "start_step": int(pair_steps[idx[0]]) if idx.size else None,
            "end_step": int(pair_steps[idx[-1]]) if idx.size else None,
            "n": int(seg.size),
            "mean": float(seg.mean()) if seg.size else None,
            "std": float(seg.std(ddof=1)) if seg.size > 1 else None,
        })
    d["phases"] = phases
    d["values"] = c  # raw adjacent cosines (NaN -> null), for figures
    d["pair_end_steps"] = pair_steps
    return d


def _jsonable(obj):
    """Recursively turn numpy/torch values into plain Python; NaN and inf become None."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, torch.Tensor):
        obj = obj.detach().cpu().numpy()
    if isinstance(obj, np.ndarray):
        return [_jsonable(v) for v in obj.tolist()]
    if isinstance(obj, (np.bool_, bool)):
        return bool(obj)
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        f = float(obj)
        return f if math.isfinite(f) else None
    return obj


def analyze(
    X,
    steps,
    *,
    row_scale=None,
    max_lag: int = 50,
    n_components: int = 10,
    n_series: int = 5,
    window: int = 100,
    stride: int = 50,
    alpha: float = 0.05,
    center: bool = True,
    hist_bins: int = 40,
    detrend_order: int | None = DETREND_ORDER,
) -> dict:
    """All Experiment 1 statistics of one stream (gradients or weight updates).

    Args:
        X: [T, D] float (torch or numpy, any float dtype), rows in step order.
        steps: [T] strictly increasing integer steps of the rows.
        row_scale: optional [T] factors (true row t = X[t] * row_scale[t]), as stored in
            exact-mode records.
        max_lag: largest lag of the lagged-cosine curve and the autocorrelation test (L).
        n_components: number of leading components in the "top share" (10 in the plan).
        n_series: number of leading PC score series tested for autocorrelation.
        window, stride: sliding-window PCA (in rows).
        alpha: family-wise level of the autocorrelation test.
        center: mean-centre rows before PCA (the criterion uses True).
        hist_bins: bins of the adjacent-cosine histogram on [-1, 1].
        detrend_order: polynomial trend removed from each score series before the
            autocorrelation test (None: none; see :func:`autocorrelation_test`).
    Returns:
        JSON-serialisable dict: ``adjacent_cosine`` (summary, phases, histogram, raw values),
        ``lagged_cosine`` ({"lags", "mean"}), ``pca`` (whole run: ``top_share``,
        ``top_share_uncentred``, full ``explained_ratio``), ``pca_windows``,
        ``autocorrelation`` (see :func:`autocorrelation_test`), ``n_steps``, ``dim``, ``route``.
    """
    for name, v, lo in (("n_components", n_components, 1), ("n_series", n_series, 1),
                        ("hist_bins", hist_bins, 1), ("max_lag", max_lag, 1)):
        if not isinstance(v, int) or isinstance(v, bool) or v < lo:
            raise ValueError(f"{name} must be an int >= {lo}, got {v!r}")
    m = _Moments(X, row_scale)
    steps = check_steps(as_cpu_tensor(steps, "steps"), m.T).numpy()
    diffs = np.diff(steps)

    cos1 = m.cos_at_lag(1)
    lags = list(range(1, min(max_lag, m.T - 1) + 1))
    lag_means = []
    for k in lags:
        c = cos1 if k == 1 else m.cos_at_lag(k)
        lag_means.append(float(np.nanmean(c)) if np.any(np.isfinite(c)) else float("nan"))

    w, scores = m.eig(0, m.T, center, n_series)
    ratio, top = _shares(w, n_components)
    if center:
        w_u, _ = m.eig(0, m.T, False, 0)
        _, top_u = _shares(w_u, n_components)
    else:
        top_u = top
    # Only components that carry variance are tested (a rank-r stream has r of them).
    total = float(w.sum())
    n_real = int(np.sum(w[:n_series] > 1e-12 * total)) if total > 0 else 0
    ac = autocorrelation_test(scores[:, :n_real], max_lag=max_lag, alpha=alpha, detrend_order=detrend_order)

    result = {
        "n_steps": m.T,
        "dim": m.D,
        "route": m.route,
        "step_gap": {"min": int(diffs.min()), "max": int(diffs.max())},
        "adjacent_cosine": _describe(cos1, steps[1:], hist_bins),
        "lagged_cosine": {"lags": lags, "mean": lag_means},
        "pca": {
            "centered": center,
            "n_components": n_components,
            "top_share": top,
            "top_share_uncentred": top_u,
            "explained_ratio": ratio,
            "cumulative": np.cumsum(ratio),
        },
        "pca_windows": {
            "window": window, "stride": stride, "centered": center,
            "windows": window_pca(m, window, stride, n_components, center, steps=steps),
        },
        "autocorrelation": ac,
    }
    return _jsonable(result)


def _criterion(estimate, threshold, passed, **extra) -> dict:
    return {"estimate": estimate, "threshold": threshold, "passed": passed, **extra}


def run_experiment1(records_path: str, thresholds: dict | None = None, **analysis_kwargs) -> dict:
    """Experiment 1 on a record file: analyse gradients and weight updates, apply the criteria.

    Args:
        records_path: file written by :func:`write_records`.
        thresholds: overrides of :data:`DEFAULT_THRESHOLDS` (unknown keys raise ValueError).
        **analysis_kwargs: passed to :func:`analyze` (window, stride, n_series, center, ...);
            ``max_lag`` and ``alpha`` come from the thresholds.
    Returns:
        {"gradients": analyze(grad), "updates": analyze(update), "criteria": {...},
        "mode": "exact" | "sketch", "meta": {...}, "thresholds": {...}}. Each criterion is
        {"estimate", "threshold", "passed"}; ``passed`` is None where not evaluable.
        ``autocorr_lag50``'s estimate is the smallest Bonferroni-adjusted p-value of the lag-L
        test over the leading PC score series (passes when < alpha), with the lag-L ACF values
        and the Ljung-Box result beside it.
    """
    th = dict(DEFAULT_THRESHOLDS)
    if thresholds:
        unknown = set(thresholds) - set(th)
        if unknown:
            raise ValueError(f"thresholds has unknown keys {sorted(unknown)}; known: {sorted(th)}")
        th.update(thresholds)
    lag = int(th["autocorr_lag"])
    alpha = float(th["autocorr_alpha"])
    for bad in ("max_lag", "alpha", "row_scale"):
        if bad in analysis_kwargs:
            raise ValueError(f"{bad} is set by the thresholds / record file, not analysis_kwargs")
    rec = read_records(records_path)
    kw = dict(analysis_kwargs, max_lag=lag, alpha=alpha)
    g = analyze(rec["grad"], rec["steps"], row_scale=rec["grad_scale"], **kw)
    u = analyze(rec["update"], rec["steps"], row_scale=rec["update_scale"], **kw)
    clipping = _clipping(rec, kw)

    def gt(est, thr):
        return None if est is None else bool(est > thr)

    cos_mean = g["adjacent_cosine"]["mean"]
    ac = g["autocorrelation"]
    ac_p = ac["min_p_lag_adjusted"]
    criteria = {
        "mean_cosine": _criterion(cos_mean, th["mean_cosine"], gt(cos_mean, th["mean_cosine"])),
        "pca_top10": _criterion(g["pca"]["top_share"], th["pca_top10"],
                                gt(g["pca"]["top_share"], th["pca_top10"]), centered=g["pca"]["centered"]),
        "autocorr_lag50": _criterion(
            ac_p, alpha, None if ac_p is None else bool(ac_p < alpha),
            lag=lag,
            test="lag-L ACF of detrended leading PC scores, Bartlett MA(L-1) z-test, Bonferroni over series",
            detrend=ac["detrend"],
            acf_lag=[s["acf_lag"] for s in ac["series"]],
            acf_lag_raw=[s["acf_lag_raw"] for s in ac["series"]],
            ljung_box={"min_p_adjusted": ac["min_ljung_box_p_adjusted"],
                       "passed": ac["ljung_box_significant"]},
            evaluable=ac["evaluable"],
        ),
        "update_pca_top10": _criterion(u["pca"]["top_share"], th["update_pca_top10"],
                                       gt(u["pca"]["top_share"], th["update_pca_top10"]),
                                       centered=u["pca"]["centered"]),
    }
    return _jsonable({"mode": rec["meta"]["mode"], "meta": rec["meta"], "thresholds": th,
                      "gradients_are": "raw (pre-clipping)" if rec["clip_coef"] is not None
                      else "as recorded (no clip factors in this record file)",
                      "gradients": g, "updates": u, "clipping": clipping, "criteria": criteria})


def _clipping(rec: dict, analysis_kwargs: dict) -> dict | None:
    """How often clipping acted, and the gradient criteria's estimates on the CLIPPED stream
    (``grad * clip_coef``, what the optimiser used) for comparison with the raw ones; None for
    records without clip factors."""
    coef = rec["clip_coef"]
    if coef is None:
        return None
    c = coef.double().numpy()
    scale = c if rec["grad_scale"] is None else c * rec["grad_scale"].double().numpy()
    g = analyze(rec["grad"], rec["steps"], row_scale=scale, **analysis_kwargs)
    ac = g["autocorrelation"]
    return {
        "n_rows": int(c.size), "n_clipped": int((c < 1).sum()), "share_clipped": float((c < 1).mean()),
        "clip_coef_min": float(c.min()),
        "clip_coef_quantiles": {str(q): float(np.quantile(c, q)) for q in _QUANTILES},
        "clipped_stream": {"mean_cosine": g["adjacent_cosine"]["mean"], "pca_top10": g["pca"]["top_share"],
                           "autocorr_min_p_adjusted": ac["min_p_lag_adjusted"],
                           "autocorr_significant": ac["significant_at_lag"],
                           "acf_lag": [s_["acf_lag"] for s_ in ac["series"]]},
    }
