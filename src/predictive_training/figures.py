"""The study's figures (matplotlib, PNG for the reports and PDF as vector copies).

Each function reads real outputs (run folders, experiment logs), draws one figure, and returns
``(png_path, caption, section)``; ``make_all`` draws every figure whose inputs exist.
"""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from .io import read_jsonl  # noqa: E402

ARM_COLORS = {
    "baseline": "#222222", "hybrid_r25": "#1f77b4", "hybrid_r50": "#d62728", "skip_r50": "#ff7f0e",
    "repeat_r50": "#9467bd", "matched_r50": "#2ca02c",
}
PHASE_COLORS = {"warmup": "#bbbbbb", "full": "#1f77b4", "predict": "#d62728", "correct": "#2ca02c"}


def _save(fig, out_dir: Path, name: str) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    png = out_dir / f"{name}.png"
    fig.savefig(png, dpi=110, bbox_inches="tight", metadata={"Software": None})
    fig.savefig(out_dir / f"{name}.pdf", bbox_inches="tight", metadata={"Creator": None, "Producer": None,
                                                                        "CreationDate": None})
    plt.close(fig)
    return png


def _color(arm: str) -> str:
    return ARM_COLORS.get(arm, "#8c564b")


def loss_curves(runs: dict[str, dict[int, Path]], out_dir: Path):
    """Validation loss against step per arm: mean over seeds with a min-max band."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for arm, seeds in runs.items():
        curves = []
        for d in seeds.values():
            rows = [r for r in read_jsonl(d / "metrics.jsonl") if "val_loss" in r]
            curves.append(pd.Series({r["step"] + 1: r["val_loss"] for r in rows}))
        df = pd.concat(curves, axis=1).sort_index()
        for ax in axes:
            ax.plot(df.index, df.mean(axis=1), color=_color(arm), label=f"{arm} (n={df.shape[1]})", lw=1.5)
            ax.fill_between(df.index, df.min(axis=1), df.max(axis=1), color=_color(arm), alpha=0.15)
    axes[0].set(xlabel="step", ylabel="validation loss (nats/token)", title="Validation loss")
    axes[1].set(xlabel="step", ylabel="validation loss", title="Second half of training")
    xmax = axes[1].get_xlim()[1]
    axes[1].set_xlim(xmax / 2, xmax)
    lines = [ln for ln in axes[1].get_lines() if len(ln.get_xdata())]
    ys = np.concatenate([ln.get_ydata()[ln.get_xdata() >= xmax / 2] for ln in lines]) if lines else []
    if len(ys):
        pad = 0.05 * (ys.max() - ys.min() + 1e-9)
        axes[1].set_ylim(ys.min() - 4 * pad, ys.max() + 4 * pad)
    axes[0].legend(fontsize=8)
    return (_save(fig, out_dir, "loss_curves"),
            "Validation loss per arm: mean over seeds, band = min to max over seeds. Right: the second half, zoomed.",
            "Training")


def wallclock_vs_loss(table: pd.DataFrame, out_dir: Path):
    """Training wall-clock against final validation loss, one point per run."""
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for arm, g in table.groupby("arm"):
        ax.scatter(g.wall_s, g.final_val_loss, color=_color(arm), label=arm, s=30, alpha=0.8)
        ax.errorbar(g.wall_s.mean(), g.final_val_loss.mean(), xerr=g.wall_s.std(ddof=0),
                    yerr=g.final_val_loss.std(ddof=0), color=_color(arm), marker="D", ms=7, capsize=3)
    ax.set(xlabel="training wall-clock (s; validation excluded)", ylabel="final validation loss",
           title="Cost against quality")
    ax.legend(fontsize=8)
    return (_save(fig, out_dir, "wallclock_vs_loss"),
            "Each small point is one run; diamonds are arm means with one standard deviation over seeds.",
            "Training")


def exp1_figures(logs: list[dict], out_dir: Path):
    figs = []
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for lg in logs:
        h = lg["results"]["gradients"]["adjacent_cosine"]["histogram"]
        edges = np.asarray(h["edges"])
        ax.stairs(h["counts"], edges, label=f"seed {lg['seed']}", alpha=0.8)
    thr = lg["results"]["criteria"]["mean_cosine"]["threshold"]
    ax.axvline(thr, color="k", ls="--", lw=1, label=f"threshold {thr}")
    ax.set(xlabel="cosine(g_t, g_t+1)", ylabel="steps", title="Exp 1: adjacent-step gradient cosine")
    ax.legend(fontsize=8)
    figs.append((_save(fig, out_dir, "exp1_cosine"),
                 "Distribution of the cosine between gradients of adjacent steps, per seed "
                 f"({lg['results']['mode']} records).", "Exp 1 gradient structure"))

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for lg in logs:
        for ax, key in zip(axes, ("gradients", "updates")):
            cum = np.asarray(lg["results"][key]["pca"]["cumulative"])[:50]
            ax.plot(np.arange(1, len(cum) + 1), cum, marker=".", ms=3, label=f"seed {lg['seed']}")
    for ax, key, name in zip(axes, ("pca_top10", "update_pca_top10"), ("gradients", "weight updates")):
        thr = lg["results"]["criteria"][key]["threshold"]
        ax.axhline(thr, color="k", ls="--", lw=1)
        ax.axvline(10, color="grey", ls=":", lw=1)
        ax.set(xlabel="principal components", ylabel="cumulative explained variance", ylim=(0, 1.02),
               title=f"PCA of {name} (threshold {thr} at 10)")
    axes[0].legend(fontsize=8)
    figs.append((_save(fig, out_dir, "exp1_pca"),
                 "Cumulative explained variance of the mean-centred gradient (left) and weight-update (right) "
                 "histories; dotted line at 10 components.", "Exp 1 gradient structure"))

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for lg in logs:
        lc = lg["results"]["gradients"]["lagged_cosine"]
        axes[0].plot(lc["lags"], lc["mean"], label=f"seed {lg['seed']}")
        s0 = lg["results"]["gradients"]["autocorrelation"]["series"][0]
        acf = np.asarray(s0["acf"])
        axes[1].plot(np.arange(len(acf)), acf, label=f"seed {lg['seed']}")
        if s0.get("bartlett_bound"):
            bound = np.asarray(s0["bartlett_bound"], dtype=float)
            lags = np.arange(len(acf) - len(bound), len(acf))  # bounds start at lag 1
            axes[1].plot(lags, bound, color="grey", lw=0.8, ls=":")
            axes[1].plot(lags, -bound, color="grey", lw=0.8, ls=":")
    axes[0].set(xlabel="lag k (steps)", ylabel="mean cosine(g_t, g_t+k)", title="Gradient cosine against lag")
    axes[1].axhline(0, color="k", lw=0.5)
    axes[1].set(xlabel="lag (steps)", ylabel="autocorrelation", title="ACF of the leading gradient PC score")
    axes[0].legend(fontsize=8)
    figs.append((_save(fig, out_dir, "exp1_autocorrelation"),
                 "Left: mean cosine between gradients k steps apart. Right: autocorrelation of the leading "
                 "principal-component score series (dotted: Bartlett 95% bounds where available).",
                 "Exp 1 gradient structure"))
    return figs


def make_all(results_dir: str | Path, arms: list[str], seeds: list[int], out_dir: str | Path) -> list[tuple]:
    """Draw every figure whose inputs exist under ``results_dir``."""
    from .summary import runs_table

    res, out = Path(results_dir), Path(out_dir)
    runs = {a: {s: res / f"runs/{a}/seed{s}" for s in seeds} for a in arms}
    figs = [loss_curves(runs, out)]
    table = runs_table([d for a in runs.values() for d in a.values()])
    figs.append(wallclock_vs_loss(table, out))
    exp = res / "experiments"
    logs1 = _logs(exp / "exp1_gradient_structure", seeds)
    if logs1:
        figs.extend(exp1_figures(logs1, out))
    return figs


def _logs(folder: Path, seeds: list[int]) -> list[dict]:
    paths = [folder / f"seed{s}.json" for s in seeds]
    return [json.loads(p.read_text()) for p in paths if p.exists()]
