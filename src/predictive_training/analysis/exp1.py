"""Experiment 1 (gradient structure) on a baseline run's gradient records; one log per seed.

The analysis itself (cosines, PCA, autocorrelation, the criteria) is :mod:`.gradient_structure`.
"""

from __future__ import annotations

import json
from pathlib import Path

from .gradient_structure import run_experiment1
from .template import log_config, write_log

__all__ = ["run_exp1"]


def run_exp1(cfg: dict, run_dir: str | Path, seed: int, out_path: str | Path) -> dict:
    """Experiment 1 on a baseline run's gradient records."""
    run_dir = Path(run_dir)
    records = run_dir / "snapshots" / "gradients.safetensors"
    if not records.exists():
        raise FileNotFoundError(
            f"{records} is missing: Experiment 1 needs gradient records (config key record.gradients "
            "must be 'exact' or 'sketch')"
        )
    th = cfg["thresholds"]
    res = run_experiment1(
        str(records),
        {
            "mean_cosine": th["exp1_mean_cosine"],
            "pca_top10": th["exp1_pca_top10"],
            "autocorr_alpha": th["alpha"],
            "autocorr_lag": th["exp1_autocorr_lag"],
            "update_pca_top10": th["exp1_update_pca_top10"],
        },
    )
    summary = json.loads((run_dir / "summary.json").read_text())
    return write_log(1, seed, log_config(cfg, summary["n_params"], record_mode=res["mode"]), res, out_path)
