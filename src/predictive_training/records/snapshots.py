"""Weight snapshots: ``snapshots/step<NNNNNN>.safetensors``, the weights after NNNNNN steps.

One tensor per parameter (float32, or bfloat16 with ``record.snapshot_dtype: bf16``), keyed by the
model's parameter names, with the step in the metadata. Written atomically (a kill mid-write leaves no half snapshot under the real name);
read back checked against the folder's sha256 manifest (:mod:`.integrity`).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import torch

from .integrity import load_safetensors_checked

__all__ = ["snapshot_path", "write_snapshot", "list_snapshots", "load_snapshots"]

_NAME = re.compile(r"^step(\d+)\.safetensors$")


def snapshot_path(folder: str | os.PathLike, step: int) -> Path:
    return Path(folder) / f"step{step:06d}.safetensors"


def write_snapshot(folder: str | os.PathLike, step: int, tensors: dict[str, torch.Tensor]) -> None:
    from safetensors.torch import save_file

    dest = snapshot_path(folder, step)
    tmp = dest.parent / f".{dest.name}.tmp"
    save_file(tensors, str(tmp), metadata={"step": str(step)})
    os.replace(tmp, dest)  # a kill mid-write leaves no half snapshot under the real name


def list_snapshots(folder: str | os.PathLike) -> dict[int, Path]:
    """``step -> path`` of the snapshots in ``folder``."""
    out = {}
    for p in Path(folder).iterdir():
        m = _NAME.match(p.name)
        if m:
            out[int(m.group(1))] = p
    return out


def load_snapshots(folder: str | os.PathLike) -> list[tuple[int, dict[str, torch.Tensor]]]:
    """Every snapshot of ``folder`` as ``(step, tensors)``, in step order, each checked against
    the folder's manifest; float32 whatever the stored dtype (``record.snapshot_dtype``)."""
    return [(step, {n: t.float() for n, t in load_safetensors_checked(p).items()})
            for step, p in sorted(list_snapshots(folder).items())]
