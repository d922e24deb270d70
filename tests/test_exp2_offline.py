"""Experiment 2's offline fit (analysis/exp2_offline.py): the RSSM-lite trained offline on a recorded
loss curve with known parameters."""

from __future__ import annotations

import numpy as np
import pytest

from predictive_training.analysis.exp2_offline import fit_offline
from predictive_training.dynamics.rssm import LOSS_COL, N_GLOBAL_FEATURES, RSSMConfig, RSSMLite
from predictive_training.dynamics.scores import r2
from predictive_training.dynamics.simple import last_value


@pytest.mark.slow
def test_known_answer_exponential_loss_curve():
    """a + b exp(-t/tau) + noise, fitted offline on the first 80% (three noise and model seeds, so
    that no single draw decides): held-out R^2 > 0.9 in the median, > 0.8 in every one."""
    T, tau, noise = 400, 250.0, 0.01
    t = np.arange(T)
    n_train = int(0.8 * T)
    scores = {}
    for s in range(3):
        rng = np.random.default_rng(s)
        loss = 2.0 + 3.0 * np.exp(-t / tau) + noise * rng.standard_normal(T)
        feats = np.zeros((T, N_GLOBAL_FEATURES))
        feats[:, LOSS_COL] = loss
        feats[:, 2] = 1e-3
        feats[:, 3] = t / T
        held = loss[n_train:]
        # the held-out part varies well beyond the noise, and flat extrapolation fails on it
        assert held.max() - held.min() > 15 * noise
        assert r2(last_value().fit(t[:n_train], loss[:n_train]).predict(t[n_train:]), held) < 0
        rssm = RSSMLite(N_GLOBAL_FEATURES, None, RSSMConfig(seed=s))
        history = fit_offline(rssm, feats[:n_train], epochs=8)
        assert len(history) == 8 and history[-1]["best"] and history[-1]["val"] is None
        if s == 0:  # the validation variant: restarts, early stopping, the best epoch's weights kept
            val = RSSMLite(N_GLOBAL_FEATURES, None, RSSMConfig(seed=s, fit_val_frac=0.2, fit_restarts=2))
            h = fit_offline(val, feats[:n_train], epochs=4)
            assert {e["restart"] for e in h} == set(range(val.config.fit_restarts))
            assert all(e["val"] is not None for e in h) and sum(e["best"] for e in h) == 1
            assert next(e for e in h if e["best"])["val"] == min(e["val"] for e in h)
        r = rssm.rollout(T - n_train, n_samples=16, seed=1)
        assert r.delta == {}
        scores[s] = r2(r.loss_mean, held)
    assert np.median(list(scores.values())) > 0.9 and min(scores.values()) > 0.8, scores
