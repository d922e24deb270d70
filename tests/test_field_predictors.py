"""The field's predictors: verified extrapolation, DMD, the meta-trained nowcaster and the
pretrained RSSM, each as an arm kind and a shadow predictor.

Known answers: DMD recovers exactly linear update dynamics and extrapolates them; verified
extrapolation with k = 1 stops at the minimum of a one-dimensional quadratic; the nowcaster learns a
rule that holds in its training data. Leave-one-seed-out: no model of a seed is trained on that
seed's data (the training functions, the loaders and the workflow's inputs each refuse it). Every
new arm kind runs end to end with its work counted; a verified extrapolation's early end keeps the
step budget and the nominal schedule, and resumes identically.
"""

from __future__ import annotations

import copy
import json
import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
import torch

from tests.conftest import swap_builtin
from predictive_training import config as config_mod
from predictive_training.analysis.exp3 import run_exp3
from predictive_training.data.prepare import TokenData
from predictive_training.dynamics.dmd import DMDPredictor, dmd_coefficients
from predictive_training.dynamics.nowcaster import (NowcasterConfig, NowcasterPredictor, save_nowcaster,
                                                    train_for_seed, train_leave_one_out)
from predictive_training.dynamics.protocol import Observation, PredictedPhase, verifies
from predictive_training.dynamics.rssm import RSSMPredictor
from predictive_training.dynamics.rssm_pretrain import PretrainedRSSMPredictor, pretrain_for_seed
from predictive_training.dynamics.verified import VerifiedExtrapolation
from predictive_training.io import read_jsonl
from predictive_training.phase_plan import PhasePlan
from predictive_training.records.rssm_stream import RSSM_STREAM, read_stream
from predictive_training.records.shadow import read_shadow
from predictive_training.records.trajectory import TRAJECTORY, Trajectory, read_trajectory
from predictive_training.records.snapshots import load_snapshots
from predictive_training.training import hybrid as hybrid_mod
from predictive_training.training.run import make_trainer, run_replay, run_training

from .conftest import TINY
from .test_resume import Crash, _crash_then_resume, assert_same_run

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.usefixtures("one_thread")

Y, C = 5, 2
SMALL_RSSM = {"window": 8, "burn_in": 3, "update_every": 4, "basis_window": 4, "batch_size": 4,
              "deter_dim": 16, "stoch_dim": 4, "hidden": 16, "n_samples": 4}
KINDS = ("verified", "dmd", "nowcaster", "rssm_pretrained")


def _cfg(**over) -> dict:
    raw = copy.deepcopy(TINY)
    raw["hybrid"] = {"horizon": Y, "correct_steps": C, "rssm": SMALL_RSSM,
                     "nowcaster": {"history": 2, "train_steps": 150, "batch_size": 1024}}
    raw["arms"] = {"baseline": {"kind": "conventional"}, **{k: {"kind": k, "prediction_ratio": 0.5} for k in KINDS}}
    raw["record"]["shadow"] = {"predictors": ["rssm", "ema", "zero", "verified", "dmd", "nowcaster", "rssm_pretrained"],
                               "horizons": [5, 10], "span_oracle": [5], "plan_every": 1, "forecast_every": 4,
                               "eval_batches": 3, "search_batches": 1,
                               "search": [{"predictor": "verified", "horizon": 5}]}
    raw["dynamics"] = {"exp3_horizon": 10, "exp2_max_horizon": 10}
    for k, v in over.items():  # arms are replaced, other sections updated key by key
        raw[k] = {**raw.get(k, {}), **v} if isinstance(v, dict) and k != "arms" else v
    return config_mod.validate(raw)


def _obs(step, update, lr=1.0, loss=1.0):
    return Observation(step, 1000, loss, 1.0, lr, {n: 0.0 for n in update}, update)


def _cos(a, b):
    return float((a * b).sum() / (a.norm() * b.norm()))


# --- DMD: known answers ---------------------------------------------------------------------------


def _geometric(n=400, seed=0):
    """Updates that follow exactly linear dynamics: geometric decay along three fixed directions."""
    g = torch.Generator().manual_seed(seed)
    v = torch.randn(3, n, generator=g, dtype=torch.float64)
    lam, amp = [0.9, 0.7, 0.97], [1.0, 2.0, 0.5]
    return lambda t: sum(a * lm ** t * v[i] for i, (a, lm) in enumerate(zip(amp, lam)))


@pytest.mark.parametrize("rank", [3, 4, None])
def test_dmd_recovers_and_extrapolates_linear_update_dynamics(rank):
    u = _geometric()
    p = DMDPredictor(window=8, rank=rank)
    lrs_seen = [0.5 + 0.05 * t for t in range(8)]  # a changing learning rate: the RATES follow the dynamics
    for t in range(8):
        p.observe(_obs(t, {"w": (lrs_seen[t] * u(t)).float().reshape(20, 20)}, lr=lrs_seen[t]))
    lrs = [0.3 + 0.01 * j for j in range(20)]
    pred = p.rollout(20, lrs, seed=0).delta["w"].reshape(-1).double()
    true = sum(lrs[j] * u(8 + j) for j in range(20))
    assert _cos(pred, true) > 0.99
    assert abs(float(pred.norm() / true.norm()) - 1) < 0.01


def test_dmd_constant_velocity_rotation_and_damping():
    g = torch.Generator().manual_seed(1)
    v = torch.randn(3, 300, generator=g, dtype=torch.float64)
    # constant velocity: eigenvalue 1, the Y-step delta is Y times the update
    p = DMDPredictor(window=8)
    for t in range(8):
        p.observe(_obs(t, {"w": v[0].float()}))
    d = p.rollout(30, [1.0] * 30, 0).delta["w"].double()
    assert _cos(d, v[0]) > 0.9999 and abs(float(d.norm() / (30 * v[0].norm())) - 1) < 1e-3
    # a decaying rotation (complex pair) on top of a constant drift
    th = 0.3

    def u2(t):
        return 0.95 ** t * (math.cos(th * t) * v[1] + math.sin(th * t) * v[2]) + v[0]

    p = DMDPredictor(window=8)
    for t in range(8):
        p.observe(_obs(t, {"w": u2(t).float()}))
    d = p.rollout(30, [1.0] * 30, 0).delta["w"].double()
    true = sum(u2(8 + j) for j in range(30))
    assert _cos(d, true) > 0.99 and abs(float(d.norm() / true.norm()) - 1) < 0.01
    # a growing mode is put on the unit circle: it cannot blow up (here exactly Y x the last update)
    p = DMDPredictor(window=8)
    for t in range(8):
        p.observe(_obs(t, {"w": (1.2 ** t * v[0]).float()}))
    out = p.rollout(50, [1.0] * 50, 0)
    assert out.diagnostics["damped_modes"] >= 1 and out.diagnostics["max_abs_eig"] >= 1.2 * (1 - 1e-4)
    assert float(out.delta["w"].norm()) == pytest.approx(50 * float((1.2 ** 7 * v[0]).norm()), rel=1e-4)
    # state: the m buffered updates, within 8 x N
    assert p.state_numbers() == 8 * 300


def test_dmd_coefficients_reject_bad_input_and_handle_zero():
    with pytest.raises(ValueError, match="gram"):
        dmd_coefficients(np.ones((1, 1)), np.ones(3))
    c, info = dmd_coefficients(np.zeros((4, 4)), np.ones(3))
    assert np.all(c == 0) and info["rank"] == 0
    with pytest.raises(ValueError, match="hybrid.dmd.window"):
        DMDPredictor(window=1)


# --- verified extrapolation: known answers ----------------------------------------------------------


@pytest.mark.parametrize("inc", [0.25, 0.4, 0.7])
def test_verified_with_k1_stops_at_the_minimum_of_a_quadratic(inc):
    """f(x) = (x - 3)^2 from x = 0 along +1 in increments of ``inc``: stops within one increment of 3."""
    p = VerifiedExtrapolation("last", check_every=1)
    p.observe(_obs(0, {"x": torch.tensor([inc])}, lr=inc))  # direction +1 per unit learning rate
    calls = []

    def loss_at(delta):
        x = float(delta["x"][0]) if delta else 0.0
        calls.append(x)
        return (x - 3.0) ** 2

    Y = 40
    out = p.verified_rollout(Y, [inc] * Y, 0, loss_at)
    x = float(out.delta["x"][0])
    assert abs(x - 3.0) <= inc + 1e-12
    assert out.steps == round(x / inc) and out.diagnostics["stopped"] == "rise"
    assert calls[0] == 0.0 and len(calls) == out.diagnostics["checks"] == out.steps + 2  # origin, accepted, the undone
    assert p.work()["heldaside_checks"] == len(calls)


def test_verified_checks_every_k_and_can_keep_nothing():
    p = VerifiedExtrapolation("ema", beta=0.5, check_every=3)
    for t, v in enumerate([1.0, 3.0]):
        p.observe(_obs(t, {"x": torch.tensor([v])}, lr=1.0))
    assert float(p.rollout(4, [1.0] * 4, 0).delta["x"][0]) == pytest.approx(4 * 2.0)  # EMA of 1 and 3, beta 0.5
    n = []

    def falling(d):
        n.append(1)
        return -float(d["x"][0]) if d else 0.0

    out = p.verified_rollout(10, [0.1] * 10, 0, falling)
    assert out.steps == 10 and len(n) == 1 + math.ceil(10 / 3)  # the origin, then checks at 3, 6, 9, 10
    away = p.verified_rollout(10, [0.1] * 10, 0, lambda d: float(d["x"][0]) if d else 0.0)  # rises at once
    assert away.steps == 0 and float(away.delta["x"][0]) == 0.0
    assert verifies(p) and not verifies(DMDPredictor())
    assert p.state_numbers() == 1


# --- the verified arm: early ends keep the budget and the schedule -----------------------------------


class EarlyStop:
    """A verifying predictor with a fixed delta that keeps ``keep[i]`` of Y increments in phase i."""

    name = "early"

    def __init__(self, params, keep):
        g = torch.Generator().manual_seed(3)
        self.delta = {n: 1e-3 * torch.randn(p.shape, generator=g) for n, p in params.items()}
        self.keep, self.calls = list(keep), 0

    def observe(self, obs):
        pass

    def ready(self):
        return True

    def rollout(self, horizon, lrs, seed):
        raise AssertionError("a verifying predictor is asked for its verified rollout")

    def verified_rollout(self, horizon, lrs, seed, loss_at):
        s = self.keep[self.calls % len(self.keep)]
        self.calls += 1
        for _ in range(s + 2):  # the origin, the kept checks, the undone one
            loss_at(self.delta)
        return PredictedPhase({n: d * (s / horizon) for n, d in self.delta.items()}, np.full(horizon, 5.0), 0.0,
                              steps=s)

    def state_dict(self):
        return {}

    def load_state_dict(self, state):
        pass


def test_an_early_end_keeps_the_step_budget_and_the_nominal_schedule(tiny_data):
    cfg = _cfg()
    tr = make_trainer(cfg, TokenData(tiny_data), "verified", 0, [])
    keep = [2, 0, 5]
    tr.predictor = EarlyStop(tr.params, keep)
    rows = []

    class Rows(hybrid_mod.Observer):
        def on_step(self, trainer, info, grads, update):
            rows.append(info.to_row())

    tr.observers.append(Rows())
    s = tr.run()
    T = cfg["train"]["steps"]
    assert len(rows) == T and [r["step"] for r in rows] == list(range(T))
    plan = PhasePlan(0.5, Y, C, T, cfg["train"]["warmup_steps"])
    nominal = plan.phases()
    starts = [t for t in range(T) if nominal[t] == "predict" and nominal[t - 1] != "predict"]
    assert len(starts) == plan.cycles == 4
    phases = [r["phase"] for r in rows]
    for i, t0 in enumerate(starts):
        k = keep[i % len(keep)]
        if k == 0:  # nothing kept: the slot's Y + C steps run Full
            assert phases[t0:t0 + Y + C] == ["full"] * (Y + C)
            continue
        # k Predict rows, C Correct rows, then the Y - k steps left of the slot run Full
        assert phases[t0:t0 + k] == ["predict"] * k and phases[t0 + k:t0 + k + C] == ["correct"] * C
        assert phases[t0 + k + C:t0 + Y + C] == ["full"] * (Y - k)
        assert rows[t0]["delta_norm"] > 0
    # the schedule outside the Predict slots is the nominal one
    slots = {t for t0 in starts for t in range(t0, t0 + Y + C)}
    assert all(phases[t] == nominal[t] for t in range(T) if t not in slots)
    assert s["predict_steps"] == sum(keep[i % 3] for i in range(4)) == 9
    assert s["backward_passes"] == T - s["predict_steps"]
    # the checks' forward passes are counted: (kept + 2) per phase, one batch each
    assert s["verified"]["forward_passes"] == sum(keep[i % 3] + 2 for i in range(4))
    assert s["verified"] == {"phases": 4, "forward_passes": 17, "steps_replaced": 9, "early_ends": 2,
                             "empty_ends": 1}


class Bold(VerifiedExtrapolation):
    """The real verified extrapolation with increments 40x too long: its checks stop it early."""

    def _delta(self, scale):
        return super()._delta(40.0 * scale)


def test_the_verified_arm_moves_the_weights_by_what_it_kept_and_counts_its_checks(tiny_data, monkeypatch):
    swap_builtin(monkeypatch, "verified", f"{__name__}:Bold")
    cfg = _cfg()
    tr = make_trainer(cfg, TokenData(tiny_data), "verified", 0, [])
    weights, events = {}, []

    class Cap(hybrid_mod.Observer):
        def on_step(self, trainer, info, grads, update):
            weights[info.step] = {n: p.detach().clone() for n, p in trainer.params.items()}

        def on_event(self, trainer, event):
            events.append(event)

    tr.observers.append(Cap())
    f_base = []
    orig = tr.verified_rollout

    def spy(*a, **k):
        f_base.append(tr.forward_passes)
        return orig(*a, **k)

    tr.verified_rollout = spy
    s = tr.run()
    preds = [e for e in events if e["event"] == "prediction"]
    assert preds and any(e["steps_replaced"] < Y for e in preds), "the bold increments must stop early"
    checks = sum(e["diagnostics"]["checks"] for e in preds)
    assert s["verified"]["forward_passes"] == checks * cfg["hybrid"]["verified"]["batches"]
    assert s["predictor_work"]["heldaside_checks"] == checks
    for e in preds:
        if e["steps_replaced"] == 0:
            continue
        t0 = e["step"]  # the first Predict step: the weights before it plus the kept delta, exactly
        kept = e["steps_replaced"]
        assert e["diagnostics"]["accepted_increments"] == kept
        before, after = weights[t0 - 1], weights[t0]
        moved = math.sqrt(sum(float(((after[n] - before[n]) ** 2).sum()) for n in before))
        assert moved == pytest.approx(e["predicted_delta_norm"], rel=1e-5)
    assert s["predict_steps"] == sum(e["steps_replaced"] for e in preds) < s["plan"]["cycles"] * Y


def test_a_verified_run_with_early_ends_resumes_identically(tiny_data, tmp_path, caplog, monkeypatch):
    swap_builtin(monkeypatch, "verified", f"{__name__}:Bold")
    cfg = _cfg(arms={"baseline": {"kind": "conventional"}, "verified": {"kind": "verified", "prediction_ratio": 0.5}},
               record={"shadow": {"arms": []}})
    cfg["train"]["checkpoint_every"] = 0
    ref = run_training(cfg, tiny_data, "verified", 0, tmp_path / "ref")
    cfg["train"]["checkpoint_every"] = 3
    got = _crash_then_resume(cfg, tiny_data, "verified", tmp_path / "got", [23], caplog)
    assert got["resumed_from"] and ref["verified"] == got["verified"] and ref["verified"]["early_ends"]
    assert_same_run(tmp_path / "ref", tmp_path / "got")


# --- leave one seed out: records, models, arms, shadows -----------------------------------------------


@pytest.fixture(scope="module")
def loso(tmp_path_factory, tiny_data):
    """Baselines of seeds 0 and 1 (with the trajectory record and the RSSM stream), and the models for
    seed 0 trained on seed 1."""
    cfg = _cfg()
    root = tmp_path_factory.mktemp("loso")
    for s in (0, 1):
        run_training(cfg, tiny_data, "baseline", s, root / f"runs/baseline/seed{s}")
    files = {"nowcaster": root / "predictors/nowcaster/seed0.pt",
             "rssm_pretrained": root / "predictors/rssm_pretrained/seed0.pt"}
    train_for_seed(cfg, [root / "runs/baseline/seed1"], 0, files["nowcaster"])
    pretrain_for_seed(cfg, [root / "runs/baseline/seed1"], 0, files["rssm_pretrained"])
    return cfg, root, files


def test_the_trajectory_record_sums_the_real_updates(loso):
    cfg, root, _ = loso
    run = root / "runs/baseline/seed0"
    rec = read_trajectory(run / TRAJECTORY)
    assert rec.seed == 0 and rec.stride == 5 and rec.end_step.tolist() == list(range(5, 41, 5))
    snaps = dict(load_snapshots(run / "snapshots"))  # every 10 steps
    for j, end in enumerate(rec.end_step.tolist()):
        if end % 10 or end - 10 not in snaps:
            continue
        real = torch.cat([(snaps[end][n] - snaps[end - 10][n]).reshape(-1)[rec.index[rec.tensor == i]]
                          for i, n in enumerate(rec.names)])
        got = rec.deltas[j] + rec.deltas[j - 1]  # two windows of 5 steps, each rounded to bf16 (8 bits)
        assert float((got - real).norm() / real.norm()) < 5e-3
    assert json.loads((run / "summary.json").read_text())["trajectory"]["windows"] == 8


def _fake_record(seed: int, steps=200, stride=5, n=64, rng=None) -> Trajectory:
    """A record in which each weight's rate per unit learning rate is constant: its future is its past."""
    g = torch.Generator().manual_seed(100 + seed)
    rate = torch.randn(2 * n, generator=g)
    W = steps // stride
    lr = torch.full((W,), 0.01 * stride)
    deltas = (rate[None, :] * lr[:, None]).to(torch.bfloat16).float()
    return Trajectory(deltas, lr, torch.arange(1, W + 1) * stride, torch.cat([torch.arange(n), torch.arange(n)]),
                      torch.cat([torch.zeros(n, dtype=torch.int32), torch.ones(n, dtype=torch.int32)]),
                      ["a", "b"], {"a": [n], "b": [8, n // 8]}, stride, seed, steps, 10, f"fake{seed}")


def test_the_nowcaster_learns_a_rule_of_its_training_data_and_never_sees_its_own_seed(tmp_path):
    cfg = NowcasterConfig(stride=5, history=3, train_steps=400, batch_size=512, seed=0)
    obj = train_leave_one_out([_fake_record(1), _fake_record(2)], 0, [10, 20], cfg)
    assert obj["trained_on_seeds"] == [1, 2] and obj["held_out_seed"] == 0
    assert obj["info"]["in_sample_huber"]["nowcaster"] < 0.1 * obj["info"]["in_sample_huber"]["zero"]
    # the seed it is applied to is never in its training data
    with pytest.raises(ValueError, match="leave-one-seed-out.*seed 0"):
        train_leave_one_out([_fake_record(1), _fake_record(0)], 0, [10], cfg)
    path = tmp_path / "nc.pt"
    save_nowcaster(path, obj)
    params = {"a": torch.zeros(64), "b": torch.zeros(8, 8)}
    for bad_seed in (1, 2, 3):  # trained on 1 and 2, or for 0 only
        with pytest.raises(ValueError, match="leave-one-seed-out"):
            NowcasterPredictor.load(path, params, bad_seed)
    # applied online to seed 0 (its own constant rates): the prediction is its future
    p = NowcasterPredictor.load(path, params, 0)
    g = torch.Generator().manual_seed(7)
    rate = {"a": torch.randn(64, generator=g), "b": torch.randn(8, 8, generator=g)}
    for t in range(15):
        p.observe(_obs(t, {n: 0.01 * r for n, r in rate.items()}, lr=0.01))
    assert p.ready() and p.state_numbers() == 4 * 128
    d = p.rollout(10, [0.02] * 10, 0).delta
    flat = torch.cat([d["a"], d["b"].reshape(-1)])
    true = torch.cat([0.2 * rate["a"], 0.2 * rate["b"].reshape(-1)])
    assert _cos(flat, true) > 0.99 and abs(float(flat.norm() / true.norm()) - 1) < 0.05


def test_no_model_of_a_seed_trains_on_that_seed(loso, tiny_data, tmp_path):
    cfg, root, files = loso
    for name, fn in (("nowcaster", train_for_seed), ("rssm_pretrained", pretrain_for_seed)):
        with pytest.raises(ValueError, match="leave-one-seed-out"):
            fn(cfg, [root / "runs/baseline/seed1", root / "runs/baseline/seed0"], 0, tmp_path / f"{name}.pt")
        assert not (tmp_path / f"{name}.pt").exists()
    for name in files:
        log = json.loads(files[name].with_suffix(".json").read_text())
        assert log["trained_on_seeds"] == [1] and log["held_out_seed"] == 0 and log["info"]["train_s"] > 0
    # a model applied to a seed it was trained on (or not made for) is refused
    tr = make_trainer(cfg, TokenData(tiny_data), "baseline", 1, [])
    with pytest.raises(ValueError, match="leave-one-seed-out"):
        NowcasterPredictor.load(files["nowcaster"], tr.params, 1)
    with pytest.raises(ValueError, match="leave-one-seed-out"):
        PretrainedRSSMPredictor(tr.model, cfg["hybrid"]["rssm"], 1, files["rssm_pretrained"])


def test_the_pretrained_rssm_carries_the_network_not_the_runtime(loso, tiny_data):
    cfg, root, files = loso
    obj = torch.load(files["rssm_pretrained"], weights_only=True)
    assert obj["info"]["optimisation_steps"] > 0 and not any(k.endswith("_extra_state") for k in obj["state"])
    tr = make_trainer(cfg, TokenData(tiny_data), "baseline", 0, [])
    p = PretrainedRSSMPredictor(tr.model, cfg["hybrid"]["rssm"], 0, files["rssm_pretrained"])
    fresh = RSSMPredictor(tr.model, cfg["hybrid"]["rssm"], 0).model.state_dict()
    got = p.model.state_dict()
    assert all(torch.equal(got[k], v) for k, v in obj["state"].items())
    assert any(not torch.equal(got[k], fresh[k]) for k in obj["state"] if k.startswith("gru."))
    assert float(got["obs_count"]) > 0  # the normaliser saw the other seed's stream
    assert p.model.n_observed == 0 and p.model.replay.size == 0 and p.model.basis.is_empty and not p.ready()


def test_the_workflow_never_feeds_a_seed_its_own_baseline():
    """The dry run of the smoke study: each leave-one-seed-out model's inputs are the other seeds'
    baselines, and a seed's nowcaster and pretrained arms, or its replay, get that seed's model."""
    proc = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--forceall", "--configfile", "config/smoke.yaml",
                           "--printshellcmds"], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    jobs = re.split(r"\n(?=(?:local)?rule )", proc.stdout)
    seeds = {str(s) for s in yaml.safe_load((ROOT / "config/smoke.yaml").read_text())["seeds"]}
    assert len(seeds) >= 2
    seen = 0
    for job in jobs:
        m = re.match(r"rule (train_nowcaster|train_rssm_pretrained):", job)
        if not m:
            continue
        seed = re.search(r"output: \S*/seed(\d+)\.pt", job).group(1)
        ins = re.search(r"input: (.*)", job).group(1)
        used = sorted(re.findall(r"runs/baseline/seed(\d+)", ins))
        assert seed not in used and used == sorted(seeds - {seed}), job
        seen += 1
    assert seen == 2 * len(seeds)
    replays = [j for j in jobs if j.startswith("rule shadow_replay:")]
    for job in replays:
        seed = re.search(r"output: \S*shadow_replay/seed(\d+)", job).group(1)
        ins = re.search(r"input: (.*)", job).group(1)
        assert f"predictors/nowcaster/seed{seed}.pt" in ins and f"runs/baseline/seed{seed}" in ins
        assert all(s == seed for s in re.findall(r"predictors/\w+/seed(\d+)", ins))
    assert len(replays) == len(seeds)


@pytest.mark.parametrize("kind", KINDS)
def test_every_new_arm_kind_runs_end_to_end_with_its_work_counted(kind, loso, tiny_data, tmp_path):
    cfg, root, files = loso
    s = run_training(cfg, tiny_data, kind, 0, tmp_path / kind, files=files)
    T = cfg["train"]["steps"]
    assert s["kind"] == kind and s["rollouts"] >= 1 and s["predict_steps"] > 0
    assert s["backward_passes"] == T - s["predict_steps"]
    rows = read_jsonl(tmp_path / kind / "metrics.jsonl")
    assert len(rows) == T and sum(r["phase"] == "predict" for r in rows) == s["predict_steps"]
    assert max(r["delta_norm"] for r in rows if r["phase"] == "predict") > 0  # the weights really moved
    n = s["n_params"]
    if kind == "rssm_pretrained":
        assert s["predictor_state_numbers"] is None  # the RSSM's own state (bounded separately)
    else:
        assert 0 < s["predictor_state_numbers"] <= 8 * n
    work = s["predictor_work"]
    if kind == "verified":
        assert s["verified"]["forward_passes"] == work["heldaside_checks"] > 0
        # every forward pass is a backward step's, a line-search trial's or a check's
        assert s["forward_passes"] >= s["backward_passes"] + s["verified"]["forward_passes"]
    elif kind == "dmd":
        assert work["rollouts"] == s["rollouts"] and work["fit_flops"] > 0
    elif kind == "nowcaster":
        assert work["rollouts"] == s["rollouts"] and work["rollout_flops"] > 0
    events = read_jsonl(tmp_path / kind / "events.jsonl")
    assert any(e["event"] == "prediction" and e["predictor"] == kind for e in events)


def test_a_loso_arm_without_its_model_is_a_clear_error(tiny_data):
    with pytest.raises(ValueError, match="train_nowcaster"):
        make_trainer(_cfg(), TokenData(tiny_data), "nowcaster", 0, [])


def test_shadow_rows_of_the_field_and_the_replay(loso, tiny_data, tmp_path):
    cfg, root, files = loso
    base = root / "runs/baseline/seed0"
    rows = read_shadow(base)
    names = {r["predictor"] for r in rows if r["kind"] == "predictor"}
    assert {"verified", "dmd"} <= names and not names & {"nowcaster", "rssm_pretrained"}  # those: the replay
    ver = [r for r in rows if r["predictor"] == "verified" and r["kind"] == "predictor" and not r["error"]]
    assert ver and all(r["verify_forward_passes"] == r["diagnostics"]["checks"] for r in ver)  # one window a check
    assert all(0 <= r["steps_replaced"] <= r["horizon"] for r in ver)
    assert (base / RSSM_STREAM).exists() and read_stream(base / RSSM_STREAM)[1]["seed"] == 0
    out = tmp_path / "replay"
    s = run_replay(cfg, tiny_data, 0, base, out, files)
    assert s["replay_check"]["max_abs_loss_diff"] == 0.0 and s["replay_check"]["steps"] == cfg["train"]["steps"]
    rep = read_shadow(out)
    assert {r["predictor"] for r in rep} == {"nowcaster", "rssm_pretrained"}
    scored = [r for r in rep if r["kind"] == "predictor" and not r["error"]]
    assert scored
    # the same origins and held-out windows as the baseline's own shadows
    ref = {(r["origin"], r["horizon"]): r["heldout_origin"] for r in rows if r["kind"] == "predictor"}
    assert all(ref[(r["origin"], r["horizon"])] == r["heldout_origin"] for r in rep if r["kind"] == "predictor")
    # Exp 3 joins the replay's rows to the baseline's
    log = run_exp3(cfg, base, 0, tmp_path / "exp3.json", replay_dir=out)
    preds = log["results"]["predictors"]
    assert {"verified", "dmd", "nowcaster", "rssm_pretrained"} <= set(preds)
    assert log["results"]["best_simple_predictor"] not in ("verified", "dmd", "nowcaster", "rssm_pretrained")
    assert log["results"]["best_field_predictor"] in ("verified", "dmd", "nowcaster", "rssm_pretrained")


def test_a_replay_of_another_run_is_refused(loso, tiny_data, tmp_path):
    cfg, root, files = loso
    with pytest.raises(RuntimeError, match="replay diverged"):
        run_replay(cfg, tiny_data, 0, root / "runs/baseline/seed1", tmp_path / "bad", files)
    assert not (tmp_path / "bad").exists()


def test_a_baseline_with_records_for_the_field_resumes_identically(tiny_data, tmp_path, caplog):
    cfg = _cfg(arms={"baseline": {"kind": "conventional"}, "nowcaster": {"kind": "nowcaster", "prediction_ratio": 0.5}})
    cfg["train"]["checkpoint_every"] = 0
    run_training(cfg, tiny_data, "baseline", 0, tmp_path / "ref")
    cfg["train"]["checkpoint_every"] = 4
    _crash_then_resume(cfg, tiny_data, "baseline", tmp_path / "got", [13, 29], caplog)
    assert_same_run(tmp_path / "ref", tmp_path / "got")
    a, b = read_trajectory(tmp_path / "ref" / TRAJECTORY), read_trajectory(tmp_path / "got" / TRAJECTORY)
    assert torch.equal(a.deltas, b.deltas) and torch.equal(a.lr_sum, b.lr_sum)
    sa, sb = read_stream(tmp_path / "ref" / RSSM_STREAM)[0], read_stream(tmp_path / "got" / RSSM_STREAM)[0]
    assert all(np.array_equal(sa[k], sb[k], equal_nan=True) for k in sa)


@pytest.mark.parametrize("over, key", [
    ({"seeds": [0]}, "'seeds'"),
    ({"hybrid": {"nowcaster": {"stride": 3}}}, "hybrid.nowcaster.stride"),
    ({"record": {"shadow": {"predictors": ["ema", "rssm_pretrained"]}}}, "record.shadow"),
    ({"hybrid": {"dmd": {"window": 9}}}, "hybrid.dmd.window"),
    ({"hybrid": {"verified": {"direction": "best"}}}, "hybrid.verified.direction"),
])
def test_bad_field_config_names_the_key(over, key):
    raw = copy.deepcopy(TINY)
    raw["hybrid"] = {"horizon": 5, "correct_steps": 2}
    raw["arms"] = {"baseline": {"kind": "conventional"}, "nc": {"kind": "nowcaster", "prediction_ratio": 0.5},
                   "rp": {"kind": "rssm_pretrained", "prediction_ratio": 0.5}}
    raw["record"]["shadow"] = {"horizons": [5, 10], "search": []}
    raw["dynamics"] = {"exp3_horizon": 10}
    for k, v in over.items():
        if isinstance(v, dict):
            for kk, vv in v.items():
                raw.setdefault(k, {})[kk] = {**raw.get(k, {}).get(kk, {}), **vv} if isinstance(vv, dict) else vv
        else:
            raw[k] = v
    with pytest.raises(config_mod.ConfigError, match=re.escape(key)):
        config_mod.validate(raw)


def test_an_arm_has_its_own_horizon(tiny_data, tmp_path):
    """arms.<name>.horizon: the field's arms join the frontier at the Y their shadow results favour."""
    cfg = _cfg(arms={"baseline": {"kind": "conventional"},
                     "dmd_y10": {"kind": "dmd", "prediction_ratio": 0.25, "horizon": 10}},
               record={"shadow": {"arms": []}})
    s = run_training(cfg, tiny_data, "dmd_y10", 0, tmp_path / "d", record=False)
    rows = read_jsonl(tmp_path / "d" / "metrics.jsonl")
    phases = "".join("p" if r["phase"] == "predict" else "." for r in rows)
    assert s["plan"]["horizon"] == 10 and re.findall("p+", phases) == ["p" * 10]
    with pytest.raises(config_mod.ConfigError, match="arms.baseline.horizon"):
        _cfg(arms={"baseline": {"kind": "conventional", "horizon": 10}})
    with pytest.raises(config_mod.ConfigError, match="arms.d.horizon"):
        _cfg(arms={"baseline": {"kind": "conventional"}, "d": {"kind": "dmd", "prediction_ratio": 0.5, "horizon": 36}})


def test_the_frontier_declares_the_fields_arms():
    """config/frontier.yaml is a valid study whose marked block runs every field predictor at r = 0.5
    (each at its declared Y), with the models they need planned per seed."""
    text = (ROOT / "config/frontier.yaml").read_text()
    block = text[text.index("BEGIN the field's predictors"):text.index("END the field's predictors")]
    cfg = config_mod.load(ROOT / "config/frontier.yaml")
    mine = {n: a for n, a in cfg["arms"].items() if re.search(rf"^\s+{n}:", block, re.M)}
    assert sorted(a["kind"] for a in mine.values()) == sorted(KINDS)
    assert all(a["prediction_ratio"] == 0.5 and "horizon" in a for a in mine.values())
    assert config_mod.loso_needed(cfg) == ["nowcaster", "rssm_pretrained"]


def test_the_field_study_runs_the_frontiers_declared_arms():
    """config/field.yaml (the field's arms at equal cost, without the rest of the grid) runs exactly the
    field arms declared in config/frontier.yaml, with the same settings, and declares them confirmatory."""
    front = config_mod.load(ROOT / "config/frontier.yaml")
    text = (ROOT / "config/frontier.yaml").read_text()
    block = text[text.index("BEGIN the field's predictors"):text.index("END the field's predictors")]
    declared = {n: a for n, a in front["arms"].items() if re.search(rf"^\s+{n}:", block, re.M)}
    field = config_mod.load(ROOT / "config/field.yaml")
    assert {n: field["arms"][n] for n in declared} == declared
    assert set(declared) <= set(field["frontier"]["confirmatory"])
    for key in ("model", "data", "hybrid"):
        assert field[key] == front[key], key
    assert field["train"] == front["train"] and field["record"] == front["record"]
    assert config_mod.loso_needed(field) == ["nowcaster", "rssm_pretrained"]
