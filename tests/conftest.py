"""Shared fixtures: a tiny prepared data folder and a tiny study config (seconds to train), and the
smoke study (config/smoke.yaml) run once per test session for every test that reads its results."""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from filelock import FileLock

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


ROOT = Path(__file__).resolve().parents[1]


def pytest_collection_modifyitems(items):
    """The slow (end-to-end) tests first, so that parallel workers (tests/run.sh) start them early
    instead of finishing on one of them alone; but of the tests that read the smoke study, only the
    first runs early (it runs the study), the others last (by then the study has run)."""
    readers = [item for item in items if "smoke_study" in getattr(item, "fixturenames", ())]

    def key(item):
        if item in readers[1:]:
            return 2
        return 0 if item.get_closest_marker("slow") else 1

    items.sort(key=key)


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


@pytest.fixture(scope="session")
def smoke_study(tmp_path_factory) -> Path:
    """``results/smoke`` of the whole DAG on config/smoke.yaml (about 2.5 minutes on 2 cores), run in a
    copy of the workflow so that the repository's results/ stays clean, once per test session: under
    pytest-xdist the workers share one run through a file lock in the session's common folder (the
    first worker to ask runs it, the others wait). A failed run is recorded, so that every reader fails
    at once with its message instead of running the study again."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # shared by the workers of this session
    work = base / "smoke_study"
    with FileLock(str(base / "smoke_study.lock")):
        failed, done = base / "smoke_study.failed", work / ".smoke_study_done"
        if failed.exists():
            pytest.fail(failed.read_text())
        if not done.exists():
            shutil.rmtree(work, ignore_errors=True)
            work.mkdir()
            for name in ("Snakefile", "workflow", "config", "profiles", "envs", "requirements.txt"):
                src = ROOT / name
                (shutil.copytree if src.is_dir() else shutil.copy)(src, work / name)
            proc = subprocess.run([sys.executable, "-m", "snakemake", "--cores", "2", "--configfile",
                                   "config/smoke.yaml"], cwd=work, capture_output=True, text=True)
            if proc.returncode != 0:
                failed.write_text(f"the smoke study failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
                pytest.fail(failed.read_text())
            done.touch()
    return work / "results/smoke"
