"""The divergence guard (training/guard.py): known answers, restoring the pre-Predict weights, and
armed only while a prediction can be undone."""

from __future__ import annotations

import math

import pytest
import torch

from predictive_training.phase_plan import PhasePlan
from predictive_training.training.guard import DivergenceGuard

from .hybrid_support import C, Y, Spy, hybrid_cfg, hybrid_trainer, predict_runs

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("poison", ["nan", "huge"])
def test_divergence_guard_restores_and_the_run_finishes(tiny_cfg, tiny_data, poison):
    # warmup 12: the guard has >= 10 losses of history when the first Predict phase ends
    cfg = hybrid_cfg(tiny_cfg, warmup_steps=12)
    scale, kind = (1e-3, "nan") if poison == "nan" else (50.0, None)
    tr, cap = hybrid_trainer(cfg, tiny_data, lambda p: Spy(p, scale=scale, poison=kind))
    restored = []
    orig = tr._diverged

    def spy_diverged(*a, **k):
        orig(*a, **k)
        restored.append((tr.step, {n: p.detach().clone() for n, p in tr.params.items()}))

    tr._diverged = spy_diverged
    summary = tr.run()
    guards = [e for e in cap.events if e["event"] == "guard"]
    assert guards and all(e["action"] == "restore" for e in guards)
    assert guards[0]["reason"] in ("predict_nonfinite_loss", "predict_loss_spike")
    first_predict = predict_runs(cap.rows)[0][0]
    assert guards[0]["restored_to_step"] == first_predict
    step, weights = restored[0]
    for n in tr.params:  # the weights are those after the last step before the Predict phase
        assert torch.equal(weights[n], cap.weights[first_predict - 1][n])
    assert len(cap.rows) == 40  # the run continued to the end
    losses = [r["loss"] for r in cap.rows if r["loss"] is not None]
    assert all(math.isfinite(v) for v in losses)
    assert math.isfinite(summary["final_val_loss"]) and summary["restores"] == len(guards)
    assert summary["predict_steps_reverted"] == Y * len(guards)
    # after a restore, hybrid.guard.fallback_steps (default 20) Full steps follow
    after = [r["phase"] for r in cap.rows if r["step"] >= first_predict + Y][: cfg["hybrid"]["guard"]["fallback_steps"]]
    assert after == ["full"] * len(after)



def test_divergence_guard_known_answers():
    g = DivergenceGuard(window=50, spike_sigma=6.0, grad_explosion_factor=10.0, min_history=10)
    assert g.check_loss(float("nan")) == "nonfinite_loss" and g.check_grad(float("inf")) == "nonfinite_grad"
    assert g.check_loss(1e9) is None and g.check_grad(1e9) is None  # no history yet: only non-finite values count
    for _ in range(10):
        g.record(1.0, 2.0)
    # constant losses: std 0, so the floor 1% of the mean sets the spike threshold, 1 + 6 * 0.01
    assert g.loss_threshold() == pytest.approx(1.06)
    assert g.check_loss(1.05) is None and g.check_loss(1.07) == "loss_spike"
    assert g.check_grad(20.0) is None and g.check_grad(20.1) == "grad_explosion"  # 10 x the median 2.0




def test_guard_is_armed_only_from_the_first_predict_phase(tiny_cfg, tiny_data):
    """A guard that fires on every check (as the ordinary rise of gradient norms in warmup did on
    seed 4 of the default study) stays silent until the first Predict phase; the fallback's extra
    backward passes are reported with the guard event that caused them."""
    cfg = hybrid_cfg(tiny_cfg, warmup_steps=12)
    tr, cap = hybrid_trainer(cfg, tiny_data, lambda p: Spy(p))
    tr.guard.check_grad = lambda g: "grad_explosion"  # every armed check on a real step fires
    summary = tr.run()
    predicts = predict_runs(cap.rows)
    first_predict = predicts[0][0]
    guards = [e for e in cap.events if e["event"] == "guard"]
    assert guards, "the guard never fired"
    assert all(e["step"] > first_predict for e in guards)  # nothing in warmup or before the first Predict
    # a restore disarms it until the next Predict phase: at most one restore per Predict phase, not
    # one per fallback step back to the same snapshot
    assert len(guards) <= len(predicts)
    assert len({e["restored_to_step"] for e in guards}) == len(guards)
    assert all(r["phase"] == "warmup" for r in cap.rows[:12])
    assert summary["backward_passes_nominal"] == PhasePlan(0.5, Y, C, 40, 12).backward_passes
    assert summary["extra_backward_passes"] == summary["backward_passes"] - summary["backward_passes_nominal"] > 0
    causes = summary["extra_backward_causes"]["guard_events"]
    assert [c["step"] for c in causes] == [e["step"] for e in guards]
    assert all(c["reason"] == "grad_explosion" and c["action"] == "restore" for c in causes)
