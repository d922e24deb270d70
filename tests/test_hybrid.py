"""The hybrid trainer, its control arms and the corrector (issue 4).

Each test guards a defect of the original system (STUDY.md section 3): a Predict phase that
moves no weights or moves them by something other than the prediction, one-step predictions
instead of one aggregate rollout, a corrector without weight corrections, plus the schedule,
the confidence gate, the divergence guard and determinism.
"""

from __future__ import annotations

import copy
import json
import math

import numpy as np
import pytest
import torch

from predictive_training import config as config_mod
from predictive_training.data.prepare import TokenData
from predictive_training.dynamics.corrector import LayerwiseLineSearch, layer_groups
from predictive_training.dynamics.protocol import Observation, PredictedPhase
from predictive_training.dynamics.simple import RepeatPredictor
from predictive_training.phase_plan import PhasePlan
from predictive_training.training.gate import SkillGate
from predictive_training.training.guard import DivergenceGuard
from predictive_training.training.hybrid import HybridTrainer, MatchedTrainer
from predictive_training.training.loop import Observer, lr_at
from predictive_training.training.run import make_trainer, run_training

Y, C = 5, 2
# a dynamics model small enough to train within the tiny 40-step run
TINY_RSSM = {"window": 8, "burn_in": 3, "update_every": 4, "basis_window": 4, "batch_size": 4,
             "deter_dim": 16, "stoch_dim": 4, "hidden": 16, "n_samples": 4, "min_train_steps": 1}
# the tests of the Predict phase mechanics inject fixed predictors: no skill check there
NO_SKILL_GATE = {"reference": "none"}


pytestmark = pytest.mark.usefixtures("one_thread")


def _cfg(tiny_cfg, kind="hybrid", ratio=0.5, gate=NO_SKILL_GATE, **train):
    cfg = copy.deepcopy(tiny_cfg)
    cfg["arms"] = {"baseline": {"kind": "conventional"}, "arm": {"kind": kind, "prediction_ratio": ratio}}
    cfg["hybrid"] = {"horizon": Y, "correct_steps": C, "rssm": TINY_RSSM, "gate": dict(gate)}
    cfg["train"].update(train)
    return config_mod.validate(cfg)


class Spy:
    """A predictor with a fixed, seeded delta; counts rollout calls and their horizons."""

    name = "spy"

    def __init__(self, params, scale=1e-3, uncertainty=0.0, poison=None):
        g = torch.Generator().manual_seed(7)
        self.delta = {n: scale * torch.randn(p.shape, generator=g) for n, p in params.items()}
        if poison == "nan":
            first = next(iter(self.delta))
            self.delta[first].view(-1)[0] = float("nan")
        self.uncertainty = uncertainty
        self.calls: list[int] = []
        self.observed = 0

    def observe(self, obs: Observation) -> None:
        self.observed += 1

    def ready(self) -> bool:
        return True

    def rollout(self, horizon, lrs, seed):
        self.calls.append(horizon)
        return PredictedPhase({n: d.clone() for n, d in self.delta.items()}, np.full(horizon, 5.0),
                              self.uncertainty)


class Capture(Observer):
    """Weights after every step and the metrics rows."""

    def __init__(self):
        self.weights: dict[int, dict[str, torch.Tensor]] = {}
        self.rows: list[dict] = []
        self.events: list[dict] = []

    def on_step(self, trainer, info, grads, update):
        self.rows.append(info.to_row())
        self.weights[info.step] = {n: p.detach().clone() for n, p in trainer.params.items()}

    def on_event(self, trainer, event):
        self.events.append(event)


def _trainer(cfg, tiny_data, predictor_factory=None, arm="arm", seed=0):
    cap = Capture()
    tr = make_trainer(cfg, TokenData(tiny_data), arm, seed, [cap])
    if predictor_factory is not None:
        tr.predictor = predictor_factory(tr.params)
    return tr, cap


def _predict_runs(rows) -> list[tuple[int, int]]:
    """(first, last) step of every contiguous run of predict rows."""
    runs, start = [], None
    for r in rows + [{"phase": None, "step": None}]:
        if r["phase"] == "predict" and start is None:
            start = r["step"]
        elif r["phase"] != "predict" and start is not None:
            runs.append((start, r["step"] - 1 if r["step"] is not None else rows[-1]["step"]))
            start = None
    return runs


# --- the phase plan --------------------------------------------------------------------------


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
        _cfg(tiny_cfg, ratio=0.8)


# --- the Predict phase -----------------------------------------------------------------------


def test_predict_changes_weights_by_exactly_the_predicted_delta(tiny_cfg, tiny_data):
    cfg = _cfg(tiny_cfg)
    tr, cap = _trainer(cfg, tiny_data, lambda p: Spy(p, scale=1e-3))
    tr.run()
    runs = _predict_runs(cap.rows)
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
    cfg = _cfg(tiny_cfg)
    tr, cap = _trainer(cfg, tiny_data, lambda p: Spy(p))
    summary = tr.run()
    runs = _predict_runs(cap.rows)
    assert len(runs) == 4
    assert tr.predictor.calls == [Y] * len(runs)  # one Y-step call per phase, no 1-step calls
    assert summary["predict_steps"] == 4 * Y == sum(r["phase"] == "predict" for r in cap.rows)
    assert summary["rollouts"] == 4


def test_backward_passes_follow_the_plan(tiny_cfg, tiny_data):
    cfg = _cfg(tiny_cfg)
    tr, cap = _trainer(cfg, tiny_data, lambda p: Spy(p))
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


# --- corrector -------------------------------------------------------------------------------


def test_corrector_known_answer_per_layer_scales():
    # loss = sum_g ||theta_g - target_g||^2 with theta_before = 0 and target_g = s_g * d_g:
    # the best scale per group is s_g; a zero delta keeps scale 1 with a zero correction
    g = torch.Generator().manual_seed(0)
    names = ["tok_emb.weight", "blocks.0.w", "blocks.1.w", "blocks.2.w", "ln_f.weight"]
    delta = {n: torch.randn(3, 4, generator=g) for n in names}
    for n in ("blocks.2.w", "ln_f.weight"):
        delta[n].zero_()
    best = {"embed": 0.5, "blocks.0": 0.0, "blocks.1": 1.5, "blocks.2": 1.0}
    groups = layer_groups(names)
    assert groups == {"embed": ["tok_emb.weight"], "blocks.0": ["blocks.0.w"], "blocks.1": ["blocks.1.w"],
                      "blocks.2": ["blocks.2.w", "ln_f.weight"]}  # the final norm joins the last block
    target = {n: best[gname] * delta[n] for gname, ns in groups.items() for n in ns}
    params = {n: delta[n].clone() for n in names}  # after the Predict phase: theta_before + d
    calls = []

    def loss_fn():
        calls.append(1)
        return float(sum(((params[n] - target[n]) ** 2).sum() for n in names))

    corr = LayerwiseLineSearch(groups, (0.0, 0.5, 1.5)).correct(params, delta, loss_fn)
    assert set(corr.per_layer) == set(groups)  # never empty
    for gname, ns in groups.items():
        assert corr.per_layer[gname]["scale"] == best[gname]
        for n in ns:
            torch.testing.assert_close(corr.corrections[n], (best[gname] - 1.0) * delta[n])
            torch.testing.assert_close(params[n], best[gname] * delta[n])
        dn = math.sqrt(sum(float(delta[n].norm()) ** 2 for n in ns))
        assert corr.per_layer[gname]["norm"] == pytest.approx(abs(best[gname] - 1.0) * dn, rel=1e-6)
    assert corr.loss_after_search == pytest.approx(0.0, abs=1e-10)
    assert corr.loss_before > 0
    assert len(calls) == 1 + 3 * 3  # loss_before + 3 scales for each group with a non-zero delta


def test_corrector_with_one_trial_learns_each_groups_scale():
    # the same quadratic loss, searched again and again with ONE candidate per group: a candidate
    # that fails loses rank, so each group reaches its best scale and then keeps trying it first
    g = torch.Generator().manual_seed(1)
    names = ["tok_emb.weight", "blocks.0.w", "blocks.1.w"]
    delta = {n: torch.randn(4, 3, generator=g) for n in names}
    best = {"embed": 0.5, "blocks.0": 0.0, "blocks.1": 1.5}
    groups = layer_groups(names)
    target = {n: best[gname] * delta[n] for gname, ns in groups.items() for n in ns}
    search = LayerwiseLineSearch(groups, (0.0, 0.5, 1.5), trials=1)
    calls = []
    chosen = []
    for _ in range(6):
        params = {n: delta[n].clone() for n in names}

        def loss_fn():
            calls.append(1)
            return float(sum(((params[n] - target[n]) ** 2).sum() for n in names))

        corr = search.correct(params, delta, loss_fn, loss_before=loss_fn())
        assert corr.forward_passes == 3  # one trial for each of the 3 groups
        assert all(len(v["losses"]) == 2 for v in corr.per_layer.values())  # scale 1 and the one trial
        chosen.append({gname: v["scale"] for gname, v in corr.per_layer.items()})
    assert chosen[-1] == best and chosen[-2] == best  # learned, and kept
    assert chosen[0]["blocks.1"] == 1.0  # the first trial (0.0) made blocks.1 worse: no correction
    assert search.ranking("blocks.1")[0] == 1.5 and search.ranking("blocks.0")[0] == 0.0
    clone = LayerwiseLineSearch(groups, (0.0, 0.5, 1.5), trials=1)
    clone.load_state_dict(search.state_dict())
    assert clone.record == search.record
    with pytest.raises(ValueError, match="trials"):
        LayerwiseLineSearch(groups, (0.0, 0.5), trials=0)


def test_trainer_logs_non_empty_corrections(tiny_cfg, tiny_data):
    cfg = _cfg(tiny_cfg)
    tr, cap = _trainer(cfg, tiny_data, lambda p: Spy(p, scale=3e-3))
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
    cfg = _cfg(tiny_cfg, kind="skip")
    tr, cap = _trainer(cfg, tiny_data)
    assert isinstance(tr, HybridTrainer) and tr.predictor.name == "skip"
    tr.run()
    runs = _predict_runs(cap.rows)
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
    cfg = _cfg(tiny_cfg, kind="matched")
    tr, cap = _trainer(cfg, tiny_data)
    assert isinstance(tr, MatchedTrainer)
    summary = tr.run()
    assert summary["steps"] == len(cap.rows) == 20 == summary["backward_passes"]  # 40 - 20 predicted
    assert summary["budget_steps"] == 40
    assert cap.rows[-1]["lr"] == pytest.approx(lr_at(19, {**cfg["train"], "steps": 20}))
    assert cap.rows[-1]["lr"] < lr_at(19, cfg["train"])  # the cosine ends at step 20, not 40


# --- gate and guard --------------------------------------------------------------------------


def test_confidence_gate_blocks_uncertain_predictions(tiny_cfg, tiny_data):
    cfg = _cfg(tiny_cfg, gate={**NO_SKILL_GATE, "max_uncertainty": 1.0})
    tr, cap = _trainer(cfg, tiny_data, lambda p: Spy(p, uncertainty=1.5))
    summary = tr.run()
    assert summary["predict_steps"] == 0 and summary["backward_passes"] == 40
    gates = [e for e in cap.events if e["event"] == "gate"]
    assert len(gates) == 4 and all(e["decision"] == "full" for e in gates)
    assert all(e["reason"] == "uncertainty_above_threshold" for e in gates)
    # the same run below the threshold predicts
    tr2, _ = _trainer(cfg, tiny_data, lambda p: Spy(p, uncertainty=0.5))
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
    cfg = _cfg(tiny_cfg, gate=SKILL_GATE)
    cfg["hybrid"]["rssm"] = rssm
    tr, cap = _trainer(cfg, tiny_data)
    summary = tr.run()
    assert summary["predict_steps"] == 0 and summary["rollouts"] == 0
    assert summary["predictor"]["train_steps"] < 50 and summary["predictor"]["ready"] is False
    gates = _gates(cap)
    assert len(gates) == 4 and all(e["reason"] == "predictor_not_ready" for e in gates)
    assert summary["gate_block_reasons"] == {"predictor_not_ready": 4}

    cfg = _cfg(tiny_cfg, gate={**SKILL_GATE, "reference": "zero"})
    tr, cap = _trainer(cfg, tiny_data, lambda p: Spy(p, scale=1e-2))
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
    ref_cfg = _cfg(tiny_cfg, kind="hybrid", gate=SKILL_GATE)
    ref_cfg["arms"]["arm"]["prediction_ratio"] = 0.0  # a conventional run of the same steps
    ref_tr, ref = _trainer(ref_cfg, tiny_data, lambda p: Spy(p))
    ref_tr.run()
    cfg = _cfg(tiny_cfg, gate=SKILL_GATE)
    tr, cap = _trainer(cfg, tiny_data, lambda p: Oracle(p, ref.weights))
    summary = tr.run()
    first = _gates(cap)[0]
    assert first["decision"] == "predict" and first["reason"] is None
    assert first["skill"]["predictor_scores"]["cosine"] == pytest.approx(1.0, abs=1e-5)
    assert first["skill"]["predictor_scores"]["rel_l2"] < first["skill"]["reference_scores"]["rel_l2"]
    assert summary["predict_steps"] >= Y
    for kind in ("skip", "repeat"):
        tr, cap = _trainer(_cfg(tiny_cfg, kind=kind, gate=SKILL_GATE), tiny_data)
        assert tr.skill is None
        summary = tr.run()
        assert summary["predict_steps"] == tr.plan.predict_steps == 4 * Y
        assert all("skill" not in e and e["decision"] == "predict" for e in _gates(cap))


@pytest.mark.parametrize("poison", ["nan", "huge"])
def test_divergence_guard_restores_and_the_run_finishes(tiny_cfg, tiny_data, poison):
    # warmup 12: the guard has >= 10 losses of history when the first Predict phase ends
    cfg = _cfg(tiny_cfg, warmup_steps=12)
    scale, kind = (1e-3, "nan") if poison == "nan" else (50.0, None)
    tr, cap = _trainer(cfg, tiny_data, lambda p: Spy(p, scale=scale, poison=kind))
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
    first_predict = _predict_runs(cap.rows)[0][0]
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


def test_a_delta_with_wrong_names_is_an_error(tiny_cfg, tiny_data):
    cfg = _cfg(tiny_cfg)

    class Renamed(Spy):
        def rollout(self, horizon, lrs, seed):
            out = super().rollout(horizon, lrs, seed)
            out.delta = {"model." + n: d for n, d in out.delta.items()}  # defect 7: names match nothing
            return out

    tr, _ = _trainer(cfg, tiny_data, lambda p: Renamed(p))
    with pytest.raises(ValueError, match="parameter names"):
        tr.run()


# --- the real RSSM arm end to end, and determinism -----------------------------------------------


def _read(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def _strip(rows):
    return [{k: v for k, v in r.items() if k != "wall_s"} for r in rows]


def test_hybrid_rssm_run_is_deterministic(tiny_cfg, tiny_data, tmp_path):
    cfg = _cfg(tiny_cfg)
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



# --- issue 15: the correction alone, the batches it decides on, a guard that waits for a prediction ---


def test_correction_event_separates_the_search_from_the_real_correct_steps(tiny_cfg, tiny_data):
    """loss_after_search is the probe loss of exactly the weights the line search left, before any
    real step; loss_after_correct comes after the C real steps. (The old event had one loss_after,
    measured after the Correct steps: real AdamW steps counted as correction.)"""
    cfg = _cfg(tiny_cfg)
    tr, cap = _trainer(cfg, tiny_data, lambda p: Spy(p, scale=3e-3))
    tr.run()
    events = [e for e in cap.events if e["event"] == "correction"]
    assert events
    groups = layer_groups(tr.params)
    for (first, last), e in zip(_predict_runs(cap.rows), events):
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
    cfg = _cfg(tiny_cfg, kind="skip")
    tr, cap = _trainer(cfg, tiny_data)
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
    cfg = _cfg(tiny_cfg)
    cfg["hybrid"]["corrector"].update(batches=6, probe_batches=2)
    tr, _ = _trainer(cfg, tiny_data, lambda p: Spy(p))
    T = cfg["train"]["steps"]
    probe, search = tr.held_aside_steps(20)  # Y = 5: skipped batches 20..24
    assert probe == [23, 24]
    assert search == [20, 21, 22, T, T + 1, T + 2]  # 3 skipped, 3 from the stream beyond the budget
    tr.cycle = 2
    assert tr.held_aside_steps(30)[1] == [30, 31, 32, T + 12, T + 13, T + 14]  # fresh ones per cycle
    cfg["hybrid"]["corrector"].update(batches=2, probe_batches=2)
    tr2, _ = _trainer(cfg, tiny_data, lambda p: Spy(p))
    assert tr2.held_aside_steps(20) == ([23, 24], [20, 21])  # enough skipped batches: no reserve needed
    # every search evaluation costs `batches` forward passes, counted by the trainer
    cfg["hybrid"]["corrector"].update(batches=6, probe_batches=2)
    tr3, cap = _trainer(cfg, tiny_data, lambda p: Spy(p, scale=3e-3))
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


def test_corrector_decides_only_with_evidence_over_batches():
    """A candidate whose per-batch differences are within the noise keeps scale 1; the same mean
    difference with a small spread over batches is chosen."""
    names = ["blocks.0.w"]
    delta = {"blocks.0.w": torch.ones(2)}
    groups = layer_groups(names)

    def search(diffs, z=2.0):
        params = {"blocks.0.w": torch.ones(2)}  # theta_before + d with theta_before = 0
        base = np.full(len(diffs), 3.0)

        def loss_fn():  # scale 1 -> base; scale 0.5 -> base + diffs (the only candidate)
            return list(base if float(params["blocks.0.w"][0]) == 1.0 else base + np.asarray(diffs))

        s = LayerwiseLineSearch(groups, (0.5,), trials=1, evidence_z=z)
        return s, s.correct(params, delta, loss_fn)

    rng = np.random.default_rng(0)
    noisy = -1e-3 + 1e-2 * rng.standard_normal(8)  # mean -1e-3 +- 3.5e-3: within the noise
    noisy -= noisy.mean() + 1e-3  # exactly mean -1e-3
    s, corr = search(noisy)
    assert corr.per_layer["blocks.0"]["scale"] == 1.0 and s.record["blocks.0"] == [[1, 0]]
    ev = corr.per_layer["blocks.0"]["evidence"]["0.5"]
    assert ev["diff"] == pytest.approx(-1e-3) and abs(ev["z"]) < 2
    clear = -1e-3 + 1e-5 * rng.standard_normal(8)
    s, corr = search(clear)
    assert corr.per_layer["blocks.0"]["scale"] == 0.5 and s.record["blocks.0"] == [[1, 1]]
    assert corr.batches == 8 and corr.to_event()["search_forward_passes"] == 8 * corr.forward_passes
    s, corr = search(noisy, z=0.0)  # z = 0: any improvement (the old rule) takes the noisy one
    assert corr.per_layer["blocks.0"]["scale"] == 0.5


def test_noise_does_not_lock_in_the_first_candidate():
    """Under pure noise (no scale better than another) the old rule (z = 0, one batch) chose the
    first-tried candidate about half the time and kept trying it first; with evidence over batches
    no candidate wins by noise, so every candidate gets its turn and scale 1 is kept."""
    names = ["blocks.0.w"]
    delta = {"blocks.0.w": torch.ones(2)}
    groups = layer_groups(names)
    rng = np.random.default_rng(1)

    def run(z, n):
        s = LayerwiseLineSearch(groups, (0.0, 0.5, 1.5), trials=1, evidence_z=z)
        tried, chosen = [], []
        for _ in range(30):
            params = {"blocks.0.w": torch.ones(2)}
            corr = s.correct(params, delta, lambda: list(3.0 + 1e-3 * rng.standard_normal(n)))
            tried += [k for k in corr.per_layer["blocks.0"]["losses"] if k != "1.0"]
            chosen.append(corr.per_layer["blocks.0"]["scale"])
        return tried, chosen

    tried, chosen = run(2.0, 8)
    assert {"0.0", "0.5", "1.5"} <= set(tried)  # rotation: each candidate is tried
    assert sum(c != 1.0 for c in chosen) <= 3  # noise rarely passes z = 2
    tried_old, chosen_old = run(0.0, 1)
    assert sum(c != 1.0 for c in chosen_old) > 8  # the old rule applies noise-chosen scales


def test_guard_is_armed_only_from_the_first_predict_phase(tiny_cfg, tiny_data):
    """A guard that fires on every check (as the ordinary rise of gradient norms in warmup did on
    seed 4 of the default study) stays silent until the first Predict phase; the fallback's extra
    backward passes are reported with the guard event that caused them."""
    cfg = _cfg(tiny_cfg, warmup_steps=12)
    tr, cap = _trainer(cfg, tiny_data, lambda p: Spy(p))
    tr.guard.check_grad = lambda g: "grad_explosion"  # every armed check on a real step fires
    summary = tr.run()
    predicts = _predict_runs(cap.rows)
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
