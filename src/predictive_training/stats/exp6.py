"""Experiment 6's statistics: the policies over orders, the pivot's confirmatory rule, the laws' scores.

Inputs are the replay tables of :mod:`predictive_training.analysis.exp6` (one row per set, order and
policy; set -1 is the sweep's own configurations, sets 0.. the configuration resamples) and the curves.

The pivot's rule (``hpo.criterion``, declared in the config before the sweep runs; docs/hpo.md), for the
confirmatory policy (the schedule law's margin rule, ``<law>_m<margin>``), three rows of family
``study``:

- ``compute_<policy>``: its compute (steps trained / exhaustive), mean over the orders, < ``compute_max``
  (the issue's "at most"; a mean equal to the bound does not pass);
- ``regret_rel_<policy>``: its regret as a share of the best final loss, mean over orders, <
  the regret bound: ``regret_max``, or by the tie rule, when more than ``tie_count`` configurations
  (the best included) lie within ``tie_window`` of the best, the gap of the ``tie_count``-th best;
- ``regret_minus_hyperband_rel_<policy>``: its regret minus Hyperband's at equal compute, paired over
  orders, < ``hyperband_margin``. Hyperband at equal compute: on the same order, its (compute, regret)
  points over the ``hpo.policies.hyperband.min_resource`` levels and exhaustive search (compute 1, regret
  0), linearly interpolated at the policy's compute (a random mixture of two neighbouring levels
  achieves any point between them), and the cheapest level's regret below its compute.

Each row's interval is the 2.5-97.5 percentile interval of the mean over the configuration resamples
(each resample: as many configurations as the sweep, drawn with replacement, several orders each), and
its p-value the share of resampled means at or above the bound, ``(1 + #{mean_b >= bound}) / (B + 1)``
(test ``bootstrap_less``); Bonferroni over the three rows; a row passes when its estimate is below its
bound AND its adjusted p < alpha. Go when all three pass. Without resamples (``hpo.replay.resamples: 0``)
the rows are one-sample t tests over the orders (``t1samp_less``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats as _st

from ..analysis.exp6 import Curve
from ..config import hpo_confirmatory, hpo_policies
from . import tests
from .milestones import criterion_input, declared, study_record

__all__ = ["CRITERIA", "json_safe", "criterion_rows", "equal_compute", "exp2_summary", "paired_frame", "pivot_record",
           "policy_table", "prediction_summary", "tie_rule"]

#: the three criteria of the pivot (metric prefixes of their tests-table rows)
CRITERIA = ("compute", "regret_rel", "regret_minus_hyperband_rel")


def _mean_ci(values, n_resamples: int = 2000, seed: int = 0) -> tuple[float, float, float]:
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return math.nan, math.nan, math.nan
    lo, hi = tests.bootstrap_ci(v, n_resamples=n_resamples, seed=seed, method="percentile")
    return float(v.mean()), lo, hi


def policy_table(replay: pd.DataFrame) -> pd.DataFrame:
    """One row per policy over the sweep's orders (set -1): compute, regret (nats and a share of the
    best) and P(best) with 95% percentile-bootstrap intervals over the orders (exploratory; the
    confirmatory rows have the configuration-set intervals)."""
    sweep = replay[replay["set"] == -1]
    rows = []
    for policy, g in sweep.groupby("policy", sort=False):
        c, c_lo, c_hi = _mean_ci(g["compute"])
        r, r_lo, r_hi = _mean_ci(g["regret_rel"])
        b, b_lo, b_hi = _mean_ci(g["chose_best"].astype(float))
        rows.append({"policy": policy, "family": g["family"].iloc[0], "level": g["level"].iloc[0], "n_orders": len(g),
                     "compute": c, "compute_ci_low": c_lo, "compute_ci_high": c_hi,
                     "regret": float(g["regret"].mean()), "regret_rel": r, "regret_rel_ci_low": r_lo,
                     "regret_rel_ci_high": r_hi, "p_best": b, "p_best_ci_low": b_lo, "p_best_ci_high": b_hi,
                     "n_pruned": float(g["n_pruned"].mean()), "max_regret_rel": float(g["regret_rel"].max())})
    return pd.DataFrame(rows)


def tie_rule(finals: Mapping[str, float], regret_max: float, window: float, count: int) -> dict:
    """The regret bound: ``regret_max``, or the gap (a share of the best) of the ``count``-th best
    configuration when more than ``count`` configurations (the best included) lie within ``window``."""
    vals = np.sort(np.array([v for v in finals.values() if math.isfinite(v)], dtype=float))
    gaps = (vals - vals[0]) / vals[0]
    n_within = int(np.sum(gaps <= window))
    tightened = n_within > count
    return {"best": float(vals[0]), "n_configs": int(vals.size), "n_within": n_within, "window": float(window),
            "count": int(count), "tightened": bool(tightened),
            "bound": float(gaps[count - 1]) if tightened else float(regret_max), "regret_max": float(regret_max),
            "gaps_top": [float(g) for g in gaps[: max(count + 2, 5)]]}


def equal_compute(points: Sequence[tuple[float, float]], at: float) -> float:
    """A policy family's regret at compute ``at``: linear interpolation of its (compute, regret) points,
    sorted by compute (points at the same compute averaged); below the cheapest point its regret, above
    the dearest its regret."""
    pts = pd.DataFrame(points, columns=["c", "r"]).groupby("c", as_index=False)["r"].mean().sort_values("c")
    return float(np.interp(at, pts["c"].to_numpy(), pts["r"].to_numpy()))


def paired_frame(replay: pd.DataFrame, policy: str, hyperband: Sequence[str]) -> pd.DataFrame:
    """Per (set, order): the policy's compute and regret share, Hyperband's regret share at that compute
    (its levels plus exhaustive search at (1, 0)) and the paired difference."""
    rows = []
    for (set_id, order), g in replay.groupby(["set", "order"], sort=True):
        by = g.set_index("policy")
        if policy not in by.index:
            continue
        me = by.loc[policy]
        pts = [(float(by.loc[h, "compute"]), float(by.loc[h, "regret_rel"])) for h in hyperband if h in by.index]
        pts.append((1.0, 0.0))
        hb = equal_compute(pts, float(me["compute"]))
        rows.append({"set": set_id, "order": order, "compute": float(me["compute"]), "regret_rel": float(me["regret_rel"]),
                     "hyperband_regret_rel": hb, "regret_minus_hyperband_rel": float(me["regret_rel"]) - hb})
    return pd.DataFrame(rows)


def criterion_rows(cfg: dict, replay: pd.DataFrame, resamples: pd.DataFrame | None, finals: Mapping[str, float]
                   ) -> tuple[pd.DataFrame, dict]:
    """The pivot's three rows (a tests table, Bonferroni among them) and what they were computed from."""
    crit = cfg["hpo"]["criterion"]
    policy = hpo_confirmatory(cfg)
    hyperband = [n for n, s in hpo_policies(cfg).items() if s["family"] == "hyperband"]
    ties = tie_rule(finals, crit["regret_max"], crit["tie_window"], crit["tie_count"])
    bounds = {"compute": float(crit["compute_max"]), "regret_rel": ties["bound"],
              "regret_minus_hyperband_rel": float(crit["hyperband_margin"])}
    sweep = paired_frame(replay[replay["set"] == -1], policy, hyperband)
    boot = None
    if resamples is not None and len(resamples):
        boot = paired_frame(resamples, policy, hyperband).groupby("set")[list(CRITERIA)].mean()
    rows = []
    for name in CRITERIA:
        metric, thr = f"{name}_{policy}", bounds[name]
        est = float(sweep[name].mean())
        if boot is not None and len(boot) > 1:
            m = boot[name].to_numpy(dtype=float)
            lo, hi = (float(x) for x in np.percentile(m, [2.5, 97.5]))
            p = (1.0 + float(np.sum(m >= thr))) / (m.size + 1.0)
            rows.append(tests.TestRow("exp6", metric, int(m.size), est, lo, hi, "bootstrap_less", math.nan, p,
                                      math.nan, thr, None, "study"))
        else:
            rows.append(tests.one_sample_row("exp6", metric, sweep[name].to_numpy(dtype=float), thr, "less",
                                             family="study", n_resamples=2000))
    table = tests.tests_table(rows, alpha=float(cfg["thresholds"]["alpha"]))
    info = {"policy": policy, "hyperband": hyperband, "ties": ties, "bounds": bounds, "n_orders": int(len(sweep)),
            "n_resamples": int(len(boot)) if boot is not None else 0,
            "sweep_means": {k: float(sweep[k].mean()) for k in (*CRITERIA, "hyperband_regret_rel")}}
    return table, info


def pivot_record(cfg: dict, table: pd.DataFrame, info: dict, config_file: str | None, first_run: float | None,
                 exploratory: Mapping | None = None) -> dict:
    """The pivot's study record (:mod:`.milestones`)."""
    crit = cfg["hpo"]["criterion"]
    rows = {r["metric"].removesuffix("_" + info["policy"]): r for r in table.to_dict("records")}
    inputs = {f"exp6.{k}": criterion_input(rows[k]) for k in CRITERIA if k in rows}
    t = info["ties"]
    inputs["configurations within the tie window of the best"] = t["n_within"]
    inputs["regret bound (share of the best loss)"] = t["bound"]
    inputs["best final loss (nats)"] = t["best"]
    inputs["Hyperband regret share at equal compute (mean over orders)"] = info["sweep_means"]["hyperband_regret_rel"]
    rule = (f"The confirmatory policy {info['policy']} (the {crit['law']} law's margin rule, margin {crit['margin']:g}) is a "
            f"Go if, over {info['n_orders']} random orders of the sweep's configurations, its mean compute is below "
            f"{crit['compute_max']:g} of exhaustive search, its mean regret below {crit['regret_max']:g} of the best "
            f"final loss (tightened to the {_ordinal(crit['tie_count'])} best configuration's gap when more than "
            f"{crit['tie_count']} configurations lie within {crit['tie_window']:g} of the best), and its regret minus "
            f"Hyperband's at equal compute (paired over orders) below {crit['hyperband_margin']:g} of the best loss; "
            "each row significant after Bonferroni over the three (bootstrap over configuration sets); else No-Go")
    caveats = []
    if t["tightened"]:
        caveats.append(f"tie rule applied: {t['n_within']} configurations lie within {t['window']:g} of the best, so "
                       f"the regret bound is the {_ordinal(t['count'])} best's gap, {t['bound']:.4g}")
    alpha = float(cfg["thresholds"]["alpha"])
    if 0 < info["n_resamples"] and len(CRITERIA) / (info["n_resamples"] + 1.0) >= alpha:
        caveats.append(f"only {info['n_resamples']} configuration resamples: the smallest Bonferroni-adjusted p-value "
                       f"is {len(CRITERIA)}/({info['n_resamples']} + 1) >= alpha {alpha:g}, so no row can pass "
                       f"(at least {math.ceil(len(CRITERIA) / alpha)} are needed)")
    decl = declared(config_file, ["hpo.criterion", "hpo.policies.predictive", "hpo.predictors"], first_run)
    if decl["declared_before_runs"] is False:
        caveats.append("the config that declares the rule was committed after the sweep's first run, or has "
                       "uncommitted changes")
    return study_record(
        "P6", "Pivot: loss prediction for early stopping in a hyperparameter search (Exp 6)",
        "Does a learning-curve law stop a language-model sweep earlier than the standard schedulers at the same "
        "regret (plan Risks 2 and 4: predict the loss only, target hyperparameter search)?",
        rule, decl, inputs, [f"exp6.{k}" for k in CRITERIA], caveats=caveats, exploratory=exploratory)


def _ordinal(n: int) -> str:
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


def _spearman_ci(a: np.ndarray, b: np.ndarray, n_resamples: int = 2000, seed: int = 0) -> tuple[float, float, float]:
    if a.size < 3:
        return math.nan, math.nan, math.nan
    rho = float(_st.spearmanr(a, b).statistic)
    rng = np.random.default_rng(seed)
    boots = []
    for _ in range(n_resamples):
        i = rng.integers(0, a.size, a.size)
        if np.ptp(a[i]) > 0 and np.ptp(b[i]) > 0:
            boots.append(_st.spearmanr(a[i], b[i]).statistic)
    lo, hi = (float(x) for x in np.percentile(boots, [2.5, 97.5])) if boots else (math.nan, math.nan)
    return rho, lo, hi


def prediction_summary(pred: pd.DataFrame) -> pd.DataFrame:
    """Per law and share of the budget: the mean absolute and the mean relative error of the predicted
    final loss, and Spearman's rank correlation with the actual finals, with bootstrap intervals over
    configurations; ``fitted`` is the share of predictions the law itself made (not a fallback)."""
    rows = []
    for (law, f), g in pred.groupby(["law", "fraction"], sort=True):
        abs_rel = np.abs(g["rel_error"].to_numpy(dtype=float))
        m, lo, hi = _mean_ci(abs_rel)
        bias = float(g["rel_error"].mean())
        rho, r_lo, r_hi = _spearman_ci(g["predicted"].to_numpy(dtype=float), g["actual"].to_numpy(dtype=float))
        rows.append({"law": law, "fraction": f, "n": len(g), "mean_points": float(g["n_points"].mean()),
                     "abs_rel_error": m, "abs_rel_error_ci_low": lo, "abs_rel_error_ci_high": hi, "rel_error": bias,
                     "spearman": rho, "spearman_ci_low": r_lo, "spearman_ci_high": r_hi,
                     "fitted": float((g["used"] == law).mean())})
    return pd.DataFrame(rows)


def exp2_summary(table: pd.DataFrame, r2_threshold: float, mae_threshold: float) -> pd.DataFrame:
    """Exp 2 across the sweep, per law: R^2 on the held-out last share of each trajectory, per
    trajectory then averaged (mean with a bootstrap interval over trajectories, median, share above the
    plan's 0.85), and MAE over the held-out range (mean, share below the plan's 0.05)."""
    rows = []
    for law, g in table.groupby("law", sort=False):
        r2 = g["r2"].to_numpy(dtype=float)
        r2 = r2[np.isfinite(r2)]
        m, lo, hi = _mean_ci(r2)
        mae = g["mae_over_range"].to_numpy(dtype=float)
        mae = mae[np.isfinite(mae)]
        mm, m_lo, m_hi = _mean_ci(mae)
        rows.append({"law": law, "n": int(r2.size), "r2_mean": m, "r2_ci_low": lo, "r2_ci_high": hi,
                     "r2_median": float(np.median(r2)) if r2.size else math.nan,
                     "share_r2_above": float(np.mean(r2 > r2_threshold)) if r2.size else math.nan,
                     "r2_threshold": r2_threshold, "mae_over_range_mean": mm, "mae_over_range_ci_low": m_lo,
                     "mae_over_range_ci_high": m_hi,
                     "share_mae_below": float(np.mean(mae < mae_threshold)) if mae.size else math.nan,
                     "mae_threshold": mae_threshold})
    return pd.DataFrame(rows)


def finals_of(curves: Mapping[str, Curve]) -> dict[str, float]:
    return {k: c.final for k, c in curves.items()}


def json_safe(x):
    """``x`` with every NaN or infinity (and numpy scalar) made strict-JSON-safe (None, Python numbers)."""
    if isinstance(x, Mapping):
        return {str(k): json_safe(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [json_safe(v) for v in x]
    if isinstance(x, (np.bool_, bool)):
        return bool(x)
    if isinstance(x, (np.integer, int)):
        return int(x)
    if isinstance(x, (np.floating, float)):
        return float(x) if math.isfinite(float(x)) else None
    return x
