"""Known-answer tests of the streaming gradient sketch (block CountSketch)."""

import math

import numpy as np
import pytest
import torch

from predictive_training.records.sketch import GradientSketch


def _randn(n, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, generator=g)


def test_norms_and_inner_products_within_jl_error():
    n, k = 100_000, 1024
    sk = GradientSketch(n, k, seed=0)
    xs = [_randn(n, s) for s in range(40)]
    ys = [0.6 * x + 0.8 * _randn(n, 1000 + s) for s, x in enumerate(xs)]  # cos ~ 0.6
    rel_norm = []
    ip_z = []
    for x, y in zip(xs, ys):
        sx, sy = sk.project(x).double(), sk.project(y).double()
        xd, yd = x.double(), y.double()
        rel_norm.append(float(sx.dot(sx) / xd.dot(xd) - 1.0))
        ip = float(xd.dot(yd))
        # CountSketch variance of <Sx,Sy> is at most that of a Gaussian sketch.
        sd = math.sqrt((float(xd.dot(xd)) * float(yd.dot(yd)) + ip**2) / k)
        ip_z.append((float(sx.dot(sy)) - ip) / sd)
    rel_norm = np.array(rel_norm)
    ip_z = np.array(ip_z)
    # ||Sx||^2/||x||^2 - 1 has standard deviation ~ sqrt(2/k) = 0.044.
    assert abs(rel_norm.mean()) < 3 * math.sqrt(2 / k) / math.sqrt(len(rel_norm))
    assert 0.6 * math.sqrt(2 / k) < rel_norm.std() < 1.4 * math.sqrt(2 / k)
    assert np.abs(rel_norm).max() < 5 * math.sqrt(2 / k)
    # inner-product errors, in units of the Gaussian-JL standard deviation
    assert abs(ip_z.mean()) < 3 / math.sqrt(len(ip_z))
    assert ip_z.std() < 1.3
    assert np.abs(ip_z).max() < 4.5


def test_unbiased_over_seeds_with_several_hashes():
    # E_seed <Sx, Sy> = <x, y>: average over many independent sketches of a small problem.
    n, k = 64, 8
    x, y = _randn(n, 1).double(), _randn(n, 2).double()
    for n_hashes in (1, 4):
        est = []
        for seed in range(3000):
            sk = GradientSketch(n, k, seed=seed, n_hashes=n_hashes)
            est.append(float(sk.project(x).double().dot(sk.project(y).double())))
        est = np.array(est)
        se = est.std() / math.sqrt(len(est))
        assert abs(est.mean() - float(x.dot(y))) < 4 * se


def test_single_coordinate_norm_exact():
    # A vector with one nonzero coordinate never collides with itself: norm is exact.
    sk = GradientSketch(1000, 64, seed=3, n_hashes=4)
    x = torch.zeros(1000)
    x[123] = 2.5
    assert float(sk.project(x).norm()) == pytest.approx(2.5, rel=1e-6)


def test_deterministic_in_seed():
    n, k = 50_000, 256
    x = _randn(n, 7)
    a = GradientSketch(n, k, seed=11).project(x)
    b = GradientSketch(n, k, seed=11).project(x)
    c = GradientSketch(n, k, seed=12).project(x)
    assert a.dtype == torch.float32 and a.shape == (k,)
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)


def test_project_chunks_equals_project_of_concatenation():
    shapes = [(300, 17), (17,), (5, 6, 7), (1,), (4000,)]
    chunks = [_randn(int(np.prod(s)), i).reshape(s) for i, s in enumerate(shapes)]
    n = sum(c.numel() for c in chunks)
    sk = GradientSketch(n, 128, seed=5, n_hashes=2)
    full = sk.project(torch.cat([c.reshape(-1) for c in chunks]))
    parts = sk.project_chunks(iter(chunks))  # any iterable, consumed once
    assert torch.allclose(full, parts, rtol=1e-6, atol=1e-5)
    # float16 chunks are accepted (projected in float32)
    half = sk.project_chunks(c.half() for c in chunks)
    ref = sk.project(torch.cat([c.reshape(-1).half().float() for c in chunks]))
    assert torch.allclose(half, ref, rtol=1e-6, atol=1e-5)


def test_memory_linear_in_n_and_under_4gb_at_100m():
    small = GradientSketch(10_000, 1024, seed=0)
    double = GradientSketch(20_000, 1024, seed=0)
    assert small.nbytes == GradientSketch.buffer_bytes(10_000, 1024)
    assert double.nbytes == 2 * small.nbytes
    four = GradientSketch(10_000, 1024, seed=0, n_hashes=4)
    assert four.nbytes == GradientSketch.buffer_bytes(10_000, 1024, n_hashes=4) == 4 * small.nbytes
    # 100M parameters: 4 bytes per parameter and hash (400 MB with one hash).
    assert GradientSketch.buffer_bytes(100_000_000, 4096) == 400_000_000
    assert GradientSketch.buffer_bytes(100_000_000, 4096, n_hashes=4) < 4 * 2**30


def test_bad_input_raises():
    with pytest.raises(ValueError, match="n"):
        GradientSketch(0, 16, seed=0)
    with pytest.raises(ValueError, match="k"):
        GradientSketch(10, 0, seed=0)
    with pytest.raises(ValueError, match="divisible"):
        GradientSketch(10, 10, seed=0, n_hashes=3)
    sk = GradientSketch(10, 4, seed=0)
    with pytest.raises(ValueError, match="flat"):
        sk.project(torch.zeros(11))
    with pytest.raises(ValueError, match="flat"):
        sk.project(torch.zeros(10, dtype=torch.int64))
    with pytest.raises(ValueError, match="expected n"):
        sk.project_chunks([torch.zeros(4), torch.zeros(5)])
    with pytest.raises(ValueError, match="more than n"):
        sk.project_chunks([torch.zeros(8), torch.zeros(5)])
