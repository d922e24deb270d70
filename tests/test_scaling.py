"""The scaling analysis: trends across the grid's studies from their findings, known answers."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from predictive_training import config as config_mod
from predictive_training.report.findings import PER_SEED_COLUMNS, SHADOW_PER_SEED_COLUMNS
from predictive_training.report.scaling import (ScalingError, aggregate, break_even_progress, non_embedding_params,
                                                 paper_phase_cost, point_scale, trend)

ROOT = Path(__file__).resolve().parents[1]


def test_the_grid_configs_validate_and_declare_the_same_rules():
    paths = sorted((ROOT / "config/scaling").glob("*.yaml"))
    assert len(paths) >= 8
    cfgs = {p.stem: config_mod.load(p) for p in paths}
    rules = {json.dumps(c["scaling"]["rule"], sort_keys=True) for c in cfgs.values()}
    lr_rules = {c["scaling"]["lr_rule"] for c in cfgs.values()}
    assert len(rules) == 1 and len(lr_rules) == 1
    arms = {json.dumps(c["arms"], sort_keys=True) for c in cfgs.values()}
    assert len(arms) == 1, "every point runs the same arms"
    base = cfgs["scale_base"]
    assert set(base["scaling"]["axes"]) == {"model", "steps", "batch"}
    for axis in ("model", "steps", "batch"):
        on = [c for c in cfgs.values() if axis in c["scaling"]["axes"]]
        scales = sorted(point_scale(c, axis) for c in on)
        assert len(scales) >= 3 and point_scale(base, axis) in scales
    sizes = sorted(non_embedding_params(c["model"]) for c in cfgs.values() if "model" in c["scaling"]["axes"])
    assert len(sizes) >= 4 and sizes[-1] / sizes[0] >= 8
    assert sum(s > non_embedding_params(base["model"]) for s in sizes) >= 2
    # the declared learning-rate rule, as the configs apply it
    for c in cfgs.values():
        want = 0.003 * 96 / c["model"]["d_model"] * math.sqrt(c["train"]["batch_size"] / 16)
        assert c["train"]["lr"] == pytest.approx(want, rel=1e-5)
        assert c["train"]["warmup_steps"] == round(0.05 * c["train"]["steps"])


def test_non_embedding_parameters_of_the_default_model():
    assert non_embedding_params({"context": 64, "n_layer": 2, "n_head": 4, "d_model": 96}) == 223_872


def test_a_known_trend_and_the_declared_rule():
    x = np.repeat([1.0, 2.0, 4.0, 8.0], 3)
    seed = np.tile([0, 1, 2], 4)
    slopes = {0: -0.011, 1: -0.009, 2: -0.010}
    y = np.array([0.1 + slopes[s] * math.log2(v) for v, s in zip(x, seed)])
    t = trend(x, y, seed, 0.9, "toward_zero", y[x == 1.0])
    assert t["slope"] == pytest.approx(-0.010) and t["seed_slopes"] == pytest.approx(slopes)
    half = 2.919986 * 0.001 / math.sqrt(3)  # t(0.95, 2) x sd / sqrt(n)
    assert (t["ci_low"], t["ci_high"]) == pytest.approx((-0.010 - half, -0.010 + half), rel=1e-5)
    assert t["toward"] == "down" and t["outcome"] == "moves toward zero"
    # the same slope from below the frontier moves away from zero
    t = trend(x, y - 0.2, seed, 0.9, "toward_zero", (y - 0.2)[x == 1.0])
    assert t["outcome"] == "moves away from zero"
    # an interval that covers 0 shows no trend; identical slopes have no interval
    noisy = {0: -0.02, 1: 0.03, 2: -0.01}
    y2 = np.array([0.1 + noisy[s] * math.log2(v) for v, s in zip(x, seed)])
    assert trend(x, y2, seed, 0.9, "toward_zero", y2[x == 1.0])["outcome"] == "no trend shown"
    same = np.array([0.1 - 0.01 * math.log2(v) for v in x])
    assert trend(x, same, seed, 0.9, "toward_zero", same[x == 1.0])["outcome"].startswith("not tested")
    assert trend(x, 0.05 + 0.01 * np.log2(x) * (1 + 0.1 * seed), seed, 0.9, "up")["outcome"] == "grows"


def test_break_even_and_the_paper_scale_cost():
    assert break_even_progress(12.0, 20) == pytest.approx(0.6)
    cal = {"units": {"full_step": {"flops": 300.0}, "forward_batch": {"flops": 100.0}, "observe/rssm": {"flops": 30.0}}}
    cfg = {"train": {"batch_size": 16}, "model": {"context": 64}}
    paper = {"train": {"batch_size": 32}, "model": {"context": 512}}  # 16x the tokens per step
    work = {"full_step": 500, "forward_batch": 36, "observe/rssm": 500}
    # per phase: 36 forward batches (1/3 each) + 500 observes (0.1 each, shrunk 16x), over 2 phases
    assert paper_phase_cost(cal, work, 500, 2, cfg, paper) == pytest.approx((36 / 3 + 500 * 0.1 / 16) / 2)


def _point(root: Path, name: str, model: dict, axes: list[str], gaps: dict, progress: dict) -> Path:
    """A findings folder of a fake grid point: its config under root/config, per-seed gaps and progress."""
    cfg = yaml.safe_load((ROOT / "config/scaling/scale_base.yaml").read_text())
    cfg.update(study=name, model=model)
    cfg["scaling"]["axes"] = axes
    (root / "config").mkdir(exist_ok=True)
    (root / f"config/{name}.yaml").write_text(yaml.safe_dump(cfg))
    folder = root / "findings" / name
    folder.mkdir(parents=True)
    (folder / "findings.json").write_text(json.dumps({"study": name, "config": {"path": f"config/{name}.yaml"}}))
    rows = [{c: None for c in PER_SEED_COLUMNS} | {"arm": "hybrid_r50", "kind": "hybrid", "horizon": 20, "seed": s,
                                                   "measure": m, "gap": g[m]} for s, g in gaps.items()
            for m in ("time", "backward")]
    pd.DataFrame(rows, columns=PER_SEED_COLUMNS).to_csv(folder / "per_seed.csv", index=False)
    rows = [{"predictor": "rssm", "horizon": 20, "seed": s, "n_origins": 7, "progress": -0.5, "progress_search": p}
            for s, p in progress.items()]
    pd.DataFrame(rows, columns=SHADOW_PER_SEED_COLUMNS).to_csv(folder / "shadow_per_seed.csv", index=False)
    return folder


def test_the_aggregation_recovers_a_known_slope(tmp_path):
    widths = {"p48": 48, "p96": 96, "p192": 192}
    slope = {0: -0.02, 1: -0.03, 2: -0.025}  # gap at equal time per doubling of the non-embedding parameters
    folders = []
    for name, d in widths.items():
        model = {"context": 64, "n_layer": 2, "n_head": 4, "d_model": d}
        lx = math.log2(non_embedding_params(model))
        gaps = {s: {"time": 1.0 + slope[s] * lx, "backward": -0.05} for s in slope}
        folders.append(_point(tmp_path, name, model, ["model"], gaps, {s: 0.04 + 0.0 * s for s in slope}))
    (tmp_path / "config/paper.yaml").write_text((ROOT / "config/paper.yaml").read_text())
    out = aggregate(folders, tmp_path / "findings/scaling", tmp_path)
    tr = pd.read_csv(out / "trends.csv")
    row = tr[(tr.axis == "model") & (tr.quantity == "gap_time")].iloc[0]
    assert row.slope == pytest.approx(np.mean(list(slope.values())))
    assert row.outcome == "moves toward zero" and row.n_seeds == 3 and row.points == 3
    assert tr[(tr.quantity == "gap_backward")].iloc[0].outcome.startswith("not tested")  # identical slopes
    assert {"trends.csv", "break_even.csv", "README.md", "scaling.json", "trends.png"} <= {p.name for p in out.iterdir()}
    assert json.loads((out / "scaling.json").read_text())["points"] == list(widths)
    # a point without a scaling block is refused
    cfg = yaml.safe_load((tmp_path / "config/p48.yaml").read_text())
    del cfg["scaling"]
    (tmp_path / "config/p48.yaml").write_text(yaml.safe_dump(cfg))
    with pytest.raises(ScalingError, match="no scaling block"):
        aggregate(folders, tmp_path / "findings/scaling2", tmp_path)
