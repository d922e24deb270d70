"""Experiment 6 in the report: figures, the section, the Exp 6 report and the committed findings.

Reads only Exp 6's outputs (``hpo/curves.json``, ``hpo/second_seed.json``, ``stats/exp6_*.csv``, ``hpo/tests.csv``,
``hpo/milestones.json``, ``hpo/live/*.json``, the Exp 6 log); draws the compute-regret figure (each policy
family's mean compute and regret over the orders as its aggressiveness varies, the first-k baseline, the
confirmatory policy with its configuration-set intervals and the criterion's box), the sweep's
learning curves and the laws' predicted against actual final losses.
"""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from .context import ReportContext, fmt  # noqa: E402
from .frontier import save_figure  # noqa: E402

__all__ = ["FAMILY_STYLE", "curves_figure", "exp6_section", "frontier_figure", "predictions_figure",
           "sweep_table", "findings_extras", "build_exp6_report"]

FAMILY_STYLE = {
    "first_k": ("#222222", "first k configurations, fully"),
    "median": ("#ff7f0e", "MedianPruner (n_warmup_steps)"),
    "successive_halving": ("#9467bd", "SuccessiveHalvingPruner (min_resource)"),
    "hyperband": ("#2ca02c", "HyperbandPruner (min_resource)"),
    "last": ("#8c564b", "last value, margin rule"),
    "power": ("#1f77b4", "power law in steps, margin rule"),
    "schedule": ("#d62728", "schedule law (Tissue et al. 2024), margin rule"),
}


def frontier_figure(policies: pd.DataFrame, tests_table: pd.DataFrame, info: Mapping, out_dir: Path) -> tuple:
    """The compute-regret figure: mean regret (% of the best loss) against mean compute per policy."""
    fig, ax = plt.subplots(figsize=(7.5, 5.0))
    for fam, (color, label) in FAMILY_STYLE.items():
        g = policies[policies["family"] == fam].sort_values("compute")
        if g.empty:
            continue
        style = "-" if fam == "first_k" else "-o"
        ax.plot(g["compute"], 100 * g["regret_rel"], style, color=color, label=label, ms=4, lw=1.3,
                alpha=0.9 if fam != "first_k" else 0.6)
    ax.plot([1.0], [0.0], "k*", ms=10, label="exhaustive (no stopping)")
    conf = info["policy"]
    row = policies[policies["policy"] == conf]
    if not row.empty:
        c, r = float(row["compute"].iloc[0]), 100 * float(row["regret_rel"].iloc[0])
        rows = {rec["metric"]: rec for rec in tests_table.to_dict("records")}
        rc, rr = rows.get(f"compute_{conf}"), rows.get(f"regret_rel_{conf}")
        xerr = [[max(0.0, c - rc["ci_low"])], [max(0.0, rc["ci_high"] - c)]] if rc else None
        yerr = [[max(0.0, r - 100 * rr["ci_low"])], [max(0.0, 100 * rr["ci_high"] - r)]] if rr else None
        ax.errorbar([c], [r], xerr=xerr, yerr=yerr, fmt="D", color="#d62728", mec="k", ms=8, capsize=3,
                    label=f"confirmatory: {conf} (interval over configuration sets)", zorder=5)
    b = info["bounds"]
    ax.add_patch(plt.Rectangle((0, 0), b["compute"], 100 * b["regret_rel"], fill=True, alpha=0.12, color="#1b7a36",
                               label=f"Go region: compute < {b['compute']:g}, regret < {100 * b['regret_rel']:.3g}%"))
    ax.set_xlabel("compute (steps trained / exhaustive search), mean over orders")
    ax.set_ylabel("regret (% of the best final loss), mean over orders")
    ax.set_xlim(0, 1.03)
    top = max(1.0, 100 * float(policies["regret_rel"].max()) * 1.05)
    ax.set_ylim(-0.03 * top, top)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper right")
    ax.set_title(f"Exp 6: compute against regret ({info['n_orders']} orders)")
    png = save_figure(fig, out_dir, "exp6_compute_regret")
    return (png, "Compute against regret of every policy as its aggressiveness varies (mean over random orders of the "
                 "configurations; exploratory except the confirmatory point, whose bars are the configuration-set "
                 "bootstrap's 95% intervals). The shaded box is the pivot's Go region.", "Experiment 6")


def curves_figure(curves_doc: Mapping, out_dir: Path) -> tuple:
    """Every configuration's validation curve, coloured by peak learning rate, the best one in black."""
    docs = curves_doc["curves"]
    lrs = sorted({d["params"]["lr"] for d in docs})
    cmap = plt.get_cmap("viridis")
    color = {lr: cmap(0.1 + 0.8 * i / max(1, len(lrs) - 1)) for i, lr in enumerate(lrs)}
    finite = [d for d in docs if d.get("final") is not None]
    best = min(finite, key=lambda d: d["final"])["config"] if finite else None
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    for d in docs:
        y = np.array([np.nan if v is None else v for v in d["values"]], dtype=float)
        ls = {0: "-", 1: "--", 2: ":"}.get(sorted({x["params"]["warmup_steps"] for x in docs}).index(
            d["params"]["warmup_steps"]) % 3, "-")
        if d["config"] == best:
            ax.plot(d["steps"], y, color="k", lw=2.2, zorder=5, label=f"best: {best}")
        else:
            ax.plot(d["steps"], y, ls, color=color[d["params"]["lr"]], lw=1.0, alpha=0.8)
    for lr in lrs:
        ax.plot([], [], color=color[lr], label=f"lr {lr:g}")
    ax.set_xlabel("steps trained")
    ax.set_ylabel("validation loss (nats)")
    vals = [v for d in docs for v in d["values"][len(d["values"]) // 10:] if v is not None]
    if vals:
        ax.set_ylim(min(vals) - 0.05, np.percentile(vals, 98) + 0.1)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    ax.set_title("Exp 6: the sweep's validation curves (line style: warmup)")
    png = save_figure(fig, out_dir, "exp6_curves")
    return png, "The sweep's validation curves, one per configuration (colour: peak learning rate; solid, dashed, " \
                "dotted: increasing warmup); the best configuration in black.", "Experiment 6"


def predictions_figure(pred: pd.DataFrame, out_dir: Path) -> tuple | None:
    """Each law's predicted against actual final loss at each share of the budget."""
    if pred.empty:
        return None
    laws = list(dict.fromkeys(pred["law"]))
    fractions = sorted(pred["fraction"].unique())
    fig, axes = plt.subplots(1, len(laws), figsize=(3.6 * len(laws), 3.6), squeeze=False)
    lo, hi = float(pred["actual"].min()), float(pred["actual"].max())
    for ax, law in zip(axes[0], laws):
        for f, color in zip(fractions, plt.get_cmap("plasma")(np.linspace(0.1, 0.8, len(fractions)))):
            g = pred[(pred["law"] == law) & (pred["fraction"] == f)]
            ax.scatter(g["actual"], g["predicted"], s=12, color=color, label=f"{100 * f:.0f}% of the budget")
        ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
        ax.set_title(law)
        ax.set_xlabel("actual final loss")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("predicted final loss")
    axes[0][0].legend(fontsize=7)
    png = save_figure(fig, out_dir, "exp6_predictions")
    return png, "Each law's prediction of every configuration's final validation loss from its curve up to 10, 25 " \
                "and 50% of the budget, against the actual final loss (exploratory).", "Experiment 6"


def sweep_table(curves_doc: Mapping, second_doc: Mapping | None = None) -> pd.DataFrame:
    """One row per configuration: hyperparameters, final loss, its rank and gap to the best, and the run's
    times; the second seed's final loss where it ran (``hpo/second_seed.json``)."""
    docs = curves_doc["curves"]
    finite = [d["final"] for d in docs if d.get("final") is not None]
    best = min(finite) if finite else math.nan
    other = {d["config"]: (d["seed"], d.get("final")) for d in (second_doc or {}).get("curves", [])}
    rows = []
    for d in docs:
        f = d.get("final")
        rows.append({"config": d["config"], "lr": d["params"]["lr"], "warmup_steps": d["params"]["warmup_steps"],
                     "weight_decay": d["params"]["weight_decay"], "seed": d["seed"],
                     "final_val_loss": f, "gap_to_best": None if f is None else (f - best) / best,
                     "second_seed_final": other.get(d["config"], (None, None))[1], "wall_s": d.get("wall_s"),
                     "job_s": d.get("job_s")})
    df = pd.DataFrame(rows).sort_values("final_val_loss", na_position="last").reset_index(drop=True)
    df.insert(1, "rank", np.arange(1, len(df) + 1))
    return df


def _pct(x) -> str:
    return "-" if x is None or not math.isfinite(float(x)) else f"{100 * float(x):.3g}%"


def exp6_section(policies: pd.DataFrame, info: Mapping, record: Mapping, preds: pd.DataFrame, exp2: pd.DataFrame,
                 noise: Mapping, live: Sequence[Mapping]) -> list[dict]:
    """The report's Experiment 6 sections: the policies table, the laws' scores, Exp 2 across the sweep."""
    t = info["ties"]
    conf = info["policy"]
    paragraphs = [
        f"The pivot's confirmatory rule (declared in the config before the sweep ran): {record['rule']}. "
        f"Outcome: {record['outcome']}.",
        f"The sweep's best final validation loss is {t['best']:.4f} nats; {t['n_within']} of {t['n_configs']} "
        f"configurations lie within {100 * t['window']:.3g}% of it, so the regret bound is {_pct(t['bound'])}"
        + (" (tightened by the tie rule)." if t["tightened"] else "."),
        f"Orders: {info['n_orders']} random orders of the configurations; configuration-set resamples for the "
        f"confirmatory rows: {info['n_resamples']}. Every other policy is exploratory; its intervals are over the "
        "orders only.",
    ]
    if noise.get("n"):
        paragraphs.append(
            f"Seed noise: the {noise['n']} best configurations trained again at seed {noise['seed']} differ from seed "
            f"0 by {noise['mean_abs_diff']:.4f} nats on average ({_pct(noise['mean_abs_diff_rel'])} of the best loss); "
            f"the seed-0 best among them has a second-seed regret of {_pct(noise['second_seed_regret_of_first_best_rel'])}"
            f" ({'the same' if noise['same_best'] else 'not the same'} best at both seeds; Spearman "
            f"{fmt(noise['spearman'])}).")
    if live:
        agree = sum(bool(x["agree"]) for x in live)
        paragraphs.append(
            f"Live Optuna studies (SQLite storage, real training) of {len(live)} policies on the first trials of "
            f"order 0: {agree} of {len(live)} agree with the replay trial by trial (configuration, state, steps trained); "
            f"largest difference between a live and a recorded validation loss {max(x['max_abs_value_diff'] for x in live):.3g}.")
    shown = policies[policies["family"] != "first_k"]
    first_k = policies[policies["family"] == "first_k"]
    k_rows = first_k.iloc[np.unique(np.linspace(0, len(first_k) - 1, min(6, len(first_k))).astype(int))] \
        if len(first_k) else first_k
    rows = []
    for _, r in pd.concat([shown, k_rows]).iterrows():
        name = r["policy"] + (" (confirmatory)" if r["policy"] == conf else "")
        rows.append([name, f"{fmt(r['compute'])} [{fmt(r['compute_ci_low'])}, {fmt(r['compute_ci_high'])}]",
                     f"{_pct(r['regret_rel'])} [{_pct(r['regret_rel_ci_low'])}, {_pct(r['regret_rel_ci_high'])}]",
                     _pct(r["max_regret_rel"]), fmt(r["p_best"]), fmt(r["n_pruned"])])
    sections = [{"title": "Experiment 6: early stopping in a hyperparameter search (the plan's pivot)",
                 "paragraphs": paragraphs,
                 "columns": ["policy", "compute [95% CI]", "regret, % of best [95% CI]", "worst regret", "P(best)",
                             "pruned trials"],
                 "rows": rows,
                 "note": "Means over the orders; intervals: percentile bootstrap over the orders. first_k<k>: the "
                         "first k configurations of the order trained fully (the equal-compute baseline)."}]
    if not preds.empty:
        sections.append({
            "title": "Experiment 6: predicting the final loss (exploratory)",
            "paragraphs": ["Each law predicts every configuration's final validation loss from its curve up to a share "
                           "of the budget: the mean absolute relative error and the rank correlation across "
                           "configurations (what a pruner needs), with bootstrap intervals over configurations."],
            "columns": ["law", "share of budget", "points", "|error| % [95% CI]", "bias %", "Spearman [95% CI]",
                        "fitted"],
            "rows": [[r["law"], f"{100 * r['fraction']:.0f}%", fmt(r["mean_points"]),
                      f"{_pct(r['abs_rel_error'])} [{_pct(r['abs_rel_error_ci_low'])}, {_pct(r['abs_rel_error_ci_high'])}]",
                      _pct(r["rel_error"]), f"{fmt(r['spearman'])} [{fmt(r['spearman_ci_low'])}, {fmt(r['spearman_ci_high'])}]",
                      fmt(r["fitted"])] for _, r in preds.iterrows()],
            "note": "fitted: the share of predictions the law itself made (the rest fell back: schedule -> power -> last)."})
    if not exp2.empty:
        sections.append({
            "title": "Experiment 6: Exp 2 across the sweep (exploratory)",
            "paragraphs": ["The plan's H1 evidence 3 on many trajectories: each law fitted on the first 80% of each "
                           "configuration's curve, R^2 and MAE / range on the held-out evaluations, per trajectory then "
                           "averaged."],
            "columns": ["law", "trajectories", "R^2 mean [95% CI]", "R^2 median", "share R^2 > 0.85",
                        "MAE / range mean", "share MAE/range < 0.05"],
            "rows": [[r["law"], fmt(r["n"]), f"{fmt(r['r2_mean'])} [{fmt(r['r2_ci_low'])}, {fmt(r['r2_ci_high'])}]",
                      fmt(r["r2_median"]), fmt(r["share_r2_above"]), fmt(r["mae_over_range_mean"]),
                      fmt(r["share_mae_below"])] for _, r in exp2.iterrows()],
            "note": "R^2 about the held-out points' own mean: a nearly flat tail makes it small or negative even for "
                    "small errors; MAE / range is the plan's second measure."})
    return sections


EXP6_NOTES = """\
Experiment 6 measures the pivot that the plan names for a failed Decision 1 (Risks 2 and 4): predict the \
loss only, and use the prediction to stop poor trials early in a hyperparameter search. Every configuration \
of the sweep is trained once to the full budget with its validation curve recorded; every policy is then \
replayed on the recorded curves through Optuna's own API (the order fixed with enqueue_trial, the curve \
reported through trial.report and trial.should_prune), so that all policies see identical curves and every \
number is exactly repeatable.

Compute is the steps trained over exhaustive search (every configuration to the full budget); regret is the \
chosen configuration's final validation loss minus the best one's, as a share of the best. The confirmatory \
policy and its rule were declared in the config before the sweep ran; everything else is exploratory. \
LC-PFN and ifBO are not among the predictors: their packages pin torch <= 1.11 or download their weights from \
a host this machine cannot reach."""


def build_exp6_report(cfg: dict, results_dir: str | Path, html_out: str | Path, pdf_out: str | Path,
                      figures_dir: str | Path) -> list[tuple]:
    """The Exp 6 report (HTML and PDF) from Exp 6's outputs under ``results_dir``; returns its figures."""
    from .build import provenance
    from .html import render_html
    from .pdf import render_pdf

    res = Path(results_dir)
    curves_doc = json.loads((res / "hpo" / "curves.json").read_text())
    second_doc = _second_seed(res)
    log = json.loads(next((res / "experiments" / "exp6_hyperparameter_search").glob("seed*.json")).read_text())
    info, noise, live = log["results"]["criterion"], log["results"]["seed_noise"], log["results"]["live"]
    records = json.loads((res / "hpo" / "milestones.json").read_text())
    table = pd.read_csv(res / "hpo" / "tests.csv")
    policies = pd.read_csv(res / "stats" / "exp6_policies.csv")
    preds = pd.read_csv(res / "stats" / "exp6_predictions.csv")
    exp2 = pd.read_csv(res / "stats" / "exp6_exp2.csv")
    pred_rows = pd.read_csv(res / "hpo" / "predictions.csv")
    out = Path(figures_dir)
    figures = [frontier_figure(policies, table, info, out), curves_figure(curves_doc, out)]
    extra = predictions_figure(pred_rows, out)
    if extra:
        figures.append(extra)
    meta_path = res / "data" / "meta.json"
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    ctx = ReportContext(
        title=f"Experiment 6 (hyperparameter search): {cfg['study']}", study=cfg["study"], summary=table,
        decisions={"milestones": [], "decisions": [], "study": records}, figures=figures,
        runs=sweep_table(curves_doc, second_doc), provenance=provenance(cfg, meta), notes=EXP6_NOTES,
        sections=exp6_section(policies, info, records[0], preds, exp2, noise, live))
    render_html(ctx, html_out)
    render_pdf(ctx, pdf_out)
    return figures


def _second_seed(res: Path) -> dict | None:
    path = res / "hpo" / "second_seed.json"
    return json.loads(path.read_text()) if path.exists() else None


# ----------------------------------------------------------------------------------- findings
def findings_extras(results_dir: str | Path, out_dir: str | Path) -> list[str]:
    """Experiment 6's files in a study's findings folder (the general ``findings`` command calls it):
    the policies, laws and live-agreement tables, the sweep's table and the key figures; their names."""
    res, out = Path(results_dir), Path(out_dir)
    copies = {res / "stats" / "exp6_policies.csv": "exp6_policies.csv",
              res / "stats" / "exp6_predictions.csv": "exp6_predictions.csv",
              res / "stats" / "exp6_exp2.csv": "exp6_exp2.csv", res / "hpo" / "live_agreement.json": "live_agreement.json"}
    names = []
    for src, name in copies.items():
        if src.exists():
            shutil.copyfile(src, out / name)
            names.append(name)
    curves_doc = json.loads((res / "hpo" / "curves.json").read_text())
    sweep_table(curves_doc, _second_seed(res)).to_csv(out / "sweep.csv", index=False)
    names.append("sweep.csv")
    for png in sorted((res / "hpo" / "figures").glob("*.png")):
        shutil.copyfile(png, out / png.name)
        names.append(png.name)
    return names


