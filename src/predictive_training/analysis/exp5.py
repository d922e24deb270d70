"""Experiment 5 (correction effectiveness) for one seed: every Correct phase of the ``hybrid_r50`` run.

Reads the run's ``events.jsonl`` (correction, prediction and guard events); one log per seed.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from ..records.jsonl import read_events
from .template import log_config, write_log

__all__ = ["run_exp5"]


def run_exp5(cfg: dict, run_dir: str | Path, seed: int, out_path: str | Path, arm: str = "hybrid_r50") -> dict:
    """Experiment 5 for one seed: every correction event of the ``hybrid_r50`` run.

    Per event: relative loss reduction (loss_before - loss_after) / loss_before, where loss_before is
    the held-aside loss right after the Predict phase and loss_after the same batch's loss after the
    Correct phase. Accumulated prediction error: over the Predict phases that under-delivered
    (held-aside loss after the phase above the dynamics model's predicted end-of-phase loss), the
    shortfall ``loss_before - predicted``; ``error_reduction`` is the share of the summed shortfall
    that correction recovered, ``sum(min(loss_before - loss_after, shortfall)) / sum(shortfall)``
    (1 = back to the prediction or better; negative = correction made it worse).
    Divergences: guard events that restored the weights from before a Predict phase; guard events
    before any Predict phase (nothing to restore) are listed but not counted.
    """
    run_dir = Path(run_dir)
    events = read_events(run_dir)
    predicted = {e["cycle"]: e.get("predicted_loss_end") for e in events if e.get("event") == "prediction"}
    rows = []
    for e in events:
        if e.get("event") != "correction":
            continue
        b, a = e.get("loss_before"), e.get("loss_after")
        p = predicted.get(e["cycle"])
        rows.append({
            "cycle": e["cycle"], "step": e["step"], "loss_before": b, "loss_after": a,
            "loss_after_search": e.get("loss_after_search"),
            "relative_reduction": (b - a) / b if b and a is not None and b > 0 else None,
            "predicted_loss_end": p, "diverged": bool(e.get("diverged")),
            "correction_norm": e.get("correction_norm"),
            "per_layer_scale": {g: v.get("scale") for g, v in (e.get("per_layer") or {}).items()},
        })
    ok = [r for r in rows if r["relative_reduction"] is not None and math.isfinite(r["relative_reduction"])]
    red = [r["relative_reduction"] for r in ok]
    guard = [e for e in events if e.get("event") == "guard"]
    restores = [e for e in guard if e.get("action") == "restore"]
    short = [(r["loss_before"] - r["predicted_loss_end"], r["loss_before"] - r["loss_after"]) for r in ok
             if r["predicted_loss_end"] is not None and r["loss_before"] > r["predicted_loss_end"]]
    err_b = sum(s for s, _ in short)
    err_a = err_b - sum(min(gain, s) for s, gain in short)
    th = cfg["thresholds"]
    mean_red = sum(red) / len(red) if red else None
    share = sum(x > 0 for x in red) / len(red) if red else None
    err_red = 1 - err_a / err_b if err_b > 0 else None  # = recovered share of the shortfall
    criteria = {
        "loss_reduction": {"estimate": mean_red, "threshold": th["exp5_loss_reduction"],
                           "passed": None if mean_red is None else mean_red > th["exp5_loss_reduction"]},
        "share_positive": {"estimate": share, "threshold": th["exp5_share_positive"],
                           "passed": None if share is None else share > th["exp5_share_positive"]},
        "divergences": {"estimate": len(restores), "threshold": 0, "passed": len(restores) == 0},
        "error_reduction": {"estimate": err_red, "threshold": th["exp5_error_reduction"],
                            "passed": None if err_red is None else err_red > th["exp5_error_reduction"],
                            "definition": "share of the summed shortfall (loss_before - predicted, where > 0) "
                                          "recovered by correction"},
    }
    results = {
        "arm": arm, "n_events": len(rows), "events": rows, "criteria": criteria,
        "mean_loss_before": sum(r["loss_before"] for r in ok) / len(ok) if ok else None,
        "mean_loss_after": sum(r["loss_after"] for r in ok) / len(ok) if ok else None,
        "accumulated_error_before": err_b, "accumulated_error_after": err_a,
        "guard_events": guard,
    }
    summary = json.loads((run_dir / "summary.json").read_text())
    return write_log(5, seed, log_config(cfg, summary["n_params"], arm=arm), results, out_path)
