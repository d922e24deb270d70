"""The run's JSON-lines logs: ``metrics.jsonl`` (one row per training step) and ``events.jsonl``.

:class:`JsonlLog` appends one JSON object per line, flushed per row, and keeps the byte count and
a running sha256 of what it wrote, so that a checkpoint can vouch for the file's prefix and a
resumed run can cut the file back to it. :func:`read_metrics` and :func:`read_events` read a run
folder's logs.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from ..io import read_jsonl

__all__ = ["METRICS", "EVENTS", "JsonlLog", "read_metrics", "read_events"]

METRICS = "metrics.jsonl"
EVENTS = "events.jsonl"


class JsonlLog:
    """An append-only JSON-lines file with its byte count and running sha256."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.fh = None
        self.n_bytes = 0
        self._hash = hashlib.sha256()

    def start(self) -> None:
        """Create (or empty) the file."""
        self.fh = open(self.path, "wb")
        self.n_bytes, self._hash = 0, hashlib.sha256()

    def append(self, obj: dict) -> None:
        line = (json.dumps(obj) + "\n").encode("utf-8")
        self.fh.write(line)
        # flushed per row (one small write): progress is visible on disk as it happens, and a killed
        # job loses at most the row being written
        self.fh.flush()
        self.n_bytes += len(line)
        self._hash.update(line)

    def sync(self) -> dict:
        """Flush to disk; returns ``{"bytes", "sha256"}`` of everything written so far."""
        self.fh.flush()
        os.fsync(self.fh.fileno())  # a checkpoint vouches for these bytes: they must be on disk
        return {"bytes": self.n_bytes, "sha256": self._hash.hexdigest()}

    def resume_at(self, n_bytes: int) -> None:
        """Cut the file back to its first ``n_bytes`` bytes (rows written after a checkpoint, a torn
        last line included, go) and append from there. The caller has checked the prefix."""
        n = int(n_bytes)
        with open(self.path, "r+b") as fh:
            fh.truncate(n)
        self._hash = hashlib.sha256()
        with open(self.path, "rb") as fh:
            while chunk := fh.read(1 << 20):
                self._hash.update(chunk)
        self.n_bytes = n
        self.fh = open(self.path, "ab")

    def close(self) -> None:
        if self.fh is not None and not self.fh.closed:
            self.fh.close()


def read_metrics(run_dir: str | os.PathLike) -> list[dict]:
    """The rows of a run folder's ``metrics.jsonl``, in step order."""
    return read_jsonl(Path(run_dir) / METRICS)


def read_events(run_dir: str | os.PathLike) -> list[dict]:
    """The events of a run folder's ``events.jsonl``, in the order they happened."""
    return read_jsonl(Path(run_dir) / EVENTS)
