"""One training job: build the arm's trainer and its recorders, run it resumably, publish the run folder.

A run folder ``runs/<arm>/seed<k>/`` holds ``metrics.jsonl``, ``events.jsonl``, ``summary.json``
(final losses, downstream metrics, wall-clock, pass counts, prediction ratio), ``snapshots/``
(weights every ``record.snapshot_every`` steps and the first and last, gradient and update records,
tensor norms, a sha256 manifest) and, for the arms in ``record.shadow.arms``, ``shadow.jsonl``
(:mod:`.shadow`). The folder is built in the deterministic working folder
``.<name>.partial`` beside it (:func:`~.checkpoint.partial_dir`) and renamed into place when the
run is complete; a job that finds a usable checkpoint there resumes from it and continues to the
same results as an uninterrupted run (apart from timings and ``summary.json``'s ``resumed_from``).
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Sequence
from pathlib import Path

import torch

from ..data.prepare import TokenData
from ..io import write_json
from ..records.integrity import write_manifest
from .checkpoint import Checkpointer, partial_dir, run_fingerprint
from .energy import EnergyObserver
from .hybrid import HybridTrainer, MatchedTrainer
from .loop import Observer, Trainer
from .observers import EventRecorder, GradientRecorder, MetricsRecorder, Progress, SnapshotRecorder, TensorNormRecorder
from .shadow import ShadowObserver

log = logging.getLogger(__name__)

SNAPSHOT_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


def make_trainer(cfg: dict, data: TokenData, arm: str, seed: int, observers: list[Observer]) -> Trainer:
    """The trainer of an arm's kind: ``conventional`` (Trainer), ``hybrid``/``skip``/``repeat``
    (HybridTrainer with the RSSM, zero, or repeat-mean predictor), ``matched`` (MatchedTrainer)."""
    kind = cfg["arms"][arm]["kind"]
    if kind == "conventional":
        return Trainer(cfg, data, arm, seed, observers)
    if kind in ("hybrid", "skip", "repeat"):
        return HybridTrainer(cfg, data, arm, seed, observers)
    if kind == "matched":
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
        if arm in rec["snapshot_arms"]:  # the snapshot policy: only the arms an experiment reads
            observers.append(SnapshotRecorder(work, rec["snapshot_every"], SNAPSHOT_DTYPES[rec["snapshot_dtype"]]))
        observers.append(TensorNormRecorder(work))
        if rec["gradients"] != "off":
            observers.append(GradientRecorder(work, rec["gradients"], rec["grad_every"], rec["sketch_dim"], seed))
        if arm in rec["shadow"]["arms"]:
            observers.append(ShadowObserver(work, cfg, seed))
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
