"""The nominal phase plan of a hybrid arm (phase_plan.py): known answers and the config's errors."""

from __future__ import annotations

import pytest

from predictive_training import config as config_mod
from predictive_training.phase_plan import PhasePlan

from .hybrid_support import hybrid_cfg


def test_phase_plan_known_answers():
    # prediction_ratio is the share of the WHOLE budget: T=1000, W=50, Y=20, C=5, r=0.5 gives
    # n = 25 cycles and G = 950 - 25 * 25 = 325 Full steps over 26 gaps (12.5 each: 13, 12, 13, ...)
    plan = PhasePlan(0.5, 20, 5, 1000, 50)
    assert (plan.cycles, plan.full_total, plan.predict_steps, plan.backward_passes) == (25, 325, 500, 500)
    assert [plan.full_len(k) for k in range(4)] == [13, 12, 13, 12]
    assert sum(plan.full_len(k) for k in range(26)) == 325
    phases = plan.phases()
    assert len(phases) == 1000 and phases.count("predict") == 500 and phases.count("correct") == 125
    # r T / Y = 12.5 rounds down: 12 cycles, nominal share 0.24 (reported beside the requested 0.25)
    assert PhasePlan(0.25, 20, 5, 1000, 50).predict_steps == 240
    assert PhasePlan(0.0, 20, 5, 1000, 50).phases() == ["warmup"] * 50 + ["full"] * 950
    # T=40, W=5, Y=5, C=2, r=0.5: 4 cycles, G = 35 - 28 = 7 Full steps over 5 gaps: 1, 2, 1, 2, 1
    small = PhasePlan(0.5, 5, 2, 40, 5)
    assert [small.full_len(k) for k in range(5)] == [1, 2, 1, 2, 1]
    assert small.phases()[:15] == ["warmup"] * 5 + ["full"] + ["predict"] * 5 + ["correct"] * 2 + ["full"] * 2
    with pytest.raises(ValueError, match="prediction_ratio 0.8 is not reachable"):
        PhasePlan(0.8, 5, 2, 40, 5)  # 6 cycles of 7 steps > 35


def test_an_unreachable_ratio_is_a_config_error_naming_the_arm(tiny_cfg):
    with pytest.raises(config_mod.ConfigError, match=r"arms\.arm\.prediction_ratio.*not reachable"):
        hybrid_cfg(tiny_cfg, ratio=0.8)
