"""Equal-cost comparisons with the conventional frontier, over seeds.

Every Exp 4 log holds its seed's frontier and each predicted arm's gap to it at equal cost
(:mod:`predictive_training.analysis.frontier`). Here, per predicted arm, cost measure (``time``:
the contention-free time, ``backward``: backward passes, ``flops``) and metric (``loss``: final
validation loss, ``cloze``: cloze accuracy):

- the per-seed pairs (the arm's value, the frontier's value at the arm's cost) give a paired t test
  of "the arm is below the frontier" (loss: arm - frontier < 0; cloze: arm - frontier > 0), with a
  bootstrap 95% interval of the mean gap (:mod:`.tests`);
- a cell is tested only when the arm's cost lies inside the frontier's cost range in EVERY seed;
  otherwise it is extrapolation and reported untested (``status``), with the seeds it covers;
- the confirmatory rows (``frontier.confirmatory``, declared before the run: loss at equal
  contention-free time) go to ``stats/tests.csv`` in the ``study`` family, where Bonferroni runs;
  every other cell is exploratory: ``stats/frontier.csv`` reports its unadjusted p (``p_adjusted``
  only for the confirmatory rows).

A gap of 0 is not "better": the test is one-sided against 0 and its rule needs a negative (loss)
estimate AND p below alpha.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from . import tests

__all__ = ["COOLDOWN_COLUMNS", "FRONTIER_COLUMNS", "confirmatory_metric", "cooldown_frontier_table", "frontier_cells",
           "frontier_test_rows", "frontier_table"]

FRONTIER_COLUMNS = ["arm", "kind", "prediction_ratio", "horizon", "measure", "metric", "n_seeds", "n_in_range",
                    "arm_value", "frontier_value", "cost", "estimate", "ci_low", "ci_high", "test", "statistic",
                    "p_value", "p_adjusted", "confirmatory", "status", "below_frontier"]
_DIRECTION = {"loss": "less", "cloze": "greater", "loss_avg": "less"}  # loss_avg: LAWA-averaged weights


def confirmatory_metric(arm: str) -> str:
    """The tests.csv metric of a confirmatory row: loss gap to the frontier at equal contention-free time."""
    return f"frontier_time_loss_gap_{arm}"


#: the comparisons of stats/frontier_cooldown.csv: (its ``comparison`` value, the Exp 4 log's path to it)
COOLDOWN_COMPARISONS = {"predicted_vs_cooldown_frontier": ("frontier_cooldown", "predicted"),
                        "cooldown_arm_vs_frontier": ("frontier_cooldown", "vs_frontier")}
COOLDOWN_COLUMNS = ["comparison"] + FRONTIER_COLUMNS


def _frontier(log: dict, path: tuple[str, ...] = ("frontier",)) -> dict | None:
    rec = log["results"]
    for key in path:
        rec = rec.get(key) if isinstance(rec, dict) else None
    return rec


def frontier_cells(logs: list[dict], alpha: float = 0.05, path: tuple[str, ...] = ("frontier",),
                   prefix: str = "") -> list[dict]:
    """One record per (predicted arm, measure, metric): the per-seed values and, where testable, the
    test row (a :class:`.tests.TestRow` under ``"row"``, unadjusted). ``path``: where the Exp 4 log
    keeps the frontier record (the second frontier's: :data:`COOLDOWN_COMPARISONS`); ``prefix`` of
    the rows' metric names."""
    if not logs or any(_frontier(lg, path) is None for lg in logs):
        return []
    first = _frontier(logs[0], path)
    confirmatory = set(first.get("confirmatory") or [])
    cells = []
    for arm in first["predicted"]:
        rec = logs[0]["results"]["arms"][arm]
        for measure in first["measures"]:
            for metric in _DIRECTION:
                gaps = [(_frontier(lg, path)["gaps"].get(arm) or {}).get(measure) for lg in logs]
                if any(g is None or metric not in g or f"{metric}_gap" not in g for g in gaps):
                    continue
                own = np.array([np.nan if g[metric] is None else g[metric] for g in gaps], dtype=float)
                front = np.array([np.nan if g.get(f"frontier_{metric}") is None else g[f"frontier_{metric}"]
                                  for g in gaps], dtype=float)
                in_range = int(sum(bool(g.get("in_range")) for g in gaps))
                cell = {"arm": arm, "kind": rec["kind"], "prediction_ratio": rec.get("prediction_ratio_requested"),
                        "horizon": rec.get("horizon"), "measure": measure, "metric": metric, "n_seeds": len(logs),
                        "n_in_range": in_range, "arm_value": float(np.nanmean(own)) if np.isfinite(own).any() else None,
                        "frontier_value": float(np.nanmean(front)) if np.isfinite(front).any() else None,
                        "cost": float(np.mean([g["cost"] for g in gaps])),
                        "confirmatory": arm in confirmatory and measure == "time" and metric == "loss",
                        "row": None}
                if in_range < len(logs):
                    sides = sorted({g.get("outside") for g in gaps if g.get("outside")})
                    side = {"costlier": "costs more than the longest", "cheaper": "costs less than the shortest"}
                    cell["status"] = (f"extrapolation: the arm {' or '.join(side[x] for x in sides) or 'lies outside'} "
                                      f"frontier run ({measure}) in {len(logs) - in_range} of {len(logs)} seeds "
                                      "(not tested)")
                    if metric == "loss" and all(g.get("dominated") for g in gaps):
                        cell["status"] = ("dominated: costs more than the longest frontier run and ends with a higher "
                                          f"loss than it in every seed ({measure}; not tested)")
                elif not (np.isfinite(own).all() and np.isfinite(front).all()):
                    cell["status"] = f"no {metric} value in every seed (not tested)"
                else:
                    name = (confirmatory_metric(arm) if cell["confirmatory"]
                            else f"{prefix}frontier_{measure}_{metric}_gap_{arm}")
                    cell["row"] = tests.paired_row("exp4", name, own, front, 0.0, _DIRECTION[metric],
                                                   family="study")
                    cell["status"] = "confirmatory" if cell["confirmatory"] else "exploratory (unadjusted p)"
                    if cell["row"].note:  # e.g. zero variance of the paired gaps: no test, no claim
                        cell["status"] += f"; {cell['row'].note}"
                cells.append(cell)
    return cells


def frontier_test_rows(logs: list[dict]) -> list[tests.TestRow]:
    """The confirmatory rows for ``stats/tests.csv`` (family ``study``)."""
    return [c["row"] for c in frontier_cells(logs) if c["confirmatory"] and c["row"] is not None]


def frontier_table(logs: list[dict], tests_table: pd.DataFrame | None = None, alpha: float = 0.05) -> pd.DataFrame:
    """``stats/frontier.csv``: every cell, tested or not. ``p_adjusted`` (and the verdict of the
    confirmatory rows) come from ``tests_table`` (Bonferroni within the study family); exploratory
    cells carry their unadjusted p and ``below_frontier`` = estimate on the better side AND p < alpha,
    unadjusted (an exploratory flag, not a verdict)."""
    adjusted = {}
    if tests_table is not None and len(tests_table):
        for rec in tests_table.to_dict("records"):
            adjusted[(rec["experiment"], rec["metric"])] = (rec["p_adjusted"], rec["passed"])
    return _table(frontier_cells(logs, alpha), adjusted, alpha, FRONTIER_COLUMNS)


def cooldown_frontier_table(logs: list[dict], alpha: float = 0.05) -> pd.DataFrame:
    """``stats/frontier_cooldown.csv`` (a study with ``roles.cooldown_frontier``): every predicted arm
    against the second frontier, and the second frontier's arms against the first at their own cost
    (column ``comparison``, :data:`COOLDOWN_COMPARISONS`). All exploratory (unadjusted p): the
    confirmatory rows stay on the first frontier, as declared; the per-budget minimum of the two
    frontiers is not used (the minimum of two noisy estimates is biased low)."""
    rows = []
    for comparison, path in COOLDOWN_COMPARISONS.items():
        cells = frontier_cells(logs, alpha, path, prefix="cooldown_" if path[-1] == "predicted" else "")
        for c in cells:
            c["comparison"] = comparison
        rows.append(_table(cells, {}, alpha, COOLDOWN_COLUMNS))
    return pd.concat(rows, ignore_index=True) if any(len(r) for r in rows) else pd.DataFrame(columns=COOLDOWN_COLUMNS)


def _table(cells: list[dict], adjusted: dict, alpha: float, columns: list[str]) -> pd.DataFrame:
    rows = []
    for c in cells:
        r = c.pop("row")
        out = {k: c.get(k) for k in columns}
        if r is not None:
            out.update(estimate=r.estimate, ci_low=r.ci_low, ci_high=r.ci_high, test=r.test, statistic=r.statistic,
                       p_value=r.p_value)
            better = tests.rule_holds(r.test, r.estimate, 0.0) if r.test in tests.TEST_KINDS else False
            if c["confirmatory"] and ("exp4", r.metric) in adjusted:
                out["p_adjusted"], out["below_frontier"] = adjusted[("exp4", r.metric)]
            else:
                out["p_adjusted"] = math.nan
                out["below_frontier"] = bool(better and math.isfinite(r.p_value) and r.p_value < alpha)
        rows.append(out)
    return pd.DataFrame(rows, columns=columns)
