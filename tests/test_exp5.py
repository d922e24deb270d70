"""Experiment 5 on the correction alone, with its controls (point 1).

Known answers on hand-made run folders: the plan's rows score the line search's own effect
(probe loss after Predict -> after the search), never the real Correct steps; the shortfall is
measured against the baseline's loss on the same batches at the same steps; the controls (repeat,
skip) are the study's own rows, in their own Bonferroni family.
"""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest

from predictive_training import config as config_mod
from predictive_training.analysis.exp5 import run_exp5
from predictive_training.stats import tests as S
from predictive_training.stats.rows import exp5_rows

from .conftest import TINY


def _write_run(folder, events, metrics=()):
    folder.mkdir(parents=True)
    (folder / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    (folder / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in metrics))
    (folder / "summary.json").write_text(json.dumps({"n_params": 1000}))
    return folder


def _correction(cycle, probe, after_predict, after_search, after_correct):
    return {"event": "correction", "cycle": cycle, "step": probe[-1] + 6, "probe_steps": probe,
            "search_steps": [probe[0] - 3, probe[0] - 2], "loss_after_predict": after_predict,
            "loss_after_search": after_search, "loss_after_correct": after_correct,
            "loss_before": after_predict, "loss_after": after_search, "diverged": False, "per_layer": {}}


@pytest.fixture
def cfg():
    return config_mod.validate(copy.deepcopy(TINY))


def test_the_plan_rows_score_the_search_not_the_real_steps(tmp_path, cfg):
    # two events: the search lowers the probe loss by 0.03 and 0.06 (1% and 2%); the real Correct
    # steps then lower it by a further 0.27 and 0.24 (10%): the old Exp 5 measure (after Correct)
    # passed the plan's 5% rule, the correction itself does not
    hybrid = _write_run(tmp_path / "hybrid", [
        _correction(0, [8, 9], 3.0, 2.97, 2.70),
        _correction(1, [18, 19], 3.0, 2.94, 2.70),
        {"event": "guard", "action": "restore", "step": 30},
    ])
    # the baseline's training loss on the same batches at the same steps: 2.85 and 2.90 on average
    base_rows = [{"step": s, "loss": v} for s, v in ((8, 2.84), (9, 2.86), (18, 2.88), (19, 2.92))]
    baseline = _write_run(tmp_path / "baseline", [], base_rows)
    log = run_exp5(cfg, {"hybrid_r50": hybrid, "baseline": baseline}, 0, tmp_path / "seed0.json")
    res = log["results"]
    crit = res["criteria"]
    assert crit["loss_reduction"]["estimate"] == pytest.approx((0.01 + 0.02) / 2)
    assert crit["loss_reduction"]["passed"] is False
    assert res["summary"]["correct_phase_mean_relative_reduction"] == pytest.approx(0.1)  # the old measure
    assert crit["share_positive"]["estimate"] == 1.0
    assert crit["divergences"]["estimate"] == 1 and crit["divergences"]["passed"] is False
    # shortfall vs baseline: 0.15 + 0.10; recovered by the search: 0.03 + 0.06 -> 0.09 / 0.25
    assert res["accumulated_shortfall"] == pytest.approx(0.25)
    assert crit["error_reduction"]["estimate"] == pytest.approx(0.36)
    assert [e["baseline_loss"] for e in res["events"]] == pytest.approx([2.85, 2.90])
    assert res["mean_loss_after_predict"] == 3.0 and res["mean_loss_after_search"] == pytest.approx(2.955)
    assert res["controls"] == {}


def test_controls_and_their_rows(tmp_path, cfg):
    logs = []
    for seed, gain in enumerate((0.03, 0.04, 0.05)):
        hybrid = _write_run(tmp_path / f"h{seed}", [_correction(0, [8, 9], 3.0, 3.0 - gain, 2.7)])
        repeat = _write_run(tmp_path / f"r{seed}", [_correction(0, [8, 9], 3.3, 3.3 - 2 * gain, 2.9)])
        skip = _write_run(tmp_path / f"s{seed}", [_correction(0, [8, 9], 3.0, 3.0, 2.85 - gain)])
        baseline = _write_run(tmp_path / f"b{seed}", [], [{"step": 8, "loss": 2.9}, {"step": 9, "loss": 2.9}])
        logs.append(run_exp5(cfg, {"hybrid_r50": hybrid, "repeat_r50": repeat, "skip_r50": skip,
                                   "baseline": baseline}, seed, tmp_path / f"seed{seed}.json"))
    ctl = logs[0]["results"]["controls"]
    assert set(ctl) == {"repeat_r50", "skip_r50"}
    assert ctl["skip_r50"]["summary"]["search_effect_max_abs"] == 0.0
    assert ctl["repeat_r50"]["summary"]["mean_relative_reduction"] == pytest.approx(0.06 / 3.3)
    rows = {r.metric: r for r in exp5_rows(logs, cfg["thresholds"])}
    plan = {"loss_reduction", "share_positive", "divergences", "loss_before_minus_after", "error_reduction"}
    study = {"repeat_r50_loss_reduction", "repeat_r50_share_positive", "skip_r50_search_effect_max_abs",
             "correct_phase_hybrid_r50_minus_skip_r50"}
    assert set(rows) == plan | study
    assert {m for m, r in rows.items() if r.family == "study"} == study
    assert rows["skip_r50_search_effect_max_abs"].estimate == 0.0
    # whole Correct phase: hybrid (3.0 -> 2.7: 10%) against skip (3.0 -> 2.85 - gain: 6%, 6.33%, 6.67%)
    assert rows["correct_phase_hybrid_r50_minus_skip_r50"].estimate == pytest.approx(0.1 - (0.15 + 0.04) / 3)
    assert rows["loss_before_minus_after"].estimate == pytest.approx(0.04)
    # error reduction: shortfall 0.1 per seed, recovered gain: 0.3, 0.4, 0.5
    assert rows["error_reduction"].estimate == pytest.approx(0.4)


def test_study_rows_are_their_own_bonferroni_family():
    plan = [S.one_sample_row("exp5", f"p{i}", [0.1, 0.12, 0.09, 0.11], 0.05, n_resamples=200) for i in range(3)]
    study = [S.one_sample_row("exp5", f"s{i}", [0.1, 0.12, 0.09, 0.11], 0.05, n_resamples=200, family="study")
             for i in range(5)]
    alone = S.tests_table(plan)
    both = S.tests_table(plan + study)
    # adding study rows does not change a plan row's adjusted p-value (3 plan tests: p x 3)
    np.testing.assert_allclose(both["p_adjusted"][:3], alone["p_adjusted"])
    np.testing.assert_allclose(alone["p_adjusted"], np.minimum(1, 3 * alone["p_value"]))
    np.testing.assert_allclose(both["p_adjusted"][3:], np.minimum(1, 5 * both["p_value"][3:]))
    assert list(both["family"]) == ["plan"] * 3 + ["study"] * 5
    assert list(both.columns) == list(S.TESTS_COLUMNS) and S.TESTS_COLUMNS[-2:] == ("family", "note")
    with pytest.raises(ValueError, match="family"):
        S.one_sample_row("exp5", "x", [0.1, 0.2], 0.05, n_resamples=50, family="controls")


def test_exp5_refuses_runs_without_the_three_point_probe(tmp_path, cfg):
    old = _write_run(tmp_path / "old", [{"event": "correction", "cycle": 0, "step": 30, "loss_before": 3.0,
                                         "loss_after": 2.7, "diverged": False}])
    with pytest.raises(ValueError, match="loss_after_predict"):
        run_exp5(cfg, {"hybrid_r50": old}, 0, tmp_path / "x.json")
    with pytest.raises(ValueError, match="not a control"):  # a control alone: nothing to score
        run_exp5(cfg, {"repeat_r50": old}, 0, tmp_path / "x.json")
    assert not (tmp_path / "x.json").exists()
