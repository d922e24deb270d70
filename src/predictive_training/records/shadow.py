"""Shadow records: ``runs/<arm>/seed<k>/shadow.jsonl``, one row per (origin, horizon, predictor).

Written by the shadow observer of a conventional run (``training/shadow.py``); read here by the
analysis (Experiments 2 and 3) and the report. Each row is one JSON object:

=====================  ============================================================================
key                    meaning
=====================  ============================================================================
origin, horizon        the origin ``o`` (steps done when the rollout was made) and ``Y``
predictor, kind        the predictor's name (``rssm``, ``repeat``, ``ema``, ``linear``, ``zero``,
                       ``span<m>``) and ``predictor``, ``span_oracle`` or ``forecast`` (a loss-forecast
                       origin: only the loss keys, over the longest horizon or the steps left)
ready, error           the predictor's ``ready()`` at the origin; why no rollout was made (else null)
uncertainty            the rollout's uncertainty (null for the span oracle)
loss_forecast          ``[Y]`` predicted training loss of steps ``o .. o+Y-1`` (null: span oracle)
loss_realised          ``[Y]`` the realised training losses of those steps (nats)
loss_forecast_end,     the last of each
loss_realised_end
delta_norm_pred,       ``||predicted delta||``, ``||real delta||`` (weights at ``o + Y`` minus at ``o``)
delta_norm_real
norm_ratio             ``||pred|| / ||real||``
cosine, rel_l2,        over all elements: cosine, ``||pred - real|| / ||real||``, Pearson r
pearson_r
per_tensor_cosine      ``{tensor: cosine}``; per_layer_accuracy: share of them above the Exp 3 threshold
heldout_origin,        mean held-out loss (``eval_batches`` fixed validation windows) at the origin,
heldout_pred,          with the predicted delta added to the origin's weights, and after the real
heldout_real           ``Y`` steps (nats)
gain_pred, gain_real   ``heldout_origin - heldout_pred``, ``heldout_origin - heldout_real``
gain_real_se           standard error of ``gain_real`` over the paired batches
progress, progress_se  ``gain_pred / gain_real`` (progress captured) and its delta-method standard error
search                 null, or for the searched cells ``{scales: {group: s}, heldout_pred, gain_pred,
                       progress, progress_se, search_loss_before, search_loss_after,
                       search_batches, scales_tried, forward_passes}``
span_m, span_updates   span oracle only: ``m`` and how many updates the span had
eval_batches           held-out batches behind the held-out losses
=====================  ============================================================================

Rows with an ``error`` (no rollout) carry no scores; rows of kind ``forecast`` carry the keys up to
``loss_realised_end`` only.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..io import read_jsonl

__all__ = ["SHADOW", "REQUIRED", "REQUIRED_SCORED", "KINDS", "read_shadow"]

SHADOW = "shadow.jsonl"

#: Keys every row has, and the keys every row of kind ``predictor`` or ``span_oracle`` has besides.
REQUIRED = ("origin", "horizon", "predictor", "kind", "ready", "error", "loss_realised")
REQUIRED_SCORED = ("heldout_origin", "heldout_real", "gain_real", "delta_norm_real")
KINDS = ("predictor", "span_oracle", "forecast")


def read_shadow(run_dir: str | os.PathLike) -> list[dict]:
    """The rows of a run folder's ``shadow.jsonl`` (FileNotFoundError naming the file and the
    config key when the run carried no shadows; ValueError naming the row when one is malformed)."""
    path = Path(run_dir) / SHADOW
    if not path.exists():
        raise FileNotFoundError(
            f"{path} is missing: this run carried no shadow predictors (config key record.shadow.arms must "
            "name its arm; rerun the training)")
    rows = read_jsonl(path)
    seen = set()
    for i, r in enumerate(rows):
        if r.get("kind") not in KINDS:
            raise ValueError(f"{path} row {i + 1}: kind {r.get('kind')!r} is not one of {KINDS}")
        missing = [k for k in REQUIRED + (REQUIRED_SCORED if r["kind"] != "forecast" else ()) if k not in r]
        if missing:
            raise ValueError(f"{path} row {i + 1}: missing keys {missing}")
        key = (r["origin"], r["horizon"], r["predictor"])
        if key in seen:
            raise ValueError(f"{path} row {i + 1}: a second row for origin {key[0]}, horizon {key[1]}, "
                             f"predictor {key[2]!r}")
        seen.add(key)
    return rows
