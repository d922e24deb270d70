"""Gradient and update records: the file Experiment 1 reads, written by the trainer's recorder.

A safetensors file with tensors ``steps`` (int64 [T]), ``grad`` and ``update`` ([T, D]; float16
in exact mode, float32 in sketch mode) and, in exact mode only, ``grad_scale`` and
``update_scale`` (float32 [T]: row t is stored as x_t / scale_t so that float16 keeps its
relative precision for gradients of any magnitude), and string metadata ``mode`` ("exact" |
"sketch", see :mod:`.sketch`), ``dim`` (D), ``n_params``, ``seed`` (sketch seed) plus any extra
keys the caller passes. ``clip_coef`` (float32 [T], optional) is the factor gradient clipping
multiplied each recorded gradient by (1: not clipped); the trainer's recorder stores the RAW
(pre-clipping) gradient in ``grad`` (metadata ``grad`` = :data:`GRAD_KIND`), so the clipped one
the optimiser used is ``grad * clip_coef``. Files without ``clip_coef`` (older records) read as
``clip_coef`` None.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch

__all__ = ["GRAD_KIND", "write_records", "read_records", "as_cpu_tensor", "check_steps"]

#: what the trainer's recorder stores as ``grad`` (metadata key ``grad``)
GRAD_KIND = "raw (pre-clipping); clipped = grad * clip_coef"


def as_cpu_tensor(x, name: str) -> torch.Tensor:
    if isinstance(x, (list, tuple)):
        x = np.asarray(x)
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(x)
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, numpy array or list, got {type(x).__name__}")
    return x.detach().cpu()


def check_steps(steps: torch.Tensor, T: int) -> torch.Tensor:
    if steps.dim() != 1 or steps.numel() != T:
        raise ValueError(f"steps must have shape [{T}], got {list(steps.shape)}")
    if steps.is_floating_point() or steps.dtype == torch.bool:
        raise ValueError("steps must be integers")
    steps = steps.to(torch.int64)
    if T > 1 and not bool((steps[1:] > steps[:-1]).all()):
        raise ValueError("steps must be strictly increasing")
    return steps


def write_records(path, steps, grad, update, meta: Mapping[str, Any], clip_coef=None) -> None:
    """Write a gradient-record file (the one format Experiment 1 reads).

    Args:
        path: output file (``.safetensors``); parent folders are created.
        steps: [T] integer training steps of the rows, strictly increasing.
        grad: [T, D] gradients (flattened over all parameters, or their sketches).
        update: [T, D] weight updates theta_{t+1} - theta_t (same layout as ``grad``).
        meta: must contain ``mode`` ("exact": D = n_params, stored float16 with a per-row
            scale; "sketch": stored float32), ``n_params`` (int) and ``seed`` (int, the sketch
            seed; any int in exact mode). ``dim`` is taken from D (if given it must equal D).
            Extra keys are stored as strings.
        clip_coef: optional [T] clipping factors in (0, 1] (see the module docstring).
    Raises:
        ValueError: on inconsistent shapes, unknown mode, missing keys or non-finite values.
    """
    from safetensors.torch import save_file

    grad = as_cpu_tensor(grad, "grad")
    update = as_cpu_tensor(update, "update")
    if grad.dim() != 2:
        raise ValueError(f"grad must be 2-D [T, D], got shape {list(grad.shape)}")
    if update.shape != grad.shape:
        raise ValueError(f"update shape {list(update.shape)} != grad shape {list(grad.shape)}")
    if not grad.is_floating_point() or not update.is_floating_point():
        raise ValueError("grad and update must be floating point")
    T, D = grad.shape
    if T < 1 or D < 1:
        raise ValueError(f"grad must have at least one row and column, got {list(grad.shape)}")
    steps = check_steps(as_cpu_tensor(steps, "steps"), T)
    if not isinstance(meta, Mapping):
        raise ValueError("meta must be a mapping")
    for key in ("mode", "n_params", "seed"):
        if key not in meta:
            raise ValueError(f"meta is missing the key {key!r}")
    mode = meta["mode"]
    if mode not in ("exact", "sketch"):
        raise ValueError(f"meta['mode'] must be 'exact' or 'sketch', got {mode!r}")
    n_params = int(meta["n_params"])
    seed = int(meta["seed"])
    if "dim" in meta and int(meta["dim"]) != D:
        raise ValueError(f"meta['dim'] = {meta['dim']} but grad has D = {D} columns")
    if mode == "exact" and n_params != D:
        raise ValueError(f"exact mode needs D == meta['n_params'], got D = {D}, n_params = {n_params}")
    for name, x in (("grad", grad), ("update", update)):
        if not bool(torch.isfinite(x).all()):
            raise ValueError(f"{name} contains non-finite values; drop those steps before writing")

    tensors: dict[str, torch.Tensor] = {"steps": steps.contiguous()}
    if clip_coef is not None:
        clip_coef = as_cpu_tensor(clip_coef, "clip_coef").to(torch.float32).reshape(-1)
        if clip_coef.numel() != T:
            raise ValueError(f"clip_coef must have shape [{T}], got {list(clip_coef.shape)}")
        if not bool(((clip_coef > 0) & (clip_coef <= 1)).all()):
            raise ValueError("clip_coef values must lie in (0, 1]")
        tensors["clip_coef"] = clip_coef.contiguous()
    if mode == "exact":
        for name, x in (("grad", grad), ("update", update)):
            x32 = x.to(torch.float32)
            scale = x32.abs().amax(dim=1)
            scale = torch.where(scale > 0, scale, torch.ones_like(scale))
            # Row-wise max-abs scaling keeps float16's 11-bit relative precision whatever the
            # gradient magnitude (plain float16 flushes |g| < 6e-8 to zero).
            tensors[name] = (x32 / scale[:, None]).to(torch.float16).contiguous()
            tensors[f"{name}_scale"] = scale.contiguous()
    else:
        tensors["grad"] = grad.to(torch.float32).contiguous()
        tensors["update"] = update.to(torch.float32).contiguous()
    metadata = {str(k): str(v) for k, v in meta.items()}
    metadata.update(mode=mode, dim=str(D), n_params=str(n_params), seed=str(seed))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path), metadata=metadata)


def read_records(path) -> dict[str, Any]:
    """Read a file written by :func:`write_records`.

    Returns:
        dict with ``steps`` (int64 [T]), ``grad`` and ``update`` (stored dtype, [T, D]),
        ``grad_scale`` and ``update_scale`` (float32 [T] in exact mode, else None; the true
        row t is ``grad[t] * grad_scale[t]``), ``clip_coef`` (float32 [T] or None) and
        ``meta`` (dict of strings, with ``dim``, ``n_params`` and ``seed`` converted to int).
    """
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"records_path does not exist: {path}")
    with safe_open(str(path), framework="pt") as f:
        meta: dict[str, Any] = dict(f.metadata() or {})
        keys = set(f.keys())
        for key in ("steps", "grad", "update"):
            if key not in keys:
                raise ValueError(f"{path} is not a gradient-record file: no tensor {key!r}")
        out: dict[str, Any] = {k: f.get_tensor(k) for k in ("steps", "grad", "update")}
        for k in ("grad_scale", "update_scale", "clip_coef"):
            out[k] = f.get_tensor(k) if k in keys else None
    for key in ("mode", "dim", "n_params", "seed"):
        if key not in meta:
            raise ValueError(f"{path}: metadata key {key!r} missing")
    for key in ("dim", "n_params", "seed"):
        meta[key] = int(meta[key])
    if meta["mode"] == "exact" and (out["grad_scale"] is None or out["update_scale"] is None):
        raise ValueError(f"{path}: exact-mode record without row scales")
    out["meta"] = meta
    return out
