"""Scores over shadow records: per (predictor, horizon) summaries, pooled progress captured with a
bootstrap over origins and seeds, and the rank correlation between uncertainty and error.

Experiments 2 and 3 (:mod:`.exp2`, :mod:`.exp3`) summarise one seed's records with these
functions; the report pools the per-origin values of every seed the same way. The row format is
:mod:`predictive_training.records.shadow`. Pure numpy/scipy: no dynamics model, no trainer.

Pooled progress captured of a (predictor, ``Y``) cell over origins ``i`` (and seeds):
``sum_i gain_pred_i / sum_i gain_real_i`` with ``gain = L(origin) - L(...)`` on the same held-out
batches. Pooling the gains (not averaging per-origin ratios) keeps origins whose real drop is
within the noise from dominating. Its interval: a two-level (cluster) bootstrap, seeds resampled
with replacement and origins within each drawn seed, percentile 95% (2,000 resamples, seed 0).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
from scipy import stats as st

from .. import registry

__all__ = ["FIELD", "is_simple", "ORIGIN_KEYS", "cell_key", "origin_records", "cells", "cluster_bootstrap", "pooled_ratio",
           "summarise_cell", "records_by_cell", "summarise", "spearman", "N_RESAMPLES"]

N_RESAMPLES = 2000

#: The strongest predictors the field reports gains with (the registry's group ``field``: verified
#: extrapolation, DMD, the meta-trained nowcaster and the RSSM pretrained on the other seeds). Exp 3
#: and the report compare the RSSM with them apart from the "simple" references (repeat, EMA, linear
#: trend) and from outside predictors; the nowcaster's and the pretrained RSSM's rows come from a
#: replay of the baseline.
FIELD = tuple(name for name, spec in registry.BUILTIN.items() if spec.group == "field")


def is_simple(name: str) -> bool:
    """A simple reference of Exp 3 (an extrapolation of recent updates: the registry's ``simple`` and
    ``control`` groups, without the zero predictor, whose delta is zero by construction)."""
    spec = registry.builtin(name)
    return spec is not None and spec.group in ("simple", "control") and spec.moves_weights

#: The per-origin values that the summaries need, copied from each row (None where absent).
ORIGIN_KEYS = ("origin", "ready", "cosine", "rel_l2", "norm_ratio", "pearson_r", "per_layer_accuracy",
               "gain_pred", "gain_real", "gain_real_se", "progress", "progress_se", "uncertainty",
               "delta_norm_pred", "delta_norm_real")


def cell_key(predictor: str, horizon: int) -> str:
    """``"rssm@50"``: the key of a cell in logs (JSON keys are strings)."""
    return f"{predictor}@{int(horizon)}"


def cells(rows: Iterable[Mapping]) -> list[tuple[str, int]]:
    """The (predictor, horizon) cells of scored rows, predictors in first-appearance order."""
    order: dict[str, None] = {}
    hs: dict[str, set] = {}
    for r in rows:
        if r.get("kind") == "forecast":
            continue
        order.setdefault(r["predictor"], None)
        hs.setdefault(r["predictor"], set()).add(int(r["horizon"]))
    return [(p, h) for p in order for h in sorted(hs[p])]


def origin_records(rows: Iterable[Mapping], predictor: str, horizon: int) -> list[dict]:
    """One record per origin of a cell (rows with an error, i.e. without a rollout, left out),
    with :data:`ORIGIN_KEYS` and, where the scale search ran, ``search_gain_pred`` and
    ``search_progress``."""
    out = []
    for r in rows:
        if r.get("kind") == "forecast" or r["predictor"] != predictor or int(r["horizon"]) != int(horizon):
            continue
        if r.get("error") or r.get("cosine") is None and r.get("gain_pred") is None:
            continue
        rec = {k: r.get(k) for k in ORIGIN_KEYS}
        s = r.get("search")
        if s:
            rec["search_gain_pred"], rec["search_progress"] = s.get("gain_pred"), s.get("progress")
            rec["search_scales"] = s.get("scales")
        if r.get("search_variants"):  # record.shadow.search_variants: each variant on this delta and on the real one
            rec["variants"] = {k: {"gain_pred": v.get("gain_pred"), "forward_passes": v.get("forward_passes"),
                                   "gain_real_searched": (r.get("variants_real") or {}).get(k, {}).get("gain_pred")}
                               for k, v in r["search_variants"].items()}
        out.append(rec)
    return sorted(out, key=lambda x: x["origin"])


def _arr(recs: Sequence[Mapping], key: str) -> np.ndarray:
    return np.array([np.nan if r.get(key) is None else float(r[key]) for r in recs], dtype=np.float64)


def pooled_ratio(num: np.ndarray, den: np.ndarray) -> float:
    """``sum(num) / sum(den)`` over the finite pairs (NaN when the denominator sums to 0)."""
    ok = np.isfinite(num) & np.isfinite(den)
    d = float(den[ok].sum())
    return float(num[ok].sum()) / d if d != 0 else float("nan")


def cluster_bootstrap(groups: Sequence[tuple[np.ndarray, np.ndarray]], n_resamples: int = N_RESAMPLES,
                      seed: int = 0, confidence: float = 0.95) -> tuple[float, float]:
    """Percentile interval of a ratio of sums ``sum(a) / sum(b)`` under a two-level bootstrap.

    ``groups``: one ``(a, b)`` pair of equally long per-origin arrays per seed (pairs with a
    non-finite member are dropped). Seeds are drawn with replacement (when there are two or
    more), then origins with replacement within each drawn seed, and the ratio of the sums taken.
    A mean is the ratio with ``b = 1``. Vectorised; deterministic for a given ``seed``. Returns
    ``(nan, nan)`` when no seed has data.
    """
    clean = []
    for a, b in groups:
        a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
        ok = np.isfinite(a) & np.isfinite(b)
        if ok.any():
            clean.append((a[ok], b[ok]))
    if not clean:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    n_b, n_s = int(n_resamples), len(clean)
    # per seed, an independent within-seed resample for every (resample, draw slot)
    sums_a = np.empty((n_s, n_b, n_s))
    sums_b = np.empty((n_s, n_b, n_s))
    for i, (a, b) in enumerate(clean):
        idx = rng.integers(0, a.size, (n_b, n_s, a.size))
        sums_a[i], sums_b[i] = a[idx].sum(-1), b[idx].sum(-1)
    pick = rng.integers(0, n_s, (n_b, n_s)) if n_s > 1 else np.zeros((n_b, 1), dtype=int)
    slot = np.arange(pick.shape[1])[None, :]
    rows = np.arange(n_b)[:, None]
    num = sums_a[pick, rows, slot].sum(1)
    den = sums_b[pick, rows, slot].sum(1)
    with np.errstate(divide="ignore", invalid="ignore"):
        vals = num / den
    vals = vals[np.isfinite(vals)]
    if vals.size == 0:
        return float("nan"), float("nan")
    q = (1.0 - confidence) / 2
    return float(np.quantile(vals, q)), float(np.quantile(vals, 1 - q))


def _nanmean(x: np.ndarray) -> float:
    x = x[np.isfinite(x)]
    return float(x.mean()) if x.size else float("nan")


def spearman(x: np.ndarray, y: np.ndarray) -> dict:
    """Spearman rank correlation over the finite pairs: ``{rho, p_value, n}``; rho is None when
    either side is constant (e.g. a predictor that always reports uncertainty 0) or n < 3."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    ok = np.isfinite(x) & np.isfinite(y)
    n = int(ok.sum())
    if n < 3 or np.ptp(x[ok]) == 0 or np.ptp(y[ok]) == 0:
        return {"rho": None, "p_value": None, "n": n, "note": "undefined: fewer than 3 pairs or a constant side"}
    res = st.spearmanr(x[ok], y[ok])
    return {"rho": float(res.statistic), "p_value": float(res.pvalue), "n": n}


def summarise_cell(per_seed: Sequence[Sequence[Mapping]]) -> dict:
    """Summary of one cell over seeds (``per_seed``: each seed's :func:`origin_records`).

    Means over all origins of all seeds (``*_mean``) and pooled progress captured
    (``progress``, ``progress_search``) with cluster-bootstrap 95% intervals (``*_ci``); the
    median per-origin standard error of the ratio and of the real drop (the measurement's
    resolution); the share of origins where the predictor was ready; the Spearman rank
    correlation of uncertainty with relative L2 error.
    """
    seeds = [list(s) for s in per_seed if len(s)]
    allr = [r for s in seeds for r in s]
    out: dict = {"n_seeds": len(seeds), "n_origins": len(allr)}
    if not allr:
        return out
    for key in ("cosine", "rel_l2", "norm_ratio", "pearson_r", "per_layer_accuracy"):
        out[f"{key}_mean"] = _nanmean(_arr(allr, key))
        out[f"{key}_ci"] = list(cluster_bootstrap([(_arr(s, key), np.ones(len(s))) for s in seeds]))
    out["progress"] = pooled_ratio(_arr(allr, "gain_pred"), _arr(allr, "gain_real"))
    out["progress_ci"] = list(cluster_bootstrap([(_arr(s, "gain_pred"), _arr(s, "gain_real")) for s in seeds]))
    se = _arr(allr, "progress_se")
    out["progress_se_median"] = float(np.nanmedian(se)) if np.isfinite(se).any() else None
    gse = _arr(allr, "gain_real_se")
    out["gain_real_mean"] = _nanmean(_arr(allr, "gain_real"))
    out["gain_real_se_median"] = float(np.nanmedian(gse)) if np.isfinite(gse).any() else None
    if any("search_gain_pred" in r for r in allr):
        srch = [s for s in ([r for r in sd if "search_gain_pred" in r] for sd in seeds) if s]
        flat = [r for s in srch for r in s]
        out["progress_search"] = pooled_ratio(_arr(flat, "search_gain_pred"), _arr(flat, "gain_real"))
        out["progress_search_ci"] = list(cluster_bootstrap(
            [(_arr(s, "search_gain_pred"), _arr(s, "gain_real")) for s in srch]))
        out["n_origins_search"] = len(flat)
    variants = list(dict.fromkeys(k for r in allr for k in (r.get("variants") or {})))
    if variants:
        out["variants"] = {k: _variant_summary(seeds, k) for k in variants}
    out["ready_share"] = float(np.mean([bool(r.get("ready")) for r in allr]))
    out["uncertainty_vs_rel_l2"] = spearman(_arr(allr, "uncertainty"), _arr(allr, "rel_l2"))
    return {k: _finite_or_none(v) for k, v in out.items()}


def _variant_summary(seeds: Sequence[Sequence[Mapping]], name: str) -> dict:
    """One search variant of a cell over seeds: progress captured after it (``progress``), the same
    search on the real update (``progress_real``: the real steps' gain searched, over their gain),
    and ``excess`` = progress - (progress_real - 1): the predicted delta's searched gain beyond what the
    search added to the real update, in units of the real steps' gain. Cluster-bootstrap 95%
    intervals; mean forward passes per search."""
    def arrays(recs, key):
        vals = [(r.get("variants") or {}).get(name) or {} for r in recs]
        return np.array([np.nan if v.get(key) is None else float(v[key]) for v in vals], dtype=np.float64)

    srch = [s for s in ([r for r in sd if name in (r.get("variants") or {})] for sd in seeds) if s]
    flat = [r for s in srch for r in s]
    gain = lambda recs: arrays(recs, "gain_pred")  # noqa: E731
    real = lambda recs: arrays(recs, "gain_real_searched")  # noqa: E731
    excess = lambda recs: gain(recs) - (real(recs) - _arr(recs, "gain_real"))  # noqa: E731
    out = {"n_origins": len(flat), "forward_passes_mean": _nanmean(arrays(flat, "forward_passes"))}
    for key, num in (("progress", gain), ("progress_real", real), ("excess", excess)):
        out[key] = pooled_ratio(num(flat), _arr(flat, "gain_real"))
        out[f"{key}_ci"] = [_finite_or_none(x) for x in cluster_bootstrap([(num(s), _arr(s, "gain_real"))
                                                                          for s in srch])]
        out[key] = _finite_or_none(out[key])
    return out


def _finite_or_none(v):
    """None for a non-finite float, also inside an interval (strict JSON: an undefined interval is
    null, e.g. the Pearson r of a predictor whose deltas are zero)."""
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, list) and any(isinstance(x, float) for x in v):
        return [_finite_or_none(x) for x in v]
    return v


def records_by_cell(rows: Iterable[Mapping]) -> dict[str, list[dict]]:
    """``{cell_key: origin_records}`` for every cell of one run's rows (what an Exp 3 log keeps)."""
    rows = list(rows)
    return {cell_key(p, h): origin_records(rows, p, h) for p, h in cells(rows)}


def summarise(per_seed: Sequence[Mapping[str, Sequence[Mapping]]]) -> dict[str, dict]:
    """Every cell over several seeds (each seed's :func:`records_by_cell`):
    ``{cell_key: {"predictor", "horizon", **summarise_cell(...)}}``, cells in first-appearance order."""
    keys: dict[str, None] = {}
    for m in per_seed:
        for k in m:
            keys.setdefault(k, None)
    out = {}
    for k in keys:
        p, h = k.rsplit("@", 1)
        out[k] = {"predictor": p, "horizon": int(h), **summarise_cell([m.get(k, []) for m in per_seed])}
    return out
