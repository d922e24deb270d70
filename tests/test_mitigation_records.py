"""The mitigations' study records (stats/mitigation.py): the optimiser's and the correction's rules
evaluated on known inputs (the cooldown frontier's: tests/test_cooldown_frontier.py)."""

from __future__ import annotations

import pandas as pd
import pytest

from predictive_training.analysis.shadow import records_by_cell, summarise
from predictive_training.stats.milestones import validate_record
from predictive_training.stats.mitigation import correction_record, optimizer_record
from tests.test_shadow_variants import variant_run  # noqa: F401 (the fixture)

M = {"id": "MX", "title": "t", "question": "q", "rule": "r"}


def _tests(passed: dict[str, bool]) -> pd.DataFrame:
    rows = [{"experiment": "exp4", "metric": f"frontier_time_loss_gap_{a}", "n": 3, "estimate": -0.1 if p else 0.2,
             "ci_low": -0.2, "ci_high": 0.3, "test": "paired_t_less", "p_adjusted": 0.01 if p else 0.9,
             "threshold": 0.0, "passed": p} for a, p in passed.items()]
    rows.append({"experiment": "exp4", "metric": "speedup_r50", "n": 3, "estimate": 0.9, "passed": False})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("passed, outcome", [({"hybrid_r50": False, "dmd": True}, "Go"),
                                             ({"hybrid_r50": False, "dmd": False}, "No-Go"), ({}, "not evaluated")])
def test_the_optimiser_rule_is_any_confirmatory_row(passed, outcome):
    rec = optimizer_record({"mitigation": {**M, "evaluate": "optimizer"}}, _tests(passed), None, None)
    validate_record(rec)
    assert rec["outcome"] == outcome
    assert {k for k in rec["inputs"] if k.startswith("exp4.")} == {f"exp4.frontier_time_loss_gap_{a}" for a in passed}


def test_the_correction_rule_compares_each_variants_excess_with_todays_search(variant_run):  # noqa: F811
    _, rows = variant_run
    log = {"results": {"shadow": {"origins": records_by_cell(rows)}}}
    rec = correction_record({"mitigation": {**M, "evaluate": "correction"}}, [log, log], None, None)
    validate_record(rec)
    cells = summarise([records_by_cell(rows)] * 2)
    per = rec["exploratory"]["per (predictor, variant)"]
    assert set(per) == {f"{c['predictor']}@{c['horizon']} {v}" for c in cells.values() for v in c.get("variants", {})}
    for key, inp in per.items():
        cell = cells[key.split(" ")[0]]
        assert inp["threshold"] == pytest.approx(cell["progress_search"])
        assert inp["passed"] == (inp["ci_low"] > inp["threshold"])
    expected = "Go" if any(v["passed"] for v in per.values()) else "No-Go"
    assert rec["outcome"] == expected
