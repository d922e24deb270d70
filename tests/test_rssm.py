"""Tests of the RSSM-lite dynamics model.

Each test of a defect of the original system (STUDY.md section 3) names it; they fail if the
defect comes back.
"""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
import torch
from torch import nn

from predictive_training.dynamics.rssm import (
    N_GLOBAL_FEATURES,
    DirectionBasis,
    RSSMConfig,
    RSSMLite,
    feature_names,
    step_features,
)
from predictive_training.dynamics.scores import delta_metrics

LR = 1e-2
DRIFT_T, DRIFT_Y = 160, 20


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin1 = nn.Linear(6, 5)
        self.lin2 = nn.Linear(5, 3)


def _drift_trajectory(seed: int, steps: int):
    """Per-step updates = a constant drift (RMS 1e-3 per element) + noise (std 5e-4), the
    learning rate constant, and a decaying noisy loss. Returns (model, features list, updates)."""
    torch.manual_seed(seed)
    model = Tiny()
    g = torch.Generator().manual_seed(seed)
    names = [n for n, _ in model.named_parameters()]
    drift = {n: 1e-3 * torch.randn(p.shape, generator=g) for n, p in model.named_parameters()}
    rng = np.random.default_rng(seed)
    feats, updates = [], []
    for t in range(steps):
        upd = {n: drift[n] + 5e-4 * torch.randn(drift[n].shape, generator=g) for n in names}
        loss = 2.0 + 3.0 * math.exp(-t / 200) + 0.01 * rng.standard_normal()
        gn = {n: 1.0 + 0.1 * abs(rng.standard_normal()) for n in names}
        un = {n: float(upd[n].norm()) for n in names}
        feats.append(step_features(loss, math.sqrt(sum(v * v for v in gn.values())), LR, t, steps,
                                   gn, un, names=names))
        updates.append(upd)
    return model, feats, updates


@pytest.fixture(scope="module")
def drift_run():
    """A dynamics model trained ONLINE on DRIFT_T full steps of a drifting tiny model, plus the
    actual next DRIFT_Y updates and a snapshot of its parameters before any training."""
    model, feats, updates = _drift_trajectory(seed=0, steps=DRIFT_T + DRIFT_Y)
    cfg = RSSMConfig(seed=0, update_every=10, train_iters=2, window=32, burn_in=8, batch_size=8)
    rssm = RSSMLite.for_model(model, cfg)
    initial = {k: v.detach().clone() for k, v in rssm.state_dict().items() if k != "_extra_state"}
    stats = []
    with torch.no_grad():
        for t in range(DRIFT_T):
            s = rssm.observe(feats[t], updates[t])
            if s is not None:
                stats.append(s)
            for n, p in model.named_parameters():
                p.add_(updates[t][n])
    actual = {n: sum(updates[t][n] for t in range(DRIFT_T, DRIFT_T + DRIFT_Y))
              for n, _ in model.named_parameters()}
    return {"model": model, "rssm": rssm, "initial": initial, "actual": actual, "stats": stats,
            "feats": feats, "updates": updates}


# ------------------------------------------------------------------------------------------------
# features
# ------------------------------------------------------------------------------------------------


def test_step_features_known_values_and_order():
    f = step_features(2.5, math.e, 3e-4, 25, 100, {"b": 1.0, "a": math.e ** 2},
                      {"b": 0.1, "a": 0.0}, names=["a", "b"])
    expected = [2.5, 1.0, 3e-4, 0.25, 2.0, 0.0, math.log(1e-12), math.log(0.1)]
    np.testing.assert_allclose(f, expected, rtol=1e-12)
    assert feature_names(["a", "b"])[4:] == ["log_grad_norm/a", "log_grad_norm/b",
                                              "log_update_norm/a", "log_update_norm/b"]
    # default order: sorted names
    np.testing.assert_allclose(step_features(2.5, math.e, 3e-4, 25, 100, {"b": 1.0, "a": math.e ** 2},
                                             {"b": 0.1, "a": 0.0}), expected)


@pytest.mark.parametrize("kwargs, word", [
    ({"loss": float("nan")}, "loss"),
    ({"total_steps": 0}, "total_steps"),
    ({"update_norms": {"x": 1.0}}, "update_norms"),
    ({"names": ["a"]}, "names"),
])
def test_step_features_rejects_bad_input(kwargs, word):
    args = dict(loss=1.0, grad_norm=1.0, lr=1e-3, step=1, total_steps=10,
                grad_norms={"a": 1.0, "b": 1.0}, update_norms={"a": 1.0, "b": 1.0})
    args.update(kwargs)
    with pytest.raises(ValueError, match=word):
        step_features(**args)


# ------------------------------------------------------------------------------------------------
# defects 1 and 2: every part of the model is trained
# ------------------------------------------------------------------------------------------------


def test_observe_trains_gru_prior_posterior_and_heads(drift_run):
    rssm, initial = drift_run["rssm"], drift_run["initial"]
    assert drift_run["stats"], "observe never triggered an optimisation run"
    assert rssm.n_train_steps > 0
    after = rssm.state_dict()
    for prefix in ("gru.", "prior_net.", "post_net.", "embed.", "obs_head.", "loss_head.", "delta_head."):
        keys = [k for k in initial if k.startswith(prefix)]
        assert keys, prefix
        changed = [k for k in keys if not torch.equal(initial[k], after[k])]
        assert changed == keys, f"{prefix} parameters not all trained: {sorted(set(keys) - set(changed))}"
    # the delta head had real targets (the update coefficients)
    assert all("coef" in s and math.isfinite(s["coef"]) for s in drift_run["stats"])


# ------------------------------------------------------------------------------------------------
# defect 6: directions are stored during full training
# ------------------------------------------------------------------------------------------------


def test_basis_stores_orthonormal_update_directions(drift_run):
    rssm, model = drift_run["rssm"], drift_run["model"]
    basis = rssm.basis
    assert not basis.is_empty
    assert basis.n_updates == DRIFT_T
    assert basis.names == [n for n, _ in model.named_parameters()]
    for n in basis.names:
        q = basis.basis[n]
        assert q.shape == (rssm.config.basis_size, basis.numel[n])
        rows = q[q.norm(dim=1) > 0]
        assert rows.shape[0] >= 2
        np.testing.assert_allclose((rows @ rows.T).numpy(), np.eye(rows.shape[0]), atol=1e-5)
        # direction 0 is the EMA of the updates
        ema = basis.ema[n]
        assert float(torch.dot(q[0], ema) / ema.norm()) == pytest.approx(1.0, abs=1e-5)


def test_direction_basis_projection_known_answer():
    b = DirectionBasis({"w": (2, 2)}, size=2, window=1, ema_beta=0.0)
    b.add({"w": torch.tensor([[3.0, 0.0], [0.0, 0.0]])})  # refresh: ema = e0
    b.add({"w": torch.tensor([[1.0, 2.0], [0.0, 0.0]])})  # refresh: ema = (1,2), window (1,2)
    q = b.basis["w"]
    np.testing.assert_allclose(q[0].abs().numpy(), np.array([1, 2, 0, 0]) / math.sqrt(5), atol=1e-6)
    c = b.project({"w": torch.tensor([[2.0, 4.0], [1.0, 1.0]])})
    assert abs(float(c[0, 0])) == pytest.approx(10 / math.sqrt(5), rel=1e-6)
    with pytest.raises(ValueError, match="parameter names"):
        b.check_update({"v": torch.zeros(2, 2)})
    with pytest.raises(ValueError, match="shape"):
        b.check_update({"w": torch.zeros(4)})


# ------------------------------------------------------------------------------------------------
# defects 3 and 7: one aggregate Y-step prediction, keyed by the real parameter names
# ------------------------------------------------------------------------------------------------


def test_rollout_is_one_call_with_every_parameter(drift_run):
    rssm, model = drift_run["rssm"], drift_run["model"]
    r = rssm.rollout(DRIFT_Y, n_samples=8, seed=3)
    params = dict(model.named_parameters())
    assert list(r.delta.keys()) == list(params.keys())
    for n, p in params.items():
        assert r.delta[n].shape == p.shape
        assert float(r.delta[n].norm()) > 0, f"{n} would not move"
    for arr in (r.loss_mean, r.loss_std, r.loss_q05, r.loss_q95):
        assert arr.shape == (DRIFT_Y,)
    assert r.loss_samples.shape == (8, DRIFT_Y)
    assert np.all(r.loss_q05 <= r.loss_mean + 1e-12) and np.all(r.loss_mean <= r.loss_q95 + 1e-12)
    assert math.isfinite(r.uncertainty) and r.uncertainty > 0
    # applying the delta moves the weights by exactly the predicted amount
    before = {n: p.detach().clone() for n, p in params.items()}
    with torch.no_grad():
        for n, p in params.items():
            p.add_(r.delta[n])
        for n, p in params.items():
            torch.testing.assert_close(p - before[n], r.delta[n])
            p.copy_(before[n])


def test_rollout_validates_arguments(drift_run):
    rssm = drift_run["rssm"]
    with pytest.raises(ValueError, match="horizon"):
        rssm.rollout(0)
    with pytest.raises(ValueError, match="n_samples"):
        rssm.rollout(5, n_samples=0)
    with pytest.raises(ValueError, match="lrs"):
        rssm.rollout(5, lrs=[1e-3] * 4)
    with pytest.raises(ValueError, match="parameter names"):
        rssm.observe(drift_run["feats"][0], {"not.a.param": torch.zeros(1)}, train=False)
    with pytest.raises(ValueError, match="features"):
        rssm.observe(np.zeros(3))
    fresh = RSSMLite(N_GLOBAL_FEATURES)
    with pytest.raises(ValueError, match="observed"):
        fresh.rollout(5)


# ------------------------------------------------------------------------------------------------
# defect 5: the stochastic path is sampled; determinism
# ------------------------------------------------------------------------------------------------


def test_rollout_samples_latents_and_mean_is_stable(drift_run):
    rssm = drift_run["rssm"]
    a = rssm.rollout(DRIFT_Y, n_samples=4, seed=1)
    b = rssm.rollout(DRIFT_Y, n_samples=4, seed=2)
    assert not np.allclose(a.loss_samples, b.loss_samples)
    assert np.all(a.loss_std[1:] > 0)  # samples differ from one another
    # the sampled latents reach the delta too, wherever the head's deviations are trusted (here
    # the shrinkage is forced to 1; the trained value is what held-out forecasts support)
    clone = RSSMLite.for_model(drift_run["model"], rssm.config)
    clone.load_state_dict(rssm.state_dict())
    clone.shrink_td.fill_(1.0)
    clone.shrink_dd.fill_(1.0)
    assert torch.all(clone.shrinkage() == 1.0)
    a1 = clone.rollout(DRIFT_Y, n_samples=4, seed=1)
    b1 = clone.rollout(DRIFT_Y, n_samples=4, seed=2)
    assert not torch.allclose(a1.coeffs, b1.coeffs)

    n = 512
    m1 = rssm.rollout(DRIFT_Y, n_samples=n, seed=10)
    m2 = rssm.rollout(DRIFT_Y, n_samples=n, seed=11)
    # two independent means of n samples differ by ~ sqrt(2) std / sqrt(n); allow 5 standard errors
    se = np.sqrt(m1.loss_std ** 2 + m2.loss_std ** 2) / math.sqrt(n)
    assert np.all(np.abs(m1.loss_mean - m2.loss_mean) <= 5 * se + 1e-12)
    assert delta_metrics(m1.delta, m2.delta)["cosine"] > 0.99


def test_same_seed_same_rollout(drift_run):
    rssm = drift_run["rssm"]
    a = rssm.rollout(DRIFT_Y, n_samples=8, seed=7)
    b = rssm.rollout(DRIFT_Y, n_samples=8, generator=torch.Generator().manual_seed(7))
    np.testing.assert_array_equal(a.loss_samples, b.loss_samples)
    for n in a.delta:
        assert torch.equal(a.delta[n], b.delta[n])


def test_same_config_seed_same_training():
    model, feats, updates = _drift_trajectory(seed=1, steps=70)
    rollouts = []
    for _ in range(2):
        rssm = RSSMLite.for_model(model, RSSMConfig(seed=5, window=16, burn_in=4, update_every=20,
                                                    train_iters=2, batch_size=4))
        for t in range(70):
            rssm.observe(feats[t], updates[t])
        rollouts.append(rssm.rollout(10, n_samples=4, seed=0))
    np.testing.assert_array_equal(rollouts[0].loss_samples, rollouts[1].loss_samples)
    assert torch.equal(rollouts[0].coeffs, rollouts[1].coeffs)


def test_state_dict_round_trip(drift_run, tmp_path):
    rssm = drift_run["rssm"]
    path = tmp_path / "rssm.pt"
    torch.save(rssm.state_dict(), path)
    clone = RSSMLite.for_model(drift_run["model"], rssm.config)
    clone.load_state_dict(torch.load(path, weights_only=False))
    a = rssm.rollout(DRIFT_Y, n_samples=8, seed=4)
    b = clone.rollout(DRIFT_Y, n_samples=8, seed=4)
    np.testing.assert_array_equal(a.loss_samples, b.loss_samples)
    for n in a.delta:
        assert torch.equal(a.delta[n], b.delta[n])
    torch.testing.assert_close(clone.obs_mean, rssm.obs_mean)
    assert clone.basis.n_updates == rssm.basis.n_updates


def test_filter_without_training_moves_the_present(drift_run):
    rssm = drift_run["rssm"]
    state = {k: v.clone() for k, v in rssm.state_dict().items() if k != "_extra_state"}
    n_obs, n_train = rssm.n_observed, rssm.n_train_steps
    clone = RSSMLite.for_model(drift_run["model"], rssm.config)
    clone.load_state_dict(rssm.state_dict())
    h_before = clone._h.clone()
    clone.observe(drift_run["feats"][DRIFT_T], drift_run["updates"][DRIFT_T], train=False)
    assert clone.n_observed == n_obs + 1 and clone.n_train_steps == n_train
    assert not torch.equal(clone._h, h_before)
    for k, v in clone.state_dict().items():
        if k != "_extra_state":
            assert torch.equal(v, state[k]), f"{k} changed with train=False"


# ------------------------------------------------------------------------------------------------
# known answers
# ------------------------------------------------------------------------------------------------


def test_known_answer_weight_drift_direction(drift_run):
    """Constant drift + noise: the predicted Y-step delta points along the actual Y-step delta."""
    r = drift_run["rssm"].rollout(DRIFT_Y, n_samples=8, seed=0)
    m = delta_metrics(r.delta, drift_run["actual"])
    assert m["cosine"] > 0.95, m


def _cosine_lr(t: int, total: int, peak: float = 3e-3, floor: float = 3e-4) -> float:
    return floor + 0.5 * (peak - floor) * (1 + math.cos(math.pi * t / total))


def _adam_like_drift(seed: int, steps: int, horizon: int, drift: float = 0.5, noise: float = 1.0):
    """Adam-like updates ``u_t = -lr_t (d + e_t)`` (per-element size ~ lr_t, a cosine schedule) with
    a fixed drift ``d`` (+-drift per element) and noise ``e_t ~ N(0, noise^2)``: adjacent updates
    have cosine ~ drift^2 / (drift^2 + noise^2) = 0.2, as weakly aligned as real ones. Returns the
    model, features, updates, the horizon's learning rates, the drift's displacement over the
    horizon and the real (noisy) one."""
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(32, 64), nn.Linear(64, 16))
    names = [n for n, _ in model.named_parameters()]
    g = torch.Generator().manual_seed(seed)
    d = {n: drift * torch.sign(torch.randn(p.shape, generator=g)) for n, p in model.named_parameters()}
    rng = np.random.default_rng(seed)
    total = steps + horizon
    feats, updates = [], []
    for t in range(total):
        lr = _cosine_lr(t, total)
        upd = {n: -lr * (d[n] + noise * torch.randn(d[n].shape, generator=g)) for n in names}
        loss = 2.0 + 3.0 * math.exp(-t / 300) + 0.02 * rng.standard_normal()
        feats.append(step_features(loss, 1.0, lr, t, total, {n: 1.0 for n in names},
                                   {n: float(upd[n].norm()) for n in names}, names=names))
        updates.append(upd)
    lrs = [_cosine_lr(steps + i, total) for i in range(horizon)]
    displacement = {n: -sum(lrs) * d[n] for n in names}
    real = {n: sum(updates[t][n] for t in range(steps, total)) for n in names}
    return model, feats[:steps], updates[:steps], lrs, displacement, real


def _norm(delta) -> float:
    return math.sqrt(sum(float(v.norm()) ** 2 for v in delta.values()))


def test_known_answer_adam_like_drift_norm_and_direction():
    """A predicted Y-step delta has the drift's direction (cosine > 0.95) AND its size: the norm is
    within 10% of the drift's Y-step displacement, under a cosine learning-rate schedule (the
    future learning rates are given). The uncertainty predicts the realised relative error."""
    T, Y = 300, 20
    model, feats, updates, lrs, displacement, real = _adam_like_drift(0, T, Y)
    rssm = RSSMLite.for_model(model, RSSMConfig(seed=0))
    for f, u in zip(feats, updates):
        rssm.observe(f, u)
    assert rssm.n_train_steps >= 25
    r = rssm.rollout(Y, n_samples=8, seed=0, lrs=lrs)
    m = delta_metrics(r.delta, displacement)
    assert m["cosine"] > 0.95, m["cosine"]
    assert 0.9 <= _norm(r.delta) / _norm(displacement) <= 1.1, _norm(r.delta) / _norm(displacement)
    # the real displacement adds sqrt(Y) noise: the error the uncertainty predicts (within 25%)
    realised = delta_metrics(r.delta, real)["rel_l2"]
    assert realised == pytest.approx(r.uncertainty, rel=0.25), (realised, r.uncertainty)


@pytest.mark.slow
def test_learning_curve_levels_off_on_a_known_trajectory():
    """On the drifting trajectory the held-out objective first improves a lot (the model learns:
    more than 10% over the first fifth of its optimisation steps), then levels off: over the last
    fifth the improvement is consistent with less than 2% (estimate < 2% + 2 standard errors),
    far below the early one."""
    model, feats, updates, _, _, _ = _adam_like_drift(1, 600, 1)
    rssm = RSSMLite.for_model(model, RSSMConfig(seed=1))
    for f, u in zip(feats, updates):
        rssm.observe(f, u)
    lc = rssm.learning_curve()
    assert lc["train_steps"] >= 60 and lc["runs"] == len(rssm.curve) == rssm.n_train_steps
    assert lc["improvement_first_fifth"] > 0.10, lc
    assert lc["improvement_last_fifth"] < lc["level_tol"] + 2 * lc["improvement_se"], lc
    assert lc["improvement_last_fifth"] < 0.5 * lc["improvement_first_fifth"], lc
    assert lc["levelled"] == (lc["improvement_last_fifth"] < lc["level_tol"])


def test_rollout_cost_on_half_million_parameters():
    """A 50-step, 8-sample rollout with the delta materialised for ~0.5M parameters is cheap."""
    shapes = {f"block{i}.w": (256, 256) for i in range(8)}
    shapes.update({f"block{i}.b": (256,) for i in range(8)})
    rssm = RSSMLite(N_GLOBAL_FEATURES + 2 * len(shapes), shapes, RSSMConfig(seed=0))
    g = torch.Generator().manual_seed(0)
    names = list(shapes)
    for t in range(12):  # more than basis_window, so the basis is built
        upd = {n: 1e-3 * torch.randn(s, generator=g) for n, s in shapes.items()}
        f = step_features(3.0, 1.0, 1e-3, t, 100, {n: 1.0 for n in names},
                          {n: float(upd[n].norm()) for n in names}, names=names)
        rssm.observe(f, upd, train=False)
    rssm.rollout(50, n_samples=8, seed=0)  # warm-up
    times = []
    for k in range(3):
        t0 = time.perf_counter()
        r = rssm.rollout(50, n_samples=8, seed=k)
        times.append(time.perf_counter() - t0)
    assert sum(v.numel() for v in r.delta.values()) == sum(math.prod(s) for s in shapes.values())
    # generous bound (shared 2-core machine); typical is a few tens of milliseconds
    assert min(times) < 0.25, times


def test_basis_coefficients_transitions_and_ema_known_answers():
    """Each update's coefficients are its projection on the basis in force when it was applied;
    a refresh's transitions re-express coefficients in the new basis (``c Q_old`` projected on
    ``Q_new``); the EMA direction equals the step-by-step recursion."""
    g = torch.Generator().manual_seed(0)
    shapes = {"w": (5, 4), "b": (5,)}
    b = DirectionBasis(shapes, size=3, window=4, ema_beta=0.5)
    ref = None
    for k in range(4):
        for j in range(4):
            u = {n: torch.randn(s, generator=g) for n, s in shapes.items()}
            flat = torch.cat([u[n].reshape(-1) for n in shapes])
            ref = flat.clone() if ref is None else 0.5 * ref + 0.5 * flat
            expected = b.project(u)
            q_old = b.basis
            c, transitions = b.add(u)
            torch.testing.assert_close(c, expected)
            if k == 0:
                assert float(c.abs().max()) == 0.0  # no basis yet
            if j < 3:
                assert transitions is None
                continue
            assert len(transitions) == 2 and transitions[0].shape == (3, 3)
            x = torch.randn(2, 3, generator=g, dtype=torch.float32)
            q_new = b.basis
            for i, n in enumerate(shapes):
                v = x[i] @ q_old[n]  # a vector in the old span
                torch.testing.assert_close(x[i] @ transitions[i], q_new[n] @ v, atol=1e-5, rtol=1e-4)
                rows = q_new[n][q_new[n].norm(dim=1) > 0]
                torch.testing.assert_close(rows @ rows.T, torch.eye(rows.shape[0]), atol=1e-5, rtol=0)
    torch.testing.assert_close(torch.cat([b.ema[n] for n in shapes]), ref)
    # materialise inverts project within the span
    c = b.project({n: torch.randn(s, generator=g) for n, s in shapes.items()})
    d = b.materialise(c)
    torch.testing.assert_close(b.project(d), c, atol=1e-5, rtol=1e-4)


def _state_numel(x) -> int:
    if torch.is_tensor(x):
        return x.numel()
    if isinstance(x, np.ndarray):
        return x.size
    if isinstance(x, dict):
        return sum(_state_numel(v) for v in x.values())
    if isinstance(x, (list, tuple)):
        return sum(_state_numel(v) for v in x)
    return 0


def test_persistent_state_is_at_most_8n_numbers():
    """The dynamics model's N-proportional state (the direction basis) is (basis_size + 2) N <= 8 N
    numbers for models of different sizes N; everything else in its checkpointed state (network,
    optimiser, replay, counters) is the same for all of them, so it does not grow with N."""
    rest = {}
    for width in (8, 32, 96):
        model = nn.Sequential(nn.Linear(width, 4 * width), nn.Linear(4 * width, width), nn.LayerNorm(width))
        N = sum(p.numel() for p in model.parameters())
        rssm = RSSMLite.for_model(model, RSSMConfig(seed=0, basis_window=3, window=4, burn_in=1,
                                                    batch_size=2, update_every=4, replay_size=16))
        names = [n for n, _ in model.named_parameters()]
        g = torch.Generator().manual_seed(0)
        for t in range(14):  # several refreshes and optimisation runs: every buffer is allocated
            upd = {n: 1e-3 * torch.randn(p.shape, generator=g) for n, p in model.named_parameters()}
            rssm.observe(step_features(3.0 - 0.01 * t, 1.0, 1e-3, t, 100, {n: 1.0 for n in names},
                                       {n: float(upd[n].norm()) for n in names}, names=names), upd)
        assert rssm.n_train_steps > 0 and rssm.basis.n_refresh >= 4
        counts = rssm.state_numbers()
        assert counts["n_proportional"] == (rssm.config.basis_size + 2) * N <= 8 * N
        total = _state_numel(rssm.state_dict())  # every tensor and array a checkpoint holds
        assert counts["total"] <= total
        rest[width] = total - counts["n_proportional"]
    assert len(set(rest.values())) == 1, rest
