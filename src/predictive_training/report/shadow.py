"""The report's shadow-mode section: the table of every shadow cell and the sentence on H1 and H2.

Reads the Exp 3 logs (their per-origin shadow records, pooled over seeds by
:func:`predictive_training.analysis.shadow.summarise`) and the Exp 2 logs (uncertainty against
loss error). Every number and every clause of the sentence comes from those logs; the sentence's
comparisons are between bootstrap intervals (overlapping intervals are called "not
distinguishable"), never against a tuned cut-off.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from .. import registry
from ..analysis.shadow import FIELD, is_simple, spearman, summarise
from .context import fmt

__all__ = ["shadow_section", "implication"]

HYBRID = "rssm"


def _ci(est, ci) -> str:
    if est is None:
        return "-"
    if not ci or ci[0] is None or ci[1] is None or not np.isfinite(ci).all():
        return fmt(est)
    return f"{fmt(est)} [{fmt(ci[0])}, {fmt(ci[1])}]"


def _pct(x) -> str:
    if x is None:
        return "n/a"
    return "0%" if abs(100 * x) < 0.5 else f"{100 * x:.0f}%"


def _pct_ci(c: Mapping, key: str = "progress") -> str:
    est, ci = c.get(key), c.get(f"{key}_ci") or [None, None]
    if est is None:
        return "n/a"
    if ci[0] is None or ci[1] is None:
        return _pct(est)
    return f"{_pct(est)} [{_pct(ci[0])}, {_pct(ci[1])}]"


def _cmp(c: Mapping, other: Mapping, key: str = "progress") -> str:
    a, b = c.get(f"{key}_ci") or [None, None], other.get(f"{key}_ci") or [None, None]
    if None in a or None in b:
        return "not comparable with"
    if a[0] > b[1]:
        return "above"
    if a[1] < b[0]:
        return "below"
    return "not distinguishable from"


def _work(c: Mapping, key: str, horizon: int) -> str:
    lo, hi = c.get(f"{key}_ci") or [None, None]
    if lo is None or hi is None:
        return f"does {_pct_ci(c, key)} of the work"
    if hi < 0:
        return f"undoes progress ({_pct_ci(c, key)} of the real steps' work)"
    if lo <= 0:
        return f"does no work that can be told from none ({_pct_ci(c, key)})"
    if hi < 1:
        return f"does at most {_pct(hi)} of the work of the {horizon} real steps it replaces ({_pct_ci(c, key)})"
    if lo > 1:
        return f"does more than the {horizon} real steps it replaces ({_pct_ci(c, key)})"
    return f"does work that cannot be told from that of the {horizon} real steps it replaces ({_pct_ci(c, key)})"


def implication(table: Mapping[str, Mapping], horizon: int, plan: str = HYBRID) -> str:
    """What progress captured at ``horizon`` (the hybrid's Predict length) implies for H1 and H2, in
    a few generated sentences (``table``: :func:`~predictive_training.analysis.shadow.summarise`
    output). Comparisons are between 95% intervals; no cut-off is involved."""
    at = {c["predictor"]: c for c in table.values() if int(c["horizon"]) == int(horizon)}
    r = at.get(plan)
    if not r or r.get("progress") is None:
        return (f"No shadow rows of the hybrid's predictor ({plan}) at its horizon Y = {horizon}: shadow mode says "
                "nothing about H1 or H2 here.")
    simple = {k: v for k, v in at.items() if k != plan and is_simple(k) and v.get("progress") is not None}
    field = {k: v for k, v in at.items() if k in FIELD and v.get("progress") is not None}
    outside = {k: v for k, v in at.items() if k != plan and registry.group_of(k) == "outside"
               and v.get("progress") is not None}
    spans = {k: v for k, v in at.items() if k.startswith("span") and v.get("progress") is not None}
    s = (f"H1: at the hybrid arms' horizon Y = {horizon}, the RSSM's predicted delta has cosine "
         f"{fmt(r.get('cosine_mean'))} with the real one and {fmt(r.get('norm_ratio_mean'))} of its norm, and applied "
         f"as predicted it does {_pct_ci(r)} of the real steps' progress")
    if simple:
        best = max(simple, key=lambda k: simple[k]["progress"])
        s += f", {_cmp(r, simple[best])} the best simple predictor ({best}, {_pct_ci(simple[best])})"
    if field:
        top_f = max(field, key=lambda k: field[k]["progress"])
        s += (f", and {_cmp(r, field[top_f])} the best of the field's predictors ({top_f}, {_pct_ci(field[top_f])}; "
              + ", ".join(f"{k} {_pct_ci(v)}" for k, v in field.items() if k != top_f) + ")"
              if len(field) > 1 else f", and {_cmp(r, field[top_f])} {top_f} ({_pct_ci(field[top_f])})")
    if outside:
        s += ("; outside predictors: " + ", ".join(f"{k} {_pct_ci(v)} ({_cmp(r, v)} the RSSM's)" for k, v in outside.items()))
    if spans:
        top = max(spans, key=lambda k: spans[k].get("cosine_mean") or -1)
        o = spans[top]
        s += (f"; the span oracle over the last {top[4:]} updates (the real delta's best approximation from them, "
              f"cosine {fmt(o.get('cosine_mean'))}) does {_pct_ci(o)}")
        if o.get("progress_search") is not None:
            s += f", {_pct_ci(o, 'progress_search')} after the scale search"
        s += "."
        if (r.get("progress_ci") or [None])[0] is not None and _cmp(r, o) == "above":
            s += (" Progress is not bounded by the oracle's accuracy: along these directions the loss is curved, so a "
                  "shorter step can do more than a more accurate one.")
    else:
        s += "."
    s += f" H2: a Predict phase applied at scale 1 {_work(r, 'progress', horizon)}"
    if r.get("progress_search") is not None:
        s += f"; after the per-layer scale search it {_work(r, 'progress_search', horizon)}"
    his = [h for h in ((r.get(k) or [None, None])[1] for k in ("progress_ci", "progress_search_ci")) if h is not None]
    if his and max(his) < 1:
        s += ("; equal quality with fewer backward passes would then rest on the Correct phases making up the "
              "rest of the skipped steps' work")
    return s + "."


def shadow_section(exp3_logs: Sequence[Mapping], exp2_logs: Sequence[Mapping], hybrid_horizon: int) -> dict | None:
    """The report section (title, paragraphs, table) from the Exp 3 and Exp 2 logs; None without
    shadow records."""
    logs = [lg for lg in exp3_logs if "shadow" in lg.get("results", {})]
    if not logs:
        return None
    table = summarise([lg["results"]["shadow"]["origins"] for lg in logs])
    n_seeds = len(logs)
    cols = ["predictor", "Y", "origins", "cosine", "rel. L2", "norm ratio", "progress captured",
            "after scale search", "ratio SE (median)", "real drop (SE)", "Spearman(uncertainty, rel. L2)"]
    rows = []
    for c in table.values():
        sp = c.get("uncertainty_vs_rel_l2") or {}
        rows.append([c["predictor"], str(c["horizon"]), fmt(c.get("n_origins")),
                     _ci(c.get("cosine_mean"), c.get("cosine_ci")), _ci(c.get("rel_l2_mean"), c.get("rel_l2_ci")),
                     _ci(c.get("norm_ratio_mean"), c.get("norm_ratio_ci")),
                     _ci(c.get("progress"), c.get("progress_ci")),
                     _ci(c.get("progress_search"), c.get("progress_search_ci")),
                     fmt(c.get("progress_se_median")),
                     f"{fmt(c.get('gain_real_mean'))} ({fmt(c.get('gain_real_se_median'))})",
                     "-" if sp.get("rho") is None else f"{fmt(sp['rho'])} (p {fmt(sp.get('p_value'))}, n {sp.get('n')})"])
    plan = logs[0]["results"].get("criteria_from", {}).get("predictor", HYBRID)
    paras = [implication(table, hybrid_horizon, plan)]
    pairs = [p for lg in exp2_logs for p in lg["results"].get("uncertainty_vs_loss_error", {}).get("pairs", [])]
    if pairs:
        arr = np.array([[np.nan if u is None else u, e] for _, u, e in pairs], dtype=float)
        sp = spearman(arr[:, 0], arr[:, 1])
        rho = "undefined (constant)" if sp["rho"] is None else f"{sp['rho']:.2f} (p = {fmt(sp['p_value'])})"
        paras.append(f"Uncertainty against loss error: the Spearman rank correlation between the RSSM's rollout "
                     f"uncertainty and the error of its loss forecast (MAE against the smoothed loss, "
                     f"Exp 2) over {sp['n']} origins of {len(exp2_logs)} seed{'s' if len(exp2_logs) != 1 else ''} is {rho}.")
    note = (f"Shadow mode on the baseline runs ({n_seeds} seeds): at every origin each predictor rolls out Y steps "
            "from the real steps it has observed; the real steps then run. Means over origins and seeds with 95% "
            "bootstrap intervals (seeds, then origins within them, resampled). Progress captured is pooled: "
            "sum of (L(origin) - L(predicted)) over sum of (L(origin) - L(real)) on fixed held-out batches. span<m>: "
            "the real delta projected on the last m updates in hindsight (a ceiling, not a predictor); zero: no "
            "change (progress 0 by definition). verified: extrapolation along the last update, stopped at the first rise "
            "of a held-aside loss (its checks' forward passes are its cost); dmd: exact DMD of the last updates per "
            "tensor; nowcaster and rssm_pretrained: trained on the OTHER seeds' baselines, scored on a replay of each "
            "seed's baseline at the same origins and held-out batches. The ratio SE is the median standard error of a single origin's ratio; "
            "the real drop is the mean held-out loss decrease of the Y real steps with its median standard error.")
    return {"title": "Shadow mode: Exp 2/3 predictors on the real steps", "paragraphs": paras, "columns": cols,
            "rows": rows, "note": note}
