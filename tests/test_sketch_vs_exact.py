"""Exp 1 on the default model: sketched records agree with exact ones (issue: within 0.02)."""

import copy

import pytest
import torch

from predictive_training import config as config_mod
from predictive_training.data.prepare import TokenData, prepare
from predictive_training.analysis.gradient_structure import analyze
from predictive_training.records.gradients import read_records
from predictive_training.training.loop import Trainer
from predictive_training.training.observers import GradientRecorder


@pytest.mark.slow
def test_default_model_sketch_agrees_with_exact(tmp_path):
    cfg = config_mod.load("config/config.yaml")
    cfg["data"]["synthetic_words"] = 300_000  # enough text for 200 steps; the model is the default one
    cfg["train"].update(steps=200, eval_every=200)
    torch.set_num_threads(1)
    prepare(copy.deepcopy(cfg), tmp_path / "data")
    data = TokenData(tmp_path / "data")
    for name in ("exact", "sketch"):
        (tmp_path / name).mkdir()
    exact = GradientRecorder(tmp_path / "exact", "exact", 1, 0, 0)
    sketch = GradientRecorder(tmp_path / "sketch", "sketch", 1, cfg["record"]["sketch_dim"], 0)
    Trainer(cfg, data, "baseline", 0, [exact, sketch]).run()
    res = {}
    for name in ("exact", "sketch"):
        rec = read_records(tmp_path / name / "snapshots" / "gradients.safetensors")
        res[name] = analyze(rec["grad"], rec["steps"], row_scale=rec["grad_scale"], max_lag=20)
    assert res["exact"]["dim"] > 400_000 and res["sketch"]["dim"] == cfg["record"]["sketch_dim"]
    cos = [res[k]["adjacent_cosine"]["mean"] for k in ("exact", "sketch")]
    pca = [res[k]["pca"]["top_share"] for k in ("exact", "sketch")]
    assert abs(cos[0] - cos[1]) < 0.02, cos
    assert abs(pca[0] - pca[1]) < 0.02, pca
