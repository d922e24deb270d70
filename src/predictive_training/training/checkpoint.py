"""Resumable training: atomic checkpoints in the run's partial folder, checked by sha256, two kept.

:class:`Checkpointer` saves, rotates and finds a run's checkpoints (``checkpoints/step<N>.pt``
with a ``sha256sum``-format ``.sha256`` beside it); :meth:`Checkpointer.load_latest` skips (and renames
``*.corrupt``) any whose checksum, configuration fingerprint (:func:`run_fingerprint`) or
dependent files do not match. :func:`save_chunk`/:func:`load_chunk` hold the recorders' spilled
rows. Layout, atomicity and resumption: ``docs/design.md`` (Checkpoints).
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import torch

from ..records.integrity import IntegrityError, sha256_file  # checksums shared with the results

log = logging.getLogger(__name__)

__all__ = [
    "CHECKPOINT_VERSION",
    "Checkpointer",
    "IntegrityError",
    "partial_dir",
    "run_fingerprint",
    "sha256_prefix",
    "save_chunk",
    "load_chunk",
]

CHECKPOINT_VERSION = 4  # 2: the hybrid trainer's position as training.position.Position; 3: raw gradients and
# clip factors in the gradient records, the Correct phase's three probe losses; 4: the trainer's counted
# work, CPU seconds and last evaluation (training/work.py), the gate's skill state
_NAME = re.compile(r"^step(\d{6,})\.pt$")
# config keys that do not change what a run computes: a changed value must not void a checkpoint
_NEUTRAL_KEYS = (("train", "checkpoint_every"), ("record", "progress_every"))


def partial_dir(out_dir: str | os.PathLike) -> Path:
    """The working folder of the run folder ``out_dir``: ``<parent>/.<name>.partial``."""
    out = Path(out_dir)
    return out.parent / f".{out.name}.partial"


def run_fingerprint(cfg: dict, arm: str, seed: int, data_meta: dict | None = None, record: bool = True) -> str:
    """sha256 (hex) of what determines a run: the config (minus keys that do not change results:
    ``train.checkpoint_every``, ``record.progress_every``), the arm, the seed, the data checksums
    and whether recording is on (it decides which recorders hold state). A checkpoint is only
    resumed by a job with the same fingerprint."""
    c = copy.deepcopy(cfg)
    for section, key in _NEUTRAL_KEYS:
        if isinstance(c.get(section), dict):
            c[section].pop(key, None)
    blob = {"config": c, "arm": arm, "seed": int(seed), "data": (data_meta or {}).get("sha256"),
            "record": bool(record), "version": CHECKPOINT_VERSION}
    text = json.dumps(blob, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def sha256_prefix(path: str | os.PathLike, n_bytes: int, chunk_size: int = 1 << 20) -> str:
    """Hex sha256 of the first ``n_bytes`` bytes of ``path`` (IntegrityError if it is shorter)."""
    digest = hashlib.sha256()
    left = int(n_bytes)
    with open(path, "rb") as fh:
        while left > 0:
            chunk = fh.read(min(chunk_size, left))
            if not chunk:
                raise IntegrityError(f"{path}: shorter than the {n_bytes} bytes the checkpoint recorded")
            digest.update(chunk)
            left -= len(chunk)
    return digest.hexdigest()


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory handles
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def _write_atomic(dest: Path, write) -> None:
    """``write(path)`` to a temporary name beside ``dest``, fsync, rename into place."""
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.tmp-", dir=dest.parent)
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_chunk(run_dir: Path, relpath: str, tensors: dict[str, torch.Tensor]) -> dict:
    """Write a safetensors chunk atomically at ``run_dir/relpath``; returns its file record
    ``{"bytes": size, "sha256": hex}`` for a checkpoint's ``files``."""
    from safetensors.torch import save_file

    dest = Path(run_dir) / relpath
    dest.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
    _write_atomic(dest, lambda p: save_file(tensors, p))
    return {"bytes": dest.stat().st_size, "sha256": sha256_file(dest)}


def load_chunk(run_dir: Path, relpath: str) -> dict[str, torch.Tensor]:
    """Read a chunk written by :func:`save_chunk` (its checksum was checked with the checkpoint)."""
    from safetensors.torch import load_file

    path = Path(run_dir) / relpath
    try:
        return load_file(str(path))
    except Exception as exc:  # the reader's own errors: the file is what the caller needs to know
        raise IntegrityError(f"{path}: record chunk unreadable ({type(exc).__name__}: {exc})") from exc


class Checkpointer:
    """Saves, rotates and finds checkpoints of one run.

    Args:
        run_dir: the partial run folder (observers' files live here; ``files`` paths are relative to it).
        every: checkpoint interval in training steps (0 disables saving; loading still works).
        fingerprint: :func:`run_fingerprint` of the job; checkpoints with another are not resumed.
        keep: how many of the newest checkpoints to keep (>= 1).
    """

    def __init__(self, run_dir: str | os.PathLike, every: int, fingerprint: str = "", keep: int = 2):
        if isinstance(every, bool) or int(every) != every or every < 0:
            raise ValueError(f"train.checkpoint_every must be an integer >= 0, got {every!r}")
        if int(keep) < 1:
            raise ValueError(f"keep must be >= 1, got {keep!r}")
        self.run_dir = Path(run_dir)
        self.folder = self.run_dir / "checkpoints"
        self.records_dir = self.folder / "records"
        self.every, self.fingerprint, self.keep = int(every), fingerprint, int(keep)
        self.next_at = self.every
        self.n_saved = 0

    # --- saving ----------------------------------------------------------------------------------

    def path_of(self, step: int) -> Path:
        return self.folder / f"step{int(step):06d}.pt"

    def due(self, step: int) -> bool:
        """True when ``step`` completed steps reach the next multiple of ``every`` (a checkpoint
        deferred past a point where none can be taken is taken at the next possible point)."""
        return self.every > 0 and step >= self.next_at

    def schedule_after(self, step: int) -> None:
        """The next checkpoint is due at the first multiple of ``every`` above ``step``."""
        if self.every > 0:
            self.next_at = (int(step) // self.every + 1) * self.every

    def record_relpath(self, name: str) -> str:
        return (self.records_dir / name).relative_to(self.run_dir).as_posix()

    def save(self, state: dict[str, Any], step: int) -> Path:
        """Write ``state`` (plus version, fingerprint, step) as checkpoint ``step`` atomically, with
        its ``.sha256`` beside it; keep the newest ``keep`` checkpoints, and never more than ``keep``
        (the oldest is removed before the new one is written; with ``keep == 1`` after it). Returns
        the path."""
        self.folder.mkdir(parents=True, exist_ok=True)
        # at most `keep` checkpoints on disk at any time, the one being written included (peak disk
        # of a paper-scale run): the oldest goes before the new one is written
        for _, p in self._checkpoints()[max(self.keep - 1, 1):]:
            p.unlink(missing_ok=True)
            Path(str(p) + ".sha256").unlink(missing_ok=True)
        payload = {"version": CHECKPOINT_VERSION, "fingerprint": self.fingerprint, "step": int(step), **state}
        dest = self.path_of(step)
        fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.tmp-", dir=self.folder)
        os.close(fd)
        try:
            torch.save(payload, tmp)
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
            digest = sha256_file(tmp)
            side = Path(str(dest) + ".sha256")
            _write_atomic(side, lambda p: Path(p).write_text(f"{digest}  {dest.name}\n", encoding="ascii"))
            os.replace(tmp, dest)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        _fsync_dir(self.folder)
        self.n_saved += 1
        self.schedule_after(step)
        self._rotate(state.get("files", {}))
        return dest

    def _checkpoints(self) -> list[tuple[int, Path]]:
        if not self.folder.is_dir():
            return []
        out = []
        for p in self.folder.iterdir():
            m = _NAME.match(p.name)
            if m and p.is_file():
                out.append((int(m.group(1)), p))
        return sorted(out, reverse=True)

    def _rotate(self, files: dict) -> None:
        for _, p in self._checkpoints()[self.keep:]:
            p.unlink(missing_ok=True)
            Path(str(p) + ".sha256").unlink(missing_ok=True)
        self._drop_unreferenced(files)

    def _drop_unreferenced(self, files: dict) -> None:
        """Delete record chunks the newest checkpoint does not list (its chunk list extends the
        older ones', so nothing a kept checkpoint needs is removed)."""
        if not self.records_dir.is_dir():
            return
        keep = {(self.run_dir / rel).resolve() for rel in files}
        for p in self.records_dir.iterdir():
            if p.resolve() not in keep:
                p.unlink(missing_ok=True)

    # --- loading ---------------------------------------------------------------------------------

    def load_latest(self) -> dict | None:
        """The newest usable checkpoint's state dict, or None (``docs/design.md``, Checkpoints).

        Unusable checkpoints are reported (WARNING, by file name) and renamed ``*.corrupt``.
        """
        if self.folder.is_dir():
            for p in self.folder.glob(".*.tmp-*"):  # a save killed half-way
                p.unlink(missing_ok=True)
        found = self._checkpoints()
        for step, path in found:
            try:
                state = self._load_checked(path)
            except IntegrityError as exc:
                log.warning("checkpoint %s is unusable: %s; falling back to the previous checkpoint", path, exc)
                self._set_aside(path)
                continue
            if state["step"] != step:
                log.warning("checkpoint %s holds step %s, not %d; falling back to the previous checkpoint",
                            path, state["step"], step)
                self._set_aside(path)
                continue
            self.schedule_after(step)
            self._drop_unreferenced(state.get("files", {}))
            return state
        if found:
            log.warning("no usable checkpoint in %s (%d tried): starting fresh from step 0", self.folder, len(found))
        return None

    def _set_aside(self, path: Path) -> None:
        for p in (path, Path(str(path) + ".sha256")):
            if p.exists():
                os.replace(p, Path(str(p) + ".corrupt"))

    def _load_checked(self, path: Path) -> dict:
        side = Path(str(path) + ".sha256")
        if not side.is_file():
            raise IntegrityError(f"{path}: checksum file {side.name} missing")
        text = side.read_text(encoding="ascii", errors="replace").split()
        if len(text) != 2 or len(text[0]) != 64 or text[1] != path.name:
            raise IntegrityError(f"{side}: not a '<sha256>  {path.name}' line")
        actual = sha256_file(path)
        if actual != text[0]:
            raise IntegrityError(f"{path}: sha256 mismatch, truncated or corrupted (expected {text[0][:12]}..., "
                                 f"file {actual[:12]}..., {path.stat().st_size} bytes)")
        try:
            # weights_only=False: the state holds numpy generator states and arrays; the file is one
            # this job family wrote, and its checksum was verified above
            state = torch.load(path, map_location="cpu", weights_only=False)
        except Exception as exc:
            raise IntegrityError(f"{path}: torch.load failed ({type(exc).__name__}: {exc})") from exc
        if not isinstance(state, dict) or state.get("version") != CHECKPOINT_VERSION:
            raise IntegrityError(f"{path}: not a version-{CHECKPOINT_VERSION} training checkpoint")
        if self.fingerprint and state.get("fingerprint") != self.fingerprint:
            raise IntegrityError(f"{path}: written for a different configuration, arm, seed or data "
                                 f"(fingerprint {str(state.get('fingerprint'))[:12]}..., this job {self.fingerprint[:12]}...)")
        self.check_files(state.get("files", {}))
        return state

    def check_files(self, files: dict) -> None:
        """Every file a checkpoint depends on still holds what it held then (IntegrityError if not).

        ``files``: ``relpath -> {"bytes": n, "sha256": hex of the first n bytes, or None to check
        only that the file has exactly n bytes}``; for append-only files ``n`` may be less than
        the size (rows written after the checkpoint are cut off on resume)."""
        for rel, rec in files.items():
            path = self.run_dir / rel
            if not path.is_file():
                raise IntegrityError(f"{path}: missing (the checkpoint needs it)")
            size, n = path.stat().st_size, int(rec["bytes"])
            if rec.get("sha256") is None:
                if size != n:
                    raise IntegrityError(f"{path}: {size} bytes, the checkpoint recorded {n}")
                continue
            if size < n:
                raise IntegrityError(f"{path}: truncated ({size} bytes, the checkpoint recorded {n})")
            if sha256_prefix(path, n) != rec["sha256"]:
                raise IntegrityError(f"{path}: its first {n} bytes differ from what the checkpoint recorded")
