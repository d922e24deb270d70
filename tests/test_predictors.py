"""Known-answer tests of the simple predictors and the Exp 2/3 metrics."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from predictive_training.dynamics.scores import delta_metrics, mae_over_range, r2
from predictive_training.dynamics.simple import (
    EMA,
    ema,
    ema_of_deltas,
    last_value,
    linear_extrapolation,
    power_law,
    repeat_previous,
)


def test_last_value():
    p = last_value().fit([0, 1, 2], [3.0, 2.0, 1.5])
    np.testing.assert_array_equal(p.predict([3, 10]), [1.5, 1.5])


def test_ema_known_answer():
    # m = 4 -> 0.5*2 + 0.5*4 = 3 -> 0.5*0 + 0.5*3 = 1.5
    p = ema(0.5).fit([0, 1, 2], [4.0, 2.0, 0.0])
    np.testing.assert_allclose(p.predict([3, 4, 5]), [1.5, 1.5, 1.5])
    with pytest.raises(ValueError, match="alpha"):
        EMA(0.0)


def test_power_law_recovers_exact_curve():
    t = np.arange(0, 200)
    truth = lambda s: 1.0 + 4.0 * (s + 2.0) ** -0.5  # noqa: E731
    p = power_law().fit(t, truth(t))
    assert not p.fallback
    future = np.arange(200, 400, 7)
    np.testing.assert_allclose(p.predict(future), truth(future), rtol=1e-3)


def test_power_law_noisy_curve_and_offset_steps():
    rng = np.random.default_rng(0)
    t = np.arange(100, 1100)  # steps need not start at 0
    truth = 2.0 + 8.0 * (t - 100 + 10.0) ** -0.7
    p = power_law().fit(t, truth + 0.005 * rng.standard_normal(t.size))
    future = np.arange(1100, 1300)
    expected = 2.0 + 8.0 * (future - 100 + 10.0) ** -0.7
    assert np.max(np.abs(p.predict(future) - expected)) < 0.02


def test_power_law_fallback_on_too_few_points():
    p = power_law().fit([0, 1, 2], [3.0, 2.0, 1.0])
    assert p.fallback and "points" in p.fallback_reason
    np.testing.assert_allclose(p.predict([5, 6]), [1.0, 1.0])  # mean of the last 10% (one point)


@pytest.mark.parametrize("steps, losses, word", [
    ([0, 1], [1.0], "same length"),
    ([1, 0], [1.0, 2.0], "increasing"),
    ([0, 1], [1.0, float("nan")], "losses"),
])
def test_loss_predictors_reject_bad_input(steps, losses, word):
    with pytest.raises(ValueError, match=word):
        last_value().fit(steps, losses)


def test_predict_before_fit_raises():
    with pytest.raises(ValueError, match="before fit"):
        power_law().predict([1, 2])


def _d(a, b):
    return {"w": torch.tensor(a, dtype=torch.float32), "b": torch.tensor(b, dtype=torch.float32)}


def test_delta_predictors_known_answers():
    hist = [_d([0.0, 0.0], [1.0]), _d([2.0, 4.0], [1.0]), _d([4.0, 8.0], [3.0])]
    rp = repeat_previous(hist)
    torch.testing.assert_close(rp["w"], torch.tensor([4.0, 8.0]))
    assert rp["w"] is not hist[-1]["w"]
    le = linear_extrapolation(hist)  # 2 * last - previous
    torch.testing.assert_close(le["w"], torch.tensor([6.0, 12.0]))
    torch.testing.assert_close(le["b"], torch.tensor([5.0]))
    torch.testing.assert_close(linear_extrapolation(hist[:1])["w"], torch.tensor([0.0, 0.0]))
    # m = d0 -> 0.5 d1 + 0.5 m -> 0.5 d2 + 0.5 m
    em = ema_of_deltas(hist, alpha=0.5)
    torch.testing.assert_close(em["w"], torch.tensor([2.5, 5.0]))
    torch.testing.assert_close(em["b"], torch.tensor([2.0]))
    torch.testing.assert_close(hist[0]["w"], torch.tensor([0.0, 0.0]))  # history untouched


def test_delta_predictors_reject_bad_history():
    with pytest.raises(ValueError, match="history"):
        repeat_previous([])
    with pytest.raises(ValueError, match="names"):
        linear_extrapolation([{"w": torch.zeros(2)}, {"v": torch.zeros(2)}])
    with pytest.raises(ValueError, match="shape"):
        ema_of_deltas([{"w": torch.zeros(2)}, {"w": torch.zeros(3)}])


def test_mae_over_range_and_r2_known_answers():
    assert mae_over_range([1, 2, 3], [1, 3, 5]) == pytest.approx(0.25)  # mean |err| 1 / range 4
    assert r2([1, 2, 3, 5], [1, 2, 3, 4]) == pytest.approx(0.8)  # 1 - 1/5
    assert r2([2.5] * 4, [1, 2, 3, 4]) == pytest.approx(0.0)
    with pytest.raises(ValueError, match="range"):
        mae_over_range([1, 2], [3, 3])
    with pytest.raises(ValueError, match="constant"):
        r2([1, 2], [3, 3])
    with pytest.raises(ValueError, match="same size"):
        r2([1, 2, 3], [1, 2])


def test_delta_metrics_known_answers():
    pred = {"a": torch.tensor([1.0, 0.0]), "b": torch.tensor([0.0, 1.0])}
    actual = {"a": torch.tensor([1.0, 0.0]), "b": torch.tensor([1.0, 0.0])}
    m = delta_metrics(pred, actual)
    assert m["cosine"] == pytest.approx(0.5)  # (1,0,0,1).(1,0,1,0) / (sqrt2 sqrt2)
    assert m["rel_l2"] == pytest.approx(1.0)  # ||(0,0,-1,1)|| / ||(1,0,1,0)||
    assert m["pearson_r"] == pytest.approx(0.0, abs=1e-12)
    assert m["per_tensor_cosine"] == pytest.approx({"a": 1.0, "b": 0.0})
    assert m["per_layer_accuracy"] == pytest.approx(0.5)


def test_delta_metrics_against_numpy():
    g = torch.Generator().manual_seed(0)
    actual = {f"t{i}": torch.randn(3, 4, generator=g) for i in range(5)}
    pred = {k: 0.8 * v + 0.5 * torch.randn(v.shape, generator=g) for k, v in actual.items()}
    m = delta_metrics(pred, actual)
    p = np.concatenate([v.numpy().ravel() for v in pred.values()]).astype(np.float64)
    a = np.concatenate([v.numpy().ravel() for v in actual.values()]).astype(np.float64)
    assert m["cosine"] == pytest.approx(p @ a / np.linalg.norm(p) / np.linalg.norm(a), rel=1e-9)
    assert m["rel_l2"] == pytest.approx(np.linalg.norm(p - a) / np.linalg.norm(a), rel=1e-9)
    assert m["pearson_r"] == pytest.approx(np.corrcoef(p, a)[0, 1], rel=1e-9)
    cos = {k: float(np.dot(pred[k].numpy().ravel(), actual[k].numpy().ravel())
                    / np.linalg.norm(pred[k].numpy()) / np.linalg.norm(actual[k].numpy())) for k in actual}
    assert m["per_tensor_cosine"] == pytest.approx(cos, rel=1e-5)
    assert m["per_layer_accuracy"] == pytest.approx(np.mean([c > 0.8 for c in cos.values()]))


def test_delta_metrics_zero_and_mismatch():
    zero = {"a": torch.zeros(3)}
    m = delta_metrics(zero, {"a": torch.ones(3)})
    assert m["cosine"] == 0.0 and m["rel_l2"] == pytest.approx(1.0) and math.isnan(m["pearson_r"])
    assert math.isnan(delta_metrics({"a": torch.ones(3)}, zero)["rel_l2"])
    with pytest.raises(ValueError, match="same keys"):
        delta_metrics({"a": torch.ones(3)}, {"b": torch.ones(3)})
    with pytest.raises(ValueError, match="elements"):
        delta_metrics({"a": torch.ones(3)}, {"a": torch.ones(4)})
