"""The gate of the hybrid trainer: the rollout's uncertainty, the predictor's readiness and the gate
from measured skill (training/gate.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from predictive_training.dynamics.protocol import PredictedPhase
from predictive_training.training.gate import SkillGate

from .hybrid_support import NO_SKILL_GATE, TINY_RSSM, Y, Spy, hybrid_cfg, hybrid_trainer

pytestmark = pytest.mark.usefixtures("one_thread")


def test_confidence_gate_blocks_uncertain_predictions(tiny_cfg, tiny_data):
    cfg = hybrid_cfg(tiny_cfg, gate={**NO_SKILL_GATE, "max_uncertainty": 1.0})
    tr, cap = hybrid_trainer(cfg, tiny_data, lambda p: Spy(p, uncertainty=1.5))
    summary = tr.run()
    assert summary["predict_steps"] == 0 and summary["backward_passes"] == 40
    gates = [e for e in cap.events if e["event"] == "gate"]
    assert len(gates) == 4 and all(e["decision"] == "full" for e in gates)
    assert all(e["reason"] == "uncertainty_above_threshold" for e in gates)
    # the same run below the threshold predicts
    tr2, _ = hybrid_trainer(cfg, tiny_data, lambda p: Spy(p, uncertainty=0.5))
    assert tr2.run()["predict_steps"] == 20


SKILL_GATE = {"reference": "ema_of_deltas", "statistic": "rel_l2", "margin": 0.0}


def _gates(cap):
    return [e for e in cap.events if e["event"] == "gate"]


def test_skill_gate_known_answers():
    """The gate's statistic on known deltas: a forecast near the real gap delta beats the zero and
    the EMA references; a random one does not; the margin is applied; no measurement blocks."""
    g = torch.Generator().manual_seed(0)
    w0 = {"a": torch.randn(50, generator=g), "b": torch.randn(3, 4, generator=g)}
    real = {n: 0.1 * torch.randn(t.shape, generator=g) for n, t in w0.items()}
    w1 = {n: w0[n] + real[n] for n in w0}
    zero = {n: torch.zeros_like(t) for n, t in w0.items()}
    gate = SkillGate("rel_l2", "zero", 0.0)
    assert gate.decision() == (False, "no_skill_measurement")
    good = {n: 0.9 * real[n] for n in real}
    gate.begin(0, 10, 5, w0, good, zero)
    res = gate.end(15, w1)
    assert res.passed and res.why == "beats_reference"
    assert res.predictor["cosine"] == pytest.approx(1.0) and res.predictor["norm_ratio"] == pytest.approx(0.9)
    assert res.predictor["rel_l2"] == pytest.approx(0.1) and res.reference["rel_l2"] == pytest.approx(1.0)
    assert gate.decision() == (True, "beats_reference")
    rand = {n: 0.1 * torch.randn(t.shape, generator=g) for n, t in w0.items()}
    gate.begin(1, 20, 5, w0, rand, zero)
    assert not gate.end(25, w1).passed and gate.decision() == (False, "below_reference")
    # the margin: 0.1 better than the reference is not enough for a margin of 0.95
    strict = SkillGate("rel_l2", "zero", 0.95)
    strict.begin(0, 10, 5, w0, good, zero)
    assert not strict.end(15, w1).passed
    # cosine: higher is better; a predictor that is not ready never passes
    cos_gate = SkillGate("cosine", "ema_of_deltas", 0.0)
    cos_gate.begin(0, 10, 5, w0, None, good)
    assert cos_gate.end(15, w1).why == "predictor_not_ready"
    # a gap that did not run its forecast length gives no measurement; the last verdict stays
    gate.begin(2, 30, 5, w0, good, zero)
    assert gate.end(33, w1) is None and gate.decision() == (False, "below_reference")
    with pytest.raises(ValueError, match="hybrid.gate.statistic"):
        SkillGate("mse", "zero", 0.0)
    with pytest.raises(ValueError, match="hybrid.gate.margin"):
        SkillGate("rel_l2", "zero", -1.0)


def test_the_gate_blocks_an_untrained_dynamics_model(tiny_cfg, tiny_data):
    """Defect 9: an RSSM that has not trained its min_train_steps is not ready, so every cycle runs
    Full (and says why); and a ready predictor without skill (random directions) is blocked by
    its measured skill."""
    rssm = {k: v for k, v in TINY_RSSM.items() if k != "min_train_steps"}  # default: 50 steps
    cfg = hybrid_cfg(tiny_cfg, gate=SKILL_GATE)
    cfg["hybrid"]["rssm"] = rssm
    tr, cap = hybrid_trainer(cfg, tiny_data)
    summary = tr.run()
    assert summary["predict_steps"] == 0 and summary["rollouts"] == 0
    assert summary["predictor"]["train_steps"] < 50 and summary["predictor"]["ready"] is False
    gates = _gates(cap)
    assert len(gates) == 4 and all(e["reason"] == "predictor_not_ready" for e in gates)
    assert summary["gate_block_reasons"] == {"predictor_not_ready": 4}

    cfg = hybrid_cfg(tiny_cfg, gate={**SKILL_GATE, "reference": "zero"})
    tr, cap = hybrid_trainer(cfg, tiny_data, lambda p: Spy(p, scale=1e-2))
    summary = tr.run()
    assert summary["predict_steps"] == 0
    gates = _gates(cap)
    assert gates and all(e["decision"] == "full" for e in gates)
    scored = [e for e in gates if e["reason"] == "skill_below_reference"]
    assert scored and all(e["skill"]["predictor_scores"]["rel_l2"] > 1.0 for e in scored)


class Oracle(Spy):
    """Forecasts the real delta of a recorded run from the step it has reached (perfect skill on
    Full gaps while the run follows the recording)."""

    def __init__(self, params, weights):
        super().__init__(params)
        self.weights, self.step = weights, 0

    def observe(self, obs):
        self.step = obs.step + 1

    def rollout(self, horizon, lrs, seed):
        self.calls.append(horizon)
        a, b = self.weights[self.step - 1], self.weights[min(self.step - 1 + horizon, max(self.weights))]
        return PredictedPhase({n: b[n] - a[n] for n in a}, np.full(horizon, 5.0), 0.0)


def test_the_gate_opens_for_measured_skill_and_control_arms_keep_the_schedule(tiny_cfg, tiny_data):
    """A predictor whose gap forecasts are right (cosine 1) beats the EMA reference and predicts;
    the control arms (skip, repeat) follow the nominal schedule with the skill gate configured."""
    ref_cfg = hybrid_cfg(tiny_cfg, kind="hybrid", gate=SKILL_GATE)
    ref_cfg["arms"]["arm"]["prediction_ratio"] = 0.0  # a conventional run of the same steps
    ref_tr, ref = hybrid_trainer(ref_cfg, tiny_data, lambda p: Spy(p))
    ref_tr.run()
    cfg = hybrid_cfg(tiny_cfg, gate=SKILL_GATE)
    tr, cap = hybrid_trainer(cfg, tiny_data, lambda p: Oracle(p, ref.weights))
    summary = tr.run()
    first = _gates(cap)[0]
    assert first["decision"] == "predict" and first["reason"] is None
    assert first["skill"]["predictor_scores"]["cosine"] == pytest.approx(1.0, abs=1e-5)
    assert first["skill"]["predictor_scores"]["rel_l2"] < first["skill"]["reference_scores"]["rel_l2"]
    assert summary["predict_steps"] >= Y
    for kind in ("skip", "repeat"):
        tr, cap = hybrid_trainer(hybrid_cfg(tiny_cfg, kind=kind, gate=SKILL_GATE), tiny_data)
        assert tr.skill is None
        summary = tr.run()
        assert summary["predict_steps"] == tr.plan.predict_steps == 4 * Y
        assert all("skill" not in e and e["decision"] == "predict" for e in _gates(cap))
