"""Every predictor's state is at most 8 x N float32 numbers (N = model parameters).

Counted through the predictor's public state (``state_dict``) and through what the object keeps
alive (``held_numbers``), at two model widths: a state is affine in N at a fixed number of
tensors, so the slope (numbers per parameter) must stay below 8, and the count extrapolated to the
paper model must be at most 8 N there (``plan`` measures it at the config's own scale).
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from predictive_training import config as config_mod
from predictive_training.dynamics.footprint import STATE_BOUND, held_numbers, state_numbers, within_bound
from predictive_training.dynamics.protocol import Observation
from predictive_training.dynamics.simple import RepeatPredictor
from predictive_training.training.calibrate import RandomTokens
from predictive_training.training.hybrid import HybridTrainer
from predictive_training.training.plan import settle

pytestmark = pytest.mark.usefixtures("one_thread")
PAPER_N = 98_032_128  # config/paper.yaml


def test_counts_known_answers():
    a = torch.zeros(10)
    state = {"a": a, "view": a[2:5], "b": torch.zeros(4, 5, dtype=torch.bfloat16), "n": np.zeros(6),
             "nested": [{"c": torch.zeros(3)}], "x": 1.5, "s": "text"}

    class P:
        def state_dict(self):
            return state

    c = state_numbers(P())
    # a (10, its view is the same storage), b (20 bf16 = 10 float32), n (6 float64 = 12 float32), c (3)
    assert c["numbers"] == 10 + 20 + 6 + 3
    assert c["bytes"] == 40 + 40 + 48 + 12 and c["fp32_equivalent"] == 35
    params = [torch.zeros(7)]

    class Q:
        def __init__(self):
            self.params = {"w": params[0]}  # the model's own tensor: not the predictor's
            self.buf = torch.zeros(5)
            self.ring = [torch.zeros(2, dtype=torch.bfloat16)]

    h = held_numbers(Q(), exclude=params)
    assert h["numbers"] == 7 and h["fp32_equivalent"] == 6
    assert within_bound(h, n_params=1) is True and within_bound({"fp32_equivalent": 9}, 1) is False


def test_repeat_predictor_holds_bf16_updates_beyond_seven_and_their_exact_sum():
    g = torch.Generator().manual_seed(0)
    ups = [{"w": torch.randn(1000, generator=g) * 1e-3} for _ in range(15)]
    for window, dtype in ((7, torch.float32), (10, torch.bfloat16)):
        p = RepeatPredictor(window)
        for t, u in enumerate(ups):
            p.observe(Observation(t, 100, 2.0, 1.0, 1e-3, {"w": 1.0}, u))
        assert all(r["w"].dtype == dtype for r in p.recent) and p.total["w"].dtype == torch.float32
        exact = sum(u["w"] for u in ups[-window:]) * (5 / window)
        got = p.rollout(5, [1e-3] * 5, 0).delta["w"]
        # the mean of the stored updates: exact in float32, within bfloat16 rounding (2^-9 relative) in bf16
        tol = 1e-6 if dtype == torch.float32 else 2 ** -8
        assert float((got - exact).abs().max()) <= tol * float(exact.abs().max())
        assert state_numbers(p)["fp32_equivalent"] <= STATE_BOUND * 1000


def _counts(kind: str, d_model: int) -> tuple[int, dict, dict]:
    cfg = config_mod.validate({"model": {"d_model": d_model}, "train": {"eval_every": 10**6}})
    arm = {"hybrid": "hybrid_r50", "skip": "skip_r50", "repeat": "repeat_r50"}[kind]
    tr = HybridTrainer(copy.deepcopy(cfg), RandomTokens(cfg["data"]["vocab_size"], 20_000), arm, 0)
    tr.full_step(__import__("predictive_training.training.loop", fromlist=["Phase"]).Phase.FULL)
    _, state, held = settle(tr)  # observed until the state stops growing; the largest counts of a period
    return tr.model.n_params(), state, held


@pytest.mark.parametrize("kind", [
    "hybrid",
    "skip",
    "repeat",
])
def test_predictor_state_is_at_most_8n(kind):
    """At two widths of the default model (N = 0.18M and 0.43M): the state's growth per parameter is
    at most 8, and the count extrapolated to the paper model (98M parameters, the same tensors per
    block) is at most 8 N. (At 0.4M parameters the RSSM's fixed parts, its network and a replay of
    1,024 steps, are still about one N; at paper scale they vanish.)"""
    (n1, s1, h1), (n2, s2, h2) = _counts(kind, 48), _counts(kind, 96)
    for name, c1, c2 in (("persistent", s1, s2), ("held", h1, h2)):
        slope = (c2["fp32_equivalent"] - c1["fp32_equivalent"]) / (n2 - n1)
        assert slope <= STATE_BOUND, f"{kind}: {name} state grows by {slope:.2f} float32 numbers per parameter"
        at_paper = c2["fp32_equivalent"] + slope * (PAPER_N - n2)
        assert at_paper <= STATE_BOUND * PAPER_N, f"{kind}: {name} state {at_paper / PAPER_N:.2f} N at paper scale"
