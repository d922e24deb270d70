"""Does the verdict move with scale? Trends across studies, from their committed findings.

Milestone 3's scaling analysis on CPU. Each point of the grid is a study of its own (the
model is global in a config): ``config/scaling/*.yaml``, each with a ``scaling`` block that names the
axes it lies on (``model``, ``steps``, ``batch``; the shared base point lies on all three) and the
declared trend rule. :func:`aggregate` reads the points' ``findings/<study>/`` folders (``per_seed.csv``,
``shadow_per_seed.csv``, ``findings.json``, ``calibration.json``), so it works after ``results/`` is
gone, and writes ``findings/scaling/``:

- ``trends.csv``: per axis, arm (or shadow predictor) and quantity, the slope against log2 of the
  axis's scale (non-embedding parameters, steps, sequences per step) of (a) progress captured after
  the scale search (shadow mode, ``progress_search`` at the declared horizon), (b) the gap to the
  frontier at equal backward passes, (c) the gap at equal contention-free time. Each seed's slope is
  the least-squares slope over the points of that seed (seeds are paired across points: the same
  seed's batch stream and initialisation recipe); the estimate is their mean and the interval a
  t interval over seeds (``scaling.rule.confidence``, 90% by default: with 3 seeds a bootstrap has 10
  distinct resamples, too coarse). The declared rule: a gap "moves toward zero" only if the
  interval excludes 0 on the side toward zero (its sign opposite to the gap's sign at the smallest
  scale); progress "grows" only if the interval excludes 0 above; otherwise "no trend shown";
- ``break_even.png`` and ``break_even.csv``: what a predicted arm would need. With ``B`` backward
  passes, ``n`` Predict phases of ``Y`` steps (``nY = rT`` predicted steps) that each cost ``c`` Full
  steps of time, and Predict phases that do the work of ``p rT`` real steps, the arm reaches the
  loss of ``B + p rT`` real steps in the time of ``B + n c``: it is below the frontier at equal time
  exactly when ``p > c / Y``. Measured: ``p`` is the arm's effective progress at equal backward
  passes (``per_seed.csv``), ``c`` its measured cost per Predict phase; the FLOP-count ``c`` a GPU
  would imply at the paper scale (``config/paper.yaml``) is computed from the calibration's FLOPs
  per unit (forward batches keep their ratio to a Full step; work that scales with the parameters
  alone, the predictor's and the line search's, shrinks with the tokens per step), labelled so;
- ``trends.png`` and ``README.md``: the figures and the tables, with the rule's outcome per axis.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from scipy import stats as st

from ..io import atomic_dir

__all__ = ["AXES", "QUANTITIES", "ScalingError", "point_scale", "seed_slopes", "trend", "trends", "aggregate",
           "break_even_progress", "paper_phase_cost"]

#: axis -> what its scale is, read from a point's config
AXES = {"model": "non-embedding parameters", "steps": "training steps (train.steps)",
        "batch": "sequences per step (train.batch_size)"}
#: quantity -> (source table, column or measure, how "better" moves)
QUANTITIES = {"progress_search": "progress captured after the scale search (shadow mode)",
              "gap_backward": "loss gap to the frontier at equal backward passes (nats)",
              "gap_time": "loss gap to the frontier at equal contention-free time (nats)"}


class ScalingError(ValueError):
    """Points that cannot be aggregated (the message names the folder or key)."""


def non_embedding_params(model: dict) -> int:
    """Parameters of the study's GPT (``model.py``) outside its token and position embeddings (the head
    is tied to the token embedding), counted from the model itself so that the number cannot drift."""
    import torch

    from ..model import GPT, GPTConfig

    with torch.device("meta"):
        m = GPT(GPTConfig(vocab_size=8, **model))
    return int(sum(p.numel() for n, p in m.named_parameters() if not n.startswith(("tok_emb.", "pos_emb."))))


def point_scale(cfg: dict, axis: str) -> float:
    """The scale of a study on ``axis``."""
    if axis == "model":
        return float(non_embedding_params(cfg["model"]))
    if axis == "steps":
        return float(cfg["train"]["steps"])
    if axis == "batch":
        return float(cfg["train"]["batch_size"])
    raise ScalingError(f"unknown scaling axis {axis!r} (known: {', '.join(AXES)})")


def seed_slopes(x: np.ndarray, y: np.ndarray, seed: np.ndarray) -> dict[int, float]:
    """Per seed, the least-squares slope of ``y`` on ``log2 x`` over the points that seed has (at least
    two distinct scales); seeds with fewer points are left out."""
    out = {}
    for s in np.unique(seed):
        m = (seed == s) & np.isfinite(y) & np.isfinite(x) & (x > 0)
        lx = np.log2(x[m])
        if m.sum() >= 2 and np.ptp(lx) > 0:
            out[int(s)] = float(np.polyfit(lx, y[m], 1)[0])
    return out


def trend(x, y, seed, confidence: float = 0.9, better: str = "toward_zero", y_first=None) -> dict:
    """One trend: the seeds' slopes (:func:`seed_slopes`), their mean, a t interval over seeds at
    ``confidence``, and the declared rule's outcome. ``better``: ``toward_zero`` (a gap: its sign at the
    smallest scale, ``y_first``, says which side is toward zero) or ``up`` (progress captured)."""
    x, y, seed = (np.asarray(v, dtype=float) for v in (x, y, seed))
    slopes = seed_slopes(x, y, seed)
    vals = np.array(list(slopes.values()), dtype=float)
    out = {"n_seeds": int(vals.size), "slope": float(vals.mean()) if vals.size else None, "ci_low": None,
           "ci_high": None, "seed_slopes": slopes, "n_points": int(np.unique(x[np.isfinite(y)]).size)}
    if vals.size >= 2 and np.ptp(vals) > 0:
        half = st.t.ppf(0.5 + confidence / 2, vals.size - 1) * vals.std(ddof=1) / math.sqrt(vals.size)
        out["ci_low"], out["ci_high"] = float(vals.mean() - half), float(vals.mean() + half)
    if better == "up":
        toward = 1.0
    else:
        first = np.nanmean(y_first) if y_first is not None and np.isfinite(np.asarray(y_first, dtype=float)).any() \
            else None
        toward = -math.copysign(1.0, first) if first not in (None, 0.0) else None
    out["toward"] = None if toward is None else ("up" if toward > 0 else "down")
    if out["ci_low"] is None or toward is None:
        out["outcome"] = ("not tested: fewer than 2 seeds with 2 scales, or a zero-variance slope"
                          if out["ci_low"] is None else "not tested: the gap is 0 at the smallest scale")
    elif (toward > 0 and out["ci_low"] > 0) or (toward < 0 and out["ci_high"] < 0):
        out["outcome"] = "grows" if better == "up" else "moves toward zero"
    elif (toward > 0 and out["ci_high"] < 0) or (toward < 0 and out["ci_low"] > 0):
        out["outcome"] = "shrinks" if better == "up" else "moves away from zero"
    else:
        out["outcome"] = "no trend shown"
    return out


def _points(folders: list[Path], root: Path) -> list[dict]:
    pts = []
    for f in folders:
        meta_path = f / "findings.json"
        if not meta_path.exists():
            raise ScalingError(f"{f} has no findings.json: generate its findings first (python -m predictive_training "
                               "findings results/<study>)")
        meta = json.loads(meta_path.read_text())
        cfg_path = root / meta["config"]["path"]
        cfg = yaml.safe_load(cfg_path.read_text())
        sc = cfg.get("scaling")
        if not sc:
            raise ScalingError(f"{cfg_path}: no scaling block (axes and rule); it is not a point of the grid")
        for name in ("per_seed.csv", "shadow_per_seed.csv"):
            if not (f / name).exists():
                raise ScalingError(f"{f} lacks {name}: regenerate its findings with this version")
        pts.append({"study": meta["study"], "folder": f, "config": cfg, "scaling": sc,
                    "per_seed": pd.read_csv(f / "per_seed.csv"), "shadow": pd.read_csv(f / "shadow_per_seed.csv"),
                    "calibration": json.loads((f / "calibration.json").read_text())
                    if (f / "calibration.json").exists() else None})
    return pts


def trends(points: list[dict]) -> pd.DataFrame:
    """Every trend of the grid (module docstring): one row per axis, quantity and arm or predictor."""
    rules = {json.dumps(p["scaling"].get("rule", {}), sort_keys=True) for p in points}
    if len(rules) > 1:
        raise ScalingError(f"the points declare different trend rules: {sorted(rules)}")
    rule = points[0]["scaling"].get("rule", {})
    conf, horizon = float(rule.get("confidence", 0.9)), int(rule.get("horizon", 20))
    rows = []
    for axis in AXES:
        on = [p for p in points if axis in p["scaling"]["axes"]]
        if len(on) < 2:
            continue
        scale = {p["study"]: point_scale(p["config"], axis) for p in on}
        smallest = min(scale.values())
        gap = pd.concat([p["per_seed"].assign(study=p["study"]) for p in on], ignore_index=True)
        for (kind, arm_measure), d in gap.groupby(["kind", "measure"]):
            if arm_measure not in ("backward", "time"):
                continue
            x = d.study.map(scale).to_numpy(float)
            t = trend(x, d.gap.to_numpy(float), d.seed.to_numpy(float), conf, "toward_zero",
                      d.gap[x == smallest].to_numpy(float))
            rows.append({"axis": axis, "quantity": f"gap_{arm_measure}", "who": kind, "points": len(on), **_row(t)})
        sh = pd.concat([p["shadow"].assign(study=p["study"]) for p in on], ignore_index=True)
        sh = sh[(sh.horizon == horizon) & sh.progress_search.notna()]
        for pred, d in sh.groupby("predictor"):
            x = d.study.map(scale).to_numpy(float)
            t = trend(x, d.progress_search.to_numpy(float), d.seed.to_numpy(float), conf, "up")
            rows.append({"axis": axis, "quantity": "progress_search", "who": pred, "points": len(on), **_row(t)})
    return pd.DataFrame(rows, columns=["axis", "quantity", "who", "points", "n_points", "n_seeds", "slope", "ci_low",
                                       "ci_high", "toward", "outcome", "seed_slopes"])


def _row(t: dict) -> dict:
    return {k: (json.dumps(v) if k == "seed_slopes" else v) for k, v in t.items()}


def break_even_progress(phase_cost: float, horizon: int) -> float:
    """The effective progress a predicted arm needs to be below the frontier at equal time: ``c / Y``."""
    return float(phase_cost) / float(horizon)


def paper_phase_cost(calibration: dict, work: dict, backward: int, phases: float, cfg: dict, paper: dict) -> float:
    """The FLOP-count cost of one Predict phase in Full steps that a run's counted ``work`` would imply at
    the paper scale: forward batches keep their ratio to a Full step; every other unit (the predictor's
    observe, training and rollout, the line search's trials, snapshots, applied deltas) scales with the
    parameters alone, so its ratio to a Full step shrinks by the ratio of tokens per step. An estimate
    from FLOP counts, not a measurement."""
    u = calibration["units"]
    f_full = u["full_step"].get("flops")
    if not f_full or phases <= 0:
        return math.nan
    tokens = cfg["train"]["batch_size"] * cfg["model"]["context"]
    tokens_paper = paper["train"]["batch_size"] * paper["model"]["context"]
    extra = 0.0
    for unit, count in work.items():
        if unit == "full_step":
            continue
        f = (u.get(unit) or {}).get("flops")
        if f is None:
            continue
        ratio = f / f_full
        if unit != "forward_batch":
            ratio *= tokens / tokens_paper
        extra += count * ratio
    return extra / phases


def _break_even(points: list[dict], paper: dict) -> pd.DataFrame:
    rows = []
    for p in points:
        d = p["per_seed"]
        for kind, g in d.groupby("kind"):
            eff = g[g.measure == "backward"].effective_progress.dropna()
            timed = g[g.measure == "time"]
            cost = timed.phase_cost_full_steps.dropna()
            y = g.horizon.dropna()
            if eff.empty or cost.empty or y.empty:
                continue
            Y = int(y.iloc[0])
            gpu = [paper_phase_cost(p["calibration"], json.loads(r.work), r.backward_passes, r.predict_steps / Y,
                                    p["config"], paper)
                   for r in timed.itertuples() if p["calibration"] and isinstance(r.work, str) and r.predict_steps > 0]
            gpu_c = float(np.nanmean(gpu)) if gpu else math.nan
            rows.append({"study": p["study"], "kind": kind, "horizon": Y, "n_seeds": int(eff.size),
                         "effective_progress": float(eff.mean()),
                         "effective_progress_sd": float(eff.std(ddof=1)) if eff.size > 1 else None,
                         "phase_cost_full_steps": float(cost.mean()),
                         "break_even_progress": break_even_progress(float(cost.mean()), Y),
                         "paper_phase_cost_flops": gpu_c,
                         "paper_break_even_progress": break_even_progress(gpu_c, Y) if math.isfinite(gpu_c) else math.nan})
    return pd.DataFrame(rows)


def _figures(tr: pd.DataFrame, points: list[dict], be: pd.DataFrame, out: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = []
    axes_used = [a for a in AXES if (tr.axis == a).any()]
    if axes_used:
        fig, axs = plt.subplots(len(QUANTITIES), len(axes_used), figsize=(4.6 * len(axes_used), 9), squeeze=False)
        for j, axis in enumerate(axes_used):
            on = [p for p in points if axis in p["scaling"]["axes"]]
            for i, q in enumerate(QUANTITIES):
                ax = axs[i][j]
                for p in on:
                    x = point_scale(p["config"], axis)
                    if q == "progress_search":
                        sh = p["shadow"]
                        sh = sh[sh.progress_search.notna()]
                        for k, (pred, d) in enumerate(sh.groupby("predictor")):
                            ax.scatter([x] * len(d), d.progress_search, s=10, color=f"C{k}", label=pred if p is on[0] else None)
                    else:
                        d = p["per_seed"][p["per_seed"].measure == q.split("_")[1]]
                        for k, (kind, g) in enumerate(d.groupby("kind")):
                            ax.scatter([x] * len(g), g.gap, s=10, color=f"C{k}", label=kind if p is on[0] else None)
                ax.axhline(0, color="k", lw=0.6)
                ax.set_xscale("log", base=2)
                ax.set_xlabel(AXES[axis], fontsize=8)
                ax.set_ylabel(QUANTITIES[q].split(" (")[0], fontsize=8)
                if i == 0 and j == 0:
                    ax.legend(fontsize=6)
        fig.tight_layout()
        fig.savefig(out / "trends.png", dpi=90, metadata={"Software": None})
        plt.close(fig)
        names.append("trends.png")
    if not be.empty:
        fig, ax = plt.subplots(figsize=(6.5, 4.5))
        c = np.geomspace(max(0.5, be.phase_cost_full_steps.min() / 2), be.phase_cost_full_steps.max() * 2, 50)
        for y, ls in ((10, ":"), (20, "-"), (50, "--")):
            ax.plot(c, c / y, color="k", ls=ls, lw=1, label=f"break-even p = c / {y}")
        for k, (kind, d) in enumerate(be.groupby("kind")):
            ax.errorbar(d.phase_cost_full_steps, d.effective_progress,
                        yerr=d.effective_progress_sd.fillna(0).to_numpy(), fmt="o", color=f"C{k}", label=kind,
                        capsize=2, ms=5)
        ax.set_xscale("log")
        ax.set_xlabel("cost of one Predict phase (Full steps of time)")
        ax.set_ylabel("effective progress of a Predict phase")
        ax.set_title("Below the frontier at equal time needs p > c / Y", fontsize=10)
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(out / "break_even.png", dpi=90, metadata={"Software": None})
        plt.close(fig)
        names.append("break_even.png")
    return names


def aggregate(folders: list[str | os.PathLike], out_dir: str | os.PathLike, root: str | os.PathLike = ".",
              paper_config: str | os.PathLike = "config/paper.yaml") -> Path:
    """``findings/scaling/`` from the grid points' findings folders (module docstring)."""
    root = Path(root)
    points = _points([Path(f) for f in folders], root)
    tr = trends(points)
    paper = yaml.safe_load((root / paper_config).read_text())
    be = _break_even(points, paper)
    out = Path(out_dir)
    with atomic_dir(out) as tmp:
        tr.to_csv(tmp / "trends.csv", index=False, float_format="%.6g")
        be.to_csv(tmp / "break_even.csv", index=False, float_format="%.6g")
        figs = _figures(tr, points, be, tmp)
        lines = ["# Scaling: does the verdict move with scale?", "",
                 f"Points: {', '.join(p['study'] for p in points)} (findings folders; "
                 f"`python -m predictive_training scaling {' '.join(str(Path(f)) for f in folders)}`).", "",
                 "Rule (declared in each point's config, `scaling.rule`): " + json.dumps(points[0]["scaling"].get("rule", {})),
                 "", "| axis | quantity | arm kind / predictor | points | seeds | slope per doubling | interval | outcome |",
                 "|---|---|---|---|---|---|---|---|"]
        for r in tr.to_dict("records"):
            ci = "-" if r["ci_low"] is None or (isinstance(r["ci_low"], float) and math.isnan(r["ci_low"])) else \
                f"[{r['ci_low']:.4g}, {r['ci_high']:.4g}]"
            lines.append(f"| {r['axis']} | {r['quantity']} | {r['who']} | {r['points']} | {r['n_seeds']} | "
                         f"{'-' if r['slope'] is None else format(r['slope'], '.4g')} | {ci} | {r['outcome']} |")
        lines += ["", "Break-even (p > c / Y to be below the frontier at equal time):", "",
                  "| study | arm kind | Y | effective progress p | phase cost c (Full steps, measured) | needed c / Y | "
                  "c at the paper scale (FLOP count, an estimate) | needed there |",
                  "|---|---|---|---|---|---|---|---|"]
        for r in be.to_dict("records"):
            lines.append(f"| {r['study']} | {r['kind']} | {r['horizon']} | {r['effective_progress']:.3f} | "
                         f"{r['phase_cost_full_steps']:.1f} | {r['break_even_progress']:.3f} | "
                         f"{r['paper_phase_cost_flops']:.2f} | {r['paper_break_even_progress']:.3f} |")
        lines += [""] + [f"![{n}]({n})" for n in figs] + [""]
        (tmp / "README.md").write_text("\n".join(lines))
        # the marker of an aggregate (not a study): findings_index lists it apart
        (tmp / "scaling.json").write_text(json.dumps(
            {"format": "predictive_training scaling 1", "points": [p["study"] for p in points],
             "folders": [Path(os.path.relpath(p["folder"], out.parent)).as_posix() for p in points],
             "rule": points[0]["scaling"].get("rule", {}), "lr_rules": {p["study"]: p["scaling"].get("lr_rule")
                                                                      for p in points},
             "figures": figs}, indent=2) + "\n")
    return out
