"""``python -m predictive_training optimizers``: the optimiser mitigation's table across studies, from
committed findings folders (here the scaling grid's, which have the same layout), and its place in
the findings index (an aggregate, never a study)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from predictive_training.report.findings_index import _is_aggregate
from predictive_training.report.mitigations import MARKER, MitigationError, optimizer_aggregate, optimizer_rows

ROOT = Path(__file__).resolve().parents[1]
BASE = ROOT / "findings" / "scale_base"

pytestmark = pytest.mark.skipif(not BASE.is_dir(), reason="findings/scale_base is not committed")


def test_a_row_reads_the_studys_own_tables():
    row = optimizer_rows(BASE, ROOT)
    assert row["study"] == "scale_base" and row["optimizer"] == "adamw" and row["lr"] == 0.003
    tests = pd.read_csv(BASE / "tests.csv").set_index(["experiment", "metric"])
    assert row["exp1_mean_cosine"][0] == pytest.approx(tests.loc[("exp1", "mean_cosine"), "estimate"])
    shadow = pd.read_csv(BASE / "shadow.csv")
    at = shadow[(shadow.horizon == 20) & shadow.progress_search.notna()]
    assert row["span_progress_search"][0] == pytest.approx(at[at.predictor.str.startswith("span")].progress_search.max())
    best = at[~at.predictor.str.startswith("span")].sort_values("progress_search").iloc[-1]
    assert row["best_predictor"] == best.predictor
    frontier = pd.read_csv(BASE / "frontier.csv")
    conf = frontier[frontier.confirmatory.astype(bool) & (frontier.metric == "loss")]
    assert set(row["arms"]) == set(conf.arm)
    for arm, ms in row["arms"].items():
        f = frontier[(frontier.arm == arm) & (frontier.metric == "loss") & (frontier.measure == "backward")].iloc[0]
        assert ms["backward"]["gap"][0] == pytest.approx(f.estimate)


def test_the_aggregate_is_a_marked_folder_with_one_line_per_arm(tmp_path):
    out = optimizer_aggregate([BASE], tmp_path / "optimizers", ROOT)
    assert _is_aggregate(out) and (out / MARKER).exists()
    table = pd.read_csv(out / "optimizers.csv")
    assert len(table) == len(optimizer_rows(BASE, ROOT)["arms"]) and set(table.optimizer) == {"adamw"}
    assert (out / "README.md").read_text().count("| scale_base |") == len(table)
    with pytest.raises(MitigationError, match="lacks"):
        optimizer_aggregate([tmp_path], tmp_path / "x", ROOT)
