"""Recording observers (the plan's data-collection table) and the entry that runs one training job.

A run folder ``runs/<arm>/seed<k>/`` holds:

- ``metrics.jsonl``: one ``StepInfo`` row per step;
- ``events.jsonl``: phase transitions, predictions, corrections, guard events;
- ``summary.json``: final losses, downstream metrics, wall-clock, pass counts, prediction ratio;
- ``snapshots/step<NNNNNN>.safetensors``: weights every ``record.snapshot_every`` steps (and the
  first and last), keyed by parameter name; ``snapshots/gradients.safetensors``: gradient and
  update records (full float16 vectors in ``exact`` mode, seeded projections in ``sketch`` mode).

The folder is built in the deterministic working folder ``.<name>.partial`` beside it
(:func:`~predictive_training.checkpoint.partial_dir`) and renamed into place when the run is
complete. Every ``train.checkpoint_every`` steps a checkpoint goes to its ``checkpoints/``; a job
that finds a usable checkpoint there resumes from it (``checkpoint.py``): ``metrics.jsonl`` and
``events.jsonl`` are cut back to the checkpoint's byte lengths, later snapshots are removed, every
state is restored, and the run continues to the same results as an uninterrupted one (apart from
timings and ``summary.json``'s ``resumed_from``).
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import torch
from tqdm import tqdm

from .checkpoint import Checkpointer, load_chunk, partial_dir, run_fingerprint, save_chunk
from .data.prepare import TokenData
from .energy import EnergyObserver
from .io import write_json
from .records.gradients import write_records
from .records.integrity import write_manifest
from .records.jsonl import EVENTS, METRICS, JsonlLog
from .records.sketch import GradientSketch
from .records.snapshots import list_snapshots, write_snapshot
from .records.tensor_norms import FILENAME as TENSOR_NORMS
from .records.tensor_norms import write_tensor_norms
from .training import Observer, Trainer

log = logging.getLogger(__name__)


class _JsonlRecorder(Observer):
    """A run log (:class:`~predictive_training.records.jsonl.JsonlLog`) whose prefix a checkpoint
    records and a resume checks and cuts back to."""

    filename = ""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.log = JsonlLog(self.folder / self.filename)

    def on_start(self, trainer):
        self.log.start()

    def _write(self, obj: dict) -> None:
        self.log.append(obj)

    def state_dict(self, trainer, checkpointer):
        rec = self.log.sync()
        return {**rec, "files": {self.filename: rec}}

    def on_resume(self, trainer, state, checkpointer):
        self.log.resume_at(int(state["bytes"]))  # the checkpointer checked the prefix's sha256

    def on_end(self, trainer, summary):
        self.close()

    def close(self):
        self.log.close()


class MetricsRecorder(_JsonlRecorder):
    filename = METRICS

    def on_step(self, trainer, info, grads, update):
        self._write(info.to_row())


class EventRecorder(_JsonlRecorder):
    filename = EVENTS

    def on_event(self, trainer, event):
        self._write(event)


class SnapshotRecorder(Observer):
    """safetensors weight snapshots at step 0 (before training) and after every N-th step."""

    def __init__(self, folder: Path, every: int):
        self.folder, self.every = folder / "snapshots", every
        self.folder.mkdir(exist_ok=True)

    def save(self, trainer: Trainer, step: int) -> None:
        tensors = {n: p.detach().to("cpu", torch.float32).contiguous() for n, p in trainer.params.items()}
        write_snapshot(self.folder, step, tensors)

    def on_start(self, trainer):
        self.save(trainer, 0)

    def state_dict(self, trainer, checkpointer):
        # sizes only: hashing every snapshot at every checkpoint would re-read them all
        rel = self.folder.relative_to(checkpointer.run_dir).as_posix()
        files = {f"{rel}/{p.name}": {"bytes": p.stat().st_size, "sha256": None}
                 for s, p in sorted(list_snapshots(self.folder).items()) if s <= trainer.step}
        return {"files": files}

    def on_resume(self, trainer, state, checkpointer):
        for p in self.folder.glob(".*.tmp"):
            p.unlink()
        for s, p in list_snapshots(self.folder).items():
            if s > trainer.step:  # written after the checkpoint: the resumed run writes it again
                p.unlink()

    def on_step(self, trainer, info, grads, update):
        done = info.step + 1  # weights now hold the state after `done` steps
        if done % self.every == 0 or done == trainer.train_cfg["steps"]:
            self.save(trainer, done)


class _SpilledRows:
    """Rows kept in memory until the end of the run (``steps`` plus tensor columns); at each
    checkpoint the rows added since the previous one are written to one safetensors chunk in
    ``checkpoints/records/`` (so a checkpoint never rewrites the whole history), and a resumed run
    reads the chunks back (bit-exact float32)."""

    key = ""
    columns: tuple[str, ...] = ()

    def _init_rows(self) -> None:
        self.steps: list[int] = []
        for c in self.columns:
            setattr(self, c, [])
        self._chunks: dict[str, dict] = {}  # relpath -> {"bytes", "sha256"}, in row order
        self._n_spilled = 0

    def _rows_state(self, checkpointer) -> dict:
        n = len(self.steps)
        if n > self._n_spilled:
            rel = checkpointer.record_relpath(f"{self.key}.{self._n_spilled:07d}-{n:07d}.safetensors")
            tensors = {"steps": torch.tensor(self.steps[self._n_spilled:n], dtype=torch.int64)}
            for c in self.columns:
                tensors[c] = torch.stack(getattr(self, c)[self._n_spilled:n])
            self._chunks[rel] = save_chunk(checkpointer.run_dir, rel, tensors)
            self._n_spilled = n
        return {"n": n, "chunks": list(self._chunks), "files": dict(self._chunks)}

    def _load_rows(self, state: dict, checkpointer) -> None:
        self._init_rows()
        for rel in state["chunks"]:
            t = load_chunk(checkpointer.run_dir, rel)
            self.steps.extend(int(s) for s in t["steps"])
            for c in self.columns:
                getattr(self, c).extend(t[c].unbind(0))
            self._chunks[rel] = state["files"][rel]
        if len(self.steps) != state["n"]:
            raise ValueError(f"{self.key} records: {len(self.steps)} rows in the chunks, checkpoint says {state['n']}")
        self._n_spilled = len(self.steps)


class GradientRecorder(_SpilledRows, Observer):
    """Every ``grad_every``-th full step: the gradient and the applied update, exact or sketched."""

    wants_tensors = True
    key = "gradients"
    columns = ("grad", "update")

    def __init__(self, folder: Path, mode: str, every: int, sketch_dim: int, seed: int):
        self.path = folder / "snapshots" / "gradients.safetensors"
        self.path.parent.mkdir(exist_ok=True)
        self.mode, self.every, self.dim, self.seed = mode, every, sketch_dim, seed
        self._init_rows()

    def state_dict(self, trainer, checkpointer):
        return self._rows_state(checkpointer)

    def on_resume(self, trainer, state, checkpointer):
        self.on_start(trainer)  # n_params and the (seeded) sketch
        self._load_rows(state, checkpointer)

    def on_start(self, trainer):
        self.n_params = sum(p.numel() for p in trainer.params.values())
        if self.mode == "sketch":
            self.sketch = GradientSketch(self.n_params, self.dim, self.seed, device=trainer.device)

    def _compress(self, tensors: dict[str, torch.Tensor]) -> torch.Tensor:
        chunks = [t.reshape(-1) for t in tensors.values()]
        if self.mode == "sketch":
            if self.n_params <= 1 << 24:  # small model: one scatter-add beats one per tensor
                return self.sketch.project(torch.cat(chunks)).to("cpu", torch.float32)
            return self.sketch.project_chunks(chunks).to("cpu", torch.float32)
        # float32 in memory; write_records stores float16 with a per-row scale (exact mode is for small models)
        return torch.cat(chunks).to("cpu", torch.float32)

    def on_step(self, trainer, info, grads, update):
        if grads is None or not info.backward or info.step % self.every:
            return
        self.steps.append(info.step)
        self.grad.append(self._compress(grads))
        self.update.append(self._compress(update))

    def on_end(self, trainer, summary):
        write_records(
            self.path,
            torch.tensor(self.steps, dtype=torch.int64),
            torch.stack(self.grad),
            torch.stack(self.update),
            {"mode": self.mode, "dim": self.dim if self.mode == "sketch" else self.n_params,
             "n_params": self.n_params, "seed": self.seed},
        )


class TensorNormRecorder(_SpilledRows, Observer):
    """Per-tensor gradient and update L2 norms of every full step (the dynamics model's observations).

    Written to ``snapshots/tensor_norms.safetensors``: ``steps`` [T], ``grad_norm`` [T, n] and
    ``update_norm`` [T, n] float32, with the parameter names (column order) in the metadata.
    """

    wants_tensors = True
    key = "tensor_norms"
    columns = ("grad", "update")

    def __init__(self, folder: Path):
        self.path = folder / "snapshots" / TENSOR_NORMS
        self.path.parent.mkdir(exist_ok=True)
        self.names: list[str] | None = None
        self._init_rows()

    def state_dict(self, trainer, checkpointer):
        return {**self._rows_state(checkpointer), "names": self.names}

    def on_resume(self, trainer, state, checkpointer):
        self._load_rows(state, checkpointer)
        self.names = state["names"]

    def on_step(self, trainer, info, grads, update):
        if grads is None or not info.backward:
            return
        self.names = list(grads)
        self.steps.append(info.step)
        self.grad.append(torch.stack(torch._foreach_norm(list(grads.values()))).float().cpu())
        self.update.append(torch.stack(torch._foreach_norm(list(update.values()))).float().cpu())

    def on_end(self, trainer, summary):
        if not self.steps:
            return
        write_tensor_norms(self.path, torch.tensor(self.steps, dtype=torch.int64), torch.stack(self.grad),
                           torch.stack(self.update), self.names)


class Progress(Observer):
    """A progress bar in the job log plus a periodic plain log line (for non-tty logs)."""

    def __init__(self, every: int, label: str):
        self.every, self.label = every, label

    def on_start(self, trainer):
        self.bar = tqdm(total=trainer.train_cfg["steps"], desc=self.label, file=sys.stderr,
                        mininterval=2.0, dynamic_ncols=False, ncols=100, initial=trainer.step)

    def on_resume(self, trainer, state, checkpointer):
        self.on_start(trainer)

    def close(self):
        bar = getattr(self, "bar", None)
        if bar is not None:
            bar.close()

    def on_step(self, trainer, info, grads, update):
        self.bar.update(1)
        if (info.step + 1) % self.every == 0:
            loss = "-" if info.loss is None else f"{info.loss:.3f}"
            log.info("%s step %d/%d phase=%s loss=%s wall=%.1fs", self.label, info.step + 1,
                     trainer.train_cfg["steps"], info.phase, loss, info.wall_s)

    def on_end(self, trainer, summary):
        self.bar.close()


def make_trainer(cfg: dict, data: TokenData, arm: str, seed: int, observers: list[Observer]) -> Trainer:
    """The trainer of an arm's kind: ``conventional`` (Trainer), ``hybrid``/``skip``/``repeat``
    (HybridTrainer with the RSSM, zero, or repeat-mean predictor), ``matched`` (MatchedTrainer)."""
    kind = cfg["arms"][arm]["kind"]
    if kind == "conventional":
        return Trainer(cfg, data, arm, seed, observers)
    if kind in ("hybrid", "skip", "repeat"):
        from .hybrid import HybridTrainer

        return HybridTrainer(cfg, data, arm, seed, observers)
    if kind == "matched":
        from .hybrid import MatchedTrainer

        return MatchedTrainer(cfg, data, arm, seed, observers)
    raise ValueError(f"arms.{arm}.kind: unknown kind {kind!r}")


def run_training(cfg: dict, data_dir: str | Path, arm: str, seed: int, out_dir: str | Path,
                 record: bool = True, observers: Sequence[Observer] = ()) -> dict:
    """Train one (arm, seed) into ``out_dir``, resumably; returns the summary.

    Works in ``partial_dir(out_dir)``: resumes from its newest usable checkpoint if there is one
    (logging "resumed from step N"), else clears it and starts fresh. On success the folder,
    without its checkpoints, replaces ``out_dir``. On failure it is left for the next attempt.
    ``train.checkpoint_every`` (default 100; 0: no checkpoints) sets the interval. ``observers``:
    extra observers, run after the recorders (tests use one to simulate a crash).
    """
    if arm not in cfg["arms"]:
        raise ValueError(f"arm {arm!r} is not in config key 'arms' ({', '.join(cfg['arms'])})")
    torch.set_num_threads(cfg["threads"])
    data = TokenData(data_dir)
    rec = cfg["record"]
    label = f"{arm}/seed{seed}"
    t0 = time.perf_counter()
    out_dir = Path(out_dir)
    work = partial_dir(out_dir)
    every = int(cfg["train"].get("checkpoint_every", 100))
    ckpt = Checkpointer(work, every, fingerprint=run_fingerprint(cfg, arm, seed, data.meta, record))
    state = ckpt.load_latest() if work.is_dir() else None
    if state is None:
        if work.exists():
            log.warning("%s: clearing the stale partial folder %s (no usable checkpoint): starting fresh", label, work)
            shutil.rmtree(work)
        work.mkdir(parents=True)
    extra = list(observers)
    observers: list[Observer] = [MetricsRecorder(work), EventRecorder(work)]
    if record:
        observers.append(SnapshotRecorder(work, rec["snapshot_every"]))
        observers.append(TensorNormRecorder(work))
        if rec["gradients"] != "off":
            observers.append(GradientRecorder(work, rec["gradients"], rec["grad_every"], rec["sketch_dim"], seed))
    observers.append(Progress(rec["progress_every"], label))
    observers.append(EnergyObserver(label))
    observers += extra
    trainer = make_trainer(cfg, data, arm, seed, observers)
    trainer.checkpointer = ckpt
    if state is not None:
        trainer.restore(state)
        log.warning("%s: resumed from step %d (checkpoint %s)", label, trainer.step, ckpt.path_of(trainer.step))
    try:
        summary = trainer.run()
    finally:  # also after a failure: no buffered write may land in a file a later attempt cuts back
        for obs in observers:
            obs.close()
    summary["job_s"] = time.perf_counter() - t0
    write_json(work / "summary.json", summary)
    shutil.rmtree(ckpt.folder, ignore_errors=True)
    if (work / "snapshots").is_dir():  # checksums of every snapshot and record (sha256sum -c works)
        write_manifest(work / "snapshots")
    if out_dir.exists():
        shutil.rmtree(out_dir)
    os.replace(work, out_dir)
    log.info("%s: final val loss %.4f (initial %.4f, ln V = %.4f), %.1f s", label,
             summary["final_val_loss"], summary["initial_val_loss"], summary["ln_vocab"], summary["wall_s"])
    return summary
