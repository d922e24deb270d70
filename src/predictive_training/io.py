"""Atomic file output: nothing half-written is ever left under ``results/``.

Everything is written under a temporary name beside its destination and renamed into place
only once complete (``os.replace`` is atomic within one file system).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator


@contextmanager
def atomic_dir(dest: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary folder; on success it replaces ``dest``, on error it is removed."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.tmp-", dir=dest.parent))
    try:
        yield tmp
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def atomic_write_text(dest: str | os.PathLike, text: str) -> None:
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.tmp-", dir=dest.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(dest: str | os.PathLike, obj: Any, strict: bool = False) -> None:
    """Write ``obj`` as JSON atomically. ``strict``: refuse NaN and infinities (strict JSON has neither;
    write None where a value is undefined) with a ValueError that names where the first one is."""
    if strict:
        where = _first_nonfinite(obj)
        if where is not None:
            raise ValueError(f"{dest}: refusing to write a non-finite number at {where} (strict JSON: write null)")
    atomic_write_text(dest, json.dumps(obj, indent=2, default=_jsonable, allow_nan=not strict) + "\n")


def _first_nonfinite(obj: Any, path: str = "$") -> str | None:
    """The path of the first NaN or infinity in ``obj`` (dicts, lists, floats, numpy scalars), or None."""
    stack = [(path, obj)]
    while stack:
        where, x = stack.pop()
        if isinstance(x, dict):
            stack.extend((f"{where}.{k}", v) for k, v in reversed(list(x.items())))
        elif isinstance(x, (list, tuple)):
            stack.extend((f"{where}[{i}]", v) for i, v in reversed(list(enumerate(x))))
        elif isinstance(x, float) or (hasattr(x, "item") and getattr(x, "ndim", 1) == 0):
            try:
                v = float(x)
            except (TypeError, ValueError):
                continue
            if not math.isfinite(v):
                return where
    return None


def _jsonable(x: Any) -> Any:
    if hasattr(x, "item"):  # numpy / torch scalars
        return x.item()
    if hasattr(x, "tolist"):
        return x.tolist()
    if isinstance(x, Path):
        return str(x)
    raise TypeError(f"not JSON serialisable: {type(x).__name__}")


def finite_or_none(x: Any) -> float | None:
    """A JSON-safe number: ``float(x)`` when it is finite, else None (None, NaN, inf, not a number)."""
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def read_jsonl(path: str | os.PathLike) -> list[dict]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]
