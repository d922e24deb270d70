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

``evaluate: optimizer`` (config/mitigations/opt_<optimizer>.yaml): Go when one of the study's
confirmatory rows (each predicted arm below its own optimiser's frontier at equal contention-free
time, Bonferroni within the study: ``stats/tests.csv``) passes, No-Go when none does.

``evaluate: correction`` (config/mitigations/correction.yaml): per shadow cell and search variant, the
excess (progress after the variant minus what the same search adds to the real update) with its
cluster-bootstrap 95% interval over origins and seeds; a variant strengthens the correction for a
predictor when that interval lies above the cell's progress after today's search. Go when some
variant does for some predictor, No-Go when none does.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from ..analysis.shadow import summarise
from ..io import finite_or_none as _num
from .milestones import criterion_input, declared, study_record

__all__ = ["EVALUATORS", "cooldown_frontier_record", "correction_record", "mitigation_record", "optimizer_record"]

EVALUATORS = ("cooldown_frontier", "optimizer", "correction")


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


def _any(name: str, inputs: Mapping[str, Mapping], test: str) -> dict:
    """One criterion that holds when ANY of ``inputs`` passed (None when none was evaluated)."""
    passed = [v.get("passed") for v in inputs.values()]
    value = True if any(p is True for p in passed) else (None if not passed or all(p is None for p in passed)
                                                          else False)
    return {"estimate": float(sum(p is True for p in passed)), "n": len(passed), "test": test, "threshold": 1.0,
            "ci_low": None, "ci_high": None, "p_adjusted": None, "passed": value}


def optimizer_record(cfg: Mapping, tests: pd.DataFrame, config_file: str | Path | None,
                     first_run: float | None) -> dict:
    """The record of ``mitigation`` (evaluate ``optimizer``) from the study's tests table."""
    m = cfg["mitigation"]
    rows = tests[(tests.experiment == "exp4") & tests.metric.astype(str).str.startswith("frontier_time_loss_gap_")]
    inputs = {f"exp4.{r['metric']}": criterion_input(r) for r in rows.to_dict("records")}
    key = "a confirmatory arm below its own optimiser's frontier at equal time"
    inputs[key] = _any(key, dict(inputs), "any of the study's confirmatory rows (Bonferroni within the study)")
    decl = declared(config_file, ["mitigation", "train.optimizer", "train.lr_from"], first_run)
    return study_record(m["id"], m["title"], m["question"], m["rule"], decl, inputs, [key],
                        caveats=[] if len(rows) else ["no confirmatory row: not evaluated"])


def correction_record(cfg: Mapping, exp3_logs: list[Mapping], config_file: str | Path | None,
                      first_run: float | None) -> dict:
    """The record of ``mitigation`` (evaluate ``correction``) from the Exp 3 logs' shadow records."""
    m = cfg["mitigation"]
    per_seed = [lg["results"]["shadow"]["origins"] for lg in exp3_logs if "shadow" in lg.get("results", {})]
    cells = summarise(per_seed) if per_seed else {}
    rows = {}
    for c in cells.values():
        today = _num(c.get("progress_search"))
        for name, v in (c.get("variants") or {}).items():
            lo, hi = (v.get("excess_ci") or [None, None])
            rows[f"{c['predictor']}@{c['horizon']} {name}"] = {
                "estimate": _num(v.get("excess")), "ci_low": _num(lo), "ci_high": _num(hi), "n": v.get("n_origins"),
                "test": "cluster bootstrap 95% interval of the excess above today's search's progress",
                "threshold": today, "p_adjusted": None,
                "passed": None if _num(lo) is None or today is None else bool(lo > today),
                "forward_passes_mean": _num(v.get("forward_passes_mean"))}
    key = "a search variant strengthens the correction for a predictor"
    inputs = {key: _any(key, rows, "any (predictor, variant) whose excess interval lies above today's search")}
    decl = declared(config_file, ["mitigation", "record.shadow.search_variants"], first_run)
    return study_record(m["id"], m["title"], m["question"], m["rule"], decl, inputs, [key],
                        caveats=[] if rows else ["no shadow cell with search variants: not evaluated"],
                        exploratory={"per (predictor, variant)": rows})


def mitigation_record(cfg: Mapping, *, stats_dir: str | Path, tests: pd.DataFrame, log_paths: list[str | Path],
                      config_file: str | Path | None, first_run: float | None) -> dict:
    """The record of the config's ``mitigation``, by its ``evaluate`` (see the module docstring)."""
    import json

    stats_dir = Path(stats_dir)
    kind = cfg["mitigation"]["evaluate"]
    if kind == "cooldown_frontier":
        return cooldown_frontier_record(cfg, pd.read_csv(stats_dir / "frontier_cooldown.csv"),
                                        pd.read_csv(stats_dir / "frontier.csv"), config_file, first_run)
    if kind == "optimizer":
        return optimizer_record(cfg, tests, config_file, first_run)
    if kind == "correction":
        logs = [json.loads(Path(p).read_text()) for p in log_paths if Path(p).parent.name == "exp3_weight_delta"]
        return correction_record(cfg, logs, config_file, first_run)
    raise ValueError(f"config key 'mitigation.evaluate': no evaluator {kind!r}")
