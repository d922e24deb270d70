"""The per-layer line search after a Predict phase (dynamics/corrector.py): known answers, learning
each group's scale, and decisions only on evidence over batches."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from predictive_training.dynamics.corrector import LayerwiseLineSearch, layer_groups


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
