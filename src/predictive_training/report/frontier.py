"""The conventional frontier in the report: the Pareto figure, the time-to-target curves and
the equal-cost section that opens Exp 4.

Everything is read from the Exp 4 logs (each seed's frontier and gaps, :mod:`predictive_training.analysis.frontier`)
and from ``stats/frontier.csv`` (the tests over seeds, :mod:`predictive_training.stats.frontier`).
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from .. import registry  # noqa: E402
from ..analysis.frontier import frontier_at  # noqa: E402
from .context import fmt  # noqa: E402

__all__ = ["frontier_figures", "frontier_section", "save_figure", "kind_marker"]

SECTION = "Exp 4 prediction-phase training"


def kind_marker(kind: str) -> str:
    """One marker per predictor (the registry's ``marker``; outside predictors "*")."""
    spec = registry.builtin(kind)
    return spec.marker if spec is not None else "*"
MEASURE_LABELS = {"time": "contention-free time (s)", "backward": "backward passes", "flops": "FLOPs"}
_RATIO_CMAP = plt.get_cmap("viridis")


def save_figure(fig, out_dir: Path, name: str) -> Path:
    """Write ``fig`` as PNG and PDF (reproducible metadata) under ``out_dir``; close it; the PNG's path.
    Shared by every figure of the report (``figures.py`` imports it)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    png = out_dir / f"{name}.png"
    fig.savefig(png, dpi=110, bbox_inches="tight", metadata={"Software": None})
    fig.savefig(out_dir / f"{name}.pdf", bbox_inches="tight", metadata={"Creator": None, "Producer": None,
                                                                        "CreationDate": None})
    plt.close(fig)
    return png


#: one colour per prediction ratio of the grid (other ratios: the viridis map)
RATIO_COLORS = {0.25: "#1f77b4", 0.5: "#d62728", 0.67: "#2ca02c", 0.8: "#9467bd"}


def _ratio_color(r: float | None):
    r = float(r or 0)
    near = min(RATIO_COLORS, key=lambda k: abs(k - r))
    if abs(near - r) < 0.005:
        return RATIO_COLORS[near]
    return _RATIO_CMAP(0.1 + 0.8 * min(max(r / 0.9, 0.0), 1.0))


def _label(rec: dict) -> str:
    r, y = rec.get("prediction_ratio_requested"), rec.get("horizon")
    return f"r{round(100 * (r or 0))} Y{y}"


COOLDOWN_COLOR = "tab:blue"


def _curve(ax, fits: list[dict | None], color: str, ls: str) -> None:
    """A frontier's fitted loss curve on ``ax``: the mean of the seeds' fits over the cost range they
    share, and their min-max band."""
    if not fits or any(f is None for f in fits):
        return
    lo, hi = max(f["cost"][0] for f in fits), min(f["cost"][-1] for f in fits)
    if hi <= lo:
        return
    grid = np.geomspace(lo, hi, 80)
    vals = np.array([[frontier_at((f["cost"], f["value"]), c) for c in grid] for f in fits], dtype=float)
    ax.plot(grid, vals.mean(axis=0), color=color, lw=1.6, ls=ls)
    ax.fill_between(grid, vals.min(axis=0), vals.max(axis=0), color=color, alpha=0.12)


def _pareto(logs: list[dict], out_dir: Path, time_label: str):
    fr0 = logs[0]["results"]["frontier"]
    measures = [m for m in ("time", "backward", "flops") if all(m in lg["results"]["frontier"]["measures"]
                                                               for lg in logs)]
    fig, axes = plt.subplots(1, len(measures), figsize=(6.2 * len(measures), 4.8), squeeze=False)
    kinds_seen = {}
    # the second (cooldown) frontier, where the study has one (roles.cooldown_frontier)
    cool = [(lg["results"].get("frontier_cooldown") or {}).get("predicted") for lg in logs]
    cool = cool if all(c is not None for c in cool) else None
    for ax, m in zip(axes[0], measures):
        _curve(ax, [lg["results"]["frontier"]["measures"][m]["fit"].get("loss") for lg in logs], "k", "-")
        if cool is not None and all(m in c["measures"] for c in cool):
            _curve(ax, [c["measures"][m]["fit"].get("loss") for c in cool], COOLDOWN_COLOR, "--")
            for arm in cool[0]["arms"]:
                pts = [next(p for p in c["measures"][m]["points"] if p["arm"] == arm) for c in cool]
                ax.plot(np.mean([p["cost"] for p in pts]), np.mean([p["loss"] for p in pts]), marker="|",
                        color=COOLDOWN_COLOR, ms=12)
        for arm in fr0["arms"]:  # the frontier's own points
            pts = [next(p for p in lg["results"]["frontier"]["measures"][m]["points"] if p["arm"] == arm) for lg in logs]
            x, y = np.mean([p["cost"] for p in pts]), np.mean([p["loss"] for p in pts])
            ax.plot(x, y, marker="|", color="k", ms=12)
            rec = logs[0]["results"]["arms"][arm]
            base = (logs[0]["results"].get("roles") or {}).get("baseline", "baseline")
            b = rec.get("budget") or (rec.get("backward_passes", 0) / max(1, logs[0]["results"]["arms"][base]
                                                                        ["backward_passes"]))
            ax.annotate(f"b={b:.2f}", (x, y), textcoords="offset points", xytext=(3, 6), fontsize=7, color="k")
        for arm in fr0["predicted"]:
            gaps = [lg["results"]["frontier"]["gaps"][arm].get(m) for lg in logs]
            if any(g is None or g.get("loss") is None for g in gaps):
                continue
            xs = np.array([g["cost"] for g in gaps], dtype=float)
            ys = np.array([g["loss"] for g in gaps], dtype=float)
            rec = logs[0]["results"]["arms"][arm]
            kind = rec["kind"]
            marker = kind_marker(kind)
            color = _ratio_color(rec.get("prediction_ratio_requested"))
            # min-max bars over seeds; max(0, .) because the mean of equal values can round past them
            def bar(v: np.ndarray) -> list[list[float]]:
                return [[max(0.0, v.mean() - v.min())], [max(0.0, v.max() - v.mean())]]

            ax.errorbar(xs.mean(), ys.mean(), xerr=bar(xs), yerr=bar(ys), fmt=marker, color=color,
                        mfc="none" if marker not in ("x",) else color, ms=7, lw=0.8, capsize=2)
            ax.annotate(_label(rec), (xs.mean(), ys.mean()), textcoords="offset points", xytext=(4, -9), fontsize=6,
                        color=color)
            kinds_seen[kind] = marker
        ax.set_xscale("log")
        ax.set_xlabel(time_label if m == "time" else MEASURE_LABELS[m])
        ax.set_ylabel("final validation loss (nats/token)")
        ax.set_title(f"Final loss against {MEASURE_LABELS[m].split(' (')[0]}")
    handles = [plt.Line2D([], [], color="k", lw=1.6, label="conventional frontier (own schedule per budget b)")]
    if cool is not None:
        handles.append(plt.Line2D([], [], color=COOLDOWN_COLOR, lw=1.6, ls="--",
                                  label="cooldown frontier (wsd branches; exploratory)"))
    handles += [plt.Line2D([], [], ls="none", marker=mk, color="grey", mfc="none", label=k) for k, mk in kinds_seen.items()]
    ratios = sorted({logs[0]["results"]["arms"][a].get("prediction_ratio_requested") or 0 for a in fr0["predicted"]})
    handles += [plt.Line2D([], [], ls="none", marker="o", color=_ratio_color(r), label=f"r = {r:g}") for r in ratios]
    fig.legend(handles=handles, fontsize=8, loc="lower center", ncol=min(len(handles), 8), bbox_to_anchor=(0.5, -0.08),
               frameon=False)
    caption = ("The speed-quality frontier. Black: conventional runs with shorter budgets b (each with its own warmup "
               "and cosine schedule; b = 1 is the baseline), fitted per seed (isotonic in cost, linear in log cost); "
               "line = mean of the seeds' fits, band = min to max over seeds. Points: predicted arms, one marker per "
               "predictor family, colour by prediction ratio (labels: ratio r and phase length Y), mean over seeds "
               "with min-max bars. Below the line = lower loss than training less for the same cost. Cost: "
               + ", ".join(MEASURE_LABELS[m] for m in measures) + "."
               + (" Dashed blue: the second frontier of warmup-stable-decay branches (roles.cooldown_frontier), "
                  "fitted the same way; the confirmatory rows use the black one." if cool is not None else ""))
    return save_figure(fig, out_dir, "frontier_pareto"), caption, SECTION


def _time_to_target(logs: list[dict], out_dir: Path, time_label: str):
    fr0 = logs[0]["results"]["frontier"]
    targets = fr0["targets"]
    arms = list(fr0["time_to_target"])
    fig, ax = plt.subplots(figsize=(7.5, 4.6))
    x = np.arange(len(targets))
    never: list[str] = []
    for j, arm in enumerate(arms):
        kind = logs[0]["results"]["arms"][arm]["kind"]
        frontier = arm in fr0["arms"]
        color = "k" if frontier else _ratio_color(logs[0]["results"]["arms"][arm].get("prediction_ratio_requested"))
        means, partial = [], []
        for i in range(len(targets)):
            recs = [lg["results"]["frontier"]["time_to_target"][arm][i] for lg in logs]
            t = [r["time_s"] for r in recs if r["reached"] and r["time_s"] is not None]
            means.append(np.mean(t) if t else np.nan)
            if not t:
                never.append(f"{arm} ({int(100 * targets[i]['share'])}%)")
            elif len(t) < len(recs):
                partial.append((i, len(t)))
        means = np.array(means)
        ax.plot(x, means, ls="--" if frontier else "-", marker="|" if frontier else kind_marker(kind),
                color=color, mfc="none", lw=1, ms=8, label=arm if len(arms) <= 16 else None)
        for i, k in partial:  # reached in some seeds only: the mean of those, and how many
            ax.annotate(f"{k}/{len(logs)}", (x[i], means[i]), textcoords="offset points", xytext=(5, 2 + 7 * (j % 3)),
                        fontsize=6, color=color)
    ax.set_xticks(x, [f"{int(100 * t['share'])}% of baseline\nloss {np.mean([lg['results']['frontier']['targets'][i]['val_loss'] for lg in logs]):.3f}"
                      for i, t in enumerate(targets)], fontsize=8)
    ax.set_ylabel(f"{time_label} to reach the target")
    ax.set_ylim(bottom=0)
    if len(arms) <= 16:
        ax.legend(fontsize=7, ncol=2, loc="upper left")
    if never:
        shown = never if len(never) <= 12 else never[:12] + [f"... {len(never) - 12} more"]
        fig.text(0.01, -0.02, "Not reached in any seed: " + ", ".join(shown), fontsize=7, va="top", wrap=True)
    ax.set_title("Time to target (targets from the baseline's own curve)")
    caption = ("Time to target: the targets are the baseline's validation losses after 50%, 75% and 100% of its "
               "budget (the same evaluation windows as the final loss); each line is the time an arm needs to first "
               "reach them, mean over the seeds that reached it (dashed: conventional frontier arms); k/n beside a point: "
               "only k of n seeds reached that target; the targets no seed reached are listed under the figure.")
    return save_figure(fig, out_dir, "frontier_time_to_target"), caption, SECTION


def frontier_figures(logs: list[dict], out_dir: Path) -> list[tuple]:
    """The Pareto figure and the time-to-target curves (none if the logs hold no frontier)."""
    if not logs or any("frontier" not in lg["results"] for lg in logs):
        return []
    fr = logs[0]["results"]["frontier"]
    time_label = "contention-free time (s)" if fr.get("time_basis") == "contention_free" else "measured wall-clock (s)"
    figs = []
    if fr["arms"] and fr["predicted"]:
        figs.append(_pareto(logs, out_dir, time_label))
    figs.append(_time_to_target(logs, out_dir, time_label))
    return figs


def frontier_section(table: pd.DataFrame, skipped: list[dict], alpha: float) -> dict | None:
    """The report's equal-cost section: the statement per cost measure, the table of every predicted arm
    at equal contention-free time, and the skipped grid cells."""
    if table is None or table.empty:
        return None
    paras = []
    for measure in ("time", "backward", "flops"):
        sub = table[(table["measure"] == measure) & (table["metric"] == "loss")]
        if sub.empty:
            continue
        tested = sub[sub["p_value"].notna()]
        below = tested[tested["below_frontier"] == True]  # noqa: E712 (a pandas column)
        conf = tested[tested["confirmatory"] == True]  # noqa: E712
        conf_below = conf[conf["below_frontier"] == True]  # noqa: E712
        extrap = sub[sub["p_value"].isna()]
        label = {"time": "equal contention-free time", "backward": "equal backward passes",
                 "flops": "equal FLOPs"}[measure]
        text = f"At {label}: "
        if len(conf):
            text += (f"{len(conf_below)} of {len(conf)} confirmatory arms ({', '.join(conf['arm'])}) "
                     f"{'is' if len(conf_below) == 1 else 'are'} below the conventional frontier "
                     f"(Bonferroni within the study family, alpha {alpha})"
                     + (f": {', '.join(conf_below['arm'])}" if len(conf_below) else "") + ". ")
        text += (f"Exploratory (unadjusted p < {alpha}): {len(below)} of {len(tested)} tested arms have a lower loss "
                 "than the frontier" + (f" ({', '.join(below['arm'])})" if len(below) else "") + ". ")
        dominated = extrap[extrap["status"].astype(str).str.startswith("dominated")]
        extrap = extrap[~extrap["status"].astype(str).str.startswith("dominated")]
        if len(dominated):
            text += (f"{len(dominated)} arms cost more than the longest frontier run and end with a higher loss than "
                     f"it in every seed, so they are above the frontier (dominated: {', '.join(dominated['arm'])}). ")
        if len(extrap):
            text += (f"{len(extrap)} arms lie outside the frontier's cost range in at least one seed (extrapolation, "
                     f"not tested: {', '.join(extrap['arm'])}).")
        paras.append(text)
    paras.append("Gap = arm minus frontier at the arm's own cost, per seed, then the mean over seeds with a bootstrap "
                 "95% interval and a one-sided paired t test (arm below the frontier). Only the confirmatory rows, "
                 "declared in the config before the run (frontier.confirmatory), are adjusted (Bonferroni within the "
                 "study family of stats/tests.csv); every other cell is exploratory and shows its unadjusted p. "
                 "Every cell, all three cost measures and the cloze accuracy: stats/frontier.csv.")
    if skipped:
        paras.append("Grid cells not run because their phase plan does not fit the step budget: "
                     + ", ".join(c["name"] for c in skipped) + ".")
    rows = []
    sub = table[(table["measure"] == "time") & (table["metric"] == "loss")]
    for rec in sub.to_dict("records"):
        tested = rec["p_value"] is not None and not (isinstance(rec["p_value"], float) and math.isnan(rec["p_value"]))
        rows.append([str(rec["arm"]), str(rec["kind"]), fmt(rec["prediction_ratio"]), fmt(rec["horizon"]),
                     fmt(rec["cost"]), fmt(rec["arm_value"]), fmt(rec["frontier_value"]), fmt(rec["estimate"]),
                     f"[{fmt(rec['ci_low'])}, {fmt(rec['ci_high'])}]" if tested else "-",
                     fmt(rec["p_value"]), fmt(rec["p_adjusted"]) if rec["confirmatory"] else "exploratory",
                     ("yes" if rec["below_frontier"] is True else "no") if tested else str(rec["status"])])
    return {"title": "Exp 4: the conventional frontier (loss at equal contention-free time)", "paragraphs": paras,
            "columns": ["arm", "kind", "r", "Y", "time (s)", "loss", "frontier loss", "gap", "95% CI", "p",
                        "p adjusted", "below frontier"],
            "rows": rows, "note": "gap < 0: the predicted arm reaches a lower loss than a conventional run of the "
                                  "same contention-free time; 'below frontier' needs adjusted p < alpha "
                                  "(confirmatory) or unadjusted p < alpha (exploratory)."}


def cooldown_section(table: pd.DataFrame | None) -> dict | None:
    """The report's section on the second (cooldown) frontier, from ``stats/frontier_cooldown.csv``:
    its arms against the cosine frontier, and every predicted arm against it, loss at equal
    contention-free time and equal backward passes (all exploratory)."""
    if table is None or table.empty:
        return None
    sub = table[table["measure"].isin(["time", "backward"]) & table["metric"].isin(["loss", "loss_avg"])]
    rows = []
    for rec in sub.to_dict("records"):
        tested = not (isinstance(rec["p_value"], float) and math.isnan(rec["p_value"]))
        rows.append([str(rec["comparison"]).replace("_", " "), str(rec["arm"]), str(rec["measure"]),
                     str(rec["metric"]), fmt(rec["arm_value"]), fmt(rec["frontier_value"]), fmt(rec["estimate"]),
                     f"[{fmt(rec['ci_low'])}, {fmt(rec['ci_high'])}]" if tested else "-", fmt(rec["p_value"]),
                     ("yes" if rec["below_frontier"] is True else "no") if tested else str(rec["status"])])
    return {"title": "The cooldown frontier (second, exploratory)",
            "paragraphs": ["Warmup-stable-decay runs at the frontier's budgets (roles.cooldown_frontier; each a "
                           "cooldown branch of a constant-rate run, costed at its own budget). First rows: each "
                           "of them against the cosine frontier at its own cost (below 0: the cooldown moves the "
                           "frontier down at that budget). Then every predicted arm against the cooldown frontier. "
                           "loss_avg: the same with the LAWA-averaged weights (record.weight_average). All "
                           "exploratory, unadjusted p; the confirmatory rows stay on the cosine frontier as declared "
                           "(the per-budget minimum of two noisy frontiers is biased low, so it is not used). Every "
                           "cell: stats/frontier_cooldown.csv."],
            "columns": ["comparison", "arm", "cost", "metric", "loss", "frontier loss", "gap", "95% CI", "p",
                        "below (p < alpha)"],
            "rows": rows, "note": "gap = arm minus frontier at the arm's own cost, mean over seeds."}

