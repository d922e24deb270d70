"""Per-tensor gradient and update norms of every full step: ``snapshots/tensor_norms.safetensors``.

Tensors ``steps`` [T] int64, ``grad_norm`` [T, n] and ``update_norm`` [T, n] float32; the
parameter names (the column order) are in the metadata key ``names`` (a JSON list). The dynamics
model's observations (Experiments 2 and 3) are built from them.
"""

from __future__ import annotations

import json
import os

import torch

__all__ = ["FILENAME", "write_tensor_norms", "read_tensor_norms"]

FILENAME = "tensor_norms.safetensors"


def write_tensor_norms(path: str | os.PathLike, steps: torch.Tensor, grad_norm: torch.Tensor,
                       update_norm: torch.Tensor, names: list[str]) -> None:
    from safetensors.torch import save_file

    save_file({"steps": steps, "grad_norm": grad_norm, "update_norm": update_norm}, str(path),
              metadata={"names": json.dumps(names)})


def read_tensor_norms(path: str | os.PathLike) -> dict:
    """Inverse of :func:`write_tensor_norms`: steps, grad_norm, update_norm tensors and the names."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        out = {k: f.get_tensor(k) for k in ("steps", "grad_norm", "update_norm")}
        out["names"] = json.loads(f.metadata()["names"])
    return out
