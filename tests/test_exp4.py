"""Exp 4's comparison with matched_r50 says when backward passes differ, and why (point 3)."""

from __future__ import annotations

import copy
import json

from predictive_training import config as config_mod
from predictive_training.analysis.exp4 import run_exp4

from .conftest import TINY


def _run(folder, arm, backward, nominal=None, causes=None):
    folder.mkdir(parents=True)
    s = {"arm": arm, "n_params": 1000, "final_val_loss": 3.0, "final_train_loss": 3.0, "wall_s": 10.0,
         "downstream": {"cloze_accuracy": 0.3}, "forward_passes": backward, "backward_passes": backward,
         "prediction_ratio_requested": 0.5, "prediction_ratio_achieved": 0.5}
    if nominal is not None:
        s.update(backward_passes_nominal=nominal, extra_backward_passes=backward - nominal,
                 extra_backward_causes=causes)
    (folder / "summary.json").write_text(json.dumps(s))
    (folder / "metrics.jsonl").write_text(json.dumps({"step": 39, "val_loss": 3.0, "wall_s": 10.0}) + "\n")
    return folder


def test_matched_comparison_lists_arms_with_other_backward_counts(tmp_path):
    cfg = copy.deepcopy(TINY)
    cfg["arms"] = {"baseline": {"kind": "conventional"}, "hybrid_r50": {"kind": "hybrid", "prediction_ratio": 0.5},
                   "skip_r50": {"kind": "skip", "prediction_ratio": 0.5},
                   "matched_r50": {"kind": "matched", "prediction_ratio": 0.5}}
    cfg["hybrid"] = {"horizon": 5, "correct_steps": 2}
    cfg = config_mod.validate(cfg)
    guard = {"gate_blocks": 0, "guard_events": [{"step": 21, "reason": "grad_explosion", "phase": "full",
                                                 "action": "restore", "fallback_steps": 5}]}
    runs = {"baseline": _run(tmp_path / "b", "baseline", 40, 40, {}),
            "hybrid_r50": _run(tmp_path / "h", "hybrid_r50", 20, 20, {"gate_blocks": 0, "guard_events": []}),
            "skip_r50": _run(tmp_path / "s", "skip_r50", 25, 20, guard),
            "matched_r50": _run(tmp_path / "m", "matched_r50", 20, 20, {})}
    res = run_exp4(cfg, runs, 0, tmp_path / "seed0.json")["results"]
    mc = res["matched_comparison"]
    assert mc["matched_backward_passes"] == 20
    assert mc["backward_gap"] == {"hybrid_r50": 0, "skip_r50": 5}
    assert mc["unmatched_arms"] == ["skip_r50"]
    assert res["arms"]["skip_r50"]["extra_backward_passes"] == 5
    assert res["arms"]["skip_r50"]["extra_backward_causes"]["guard_events"][0]["step"] == 21
