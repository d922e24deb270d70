"""The study records of the mitigations (``mitigation`` in the config): each question and rule is
declared in its config before the runs, and its record joins ``decisions.json`` in the shared format
of :mod:`.milestones`.

``evaluate: cooldown_frontier`` (config/mitigations/strong_frontier.yaml): the inputs are the cooldown
arms' gaps to the cosine frontier at equal backward passes (``stats/frontier_cooldown.csv``, comparison
``cooldown_arm_vs_frontier``; the arm and the cosine frontier at the same budget cost the same backward
passes). A row passes when the one-sided paired t test over seeds puts the arm below the frontier (a
negative gap, p < ``thresholds.alpha``: the table's ``below_frontier``); the record is Go when every
row passes ("the cooldown frontier is the stronger conventional practice at every budget"), No-Go when
one does not. Requiring every row is an intersection-union test, so the rows need no multiplicity
adjustment. (A bootstrap interval over 3 seeds has 10 distinct resamples: too coarse to decide on.) Exploratory beside it: every predicted arm's gap to the cooldown frontier and, with LAWA weight
averaging, to the cosine frontier, at equal time.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from ..io import finite_or_none as _num
from .milestones import declared, study_record

__all__ = ["cooldown_frontier_record", "mitigation_record"]


def _input(r: Mapping) -> dict:
    tested = _num(r.get("p_value")) is not None
    below = r.get("below_frontier")
    if isinstance(below, str):
        below = below.strip().lower() == "true"
    return {"estimate": _num(r.get("estimate")), "ci_low": _num(r.get("ci_low")), "ci_high": _num(r.get("ci_high")),
            "n": int(r["n_seeds"]), "test": f"{r.get('test')} (one-sided, unadjusted: every row must pass)",
            "threshold": 0.0, "p_adjusted": None, "p_value": _num(r.get("p_value")),
            "passed": bool(below) if tested else None, "status": r.get("status")}


def cooldown_frontier_record(cfg: Mapping, cooldown: pd.DataFrame, frontier: pd.DataFrame,
                             config_file: str | Path | None, first_run: float | None) -> dict:
    """The record of ``mitigation`` (evaluate ``cooldown_frontier``) from ``stats/frontier_cooldown.csv``
    (``cooldown``) and ``stats/frontier.csv`` (``frontier``)."""
    m = cfg["mitigation"]
    own = cooldown[(cooldown.comparison == "cooldown_arm_vs_frontier") & (cooldown.measure == "backward")
                   & (cooldown.metric == "loss")]
    inputs = {f"{r['arm']} - cosine frontier (equal backward passes)": _input(r) for r in own.to_dict("records")}
    exploratory = {}
    pred = cooldown[(cooldown.comparison == "predicted_vs_cooldown_frontier") & (cooldown.measure == "time")
                    & (cooldown.metric == "loss")]
    for r in pred.to_dict("records"):
        exploratory[f"{r['arm']} - cooldown frontier (equal time)"] = _input(r)
    avg = frontier[(frontier.measure == "time") & (frontier.metric == "loss_avg")]
    for r in avg.to_dict("records"):
        exploratory[f"{r['arm']} with LAWA - cosine frontier with LAWA (equal time)"] = _input(r)
    caveats = [] if len(own) else ["the study has no cooldown arm with a tested gap: not evaluated"]
    decl = declared(config_file, ["mitigation"], first_run)
    if decl["declared_before_runs"] is False:
        caveats.append("the config that declares the rule was committed after the first run, or has uncommitted "
                       "changes")
    return study_record(m["id"], m["title"], m["question"], m["rule"], decl, inputs, list(inputs),
                        caveats=caveats, exploratory=exploratory)


def mitigation_record(cfg: Mapping, stats_dir: str | Path, config_file: str | Path | None,
                      first_run: float | None) -> dict:
    """The record of the config's ``mitigation``, by its ``evaluate`` (see the module docstring)."""
    stats_dir = Path(stats_dir)
    kind = cfg["mitigation"]["evaluate"]
    if kind == "cooldown_frontier":
        return cooldown_frontier_record(cfg, pd.read_csv(stats_dir / "frontier_cooldown.csv"),
                                        pd.read_csv(stats_dir / "frontier.csv"), config_file, first_run)
    raise ValueError(f"config key 'mitigation.evaluate': no evaluator {kind!r}")
