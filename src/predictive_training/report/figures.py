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

from .. import registry  # noqa: E402
from ..analysis.shadow import FIELD, summarise  # noqa: E402
from ..config import Roles  # noqa: E402
from ..records.costs import FILENAME as COSTS_FILE  # noqa: E402
from ..records.costs import read_calibration  # noqa: E402
from ..records.jsonl import read_events, read_metrics  # noqa: E402
from ..records.summary import runs_table  # noqa: E402
from .frontier import frontier_figures  # noqa: E402
from .frontier import save_figure as _save  # noqa: E402

#: Colours of the arms' roles (the first control of each kind); every other arm gets one of
#: :data:`_OTHER_COLORS` that no role uses, so that no two arms of a figure share a colour.
ROLE_COLORS = {"baseline": "#222222", "plan_r25": "#1f77b4", "plan_r50": "#d62728", "skip": "#ff7f0e",
               "repeat": "#9467bd", "matched": "#2ca02c"}
_OTHER_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22",
                 "#393b79", "#637939", "#8c6d31", "#843c39"]
_SPAN_COLORS = ["#444444", "#999999"]
PHASE_COLORS = {"warmup": "#bbbbbb", "full": "#1f77b4", "predict": "#d62728", "correct": "#2ca02c"}
_ARM_COLORS: dict[str, str] = {}


def arm_colors(arms: list[str], roles: Roles | None = None) -> dict[str, str]:
    """A distinct colour per arm: the role colours (:data:`ROLE_COLORS`) for the baseline, the plan's
    arms and the first control of each kind, then unused colours of a long palette (tab20 after
    :data:`_OTHER_COLORS`) in the order of ``arms``."""
    out: dict[str, str] = {}
    if roles is not None:
        for key in ("baseline", "plan_r25", "plan_r50"):
            arm = getattr(roles, key)
            if arm in arms:
                out[arm] = ROLE_COLORS[key]
        for c in roles.controls:
            kind = roles.kind_of(c)
            if c in arms and kind in ROLE_COLORS and ROLE_COLORS[kind] not in out.values():
                out[c] = ROLE_COLORS[kind]
    tab20 = [matplotlib.colors.to_hex(c) for c in plt.get_cmap("tab20").colors]
    free = [c for c in dict.fromkeys(_OTHER_COLORS + tab20) if c not in out.values()]
    for arm in arms:
        if arm not in out:
            out[arm] = free.pop(0) if free else plt.get_cmap("hsv")(len(out) / (len(arms) + 1))
    return out


def _color(arm: str) -> str:
    return _ARM_COLORS.get(arm, "#8c564b")


def _is_plan_predictor(name: str) -> bool:
    """The study's own dynamics model (the registry's group ``rssm``): drawn in red, thicker."""
    return registry.group_of(name) == "rssm"


def loss_curves(runs: dict[str, dict[int, Path]], out_dir: Path):
    """Validation loss against step per arm: mean over seeds with a min-max band."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for arm, seeds in runs.items():
        curves = []
        for d in seeds.values():
            rows = [r for r in read_metrics(d) if "val_loss" in r]
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
    """Training time against final validation loss, one point per run: the contention-free time
    (``cost_s``) where the runs table has it, else the measured wall-clock."""
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    col = "cost_s" if "cost_s" in table and table["cost_s"].notna().all() else "wall_s"
    for arm, g in table.groupby("arm"):
        ax.scatter(g[col], g.final_val_loss, color=_color(arm), label=arm, s=30, alpha=0.8)
        ax.errorbar(g[col].mean(), g.final_val_loss.mean(), xerr=g[col].std(ddof=0),
                    yerr=g.final_val_loss.std(ddof=0), color=_color(arm), marker="D", ms=7, capsize=3)
    xlabel = ("contention-free training time (s; counted work x calibrated unit costs)" if col == "cost_s"
              else "training wall-clock (s; validation excluded)")
    ax.set(xlabel=xlabel, ylabel="final validation loss", title="Cost against quality")
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


def exp2_figures(logs: list[dict], out_dir: Path):
    """Held-out loss error against forecast horizon, RSSM vs the simple predictors."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    names = list(logs[0]["results"]["predictors"])
    for i, name in enumerate(names):
        curves = [np.asarray(lg["results"]["predictors"][name]["horizon"]["mae_over_range"], dtype=float)
                  for lg in logs]
        n = min(len(c) for c in curves)
        arr = np.stack([c[:n] for c in curves])
        ys = logs[0]["results"]["predictors"][name]["horizon"]["Y"][:n]
        color = "#d62728" if _is_plan_predictor(name) else f"C{i}"
        ax.plot(ys, np.nanmean(arr, axis=0), label=name, color=color, lw=2 if _is_plan_predictor(name) else 1.2)
        ax.fill_between(ys, np.nanmin(arr, axis=0), np.nanmax(arr, axis=0), color=color, alpha=0.12)
    thr = logs[0]["results"]["criteria"]["mae_over_range"]["threshold"]
    ax.axhline(thr, color="k", ls="--", lw=1, label=f"threshold {thr}")
    ax.set(xlabel="forecast horizon Y (steps)", ylabel="MAE / held-out loss range",
           title=f"Exp 2: loss forecast error ({logs[0]['results'].get('target_used', 'loss')} target)")
    ax.legend(fontsize=8)
    return [(_save(fig, out_dir, "exp2_horizon"),
             "Rolling-origin forecast error of the training loss against horizon on the held-out last 20% of "
             "each baseline run: mean over seeds, band = min to max.", "Exp 2 loss prediction")]


def exp3_figures(logs: list[dict], out_dir: Path):
    """Per-tensor cosine of predicted vs actual Y-step weight deltas (shadow mode), every predictor."""
    y = logs[0]["results"]["horizon"]
    preds = [p for p in logs[0]["results"]["per_tensor_cosine_mean"] if p != "zero"]
    if not preds:
        return []
    tensors = list(logs[0]["results"]["per_tensor_cosine_mean"][preds[0]])
    fig, ax = plt.subplots(figsize=(max(7, 0.35 * len(tensors) + 3), 4.8))
    width = 0.8 / len(preds)
    for i, name in enumerate(preds):
        vals = np.array([[lg["results"]["per_tensor_cosine_mean"].get(name, {}).get(t, np.nan) for t in tensors]
                         for lg in logs], dtype=float)
        ax.bar(np.arange(len(tensors)) + i * width, np.nanmean(vals, axis=0), width,
               label=name, color="#d62728" if _is_plan_predictor(name) else f"C{i}",
               hatch="//" if name.startswith("span") else None)
    thr = logs[0]["results"]["criteria"]["cosine"]["threshold"]
    ax.axhline(thr, color="k", ls="--", lw=1, label=f"threshold {thr}")
    ax.set_xticks(np.arange(len(tensors)) + 0.4 - width / 2, tensors, rotation=70, ha="right", fontsize=7)
    ax.set(ylabel="cosine(predicted, actual delta)", title=f"Exp 3: per-tensor weight-delta cosine at Y = {y}",
           ylim=(-1, 1))
    ax.legend(fontsize=8, ncol=2)
    return [(_save(fig, out_dir, "exp3_per_layer"),
             f"Cosine between predicted and actual {y}-step weight deltas per parameter tensor (shadow mode on the "
             "baseline runs: real per-step updates), mean over origins and seeds; hatched: the span oracle "
             "(hindsight ceiling).", "Exp 3 weight-delta prediction")]


def shadow_horizon_figure(table: dict, out_dir: Path, hybrid_horizon: int | None = None):
    """Progress captured against the horizon Y, one line per shadow predictor, the span oracles dashed,
    95% intervals (bootstrap over origins and seeds). ``table``: ``analysis.shadow.summarise`` output."""
    preds = list(dict.fromkeys(c["predictor"] for c in table.values()))
    others = [p for p in preds if not _is_plan_predictor(p) and not p.startswith("span")]  # one colour each
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    for i, name in enumerate(preds):
        cells = sorted((c for c in table.values() if c["predictor"] == name and c.get("progress") is not None),
                       key=lambda c: c["horizon"])
        if not cells:
            continue
        ys = np.array([c["horizon"] for c in cells], dtype=float)
        est = np.array([c["progress"] for c in cells], dtype=float)
        ci = np.array([c.get("progress_ci") or [np.nan, np.nan] for c in cells], dtype=float)
        span = name.startswith("span")
        color = "#d62728" if _is_plan_predictor(name) else (
            _SPAN_COLORS[i % 2] if span else _OTHER_COLORS[others.index(name) % len(_OTHER_COLORS)])
        off = (i - len(preds) / 2) * 0.012  # dodge the error bars (log x axis)
        x = ys * (1 + off)
        ax.errorbar(x, est, yerr=[est - ci[:, 0], ci[:, 1] - est], color=color, marker="s" if name in FIELD else ("*" if registry.group_of(name) == "outside" else "o"),
                    ms=4, capsize=3,
                    ls="--" if span else "-", lw=2 if _is_plan_predictor(name) else 1.3,
                    label=f"{name} (span oracle)" if span else name)
        srch = [c for c in cells if c.get("progress_search") is not None]
        if srch:
            xs = np.array([c["horizon"] for c in srch], dtype=float) * (1 + off)
            es = np.array([c["progress_search"] for c in srch], dtype=float)
            cs = np.array([c.get("progress_search_ci") or [np.nan, np.nan] for c in srch], dtype=float)
            ax.errorbar(xs, es, yerr=[es - cs[:, 0], cs[:, 1] - es], color=color, marker="D", ms=6, mfc="white",
                        capsize=3, ls="none", label=f"{name} after the scale search")
    ax.axhline(1.0, color="k", lw=0.8, ls=":")
    ax.axhline(0.0, color="k", lw=0.8)
    ax.set_yscale("symlog", linthresh=1.0)  # harmful predictions reach -10 and below; [-1, 1] stays linear
    if hybrid_horizon:
        ax.axvline(hybrid_horizon, color="grey", lw=0.8, ls=":")
    ax.set_xscale("log")
    hs = sorted({c["horizon"] for c in table.values()})
    ax.set_xticks(hs, [str(h) for h in hs])
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    lo = min([-1.0] + [v for c in table.values() for v in (c.get("progress_ci") or []) if v is not None])
    ticks = [t for t in (-100, -30, -10, -3, -1, -0.5, 0, 0.5, 1, 2) if t >= lo * 1.5 or t >= -1]
    ax.set_yticks(ticks, [f"{t:g}" for t in ticks])
    ax.set(xlabel="horizon Y (steps)", ylabel="progress captured",
           title="Shadow mode: share of the real steps' progress a predicted delta does")
    ax.legend(fontsize=7.5, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return (_save(fig, out_dir, "shadow_horizon"),
            "Progress captured (L(origin) - L(origin + predicted delta)) / (L(origin) - L(after the real Y steps)) on "
            "fixed held-out batches, pooled over the shadow origins of the baseline runs of every seed; bars: 95% "
            "bootstrap intervals over origins and seeds. 1 = the prediction did the real steps' work, 0 = nothing. "
            "Dashed: the span oracle (the real delta projected on the span of the last m updates, in hindsight: the "
            "best approximation, in cosine and L2, of any predictor that combines those updates). Open diamonds: after "
            "the corrector's per-layer-group scale search (scales chosen on other held-out batches). Squares: the "
            "field's predictors (verified extrapolation, DMD, the nowcaster and the pretrained RSSM, the last two "
            "trained on the other seeds and scored on a replay of each baseline). Dotted vertical "
            "line: the hybrid arms' horizon. The axis is symmetric-log beyond +-1.",
            "Shadow mode")


def exp4_figures(logs: list[dict], out_dir: Path):
    """Speedup and loss gap per arm, one point per seed."""
    arms = list(logs[0]["results"]["arms"])
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for i, arm in enumerate(arms):
        sp = [lg["results"]["arms"][arm]["speedup"] for lg in logs]
        gap = [100 * lg["results"]["arms"][arm]["loss_gap"] for lg in logs]
        for ax, vals in zip(axes, (sp, gap)):
            ax.scatter(np.full(len(vals), i), vals, color=_color(arm), s=25)
            ax.hlines(np.mean(vals), i - 0.3, i + 0.3, color=_color(arm), lw=2)
    th = logs[0]["results"]["criteria"]
    if "speedup_r50" in th:
        axes[0].axhline(th["speedup_r50"]["threshold"], color="k", ls="--", lw=1, label="speedup threshold")
    for key in ("loss_gap_r25", "loss_gap_r50"):
        if key in th:
            axes[1].axhline(100 * th[key]["threshold"], ls=":", lw=1, color="grey")
    axes[1].axhline(0, color="k", lw=0.5)
    contention_free = logs[0]["results"].get("time_basis") == "contention_free"
    speed_label = "speedup vs baseline (contention-free time ratio)" if contention_free else \
        "speedup vs baseline (wall-clock ratio)"
    # the achieved prediction ratio beside every gap: a hybrid that rarely predicts is not a success
    ticks = [f"{arm}\npredicted {np.mean([lg['results']['arms'][arm]['prediction_ratio_achieved'] for lg in logs]):.2f}"
             for arm in arms]
    for ax, label in zip(axes, (speed_label, "final val loss gap to baseline (%)")):
        ax.set_xticks(range(len(arms)), ticks, rotation=30, ha="right", fontsize=8)
        ax.set_ylabel(label)
    axes[0].set_title("Exp 4: speed")
    axes[1].set_title("Exp 4: quality (dotted: 1% and 2% margins)")
    # the conventional frontier opens the Exp 4 figures (report/frontier.py)
    return frontier_figures(logs, out_dir) + [(_save(fig, out_dir, "exp4_arms"),
             "Each point is one seed; bars are means. Speedup = baseline training time / arm training time "
             + ("(contention-free: counted work x calibrated unit costs, every overhead included); "
                if contention_free else "(measured wall-clock, every overhead included); ")
             + "gap = (arm - baseline) / baseline final validation loss. Under each arm: its achieved prediction "
               "ratio (share of the step budget predicted, mean over seeds).",
             "Exp 4 prediction-phase training")]


def exp5_figures(logs: list[dict], out_dir: Path):
    """The correction's own effect (after Predict -> after search) and the whole Correct phase, for the
    plan's 50% arm and its repeat and skip controls (the roles the Exp 5 log records)."""
    plan = logs[0]["results"].get("arm")
    if plan is None:
        return []
    kinds = {k: c for c, k in (logs[0]["results"].get("control_kinds") or {}).items()}
    rep, skip = kinds.get("repeat"), kinds.get("skip")
    fig, axes = plt.subplots(1, 2, figsize=(11, 5))
    panels = ((axes[0], "loss_after_search", "probe loss right after the line search",
               tuple(a for a in (plan, rep) if a is not None)),
              (axes[1], "loss_after_correct", "probe loss after the Correct steps",
               tuple(a for a in (plan, skip) if a is not None)))
    for ax, key, ylabel, arms in panels:
        lo, hi = np.inf, -np.inf
        for arm, marker in zip(arms, ("o", "x")):
            b, a = [], []
            for lg in logs:
                res = lg["results"]
                ev = res["events"] if arm == res.get("arm") else (res.get("controls", {}).get(arm) or {}).get("events", [])
                b += [e["loss_after_predict"] for e in ev if e.get(key) is not None]
                a += [e[key] for e in ev if e.get(key) is not None]
            if b:
                b_, a_ = np.array(b, dtype=float), np.array(a, dtype=float)
                ax.scatter(b_, a_, s=14, alpha=0.6, marker=marker, label=f"{arm} ({len(b)} events)")
                lo, hi = min(lo, np.nanmin([b_, a_])), max(hi, np.nanmax([b_, a_]))
        if np.isfinite(lo):
            ax.plot([lo, hi], [lo, hi], color="k", lw=0.8, ls="--", label="no change")
        ax.set(xlabel="probe loss right after the Predict phase", ylabel=ylabel)
        ax.legend(fontsize=8)
    axes[0].set_title("Exp 5: the line search alone (below the diagonal: lower)", fontsize=10)
    axes[1].set_title(f"Search + C real steps; {skip or 'the skip control'} has nothing to correct", fontsize=10)
    fig.tight_layout()
    return [(_save(fig, out_dir, "exp5_corrections"),
             "Each point is one Correct phase, all seeds; the probe is the last skipped Predict batches, the line "
             "search chose on other batches. Left: the plan's Exp 5 measure, the line search's own effect (no real "
             f"step between the two losses), for {plan} and, as a control, {rep or 'no repeat control'}. Right: the "
             f"whole Correct phase including its C real optimiser steps, for {plan} and {skip or 'no skip control'}, "
             "whose search has nothing to rescale: what real steps alone do.", "Exp 5 correction effectiveness")]


def phase_timeline(run_dir: Path, out_dir: Path, label: str):
    """Phases and loss of one hybrid run, step by step."""
    rows = read_metrics(run_dir)
    fig, ax = plt.subplots(figsize=(11, 3.6))
    steps = np.array([r["step"] for r in rows])
    for phase, color in PHASE_COLORS.items():
        mask = np.array([r["phase"] == phase for r in rows])
        if mask.any():
            ax.vlines(steps[mask], 0, 1, transform=ax.get_xaxis_transform(), color=color, alpha=0.25, lw=1,
                      label=phase)
    loss = np.array([np.nan if r["loss"] is None else r["loss"] for r in rows], dtype=float)
    ax.plot(steps, loss, color="k", lw=0.6, label="training loss")
    val = [(r["step"], r["val_loss"]) for r in rows if r.get("val_loss") is not None]
    if val:
        ax.plot(*zip(*val), color="#d62728", marker="o", ms=3, lw=1, label="validation loss")
    ax.set(xlabel="step", ylabel="loss", title=f"Phase timeline: {label}")
    ax.legend(fontsize=7, ncol=6, loc="upper right")
    return (_save(fig, out_dir, "phase_timeline"),
            f"Phases of {label} (shaded per step) with the training loss (no value where no forward pass ran) "
            "and the validation loss.", "Exp 4 prediction-phase training")


def predictor_learning_curves(runs: dict[str, dict[int, Path]], out_dir: Path):
    """The hybrid arms' dynamics model during each run (its ``predictor_train`` events): the
    objective on the newest, untrained windows (forecast) and on the held-out replay windows, per
    online optimisation run, and the levelled verdict on its last fifth (``summary.json``)."""
    curves = {}
    for arm, seeds in runs.items():
        for seed, d in seeds.items():
            if not (d / "events.jsonl").exists():
                continue
            ev = [e for e in read_events(d) if e.get("event") == "predictor_train"]
            if ev:
                summ = json.loads((d / "summary.json").read_text()).get("predictor", {}) if (d / "summary.json").exists() else {}
                curves[(arm, seed)] = (ev, summ)
    if not curves:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for (arm, seed), (ev, summ) in curves.items():
        x = np.array([e["train_steps"] for e in ev], dtype=float)
        k = max(1, len(ev) // 10)
        imp, se = summ.get("improvement_last_fifth"), summ.get("improvement_se")
        label = f"{arm} s{seed}" + (f" ({100 * imp:+.1f} +- {100 * se:.1f}% last fifth)" if imp is not None and se is not None else "")
        for ax, key in zip(axes, ("forecast", "heldout")):
            y = pd.Series([e.get(key) for e in ev], dtype=float).rolling(k, min_periods=1).mean()
            ax.plot(x, y, color=_color(arm), alpha=0.4 + 0.6 / (1 + seed), lw=1, label=label if key == "forecast" else None)
    axes[0].set(xlabel="optimisation steps", ylabel="objective (sum of errors relative to the null)",
                title="Dynamics model: forecast windows (not yet trained on)")
    axes[1].set(xlabel="optimisation steps", ylabel="objective", title="Held-out replay windows")
    axes[0].legend(fontsize=6)
    tol = next(iter(curves.values()))[1].get("level_tol") or 0.02
    return (_save(fig, out_dir, "predictor_learning_curve"),
            "The hybrid arms' RSSM during each run, per online optimisation run (rolling mean over a tenth of "
            "the runs): its objective on the newest windows before any training window reaches them (left; what "
            "a rollout does) and on the held-out replay windows between its training windows (right). The legend "
            "gives the forecast objective's improvement over the last fifth of the optimisation steps (the sum of "
            "each run's paired before/after gain, relative to its level) with its standard error; levelled when "
            f"below {100 * tol:.0f}%.", "Exp 4 prediction-phase training")


def make_all(results_dir: str | Path, arms: list[str], seeds: list[int], out_dir: str | Path,
             hybrid_horizon: int | None = None, roles: Roles | None = None) -> list[tuple]:
    """Draw every figure whose inputs exist under ``results_dir`` (``hybrid_horizon``: marked in the
    shadow-mode figure; ``roles``: the study's roles, for the arms' colours and the phase timeline)."""
    res, out = Path(results_dir), Path(out_dir)
    _ARM_COLORS.clear()
    _ARM_COLORS.update(arm_colors(list(arms), roles))
    runs = {a: {s: res / f"runs/{a}/seed{s}" for s in seeds} for a in arms}
    figs = [loss_curves(runs, out)]
    cal = res / COSTS_FILE
    table = runs_table([d for a in runs.values() for d in a.values()], read_calibration(cal) if cal.exists() else None)
    figs.append(wallclock_vs_loss(table, out))
    exp = res / "experiments"
    for folder, draw in (("exp1_gradient_structure", exp1_figures), ("exp2_loss_prediction", exp2_figures),
                         ("exp3_weight_delta", exp3_figures), ("exp4_prediction_phases", exp4_figures),
                         ("exp5_correction", exp5_figures)):
        logs = _logs(exp / folder, seeds)
        if logs:
            figs.extend(draw(logs, out))
    exp3 = _logs(exp / "exp3_weight_delta", seeds)
    if exp3 and "shadow" in exp3[0]["results"]:
        figs.append(shadow_horizon_figure(shadow_table(exp3), out, hybrid_horizon))
    order = [roles.plan_r50, roles.plan_r25, *roles.compared] if roles is not None else []
    hybrid = next((a for a in order if a is not None and a in arms), None)
    if hybrid:
        figs.append(phase_timeline(runs[hybrid][seeds[0]], out, f"{hybrid} seed {seeds[0]}"))
    lc = predictor_learning_curves(runs, out)  # the runs whose predictor logged a learning curve
    if lc is not None:
        figs.append(lc)
    return figs


def shadow_table(exp3_logs: list[dict]) -> dict:
    """Every shadow cell pooled over the seeds' Exp 3 logs (``analysis.shadow.summarise``)."""
    return summarise([lg["results"]["shadow"]["origins"] for lg in exp3_logs])


def _logs(folder: Path, seeds: list[int]) -> list[dict]:
    paths = [folder / f"seed{s}.json" for s in seeds]
    return [json.loads(p.read_text()) for p in paths if p.exists()]
