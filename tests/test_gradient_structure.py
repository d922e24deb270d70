"""Known-answer tests of the Experiment 1 analysis (exact and through the sketch)."""

import json

import numpy as np
import pytest
import torch

from predictive_training.analysis.gradient_structure import (
    DEFAULT_THRESHOLDS,
    adjacent_cosines,
    analyze,
    autocorrelation_test,
    lagged_cosines,
    pca_spectrum,
    run_experiment1,
    window_pca,
)
from predictive_training.records.gradients import read_records, write_records
from predictive_training.records.sketch import GradientSketch


def _ar_stream(T, D, rho, seed):
    """g_t = rho g_{t-1} + sqrt(1 - rho^2) e_t, stationary: cos(g_t, g_{t+k}) ~ rho^k."""
    rng = np.random.default_rng(seed)
    X = np.empty((T, D), dtype=np.float32)
    X[0] = rng.standard_normal(D)
    for t in range(1, T):
        X[t] = rho * X[t - 1] + np.sqrt(1 - rho**2) * rng.standard_normal(D)
    return X


def _sketch_rows(X, k, seed=0):
    sk = GradientSketch(X.shape[1], k, seed=seed)
    return torch.stack([sk.project(torch.from_numpy(np.ascontiguousarray(r))) for r in X])


def test_adjacent_cosine_exact_and_sketched():
    rho, T = 0.8, 200
    X = _ar_stream(T, 20_000, rho, seed=0)
    exact = analyze(X, np.arange(T))
    assert exact["adjacent_cosine"]["mean"] == pytest.approx(rho, abs=0.02)
    sketched = analyze(_sketch_rows(X, 1024), np.arange(T))
    assert sketched["adjacent_cosine"]["mean"] == pytest.approx(rho, abs=0.02)
    assert sketched["adjacent_cosine"]["mean"] == pytest.approx(
        exact["adjacent_cosine"]["mean"], abs=0.02)
    # lagged cosines decay like rho^k
    lag = np.array(exact["lagged_cosine"]["mean"])
    assert exact["lagged_cosine"]["lags"][:3] == [1, 2, 3]
    assert lag[:5] == pytest.approx(rho ** np.arange(1, 6), abs=0.03)
    assert np.abs(lag[20:]).max() < 0.05
    # phases and histogram present and consistent
    ac = exact["adjacent_cosine"]
    assert [p["phase"] for p in ac["phases"]] == ["first", "middle", "last"]
    assert sum(p["n"] for p in ac["phases"]) == T - 1
    assert sum(ac["histogram"]["counts"]) == T - 1
    assert len(ac["values"]) == T - 1


def test_cosine_functions_handle_zero_rows():
    X = np.array([[1.0, 0.0], [0.0, 0.0], [1.0, 1.0], [2.0, 2.0]], dtype=np.float32)
    c = adjacent_cosines(X)
    assert np.isnan(c[0]) and np.isnan(c[1]) and c[2] == pytest.approx(1.0)
    assert lagged_cosines(X, max_lag=2)[1] == pytest.approx(np.sqrt(0.5))  # the zero row is skipped
    res = analyze(X, np.arange(4), max_lag=3, window=2, stride=1)
    assert res["adjacent_cosine"]["n_undefined"] == 2
    assert res["adjacent_cosine"]["mean"] == pytest.approx(1.0)


def _low_rank_stream(T, D, variances, noise_var_total, seed):
    """Centred rank-r stream with exact component variances plus isotropic noise."""
    rng = np.random.default_rng(seed)
    r = len(variances)
    U, _ = np.linalg.qr(rng.standard_normal((T, r)) - 0.0)
    U = U - U.mean(axis=0)  # centred time courses
    U, _ = np.linalg.qr(U)
    V, _ = np.linalg.qr(rng.standard_normal((D, r)))
    signal = U @ np.diag(np.sqrt(variances)) @ V.T
    noise = rng.standard_normal((T, D)) * np.sqrt(noise_var_total / (T * D))
    return (signal + noise + 3.0 * rng.standard_normal(D) / np.sqrt(D)).astype(np.float32)


def test_pca_top10_known_rank():
    T, D = 200, 5000
    X = _low_rank_stream(T, D, [5.0, 3.0, 1.0], noise_var_total=1.0, seed=1)
    # signal share 9/10; the 7 further components take at most ~7*1.5/199 of the noise.
    res = pca_spectrum(X)
    assert res["centered"] is True
    assert 0.895 < res["top_share"] < 0.91
    ratio = res["explained_ratio"]
    assert ratio.sum() == pytest.approx(1.0)
    assert np.all(np.diff(ratio) <= 1e-12)
    assert ratio[:3] == pytest.approx([0.5, 0.3, 0.1], abs=0.01)
    # through the sketch (T = 200 rows, k = 1024): within 0.02
    sk = analyze(_sketch_rows(X, 1024), np.arange(T))
    assert sk["pca"]["top_share"] == pytest.approx(res["top_share"], abs=0.02)


def test_pca_isotropic_noise_small_share_and_routes_agree():
    rng = np.random.default_rng(2)
    T, D = 200, 5000
    X = rng.standard_normal((T, D)).astype(np.float32)
    share = pca_spectrum(X)["top_share"]
    assert share < 0.1  # ~10 * (1 + sqrt(T/D))^2 / (T - 1) = 0.07
    # Gram route (T <= D) and covariance route (T > D) both equal the SVD of the centred matrix.
    for Y in (X[:, :300], X[:, :150]):
        Yc = Y.astype(np.float64) - Y.mean(axis=0)
        s2 = np.linalg.svd(Yc, compute_uv=False) ** 2
        got = pca_spectrum(Y)["explained_ratio"]
        assert got[: len(s2)] == pytest.approx(s2 / s2.sum(), abs=1e-6)


def test_centred_versus_uncentred():
    # A large persistent mean direction plus isotropic noise: uncentred PCA credits the mean,
    # centred PCA (the criterion) does not.
    rng = np.random.default_rng(3)
    T, D = 150, 2000
    X = (5.0 * np.ones(D) / np.sqrt(D) + rng.standard_normal((T, D)) / np.sqrt(D)).astype(np.float32)
    res = analyze(X, np.arange(T), window=50, stride=25)
    assert res["pca"]["top_share"] < 0.15
    assert res["pca"]["top_share_uncentred"] > 0.9
    assert res["adjacent_cosine"]["mean"] == pytest.approx(25 / 26, abs=0.02)
    wins = res["pca_windows"]["windows"]
    assert [w["start_step"] for w in wins] == [0, 25, 50, 75, 100]
    assert all(w["end_step"] - w["start_step"] == 49 for w in wins)


def test_window_pca_detects_rank_change():
    rng = np.random.default_rng(4)
    D = 400
    low = rng.standard_normal((100, 2)) @ rng.standard_normal((2, D))
    high = rng.standard_normal((100, D))
    X = np.vstack([low + 0.01 * rng.standard_normal((100, D)), high]).astype(np.float32)
    wins = window_pca(X, window=50, stride=50)
    shares = [w["top_share"] for w in wins]
    assert len(shares) == 4
    assert min(shares[:2]) > 0.99 and max(shares[2:]) < 0.5


def _persistent_stream(T, D, phi, seed, noise=0.5):
    rng = np.random.default_rng(seed)
    a = np.empty(T)
    a[0] = rng.standard_normal() / np.sqrt(1 - phi**2)
    for t in range(1, T):
        a[t] = phi * a[t - 1] + rng.standard_normal()
    v = rng.standard_normal(D)
    return (a[:, None] * v[None, :] + noise * rng.standard_normal((T, D))).astype(np.float32)


def _lag_memory(T, m, a, L, rng, burn=500):
    """m independent series x_t = a x_{t-L} + e_t: rho_L = a, rho_k = 0 for 0 < k < L."""
    x = np.zeros((T + burn, m))
    e = rng.standard_normal((T + burn, m))
    for t in range(T + burn):
        x[t] = (a * x[t - L] if t >= L else 0.0) + e[t]
    return x[burn:]


def test_a_trend_plus_white_noise_is_not_autocorrelated_at_lag_50():
    """Known answer: a drifting score with no memory is not 'autocorrelated at lag 50'.
    Without detrending (the old test) every one of these trends passed."""
    T, t = 1000, np.arange(1000)
    rng = np.random.default_rng(3)
    trends = {"linear": 8 * t / T, "exponential decay": 4 * np.exp(-t / 200), "quadratic": 6 * (t / T - 0.4) ** 2,
              "square root": 5 * np.sqrt(t / T)}
    for name, trend in trends.items():
        x = trend + rng.standard_normal(T)
        res = autocorrelation_test(x, max_lag=50)
        assert res["significant_at_lag"] is False, name
        assert res["series"][0]["trend_share"] > 0.1, name  # the trend was there, and removed
        assert autocorrelation_test(x, max_lag=50, detrend_order=None)["significant_at_lag"] is True, name
    # the same through the whole analysis: a gradient stream whose leading component only drifts
    v = rng.standard_normal(200)
    X = (np.outer(8 * t / T, v) + rng.standard_normal((T, 200))).astype(np.float32)
    ac = analyze(X, t)["autocorrelation"]
    assert ac["significant_at_lag"] is False and ac["detrend"].startswith("least-squares polynomial")
    assert ac["series"][0]["acf_lag_raw"] > 0.5  # what the old test saw


def test_real_lag_50_memory_is_detected_through_a_trend():
    """Known answer: x_t = 0.4 x_{t-50} + e_t has rho_50 = 0.4, and a trend on top does not hide it."""
    T = 1000
    rng = np.random.default_rng(4)
    x = _lag_memory(T, 1, 0.4, 50, rng)[:, 0]
    for series in (x, x + 6 * np.arange(T) / T):
        res = autocorrelation_test(series, max_lag=50)
        assert res["significant_at_lag"] is True
        assert res["series"][0]["acf_lag"] == pytest.approx(0.4, abs=0.12)


def test_autocorrelation_detects_persistence_at_lag_50():
    phi = 0.98  # true lag-50 autocorrelation 0.98^50 = 0.36
    for seed in range(3):
        res = analyze(_persistent_stream(3000, 64, phi, seed), np.arange(3000))["autocorrelation"]
        assert res["evaluable"] is True
        assert res["significant_at_lag"] is True
        assert res["ljung_box_significant"] is True
        lead = res["series"][0]
        assert lead["acf_lag"] == pytest.approx(phi**50, abs=0.2)
        assert len(lead["acf"]) == 51 and len(lead["bartlett_bound"]) == 50


@pytest.mark.parametrize("phi", [0.8, 0.9])
def test_short_memory_is_autocorrelated_but_not_at_lag_50(phi):
    # strongly autocorrelated at small lags (Ljung-Box rejects) but rho_50 = phi^50 (1e-5; 0.005)
    res = analyze(_persistent_stream(3000, 64, phi, seed=5), np.arange(3000))["autocorrelation"]
    assert res["ljung_box_significant"] is True
    assert res["significant_at_lag"] is False


@pytest.mark.slow
def test_white_noise_false_positive_rate():
    lag_hits, lb_hits = 0, 0
    for seed in range(20):
        X = np.random.default_rng(100 + seed).standard_normal((300, 100)).astype(np.float32)
        res = analyze(X, np.arange(300))["autocorrelation"]
        lag_hits += res["significant_at_lag"]
        lb_hits += res["ljung_box_significant"]
    # family-wise level 0.05 per run: P(>= 4 of 20) = 0.016 under the null
    assert lag_hits <= 3
    assert lb_hits <= 3


def test_autocorrelation_not_evaluable_on_short_runs():
    res = autocorrelation_test(np.random.default_rng(0).standard_normal((60, 2)), max_lag=50)
    assert res["evaluable"] is False and res["significant_at_lag"] is None
    with pytest.raises(ValueError, match="alpha"):
        autocorrelation_test(np.zeros((200, 1)), alpha=1.5)


def test_records_roundtrip_exact_keeps_tiny_gradients(tmp_path):
    rng = np.random.default_rng(0)
    T, D = 12, 40
    grad = torch.from_numpy(rng.standard_normal((T, D))) * 1e-9  # float16 alone would flush these
    upd = torch.from_numpy(rng.standard_normal((T, D))) * 1e-3
    p = tmp_path / "rec" / "grads.safetensors"
    write_records(p, torch.arange(T) * 2, grad, upd, {"mode": "exact", "n_params": D, "seed": 7,
                                                      "model": "tiny"})
    rec = read_records(p)
    assert rec["grad"].dtype == torch.float16 and rec["meta"]["mode"] == "exact"
    assert rec["meta"]["dim"] == D and rec["meta"]["seed"] == 7 and rec["meta"]["model"] == "tiny"
    back = rec["grad"].double() * rec["grad_scale"].double()[:, None]
    assert torch.allclose(back, grad, rtol=2e-3, atol=0)
    assert rec["steps"].tolist() == list(range(0, 2 * T, 2))
    # the analysis with row scales equals the analysis of the float64 matrix
    a = analyze(rec["grad"], rec["steps"], row_scale=rec["grad_scale"], max_lag=5, window=6, stride=3)
    b = analyze(grad.numpy(), rec["steps"], max_lag=5, window=6, stride=3)
    assert a["pca"]["top_share"] == pytest.approx(b["pca"]["top_share"], abs=1e-3)
    assert a["adjacent_cosine"]["mean"] == pytest.approx(b["adjacent_cosine"]["mean"], abs=1e-3)


def test_write_records_rejects_bad_input(tmp_path):
    g = torch.zeros(3, 4)
    ok = {"mode": "sketch", "n_params": 100, "seed": 0}
    with pytest.raises(ValueError, match="mode"):
        write_records(tmp_path / "a", [0, 1, 2], g, g, {**ok, "mode": "dense"})
    with pytest.raises(ValueError, match="update"):
        write_records(tmp_path / "a", [0, 1, 2], g, torch.zeros(3, 5), ok)
    with pytest.raises(ValueError, match="steps"):
        write_records(tmp_path / "a", [0, 2, 1], g, g, ok)
    with pytest.raises(ValueError, match="n_params"):
        write_records(tmp_path / "a", [0, 1, 2], g, g, {"mode": "exact", "n_params": 5, "seed": 0})
    with pytest.raises(ValueError, match="seed"):
        write_records(tmp_path / "a", [0, 1, 2], g, g, {"mode": "sketch", "n_params": 5})
    bad = g.clone()
    bad[1, 1] = float("nan")
    with pytest.raises(ValueError, match="non-finite"):
        write_records(tmp_path / "a", [0, 1, 2], bad, g, ok)
    with pytest.raises(ValueError, match="records_path"):
        read_records(tmp_path / "missing.safetensors")


@pytest.mark.slow
def test_run_experiment1_criteria_sketch_mode(tmp_path):
    T, n, k = 1000, 2000, 512
    # gradients: persistent low-dimensional drift -> high cosine, concentrated spectrum,
    # memory at lag 50; updates: pure noise -> update PCA criterion fails.
    rng = np.random.default_rng(0)
    base = rng.standard_normal(n)
    # three components with real lag-50 memory (a_t = 0.5 a_{t-50} + e_t; a random walk would be
    # a trend, which the detrended test rightly does not count)
    drift = _lag_memory(T, 3, 0.5, 50, rng) @ rng.standard_normal((3, n)) * 0.3
    grads = (base[None, :] * 10 + drift + 0.3 * rng.standard_normal((T, n))).astype(np.float32)
    upd = rng.standard_normal((T, n)).astype(np.float32)
    sk = GradientSketch(n, k, seed=9)
    G = torch.stack([sk.project(torch.from_numpy(r)) for r in grads])
    U = torch.stack([sk.project(torch.from_numpy(r)) for r in upd])
    p = tmp_path / "g.safetensors"
    write_records(p, np.arange(T), G, U, {"mode": "sketch", "n_params": n, "seed": 9})
    out = run_experiment1(str(p), {})
    json.dumps(out, allow_nan=False)  # strictly JSON-serialisable
    assert out["mode"] == "sketch"
    crit = out["criteria"]
    assert set(crit) == {"mean_cosine", "pca_top10", "autocorr_lag50", "update_pca_top10"}
    assert crit["mean_cosine"]["threshold"] == DEFAULT_THRESHOLDS["mean_cosine"] == 0.7
    assert crit["mean_cosine"]["passed"] is True
    assert crit["pca_top10"]["passed"] is True
    assert crit["autocorr_lag50"]["passed"] is True and crit["autocorr_lag50"]["threshold"] == 0.05
    assert crit["update_pca_top10"]["passed"] is False
    assert crit["update_pca_top10"]["threshold"] == 0.8
    # the same stream, exact, agrees with the sketch on the headline numbers
    exact = analyze(grads, np.arange(T))
    assert out["gradients"]["adjacent_cosine"]["mean"] == pytest.approx(
        exact["adjacent_cosine"]["mean"], abs=0.02)
    assert out["gradients"]["pca"]["top_share"] == pytest.approx(exact["pca"]["top_share"], abs=0.02)
    # stricter threshold flips the verdict; unknown threshold keys are rejected
    strict = run_experiment1(str(p), {"mean_cosine": 0.999})
    assert strict["criteria"]["mean_cosine"]["passed"] is False
    with pytest.raises(ValueError, match="unknown"):
        run_experiment1(str(p), {"cosine": 0.5})


def test_clip_factors_are_recorded_and_exp1_reports_both_streams(tmp_path):
    """Records hold the raw gradient and each row's clip factor; Exp 1's criteria use the raw
    stream and report clipping and the clipped stream's estimates beside them."""
    T, D = 120, 300
    rng = np.random.default_rng(5)
    raw = rng.standard_normal((T, D)).astype(np.float32)
    raw[:20] *= 30  # large early gradients: clipped
    norms = np.linalg.norm(raw, axis=1)
    coef = np.minimum(1.0, 20.0 / (norms + 1e-6)).astype(np.float32)
    p = tmp_path / "c.safetensors"
    write_records(p, np.arange(T), raw, raw * 0.01, {"mode": "exact", "n_params": D, "seed": 0}, clip_coef=coef)
    rec = read_records(p)
    assert torch.allclose(rec["clip_coef"], torch.from_numpy(coef))
    out = run_experiment1(str(p), {"autocorr_lag": 10})
    assert out["gradients_are"] == "raw (pre-clipping)"
    clip = out["clipping"]
    assert clip["n_clipped"] == int((coef < 1).sum()) == 20 and clip["share_clipped"] == pytest.approx(20 / T)
    assert clip["clip_coef_min"] == pytest.approx(float(coef.min()), rel=1e-5)
    # the raw stream is dominated by the 20 large rows; clipped, they weigh like the rest
    assert out["criteria"]["pca_top10"]["estimate"] > clip["clipped_stream"]["pca_top10"] + 0.2
    assert clip["clipped_stream"]["mean_cosine"] == pytest.approx(out["criteria"]["mean_cosine"]["estimate"], abs=1e-6)
    with pytest.raises(ValueError, match="clip_coef"):
        write_records(p, np.arange(T), raw, raw, {"mode": "exact", "n_params": D, "seed": 0}, clip_coef=coef[:5])
    # a record file without clip factors (older runs) still reads, and says so
    write_records(tmp_path / "old.safetensors", np.arange(T), raw, raw, {"mode": "exact", "n_params": D, "seed": 0})
    old = run_experiment1(str(tmp_path / "old.safetensors"), {"autocorr_lag": 10})
    assert old["clipping"] is None and old["gradients_are"].startswith("as recorded")


def test_run_experiment1_short_run_autocorr_not_evaluable(tmp_path):
    T, D = 30, 50
    X = _ar_stream(T, D, 0.9, seed=1)
    p = tmp_path / "e.safetensors"
    write_records(p, np.arange(T), X, X * 0.1, {"mode": "exact", "n_params": D, "seed": 0})
    out = run_experiment1(str(p))
    assert out["mode"] == "exact"
    assert out["criteria"]["autocorr_lag50"]["passed"] is None
    assert out["criteria"]["autocorr_lag50"]["evaluable"] is False
    assert out["criteria"]["mean_cosine"]["estimate"] == pytest.approx(0.9, abs=0.05)


def test_analyze_bad_input():
    with pytest.raises(ValueError, match="X"):
        analyze(np.zeros(5), np.arange(5))
    with pytest.raises(ValueError, match="steps"):
        analyze(np.ones((5, 3), dtype=np.float32), np.arange(4))
    with pytest.raises(ValueError, match="n_components"):
        analyze(np.ones((5, 3), dtype=np.float32), np.arange(5), n_components=0)
    with pytest.raises(ValueError, match="window"):
        analyze(np.ones((5, 3), dtype=np.float32), np.arange(5), window=1)
