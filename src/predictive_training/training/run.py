"""One training job: build the arm's trainer and its recorders, run it resumably, publish the run folder.

A run folder ``runs/<arm>/seed<k>/`` holds ``metrics.jsonl``, ``events.jsonl``, ``summary.json``
(final losses, downstream metrics, wall-clock, pass counts, prediction ratio), ``snapshots/``
(weights every ``record.snapshot_every`` steps and the first and last, gradient and update records,
tensor norms, a sha256 manifest) and, for the arms in ``record.shadow.arms``, ``shadow.jsonl``
(:mod:`.shadow`; :func:`run_replay` scores the leave-one-seed-out predictors on a replay of the
baseline). The folder is built in the deterministic working folder
``.<name>.partial`` beside it (:func:`~.checkpoint.partial_dir`) and renamed into place when the
run is complete; a job that finds a usable checkpoint there resumes from it and continues to the
same results as an uninterrupted run (apart from timings and ``summary.json``'s ``resumed_from``).
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch

from ..config import budget_steps, is_predicted, loso_needed, loso_shadow, roles
from ..data.prepare import TokenData
from ..io import read_jsonl, write_json
from ..records.integrity import write_manifest
from ..records.jsonl import METRICS
from .checkpoint import Checkpointer, partial_dir, run_fingerprint
from .energy import EnergyObserver
from .hybrid import HybridTrainer
from .loop import MatchedTrainer, Observer, Trainer
from .observers import (EventRecorder, GradientRecorder, MetricsRecorder, Progress, SnapshotRecorder,
                        TensorBoardRecorder, TensorNormRecorder, TrajectoryRecorder, WeightAverage)
from .searched import SearchedTrainer
from .shadow import ShadowObserver

log = logging.getLogger(__name__)

SNAPSHOT_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


def make_trainer(cfg: dict, data: TokenData, arm: str, seed: int, observers: list[Observer],
                 files: Mapping[str, str] | None = None) -> Trainer:
    """The trainer of an arm's kind: ``conventional`` (Trainer), a predictor of the registry
    (HybridTrainer with that predictor; ``files``: the models of a leave-one-seed-out predictor),
    ``matched`` (MatchedTrainer; also a ``conventional`` arm with a ``budget`` below 1)."""
    kind = cfg["arms"][arm]["kind"]
    if kind == "conventional":
        if budget_steps(cfg, arm) != int(cfg["train"]["steps"]):  # a shorter budget, its own schedule
            return MatchedTrainer(cfg, data, arm, seed, observers)
        if "search_every" in cfg["arms"][arm]:  # the corrector's search on its own update
            return SearchedTrainer(cfg, data, arm, seed, observers)
        return Trainer(cfg, data, arm, seed, observers)
    if kind == "matched":
        return MatchedTrainer(cfg, data, arm, seed, observers)
    if is_predicted(cfg, arm):
        return HybridTrainer(cfg, data, arm, seed, observers, files=files)
    raise ValueError(f"arms.{arm}.kind: unknown kind {kind!r}")


def run_training(cfg: dict, data_dir: str | Path, arm: str, seed: int, out_dir: str | Path,
                 record: bool = True, observers: Sequence[Observer] = (),
                 files: Mapping[str, str] | None = None) -> dict:
    """Train one (arm, seed) into ``out_dir``, resumably; returns the summary.

    Works in ``partial_dir(out_dir)``: resumes from its newest usable checkpoint if there is one
    (logging "resumed from step N"), else clears it and starts fresh. On success the folder,
    without its checkpoints, replaces ``out_dir``. On failure it is left for the next attempt.
    ``train.checkpoint_every`` (0: no checkpoints) sets the interval. ``observers``:
    extra observers, run after the recorders (tests use one to simulate a crash). ``files``: the
    leave-one-seed-out models of a ``nowcaster`` or ``rssm_pretrained`` arm (made for this seed).
    The baseline also records its trajectory (``trajectory.safetensors``) when a nowcaster is
    configured, and its shadow RSSM exports its data (``rssm_stream.npz``) when an
    ``rssm_pretrained`` is.
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
    every = int(cfg["train"]["checkpoint_every"])
    ckpt = Checkpointer(work, every, fingerprint=run_fingerprint(cfg, arm, seed, data.meta, record))
    state = ckpt.load_latest() if work.is_dir() else None
    if state is None:
        if work.exists():
            log.warning("%s: clearing the stale partial folder %s (no usable checkpoint): starting fresh", label, work)
            shutil.rmtree(work)
        work.mkdir(parents=True)
    extra = list(observers)
    observers: list[Observer] = [MetricsRecorder(work), EventRecorder(work)]
    if rec.get("weight_average"):  # before the metrics recorder: it adds to the evaluation rows
        observers.insert(0, WeightAverage(rec["weight_average"]["every"], rec["weight_average"]["keep"]))
    if record:
        if arm in rec["snapshot_arms"]:  # the snapshot policy: only the arms an experiment reads
            observers.append(SnapshotRecorder(work, rec["snapshot_every"], SNAPSHOT_DTYPES[rec["snapshot_dtype"]]))
        observers.append(TensorNormRecorder(work))
        if rec["gradients"] != "off":
            observers.append(GradientRecorder(work, rec["gradients"], rec["grad_every"], rec["sketch_dim"], seed))
        if arm in rec["shadow"]["arms"]:
            observers.append(ShadowObserver(work, cfg, seed))
        if rec["tensorboard"]:  # a live view (off by default); changes no number
            tb = TensorBoardRecorder(work)
            observers.append(tb)
            for obs in observers:
                if isinstance(obs, ShadowObserver):
                    obs.listeners.append(tb.shadow_row)
        if arm == roles(cfg).baseline and "nowcaster" in loso_needed(cfg):
            nc = cfg["hybrid"]["nowcaster"]
            observers.append(TrajectoryRecorder(work, nc["stride"], nc["sample_per_tensor"], seed))
    observers.append(Progress(rec["progress_every"], label))
    observers.append(EnergyObserver(label))
    observers += extra
    trainer = make_trainer(cfg, data, arm, seed, observers, files=files)
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


# ----------------------------------------------------------------------------------------------
# the replay: leave-one-seed-out predictors in shadow mode
# ----------------------------------------------------------------------------------------------


class ReplayCheck(Observer):
    """Checks, step by step, that a replay reproduces the recorded baseline run: its training loss
    and gradient norm against the run's ``metrics.jsonl``. A difference above ``1e-3`` (another
    run) is an error; any difference is reported (``max_abs_loss_diff``; 0 on the CPU, where a run
    is deterministic)."""

    def __init__(self, baseline_dir: str | Path):
        path = Path(baseline_dir) / METRICS
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing: the replay needs the recorded baseline run")
        self.rows = {int(r["step"]): r for r in read_jsonl(path)}
        self.max_loss, self.max_grad, self.n = 0.0, 0.0, 0

    def on_step(self, trainer, info, grads, update):
        rec = self.rows.get(int(info.step))
        if rec is None or rec.get("loss") is None:
            raise RuntimeError(f"replay: the recorded baseline has no loss at step {info.step}")
        d = abs(float(info.loss) - float(rec["loss"]))
        g = abs(float(info.grad_norm) - float(rec["grad_norm"]))
        self.max_loss, self.max_grad, self.n = max(self.max_loss, d), max(self.max_grad, g), self.n + 1
        if not d <= 1e-3:
            raise RuntimeError(f"replay diverged from the recorded baseline at step {info.step}: loss {info.loss} "
                               f"against {rec['loss']} (a different config, data or code?)")

    def on_end(self, trainer, summary):
        summary["replay_check"] = {"steps": self.n, "max_abs_loss_diff": self.max_loss,
                                   "max_abs_grad_norm_diff": self.max_grad}


def run_replay(cfg: dict, data_dir: str | Path, seed: int, baseline_dir: str | Path, out_dir: str | Path,
               files: Mapping[str, str]) -> dict:
    """Shadow mode for the leave-one-seed-out predictors (``nowcaster``, ``rssm_pretrained``) of
    ``record.shadow.predictors``, on a replay of the baseline of ``seed``: the conventional run is
    repeated (the same initialisation, batches and updates; :class:`ReplayCheck` compares every step
    with the recorded ``metrics.jsonl``) with only those predictors riding along, at the same origins
    and on the same held-out windows as the baseline's own shadows (no span oracle: the baseline's
    rows have it). Writes ``shadow.jsonl`` and ``summary.json`` (shadow time and parts, the replay
    check, the models' training provenance) to ``out_dir`` (built beside it, renamed when complete)."""
    names = loso_shadow(cfg)
    if not names:
        raise ValueError("record.shadow.predictors holds no leave-one-seed-out predictor (nowcaster, "
                         "rssm_pretrained) on the baseline: nothing to replay")
    missing = [n for n in names if n not in files]
    if missing:
        raise ValueError(f"the replay of seed {seed} needs the models of {missing}")
    torch.set_num_threads(cfg["threads"])
    data = TokenData(data_dir)
    out_dir = Path(out_dir)
    work = out_dir.parent / f".{out_dir.name}.partial"
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    t0 = time.perf_counter()
    label = f"replay/seed{seed}"
    shadow = ShadowObserver(work, cfg, seed, predictors=names, span_oracle=False, files=files)
    check = ReplayCheck(baseline_dir)
    observers = [shadow, check, Progress(cfg["record"]["progress_every"], label)]
    trainer = Trainer(cfg, data, roles(cfg).baseline, seed, observers)
    try:
        summary = trainer.run()
    finally:
        for obs in observers:
            obs.close()
    summary["job_s"] = time.perf_counter() - t0
    summary["replay_of"] = str(baseline_dir)
    summary["models"] = {n: str(files[n]) for n in names}
    write_json(work / "summary.json", summary)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    os.replace(work, out_dir)
    log.info("%s: %d shadow rows for %s, %.1f s", label, summary["shadow"]["rows"], names, summary["job_s"])
    return summary
