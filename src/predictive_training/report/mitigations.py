"""``findings/optimizers/``: the optimiser mitigation's table across its studies (one per optimiser,
``config/mitigations/opt_<optimizer>.yaml``), from their committed findings folders.

One row per study: the optimiser and the learning rate its declared sweep chose; Exp 1's gradient
structure (mean adjacent-gradient cosine, the update PCA's top-10 variance share); shadow mode at
``Y = 20`` after the scale search (the span oracle's progress captured, the optimiser-neutral
ceiling, and the best predictor's); and each confirmatory arm's loss gap to that optimiser's own
frontier at equal backward passes and at equal contention-free time, with 95% intervals and the
study's own verdict. Each study's confirmatory rows decide its rule (Bonferroni within the study);
the table is the exploratory comparison across optimisers.

    python -m predictive_training optimizers findings/mit_opt_* [--out findings/optimizers]
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import yaml

from .. import config as config_mod
from ..io import atomic_dir, finite_or_none as _num

__all__ = ["MitigationError", "MARKER", "optimizer_rows", "optimizer_aggregate"]

#: the marker file of an aggregate across studies (the findings index lists it, never as a study)
MARKER = "aggregate.json"
HORIZON = 20


class MitigationError(ValueError):
    """A findings folder that cannot join the table (the message names it and what is missing)."""


def _fmt(v, lo=None, hi=None) -> str:
    if _num(v) is None:
        return "-"
    if _num(lo) is None or _num(hi) is None:
        return f"{v:.3g}"
    return f"{v:.3g} [{lo:.3g}, {hi:.3g}]"


def optimizer_rows(folder: str | os.PathLike, root: str | os.PathLike = ".") -> dict:
    """The table's row of one optimiser study's findings folder."""
    d, root = Path(folder), Path(root)
    missing = [f for f in ("findings.json", "tests.csv", "shadow.csv", "frontier.csv") if not (d / f).exists()]
    if missing:
        raise MitigationError(f"{d} lacks {', '.join(missing)}: regenerate it with python -m predictive_training "
                              "findings results/<study>")
    meta = json.loads((d / "findings.json").read_text())
    # the learning rate the declared sweep chose: train.lr_from, relative to the repository
    cfg = config_mod.validate(yaml.safe_load((root / meta["config"]["path"]).read_text()), base_dir=root)
    tc = cfg["train"]
    row: dict = {"study": meta["study"], "optimizer": tc.get("optimizer", "adamw"), "lr": tc["lr"],
                 "schedule": tc.get("schedule", "cosine")}
    tests = pd.read_csv(d / "tests.csv")
    for metric in ("mean_cosine", "update_pca_top10"):
        r = tests[(tests.experiment == "exp1") & (tests.metric == metric)]
        rec = r.iloc[0].to_dict() if len(r) else {}
        row[f"exp1_{metric}"] = (_num(rec.get("estimate")), _num(rec.get("ci_low")), _num(rec.get("ci_high")))
    shadow = pd.read_csv(d / "shadow.csv")
    at = shadow[(shadow.horizon == HORIZON) & shadow.progress_search.notna()]
    span = at[at.predictor.str.startswith("span")].sort_values("progress_search", ascending=False)
    preds = at[~at.predictor.str.startswith("span")].sort_values("progress_search", ascending=False)
    for key, sub in (("span", span), ("best", preds)):
        rec = sub.iloc[0].to_dict() if len(sub) else {}
        row[f"{key}_predictor"] = rec.get("predictor")
        row[f"{key}_progress_search"] = (_num(rec.get("progress_search")), _num(rec.get("progress_search_ci_low")),
                                         _num(rec.get("progress_search_ci_high")))
    frontier = pd.read_csv(d / "frontier.csv")
    row["arms"] = {}
    for rec in frontier[(frontier.metric == "loss") & frontier.confirmatory.astype(bool)].to_dict("records"):
        arm = row["arms"].setdefault(rec["arm"], {})
        for measure in ("backward", "time"):
            m = frontier[(frontier.arm == rec["arm"]) & (frontier.metric == "loss") & (frontier.measure == measure)]
            if len(m):
                r = m.iloc[0].to_dict()
                arm[measure] = {"gap": (_num(r["estimate"]), _num(r["ci_low"]), _num(r["ci_high"])),
                                "below": r.get("below_frontier"), "status": r.get("status")}
    return row


def optimizer_aggregate(folders: list[str | os.PathLike], out_dir: str | os.PathLike,
                        root: str | os.PathLike = ".") -> Path:
    """Write ``out_dir`` (``findings/optimizers/``): ``optimizers.csv``, ``README.md`` and the marker."""
    if not folders:
        raise MitigationError("give at least one optimiser study's findings folder")
    rows = [optimizer_rows(f, root) for f in folders]
    flat = []
    for r in rows:
        base = {k: v for k, v in r.items() if k != "arms" and not isinstance(v, tuple)}
        for k, v in r.items():
            if isinstance(v, tuple):
                base[k], base[f"{k}_ci_low"], base[f"{k}_ci_high"] = v
        for arm, ms in (r["arms"] or {"-": {}}).items():
            rec = {**base, "arm": arm}
            for measure in ("backward", "time"):
                g = ms.get(measure, {})
                rec[f"gap_{measure}"], rec[f"gap_{measure}_ci_low"], rec[f"gap_{measure}_ci_high"] = \
                    g.get("gap", (None, None, None))
                rec[f"below_{measure}"] = g.get("below")
            flat.append(rec)
    table = pd.DataFrame(flat)
    lines = ["# The optimiser mitigation: does the optimiser make training more predictable?", "",
             f"Studies: {', '.join(r['study'] for r in rows)} (`python -m predictive_training optimizers "
             f"{' '.join(str(Path(f)) for f in folders)}`). Each at the learning rate its declared sweep chose "
             "(`train.lr_from`); each study's confirmatory rows decide its rule; this table is exploratory.", "",
             f"| study | optimizer | lr | Exp 1 gradient cosine | update PCA-10 | span oracle after search (Y = {HORIZON}) "
             "| best predictor after search | arm | gap at equal backward passes | gap at equal time | below (time) |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        for arm, ms in (r["arms"] or {"-": {}}).items():
            gb, gt = ms.get("backward", {}), ms.get("time", {})
            lines.append(
                f"| {r['study']} | {r['optimizer']} | {r['lr']:g} | {_fmt(*r['exp1_mean_cosine'])} | "
                f"{_fmt(*r['exp1_update_pca_top10'])} | {r['span_predictor'] or '-'}: {_fmt(*r['span_progress_search'])} | "
                f"{r['best_predictor'] or '-'}: {_fmt(*r['best_progress_search'])} | {arm} | "
                f"{_fmt(*gb.get('gap', (None,)))} | {_fmt(*gt.get('gap', (None,)))} | "
                f"{ {True: 'yes', False: 'no'}.get(gt.get('below'), gt.get('status') or '-') } |")
    with atomic_dir(Path(out_dir)) as tmp:
        table.to_csv(tmp / "optimizers.csv", index=False, float_format="%.6g")
        (tmp / "README.md").write_text("\n".join(lines) + "\n")
        (tmp / MARKER).write_text(json.dumps({"aggregate": "optimizers", "studies": [r["study"] for r in rows]},
                                             indent=2) + "\n")
    return Path(out_dir)
