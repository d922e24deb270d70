"""The runs table: one row per (arm, seed) from each run's ``summary.json``.

With the study's calibration (:mod:`.costs`), each row also gets the run's contention-free time
``cost_s`` (counted work x measured unit costs) and its FLOPs estimate ``flops``; ``cpu_s`` is the
run's process CPU time as recorded.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from .costs import contention_free_s, flops

COLUMNS = [
    "arm", "seed", "steps", "n_params", "initial_val_loss", "ln_vocab", "initial_loss_ok",
    "final_train_loss", "final_val_loss", "val_token_accuracy", "cloze_accuracy", "wall_s",
    "forward_passes", "backward_passes", "backward_passes_nominal", "extra_backward_passes", "tokens",
    "prediction_ratio_requested",
    "prediction_ratio_achieved", "energy_j", "energy_source",
    "cpu_s", "cost_s", "flops",
]


def load_summary(run_dir: str | Path) -> dict:
    path = Path(run_dir) / "summary.json"
    if not path.exists():
        raise FileNotFoundError(f"run folder {run_dir} has no summary.json (incomplete run?)")
    return json.loads(path.read_text())


def initial_loss_ok(summary: dict, tolerance: float = 0.10) -> bool:
    """The untrained model's validation loss is within ``tolerance`` of ln(vocabulary size)."""
    return abs(summary["initial_val_loss"] - summary["ln_vocab"]) <= tolerance * summary["ln_vocab"]


def runs_table(run_dirs, calibration: dict | None = None) -> pd.DataFrame:
    """One row per run folder; ``calibration`` (:func:`.costs.read_calibration`) adds ``cost_s`` and
    ``flops`` (else they are empty)."""
    rows = []
    for d in run_dirs:
        s = load_summary(d)
        row = {k: s.get(k) for k in COLUMNS}
        if calibration is not None:
            row["cost_s"] = contention_free_s(s["work"], calibration)
            row["flops"] = flops(s["work"], calibration)
        row.update(s.get("downstream", {}))
        row["initial_loss_ok"] = initial_loss_ok(s)
        energy = s.get("energy") or {}
        row["energy_j"], row["energy_source"] = energy.get("joules"), energy.get("source")
        rows.append(row)
    return pd.DataFrame(rows, columns=COLUMNS).sort_values(["arm", "seed"]).reset_index(drop=True)
