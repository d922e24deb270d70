"""Trajectory records: ``runs/<arm>/seed<k>/trajectory.safetensors``, the nowcaster's training data.

Written by the trajectory recorder of a conventional run (``training/observers.py``; the baseline,
when a ``nowcaster`` arm or shadow predictor is configured); read by the nowcaster's offline
training (``dynamics/nowcaster.py``), leave-one-seed-out.

What it holds (compact: a fixed sample of weights, a coarse stride, bf16):

==============  ===================================================================================
tensor          meaning
==============  ===================================================================================
``deltas``      ``[W, S]`` bfloat16: the change of each of ``S`` sampled weights over each of ``W``
                consecutive windows of ``stride`` real steps (the sum of the window's updates)
``lr_sum``      ``[W]`` float32: the sum of the learning rates of the window's steps
``end_step``    ``[W]`` int64: steps done at the end of the window (the window covers steps
                ``end_step - stride .. end_step - 1``)
``index``       ``[S]`` int64: each sampled weight's flat index within its tensor
``tensor``      ``[S]`` int32: each sampled weight's tensor (position in ``names``)
==============  ===================================================================================

Metadata (JSON in the safetensors header): ``names`` and ``shapes`` of the model's parameters,
``stride``, ``seed``, ``steps`` (the run's budget), ``warmup_steps``, ``sample_per_tensor``.

The sample: per tensor, ``min(numel, sample_per_tensor)`` weights drawn without replacement by a
generator seeded with the tensor's position (:func:`sample_indices`): the same weights in every
seed's record and independent of the run. Size: ``2 x S x steps / stride`` bytes (about 20 MB for
the default model, 1,000 steps, stride 5, 4,096 per tensor).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

__all__ = ["TRAJECTORY", "Trajectory", "sample_indices", "write_trajectory", "read_trajectory"]

TRAJECTORY = "trajectory.safetensors"


def sample_indices(shapes: Mapping[str, Sequence[int]], per_tensor: int) -> dict[str, torch.Tensor]:
    """``name -> sorted int64 flat indices``: ``min(numel, per_tensor)`` weights of each tensor, drawn
    by a generator seeded with the tensor's position (the same for every run)."""
    out = {}
    for i, (n, shape) in enumerate(shapes.items()):
        numel = 1
        for d in shape:
            numel *= int(d)
        if numel <= per_tensor:
            out[n] = torch.arange(numel, dtype=torch.int64)
        else:
            g = torch.Generator().manual_seed(1_000_003 * (i + 1))
            out[n] = torch.sort(torch.randperm(numel, generator=g)[:per_tensor]).values
    return out


@dataclass
class Trajectory:
    """One record, as read back (``deltas`` as float32)."""

    deltas: torch.Tensor  # [W, S] float32
    lr_sum: torch.Tensor  # [W] float32
    end_step: torch.Tensor  # [W] int64
    index: torch.Tensor  # [S] int64
    tensor: torch.Tensor  # [S] int32
    names: list[str]
    shapes: dict[str, list[int]]
    stride: int
    seed: int
    steps: int
    warmup_steps: int
    path: str = ""


def write_trajectory(path: str | os.PathLike, deltas: torch.Tensor, lr_sum: torch.Tensor, end_step: torch.Tensor,
                     index: torch.Tensor, tensor: torch.Tensor, meta: Mapping) -> None:
    """Write a record atomically (a temporary name, then renamed)."""
    from safetensors.torch import save_file

    path = Path(path)
    tmp = path.parent / f".{path.name}.tmp"
    tensors = {"deltas": deltas.to(torch.bfloat16).contiguous(), "lr_sum": lr_sum.to(torch.float32).contiguous(),
               "end_step": end_step.to(torch.int64).contiguous(), "index": index.to(torch.int64).contiguous(),
               "tensor": tensor.to(torch.int32).contiguous()}
    save_file(tensors, str(tmp), metadata={"meta": json.dumps(dict(meta))})
    os.replace(tmp, path)


def read_trajectory(path: str | os.PathLike) -> Trajectory:
    """Read a record (FileNotFoundError naming the file and how it is made; ValueError when it is
    malformed)."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: the baseline records its trajectory only when a nowcaster arm "
                                "or shadow predictor is configured (rerun its training)")
    with safe_open(str(path), framework="pt") as fh:
        meta = json.loads((fh.metadata() or {}).get("meta", "{}"))
        t = {k: fh.get_tensor(k) for k in fh.keys()}
    need = ("deltas", "lr_sum", "end_step", "index", "tensor")
    missing = [k for k in need if k not in t] + [k for k in ("names", "shapes", "stride", "seed", "steps",
                                                              "warmup_steps") if k not in meta]
    if missing:
        raise ValueError(f"{path}: not a trajectory record (missing {missing})")
    W, S = t["deltas"].shape
    if t["lr_sum"].shape != (W,) or t["end_step"].shape != (W,) or t["index"].shape != (S,) \
            or t["tensor"].shape != (S,):
        raise ValueError(f"{path}: inconsistent shapes in the trajectory record")
    return Trajectory(t["deltas"].float(), t["lr_sum"], t["end_step"], t["index"], t["tensor"], list(meta["names"]),
                      {n: list(s) for n, s in meta["shapes"].items()}, int(meta["stride"]), int(meta["seed"]),
                      int(meta["steps"]), int(meta["warmup_steps"]), str(path))
