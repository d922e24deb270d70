"""``arms.<a>.search_every`` (training/searched.py): the conventional run with the corrector's scale
search on its own accumulated update, the conventional counterpart of a predicted arm's correction."""

from __future__ import annotations

import copy

import pytest

from predictive_training import config as config_mod

from predictive_training.training.plan import nominal_work
from predictive_training.training.run import run_training
from predictive_training.training.searched import search_points
from predictive_training.training.work import FORWARD_BATCH, FULL_STEP, SEARCH_TRIAL
from tests.test_resume import TINY_RSSM, _crash_then_resume, _jsonl, assert_same_run

from .conftest import TINY

pytestmark = pytest.mark.usefixtures("one_thread")


def _cfg(**own) -> dict:
    raw = copy.deepcopy(TINY)
    raw["arms"] = {"baseline": {"kind": "conventional"},
                   "searched": {"kind": "conventional", "search_every": 10, **own},
                   "rep": {"kind": "repeat", "prediction_ratio": 0.375}}
    raw["hybrid"] = {"horizon": 5, "correct_steps": 2, "rssm": TINY_RSSM}
    raw["record"] = {**TINY["record"], "shadow": {"arms": []}}
    cfg = config_mod.validate(raw)
    cfg["train"]["checkpoint_every"] = 3
    return cfg


def test_search_points():
    assert search_points(40, 5, 10) == [15, 25, 35]
    assert search_points(40, 5, 35) == [] and search_points(40, 0, 20) == [20]


def test_the_searched_run_is_the_baseline_until_its_first_search_and_counts_its_work(tiny_data, tmp_path):
    cfg = _cfg(corrector={"batches": 2, "evidence_z": 0.0, "trials": None})
    run_training(cfg, tiny_data, "baseline", 0, tmp_path / "base")
    s = run_training(cfg, tiny_data, "searched", 0, tmp_path / "srch")
    base, srch = _jsonl(tmp_path / "base" / "metrics.jsonl"), _jsonl(tmp_path / "srch" / "metrics.jsonl")
    events = [e for e in _jsonl(tmp_path / "srch" / "events.jsonl") if e["event"] == "search"]
    assert [e["step"] for e in events] == [15, 25, 35] and s["searches"] == 3
    # identical to the baseline until the first search that moved the weights, different from there
    first = next(e["step"] for e in events if e["correction_norm"] > 0)
    strip = lambda r: {k: v for k, v in r.items() if k != "work"}  # noqa: E731
    assert [strip(r) for r in srch[:first]] == [strip(r) for r in base[:first]]
    assert srch[first]["loss"] != base[first]["loss"]
    assert all(e["search_steps"][0] >= 40 for e in events)  # held-aside batches beyond the budget
    assert events[0]["search_loss_after"] <= events[0]["search_loss_before"]
    nominal = nominal_work(cfg, "searched")
    assert s["work"][SEARCH_TRIAL] == nominal[SEARCH_TRIAL] > 0
    assert s["work"][FORWARD_BATCH] == nominal[FORWARD_BATCH] and s["work"][FULL_STEP] == nominal[FULL_STEP] == 40
    assert s["backward_passes"] == 40


def test_a_searched_run_resumes_identically(tiny_data, tmp_path, caplog):
    cfg = _cfg()
    ref = copy.deepcopy(cfg)
    ref["train"]["checkpoint_every"] = 0
    run_training(ref, tiny_data, "searched", 0, tmp_path / "ref")
    summary = _crash_then_resume(cfg, tiny_data, "searched", tmp_path / "got", [17, 31], caplog)
    assert summary["resumed_from"] == [15, 30]
    assert_same_run(tmp_path / "ref", tmp_path / "got")
