"""Shared fixtures: a tiny prepared data folder and a tiny study config (seconds to train)."""

from __future__ import annotations

import copy

import pytest

from predictive_training import config as config_mod
from predictive_training.data.prepare import prepare

TINY = {
    "study": "tiny",
    "seeds": [0, 1],
    "data": {"source": "synthetic", "synthetic_words": 60000, "vocab_size": 320, "cloze_items": 20},
    "model": {"context": 32, "n_layer": 1, "n_head": 2, "d_model": 32},
    "train": {"steps": 40, "batch_size": 8, "warmup_steps": 5, "eval_every": 10, "eval_batches": 2},
    "record": {"snapshot_every": 10, "gradients": "exact", "progress_every": 20},
}


def pytest_collection_modifyitems(items):
    """The slow (end-to-end) tests first, so that parallel workers (tests/run.sh) start them early
    instead of finishing on one of them alone."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


def swap_builtin(monkeypatch, name: str, factory: str) -> None:
    """Make the built-in predictor ``name`` build from ``factory`` (``module:Class``) for one test: the
    registry is the only place predictors are found, so a test's variant goes there."""
    import dataclasses

    from predictive_training import registry

    spec = dataclasses.replace(registry.BUILTIN[name], factory=factory)
    monkeypatch.setitem(registry.BUILTIN, name, spec)
    monkeypatch.setitem(registry._BY_KIND, spec.kind, spec)


@pytest.fixture
def tiny_cfg() -> dict:
    return config_mod.validate(copy.deepcopy(TINY))


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory):
    out = tmp_path_factory.mktemp("data") / "data"
    prepare(config_mod.validate(copy.deepcopy(TINY)), out)
    return out


@pytest.fixture
def one_thread():
    """One torch thread, as in run_training (threads: 1): tiny models only lose from more."""
    import torch

    have = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(have)
