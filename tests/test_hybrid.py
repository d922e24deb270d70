"""The hybrid trainer and its control arms.

Each test guards a defect of the original system (STUDY.md section 3): a Predict phase that
moves no weights or moves them by something other than the prediction, one-step predictions
instead of one aggregate rollout, a corrector without weight corrections, plus the schedule, the
correction's events, time charged where it is spent, and determinism. The gate, the guard, the
corrector and the phase plan have their own test files.
"""

from __future__ import annotations

import copy
import json
import math
import time

import pytest
import torch

from predictive_training import config as config_mod
from predictive_training.dynamics.corrector import layer_groups
from predictive_training.dynamics.protocol import Observation
from predictive_training.dynamics.simple import RepeatPredictor
from predictive_training.phase_plan import PhasePlan
from predictive_training.training.hybrid import HybridTrainer
from predictive_training.training.loop import MatchedTrainer, lr_at
from predictive_training.training.run import run_training

from .hybrid_support import C, Y, Spy, hybrid_cfg, hybrid_trainer, predict_runs

pytestmark = pytest.mark.usefixtures("one_thread")


# --- the Predict phase -----------------------------------------------------------------------


def test_predict_changes_weights_by_exactly_the_predicted_delta(tiny_cfg, tiny_data):
    cfg = hybrid_cfg(tiny_cfg)
    tr, cap = hybrid_trainer(cfg, tiny_data, lambda p: Spy(p, scale=1e-3))
    tr.run()
    runs = predict_runs(cap.rows)
    assert runs, "no Predict phase ran"
    for first, last in runs:
        before, after = cap.weights[first - 1], cap.weights[last]
        for n, d in tr.predictor.delta.items():
            change = after[n] - before[n]
            assert float(change.norm()) > 0, f"{n} did not move in Predict"
            torch.testing.assert_close(change, d, rtol=1e-4, atol=1e-7)
        rows = [r for r in cap.rows if first <= r["step"] <= last]
        assert all(r["loss"] is None and r["grad_norm"] is None and r["backward"] is False for r in rows)
        assert len({r["tokens"] for r in rows}) == 1  # no tokens consumed
        total = math.sqrt(sum(float(d.norm()) ** 2 for d in tr.predictor.delta.values()))
        assert rows[0]["delta_norm"] == pytest.approx(total, rel=1e-5)
        assert all(r["delta_norm"] == 0.0 for r in rows[1:])


def test_a_predict_phase_costs_one_rollout_not_y(tiny_cfg, tiny_data):
    cfg = hybrid_cfg(tiny_cfg)
    tr, cap = hybrid_trainer(cfg, tiny_data, lambda p: Spy(p))
    summary = tr.run()
    runs = predict_runs(cap.rows)
    assert len(runs) == 4
    assert tr.predictor.calls == [Y] * len(runs)  # one Y-step call per phase, no 1-step calls
    assert summary["predict_steps"] == 4 * Y == sum(r["phase"] == "predict" for r in cap.rows)
    assert summary["rollouts"] == 4


def test_backward_passes_follow_the_plan(tiny_cfg, tiny_data):
    cfg = hybrid_cfg(tiny_cfg)
    tr, cap = hybrid_trainer(cfg, tiny_data, lambda p: Spy(p))
    summary = tr.run()
    T, W = cfg["train"]["steps"], cfg["train"]["warmup_steps"]
    plan = PhasePlan(0.5, Y, C, T, W).phases()
    assert [r["phase"] for r in cap.rows] == plan
    n_backward = sum(r["backward"] for r in cap.rows)
    assert n_backward == T - plan.count("predict") == summary["backward_passes"] == 20
    assert [r["backward"] for r in cap.rows] == [p != "predict" for p in plan]
    assert summary["prediction_ratio_achieved"] == pytest.approx(20 / 40) == summary["prediction_ratio_nominal"]
    assert summary["prediction_ratio_achieved_after_warmup"] == pytest.approx(20 / 35)
    assert tr.predictor.observed == n_backward  # every real step, and only those, is observed


def test_trainer_logs_non_empty_corrections(tiny_cfg, tiny_data):
    cfg = hybrid_cfg(tiny_cfg)
    tr, cap = hybrid_trainer(cfg, tiny_data, lambda p: Spy(p, scale=3e-3))
    tr.run()
    events = [e for e in cap.events if e["event"] == "correction"]
    assert len(events) == 4
    groups = set(layer_groups(tr.params))
    for e in events:
        assert set(e["per_layer"]) == groups
        for key in ("loss_after_predict", "loss_after_search", "loss_after_correct"):
            assert math.isfinite(e[key])
        assert e["search_loss_after"] <= e["search_loss_before"]  # on the search batches
        assert not set(e["probe_steps"]) & set(e["search_steps"])  # scored on other batches than the search
    # a random delta is not a descent direction for every layer: some correction is non-zero
    assert any(v["norm"] > 0 for e in events for v in e["per_layer"].values())


# --- control arms ----------------------------------------------------------------------------


def test_skip_arm_applies_no_weight_change(tiny_cfg, tiny_data):
    cfg = hybrid_cfg(tiny_cfg, kind="skip")
    tr, cap = hybrid_trainer(cfg, tiny_data)
    assert isinstance(tr, HybridTrainer) and tr.predictor.name == "skip"
    tr.run()
    runs = predict_runs(cap.rows)
    assert len(runs) == 4
    for first, last in runs:
        for n in tr.params:
            assert torch.equal(cap.weights[first - 1][n], cap.weights[last][n])
    assert all(r["delta_norm"] == 0.0 for r in cap.rows if r["phase"] == "predict")


def test_repeat_predictor_known_answer():
    rp = RepeatPredictor(window=2)
    us = [{"w": torch.full((2,), float(v))} for v in (1.0, 2.0, 4.0)]
    for i, u in enumerate(us):
        rp.observe(Observation(i, 10, 3.0, 1.0, 1e-3, {"w": 1.0}, u))
    out = rp.rollout(4, [1e-3] * 4, seed=0)
    torch.testing.assert_close(out.delta["w"], torch.full((2,), 4 * (2.0 + 4.0) / 2))  # Y x mean of last 2
    assert out.uncertainty == 0.0 and out.loss_path.shape == (4,)


def test_matched_arm_compresses_the_schedule(tiny_cfg, tiny_data):
    cfg = hybrid_cfg(tiny_cfg, kind="matched")
    tr, cap = hybrid_trainer(cfg, tiny_data)
    assert isinstance(tr, MatchedTrainer)
    summary = tr.run()
    assert summary["steps"] == len(cap.rows) == 20 == summary["backward_passes"]  # 40 - 20 predicted
    assert summary["budget_steps"] == 40
    assert cap.rows[-1]["lr"] == pytest.approx(lr_at(19, {**cfg["train"], "steps": 20}))
    assert cap.rows[-1]["lr"] < lr_at(19, cfg["train"])  # the cosine ends at step 20, not 40


def test_a_delta_with_wrong_names_is_an_error(tiny_cfg, tiny_data):
    cfg = hybrid_cfg(tiny_cfg)

    class Renamed(Spy):
        def rollout(self, horizon, lrs, seed):
            out = super().rollout(horizon, lrs, seed)
            out.delta = {"model." + n: d for n, d in out.delta.items()}  # defect 7: names match nothing
            return out

    tr, _ = hybrid_trainer(cfg, tiny_data, lambda p: Renamed(p))
    with pytest.raises(ValueError, match="parameter names"):
        tr.run()


# --- the real RSSM arm end to end, and determinism -----------------------------------------------


def _read(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def _strip(rows):
    return [{k: v for k, v in r.items() if k != "wall_s"} for r in rows]


def test_hybrid_rssm_run_is_deterministic(tiny_cfg, tiny_data, tmp_path):
    cfg = hybrid_cfg(tiny_cfg)
    out = [run_training(cfg, tiny_data, "arm", 0, tmp_path / f"r{i}", record=False) for i in range(2)]
    m0, m1 = (_read(tmp_path / f"r{i}" / "metrics.jsonl") for i in range(2))
    e0, e1 = (_read(tmp_path / f"r{i}" / "events.jsonl") for i in range(2))
    assert _strip(m0) == _strip(m1)
    assert _strip(e0) == _strip(e1)
    assert out[0]["final_val_loss"] == out[1]["final_val_loss"]
    assert out[0]["rollouts"] >= 1  # the dynamics model trained and was used
    predicts = [e for e in e0 if e["event"] == "prediction"]
    assert predicts and all(e["predicted_delta_norm"] > 0 for e in predicts)
    assert any(e["event"] == "correction" for e in e0)


# --- the correction alone, the batches it decides on, a guard that waits for a prediction ---


def test_correction_event_separates_the_search_from_the_real_correct_steps(tiny_cfg, tiny_data):
    """loss_after_search is the probe loss of exactly the weights the line search left, before any
    real step; loss_after_correct comes after the C real steps. (The old event had one loss_after,
    measured after the Correct steps: real AdamW steps counted as correction.)"""
    cfg = hybrid_cfg(tiny_cfg)
    tr, cap = hybrid_trainer(cfg, tiny_data, lambda p: Spy(p, scale=3e-3))
    tr.run()
    events = [e for e in cap.events if e["event"] == "correction"]
    assert events
    groups = layer_groups(tr.params)
    for (first, last), e in zip(predict_runs(cap.rows), events):
        # the weights after the search: after Predict, plus (s_g - 1) d_g for every group
        searched = {n: cap.weights[last][n].clone() for n in tr.params}
        for g, names in groups.items():
            for n in names:
                searched[n] += (e["per_layer"][g]["scale"] - 1.0) * tr.predictor.delta[n]
        with torch.no_grad():
            for n, p in tr.params.items():
                p.copy_(searched[n])
        assert tr._heldout_loss(e["probe_steps"]) == pytest.approx(e["loss_after_search"], rel=1e-6)
        with torch.no_grad():
            for n, p in tr.params.items():
                p.copy_(cap.weights[last][n])
        assert tr._heldout_loss(e["probe_steps"]) == pytest.approx(e["loss_after_predict"], rel=1e-6)
        # the probe is the LAST skipped Predict batches; the search chose on other batches
        assert e["probe_steps"] == list(range(last + 1 - len(e["probe_steps"]), last + 1))
        assert not set(e["probe_steps"]) & set(e["search_steps"])
        # loss_before/loss_after are the correction's own before/after: the search, nothing else
        assert (e["loss_before"], e["loss_after"]) == (e["loss_after_predict"], e["loss_after_search"])
        rel = (e["loss_after_predict"] - e["loss_after_search"]) / e["loss_after_predict"]
        assert e["relative_reduction"] == pytest.approx(rel)
        assert e["loss_after_correct"] != e["loss_after_search"]  # the real steps are reported apart


def test_skip_arm_search_effect_is_zero_and_its_real_steps_are_not_correction(tiny_cfg, tiny_data):
    """With nothing predicted there is nothing to correct: the skip arm's search effect is exactly 0,
    while its real Correct steps lower the probe loss (which the old Exp 5 counted as correction)."""
    cfg = hybrid_cfg(tiny_cfg, kind="skip")
    tr, cap = hybrid_trainer(cfg, tiny_data)
    summary = tr.run()
    events = [e for e in cap.events if e["event"] == "correction"]
    assert len(events) == 4
    for e in events:
        assert e["loss_after_search"] == e["loss_after_predict"]
        assert e["relative_reduction"] == 0.0 and e["search_evaluations"] == 0
        assert e["loss_after_correct"] != e["loss_after_predict"]
    # the probes after the search and after Correct are measurement: counted apart, not training work
    probes = cfg["hybrid"]["corrector"]["probe_batches"]
    assert summary["probe_forward_passes"] == 2 * probes * 4
    assert summary["forward_passes"] == summary["backward_passes"] + probes * 4  # + the guard's probe


def test_held_aside_batches_probe_last_search_first_then_beyond_the_budget(tiny_cfg, tiny_data):
    cfg = hybrid_cfg(tiny_cfg)
    cfg["hybrid"]["corrector"].update(batches=6, probe_batches=2)
    tr, _ = hybrid_trainer(cfg, tiny_data, lambda p: Spy(p))
    T = cfg["train"]["steps"]
    probe, search = tr.held_aside_steps(20)  # Y = 5: skipped batches 20..24
    assert probe == [23, 24]
    assert search == [20, 21, 22, T, T + 1, T + 2]  # 3 skipped, 3 from the stream beyond the budget
    tr.cycle = 2
    assert tr.held_aside_steps(30)[1] == [30, 31, 32, T + 12, T + 13, T + 14]  # fresh ones per cycle
    cfg["hybrid"]["corrector"].update(batches=2, probe_batches=2)
    tr2, _ = hybrid_trainer(cfg, tiny_data, lambda p: Spy(p))
    assert tr2.held_aside_steps(20) == ([23, 24], [20, 21])  # enough skipped batches: no reserve needed
    # every search evaluation costs `batches` forward passes, counted by the trainer
    cfg["hybrid"]["corrector"].update(batches=6, probe_batches=2)
    tr3, cap = hybrid_trainer(cfg, tiny_data, lambda p: Spy(p, scale=3e-3))
    summary = tr3.run()
    ev = [e for e in cap.events if e["event"] == "correction"]
    assert all(len(e["search_steps"]) == 6 and e["search_forward_passes"] == 6 * e["search_evaluations"]
               for e in ev)
    assert summary["forward_passes"] == (summary["backward_passes"] + sum(e["search_forward_passes"] for e in ev)
                                         + 2 * len(ev))  # + the guard's probe after each Predict phase


def test_probe_batches_above_the_horizon_is_a_config_error(tiny_cfg):
    cfg = copy.deepcopy(tiny_cfg)
    cfg["hybrid"] = {"horizon": 5, "corrector": {"probe_batches": 6}}
    with pytest.raises(config_mod.ConfigError, match=r"hybrid\.corrector\.probe_batches"):
        config_mod.validate(cfg)


# --- time: charged once, where it is spent --------------------------------------------------------


class _Ticks:
    """A clock that advances exactly one second at every reading: the time charged to a region is the
    number of readings in it, so where the trainer charges time can be counted."""

    def __init__(self):
        self.now = 0.0

    def perf_counter(self) -> float:
        self.now += 1.0
        return self.now

    @staticmethod
    def process_time() -> float:
        return time.process_time()


@pytest.mark.parametrize("gate", ["none", "skill"])
def test_the_overhead_buckets_and_the_steps_add_up_to_wall_s(tiny_cfg, tiny_data, monkeypatch, gate):
    """With a clock that ticks once per reading, every charged region is one tick plus the readings of
    the regions inside it: a real step 3 (the step, the guard and observation: ``guard_and_observe``,
    the recorders), a Predict step 2 (its bookkeeping, the recorders), applying a prediction 3 (its
    ``snapshot_and_apply`` inside), a gate decision 1 (``rollout``), the held-aside loss and line search
    5 (``heldout_loss`` and ``line_search`` inside), the skill gate's bookkeeping 1 per begin and end
    (``skill_check``). So each bucket counts its regions, and ``wall_s`` is exactly their sum with the
    steps': nothing is charged twice or forgotten."""
    from predictive_training.training import hybrid as hybrid_mod
    from predictive_training.training import loop as loop_mod

    clock = _Ticks()
    monkeypatch.setattr(hybrid_mod, "time", clock)
    monkeypatch.setattr(loop_mod, "time", clock)
    g = {"reference": "none"} if gate == "none" else {"reference": "ema_of_deltas", "statistic": "rel_l2", "margin": 0.0}
    tr, cap = hybrid_trainer(hybrid_cfg(tiny_cfg, gate=g), tiny_data, lambda p: Spy(p, scale=1e-3))
    s = tr.run()
    ev = cap.events
    B, P = s["backward_passes"], s["predict_steps"]
    A = sum(e["event"] == "prediction" and e["steps_replaced"] > 0 for e in ev)
    G = sum(e["event"] == "gate" for e in ev)
    L = sum(e["event"] == "prediction_outcome" for e in ev)
    D = sum(e["event"] == "guard" and e["reason"].startswith("predict_") for e in ev)
    o = s["overhead_s"]
    assert G > 0 and (A > 0 if gate == "none" else o["skill_check"] > 0)
    assert o["guard_and_observe"] == B and o["rollout"] == G and o["snapshot_and_apply"] == A
    assert o["heldout_loss"] == L and o["line_search"] == L - D and o["skill_check"] % 2 == 0
    assert s["wall_s"] == 3 * B + 2 * P + 3 * A + G + 5 * (L - D) + 3 * D + o["skill_check"]
    assert sum(o.values()) < s["wall_s"]
