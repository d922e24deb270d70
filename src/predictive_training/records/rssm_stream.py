"""The shadow RSSM's training data: ``runs/<arm>/seed<k>/rssm_stream.npz``.

Written at the end of a conventional run by its shadow RSSM (``training/shadow.py``, when the
``rssm_pretrained`` arm or shadow predictor is configured); read by the leave-one-seed-out
pretraining (``dynamics/rssm_pretrain.py``). It is the dynamics model's replay buffer as it stands
at the end of the run (its last ``replay_size`` observed steps, oldest first): what the online
model itself trains on.

Arrays (``S`` steps): ``obs [S, F]`` the transformed, un-normalised observation features,
``anchor [S]``, ``prev_level [S]`` (log-loss levels), ``dlog [S]`` (log-loss change, NaN for the
first), ``coef [S, n_tensors, B]`` the per-lr update coefficients on the direction basis (in the
basis in force at the end of the run) and ``coef_mask [S]`` (whether a step has one). ``meta``:
a JSON string with ``seed``, ``param_names``, ``param_shapes``, ``n_features`` and ``config`` (the
``RSSMConfig`` as a dict).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

__all__ = ["RSSM_STREAM", "ARRAYS", "write_stream", "read_stream"]

RSSM_STREAM = "rssm_stream.npz"
ARRAYS = ("obs", "anchor", "prev_level", "dlog", "coef", "coef_mask")


def write_stream(path: str | os.PathLike, arrays: Mapping[str, np.ndarray], meta: Mapping) -> None:
    """Write a stream atomically."""
    path = Path(path)
    missing = [k for k in ARRAYS if k not in arrays]
    if missing:
        raise ValueError(f"an RSSM stream needs the arrays {missing}")
    tmp = path.parent / f".{path.stem}.tmp.npz"
    np.savez(tmp, meta=np.array(json.dumps(dict(meta))), **{k: np.asarray(arrays[k]) for k in ARRAYS})
    os.replace(tmp, path)


def read_stream(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict]:
    """``(arrays, meta)`` of a stream file (FileNotFoundError naming the file and how it is made)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: the baseline's shadow RSSM exports its training data only when "
                                "an rssm_pretrained arm or shadow predictor is configured (rerun its training)")
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in ARRAYS if k in z}
        meta = json.loads(str(z["meta"])) if "meta" in z else None
    missing = [k for k in ARRAYS if k not in arrays]
    if missing or meta is None:
        raise ValueError(f"{path}: not an RSSM stream (missing {missing or ['meta']})")
    s = arrays["obs"].shape[0]
    if any(arrays[k].shape[0] != s for k in ARRAYS):
        raise ValueError(f"{path}: arrays of different lengths")
    return arrays, meta
