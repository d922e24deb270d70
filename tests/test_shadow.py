"""Shadow mode (points 1-3): predictors that ride along a conventional run.

Shadows never perturb the run; the records hold one row per (origin, horizon, predictor); the span
oracle is exact on a linear trajectory; a clairvoyant predictor captures all the progress and the
zero predictor none; the predictors see the real per-step updates (never pseudo-updates); Exp 2
and Exp 3 read the records; the simple shadow predictors have known answers.
"""

from __future__ import annotations

import copy
import json
import math
import random
import time

import numpy as np
import pytest
import torch

from predictive_training import config as config_mod
from predictive_training.analysis.exp2 import run_exp2
from predictive_training.analysis.exp3 import run_exp3
from predictive_training.analysis.shadow import cluster_bootstrap, pooled_ratio, spearman
from predictive_training.data.prepare import TokenData
from predictive_training.dynamics.protocol import Observation, PredictedPhase
from predictive_training.dynamics.simple import EmaDeltaPredictor, LinearDeltaPredictor, span_projection
from predictive_training.io import read_jsonl
from predictive_training.phase_plan import PhasePlan
from predictive_training.records.shadow import read_shadow
from predictive_training.training import shadow as shadow_mod
from predictive_training.training.loop import Observer, Trainer, lr_at, rng_state
from predictive_training.training.run import run_training
from predictive_training.training.shadow import ShadowObserver, forecast_origins, shadow_origins

from .conftest import TINY

pytestmark = pytest.mark.usefixtures("one_thread")

SMALL_RSSM = {"window": 8, "burn_in": 3, "update_every": 4, "basis_window": 4, "batch_size": 4,
              "deter_dim": 16, "stoch_dim": 4, "hidden": 16, "n_samples": 4}
SHADOW = {"horizons": [3, 6], "span_oracle": [2, 5], "plan_every": 1, "forecast_every": 4, "eval_batches": 3,
          "search_batches": 1, "search": [{"predictor": "rssm", "horizon": 6}, {"predictor": "span5", "horizon": 3}]}


def _cfg(**shadow) -> dict:
    raw = copy.deepcopy(TINY)
    raw["hybrid"] = {"horizon": 5, "correct_steps": 2, "rssm": SMALL_RSSM}
    raw["record"]["shadow"] = {**SHADOW, **shadow}
    raw["dynamics"] = {"exp3_horizon": 6, "exp2_max_horizon": 6}
    return config_mod.validate(raw)


@pytest.fixture(scope="module")
def shadow_run(tmp_path_factory, tiny_data):
    cfg = _cfg()
    out = tmp_path_factory.mktemp("shadow") / "baseline" / "seed0"
    summary = run_training(cfg, tiny_data, "baseline", 0, out)
    return cfg, out, summary


# --- the records ----------------------------------------------------------------------------------


def test_origins_include_every_predict_start_of_the_plan():
    cfg = _cfg()
    plan = PhasePlan(0.5, 5, 2, 40, 5)
    ph = plan.phases()
    starts = [t for t in range(40) if ph[t] == "predict" and ph[t - 1] != "predict"]
    assert starts and set(starts) <= set(shadow_origins(cfg))
    thinned = shadow_origins(_cfg(plan_every=2))
    assert thinned == [o for o in starts[::2] if o + 3 <= 40]
    assert set(forecast_origins(cfg)).isdisjoint(shadow_origins(cfg))


def test_one_row_per_origin_horizon_and_predictor(shadow_run):
    cfg, out, summary = shadow_run
    rows = read_shadow(out)
    s = cfg["record"]["shadow"]
    names = list(s["predictors"]) + [f"span{m}" for m in s["span_oracle"]]
    expected = {(o, y, n) for o in shadow_origins(cfg) for y in s["horizons"] if o + y <= 40 for n in names}
    expected |= {(o, min(max(s["horizons"]), 40 - o), n) for o in forecast_origins(cfg) for n in s["predictors"]}
    got = [(r["origin"], r["horizon"], r["predictor"]) for r in rows]
    assert len(got) == len(set(got)) and set(got) == expected
    assert summary["shadow"]["rows"] == len(rows)
    for r in rows:
        if r["kind"] == "forecast":
            assert len(r["loss_forecast"]) == len(r["loss_realised"]) == r["horizon"]
            continue
        assert r["error"] is None and -1.0 <= r["cosine"] <= 1.0 and r["rel_l2"] >= 0
        assert r["norm_ratio"] == pytest.approx(r["delta_norm_pred"] / r["delta_norm_real"])
        assert r["gain_real"] == pytest.approx(r["heldout_origin"] - r["heldout_real"])
        assert len(r["per_tensor_cosine"]) == 16 and len(r["loss_realised"]) == r["horizon"]
        assert (r["search"] is not None) == ((r["predictor"], r["horizon"]) in {("rssm", 6), ("span5", 3)})
    # the realised losses are the run's own training losses of those steps
    metrics = read_jsonl(out / "metrics.jsonl")
    r = next(r for r in rows if r["kind"] == "predictor")
    assert r["loss_realised"] == [m["loss"] for m in metrics[r["origin"]:r["origin"] + r["horizon"]]]
    # the zero predictor: progress 0 by definition, without a forward pass
    for z in (r for r in rows if r["predictor"] == "zero" and r["kind"] != "forecast"):
        assert z["gain_pred"] == 0.0 and z["progress"] == 0.0 and z["heldout_pred"] == z["heldout_origin"]
    assert summary["shadow_s"] > 0 and set(summary["shadow_parts_s"]) >= {"heldout", "search", "span"}


def test_a_missing_record_names_the_config_key(tmp_path):
    with pytest.raises(FileNotFoundError, match="record.shadow.arms"):
        read_shadow(tmp_path)


# --- shadows do not perturb the run -------------------------------------------------------------


class _Rows(Observer):
    def __init__(self):
        self.rows = []

    def on_step(self, trainer, info, grads, update):
        self.rows.append({k: v for k, v in info.to_row().items() if k != "wall_s"})


def _train(cfg, data, observers):
    tr = Trainer(cfg, data, "baseline", 0, observers)
    tr.run()
    return tr


def test_shadows_do_not_perturb_the_run(tiny_data, tmp_path):
    """Weights, AdamW state, every random stream and the metrics are identical with and without
    shadows; dropout is on, so a draw from a global generator would change the losses."""
    cfg = _cfg(search="all")
    cfg["model"]["dropout"] = 0.1
    data = TokenData(tiny_data)
    runs = {}
    for with_shadow in (False, True):
        torch.manual_seed(123); np.random.seed(123); random.seed(123)
        rec = _Rows()
        obs = [rec] + ([ShadowObserver(tmp_path / str(with_shadow), cfg, 0)] if with_shadow else [])
        (tmp_path / str(with_shadow)).mkdir()
        tr = _train(cfg, data, obs)
        runs[with_shadow] = (tr, rec.rows, rng_state())
    (a, rows_a, rng_a), (b, rows_b, rng_b) = runs[False], runs[True]
    assert rows_a == rows_b
    assert len(read_jsonl(tmp_path / "True" / "shadow.jsonl")) > 0
    for n, p in a.params.items():
        assert torch.equal(p, b.params[n]), n
    sa, sb = a.optimizer.state_dict()["state"], b.optimizer.state_dict()["state"]
    for i in sa:
        for k in sa[i]:
            assert torch.equal(torch.as_tensor(sa[i][k]), torch.as_tensor(sb[i][k])), (i, k)
    assert torch.equal(rng_a["torch"], rng_b["torch"])
    assert str(rng_a["numpy"]) == str(rng_b["numpy"]) and rng_a["python"] == rng_b["python"]


class _Sleepy(Observer):
    def __init__(self, untimed: bool):
        self.untimed = untimed

    def on_step(self, trainer, info, grads, update):
        time.sleep(0.05)


@pytest.mark.parametrize("untimed", [True, False])
def test_untimed_observers_stay_out_of_wall_s(tiny_cfg, tiny_data, untimed):
    cfg = copy.deepcopy(tiny_cfg)
    cfg["train"]["steps"] = 10
    t0 = time.perf_counter()
    tr = _train(cfg, TokenData(tiny_data), [_Sleepy(untimed)])
    elapsed = time.perf_counter() - t0
    if untimed:  # the 0.5 s of sleeping is not training time
        assert tr.wall_s <= elapsed - 10 * 0.05
    else:
        assert tr.wall_s >= 10 * 0.05


# --- the predictors see the real per-step updates -----------------------------------------------


class _Spy:
    """Records every observation; predicts the real delta from a recorded reference trajectory
    (clairvoyant) when given one, else nothing."""

    name = "spy"
    seen: list = []

    def __init__(self, trajectory=None, params=None):
        self.trajectory, self.params = trajectory, params

    def observe(self, obs: Observation) -> None:
        _Spy.seen.append((obs.step, {n: t.clone() for n, t in obs.update.items()}, dict(obs.grad_norms),
                          obs.grad_norm, obs.lr))

    def ready(self) -> bool:
        return True

    def rollout(self, horizon, lrs, seed):
        o = _Spy.seen[-1][0] + 1
        delta = {n: self.trajectory[o + horizon][n] - self.trajectory[o][n] for n in self.params}
        return PredictedPhase(delta, np.zeros(horizon), 0.0)

    def state_dict(self):
        return {}

    def load_state_dict(self, state):
        pass


class _Weights(Observer):
    def __init__(self):
        self.w = {}

    def on_start(self, trainer):
        self.w[0] = {n: p.detach().clone() for n, p in trainer.params.items()}

    def on_step(self, trainer, info, grads, update):
        self.w[info.step + 1] = {n: p.detach().clone() for n, p in trainer.params.items()}


def test_clairvoyant_predictor_captures_all_progress_and_sees_the_real_updates(tiny_data, tmp_path, monkeypatch):
    """A predictor handed the real Y-step delta scores progress 1, cosine 1, rel L2 0; every update it
    observed is the real weight change of its step (no pseudo-updates), with pre-clip norms."""
    cfg = _cfg(predictors=["ema", "zero"], span_oracle=[], search=[], forecast_every=None)
    data = TokenData(tiny_data)
    ref = _Weights()
    _train(cfg, data, [ref])
    _Spy.seen = []
    real = shadow_mod.make_predictor
    monkeypatch.setattr(shadow_mod, "make_predictor", lambda cfg, name, model, params, seed, files=None, arm=None: (
        _Spy(ref.w, list(params)) if name == "ema" else real(cfg, name, model, params, seed, files, arm)))
    out = tmp_path / "run"
    run_training(cfg, tiny_data, "baseline", 0, out)
    rows = [r for r in read_shadow(out) if r["predictor"] == "ema"]
    assert rows
    for r in rows:
        assert r["cosine"] == pytest.approx(1.0, abs=1e-6) and r["rel_l2"] == pytest.approx(0.0, abs=1e-5)
        assert r["norm_ratio"] == pytest.approx(1.0, abs=1e-6)
        assert r["progress"] == pytest.approx(1.0, abs=1e-4), r
    for r in read_shadow(out):
        if r["predictor"] == "zero":
            assert r["progress"] == 0.0
    # every step observed once, in order, with the exact update the optimiser applied
    assert [s for s, *_ in _Spy.seen] == list(range(40))
    for step, upd, gnorms, gn, lr in _Spy.seen:
        for n, u in upd.items():
            assert torch.equal(u, ref.w[step + 1][n] - ref.w[step][n]), (step, n)
        assert lr == lr_at(step, cfg["train"])
        # pre-clip per-tensor norms: their root-sum-square is the logged pre-clip global norm
        assert math.sqrt(sum(v * v for v in gnorms.values())) == pytest.approx(gn, rel=1e-4)


# --- the span oracle -----------------------------------------------------------------------------


def test_span_projection_known_answers():
    g = torch.Generator().manual_seed(0)
    u = torch.randn(7, 500, generator=g, dtype=torch.float32)
    inside = torch.randn(7, generator=g) @ u
    proj, c = span_projection(u, inside)
    assert torch.allclose(proj, inside, atol=1e-4 * float(inside.norm()))
    q, _ = torch.linalg.qr(u.T.double())
    outside = torch.randn(500, generator=g, dtype=torch.float64)
    outside = (outside - q @ (q.T @ outside)).float()
    assert float(span_projection(u, outside)[0].norm()) < 1e-4 * float(outside.norm())
    # dependent rows (a linear trajectory: every update the same): still exact
    same = u[:1].repeat(5, 1)
    proj, _ = span_projection(same, 3.0 * u[0])
    assert torch.allclose(proj, 3.0 * u[0], atol=1e-5 * float(u[0].norm()))
    assert torch.equal(span_projection(torch.zeros(3, 10), torch.ones(10))[0], torch.zeros(10))


def test_span_oracle_captures_all_progress_on_a_linear_trajectory(tiny_data, tmp_path):
    """Weights that move by the same update every step: the real Y-step delta is Y times it, in the span
    of any recent updates, so the oracle's projection is exact and its progress captured is 1."""
    cfg = _cfg(predictors=["repeat", "zero"], span_oracle=[1, 4], search=[], forecast_every=None)
    data = TokenData(tiny_data)
    tr = Trainer(cfg, data, "baseline", 0, [])
    obs = ShadowObserver(tmp_path, cfg, 0)
    obs.on_start(tr)
    x, y = tr.batches.get(0)  # a descent direction, so that the real steps lower the loss
    tr.model.loss(x, y).backward()
    grads = {n: p.grad.detach().clone() for n, p in tr.params.items()}
    norm = math.sqrt(sum(float(g.norm()) ** 2 for g in grads.values()))
    u = {n: -0.02 * g / norm for n, g in grads.items()}
    for t in range(cfg["train"]["steps"]):
        with torch.no_grad():
            for n, p in tr.params.items():
                p.add_(u[n])
        info = type("I", (), {"step": t, "loss": 5.0, "grad_norm": 1.0, "lr": lr_at(t, cfg["train"]),
                              "backward": True})()
        obs.on_step(tr, info, grads, u)
    obs.on_end(tr, {})
    rows = read_jsonl(tmp_path / "shadow.jsonl")
    spans = [r for r in rows if r["kind"] == "span_oracle"]
    assert spans
    for r in spans:
        assert r["cosine"] == pytest.approx(1.0, abs=1e-6) and r["rel_l2"] < 1e-4
        assert r["progress"] == pytest.approx(1.0, abs=1e-3), r
    # the repeat predictor (Y x the mean recent update) is also exact here
    for r in (r for r in rows if r["predictor"] == "repeat"):
        assert r["progress"] == pytest.approx(1.0, abs=1e-3)


# --- Exp 2 and Exp 3 read the shadow records ------------------------------------------------------


def test_exp3_reads_the_shadow_records_not_snapshots(shadow_run, tmp_path):
    cfg, out, _ = shadow_run
    import shutil

    run = tmp_path / "run"
    shutil.copytree(out, run)
    shutil.rmtree(run / "snapshots")  # Exp 3 needs no weight snapshots: it never splits their deltas
    log = run_exp3(cfg, run, 0, tmp_path / "exp3.json")
    res = log["results"]
    rows = [r for r in read_shadow(out) if r["predictor"] == "rssm" and r["horizon"] == 6 and r["kind"] != "forecast"]
    assert rows and res["criteria_from"]["predictor"] == "rssm" and res["horizon"] == 6
    assert res["criteria"]["cosine"]["estimate"] == pytest.approx(np.mean([r["cosine"] for r in rows]))
    assert res["criteria"]["rel_l2"]["estimate"] == pytest.approx(np.mean([r["rel_l2"] for r in rows]))
    assert set(res["criteria"]) == {"cosine", "rel_l2", "per_layer_accuracy", "pearson_r"}
    cell = res["table"]["span5@3"]
    assert cell["progress_search"] is not None and len(res["shadow"]["origins"]["rssm@6"]) == len(rows)
    assert "pseudo" not in json.dumps(res["criteria_from"])


def test_exp2_reads_the_shadow_forecasts(shadow_run, tmp_path):
    cfg, out, _ = shadow_run
    log = run_exp2(cfg, out, 0, tmp_path / "exp2.json")
    res = log["results"]
    assert res["target_used"] == "smoothed" and res["criteria_from"]["predictor"] == "rssm"
    held = res["origins_held_out"]
    assert held and all(o >= res["held_out_from"] == 32 for o in held)
    assert set(res["predictors"]) == {"rssm", "last_value", "ema", "power_law"}
    assert res["criteria"]["r2"]["estimate"] == res["predictors"]["rssm"]["smoothed"]["r2"]
    assert res["predictors"]["rssm"]["horizon"]["Y"] == list(range(1, 7))
    assert "offline_fit" not in res  # dynamics.exp2_offline is off by default
    assert len(res["uncertainty_vs_loss_error"]["pairs"]) == res["n_origins"]


# --- config ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("shadow, key", [
    ({"arms": ["hybrid_r50"]}, "record.shadow.arms"),
    ({"arms": ["nope"]}, "record.shadow.arms"),
    ({"search": [{"predictor": "span7", "horizon": 3}]}, "record.shadow.search.0.predictor"),
    ({"search": [{"predictor": "rssm", "horizon": 4}]}, "record.shadow.search.0.horizon"),
    ({"span_oracle": [3], "search": [{"predictor": "span5", "horizon": 3}]}, "record.shadow.span_oracle=[3]"),
    ({"predictors": ["oracle"]}, "record.shadow.predictors"),
    ({"horizons": [3]}, "dynamics.exp3_horizon"),
])
def test_bad_shadow_config_names_the_key(shadow, key):
    with pytest.raises(config_mod.ConfigError) as exc:
        _cfg(**shadow)
    assert key in str(exc.value)


def test_a_plan_that_does_not_fit_gives_no_plan_origins():
    """A baseline-only study too short for the hybrid_r50 plan stays valid; it has no plan origins."""
    cfg = config_mod.validate({"train": {"steps": 21, "warmup_steps": 0}, "arms": {"baseline": {"kind": "conventional"}},
                               "record": {"shadow": {"origin_every": 7, "horizons": [5, 20, 50]}},
                               "dynamics": {"exp3_horizon": 50}})
    assert shadow_origins(cfg) == [7, 14]  # from step 1: an origin follows at least one real step


# --- the simple shadow predictors and the statistics ----------------------------------------------


def _obs(step, update, lr=0.5, loss=3.0):
    return Observation(step, 100, loss, 1.0, lr, {n: 1.0 for n in update}, update)


def test_ema_and_linear_delta_predictors_known_answers():
    ema, lin = EmaDeltaPredictor(0.9), LinearDeltaPredictor(0.9)
    for t in range(300):  # a rate growing linearly: r_t = 1 + 0.01 t (per unit lr), lr 0.5
        upd = {"w": torch.full((3,), 0.5 * (1 + 0.01 * t), dtype=torch.float64)}
        ema.observe(_obs(t, upd)); lin.observe(_obs(t, upd))
    lrs = [0.5, 0.25, 0.5]
    exact = sum(lr * (1 + 0.01 * (300 + i)) for i, lr in enumerate(lrs))
    got = float(lin.rollout(3, lrs, 0).delta["w"][0])
    assert got == pytest.approx(exact, rel=1e-6)  # Brown's smoothing is exact on a linear trend
    e = float(ema.rollout(3, lrs, 0).delta["w"][0])
    assert e < exact and e == pytest.approx(1.25 * (1 + 0.01 * (299 - 9)), rel=1e-3)  # EMA lags 1/(1-beta)-1 = 9 steps
    st = lin.state_dict()
    lin2 = LinearDeltaPredictor(0.9)
    lin2.load_state_dict(st)
    assert torch.equal(lin2.rollout(3, lrs, 0).delta["w"], lin.rollout(3, lrs, 0).delta["w"])
    with pytest.raises(ValueError, match="ema_beta"):
        EmaDeltaPredictor(1.0)
    with pytest.raises(ValueError, match="observed"):
        EmaDeltaPredictor(0.5).rollout(2, [1.0, 1.0], 0)


def test_pooled_ratio_and_cluster_bootstrap():
    num, den = np.array([1.0, 2.0, 3.0]), np.array([2.0, 4.0, 6.0])
    assert pooled_ratio(num, den) == 0.5
    assert cluster_bootstrap([(num, den), (2 * num, 2 * den)]) == (0.5, 0.5)  # a constant ratio has no spread
    lo, hi = cluster_bootstrap([(np.array([0.0, 1.0, 2.0]), np.ones(3)), (np.array([1.0, 3.0]), np.ones(2))])
    assert 0.0 <= lo < 1.4 < hi <= 3.0
    assert cluster_bootstrap([(np.array([1.0]), np.ones(1))], n_resamples=50) == (1.0, 1.0)
    assert spearman(np.zeros(5), np.arange(5.0))["rho"] is None  # constant uncertainty: undefined
    assert spearman(np.arange(5.0), np.arange(5.0) ** 2)["rho"] == pytest.approx(1.0)


def test_a_criterion_no_seed_could_evaluate_gets_no_row():
    """Exp 2 without origins in its held-out segment: no row, so the decisions say "not evaluated"
    instead of the statistics failing on NaN."""
    from predictive_training.stats.rows import exp2_rows, exp3_rows

    th = config_mod.validate({})["thresholds"]
    none = {"results": {"criteria": {"r2": {"estimate": None}, "mae_over_range": {"estimate": None}}}}
    assert exp2_rows([none, none], th) == []
    some = {"results": {"criteria": {"r2": {"estimate": 0.5}, "mae_over_range": {"estimate": 0.2}}}}
    rows = exp2_rows([none, some, some], th)
    assert [(r.metric, r.n) for r in rows] == [("r2", 2), ("mae_over_range", 2)]
    c3 = {k: {"estimate": v} for k, v in (("cosine", 0.4), ("rel_l2", 0.9), ("per_layer_accuracy", 0.1),
                                           ("pearson_r", None))}
    assert [r.metric for r in exp3_rows([{"results": {"criteria": c3}}] * 2, th)] == [
        "cosine", "rel_l2", "per_layer_accuracy"]
