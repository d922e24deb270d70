"""The recording observers: what a training run writes into its run folder, step by step.

``metrics.jsonl`` (one ``StepInfo`` row per step) and ``events.jsonl`` (:class:`MetricsRecorder`,
:class:`EventRecorder`), weight snapshots (:class:`SnapshotRecorder`), gradient and update records
(:class:`GradientRecorder`, exact or sketched), per-tensor norms (:class:`TensorNormRecorder`), the
nowcaster's training data (:class:`TrajectoryRecorder`), the validation loss of averaged weights
(:class:`WeightAverage`, LAWA) and a progress bar (:class:`Progress`). The file formats are in :mod:`predictive_training.records`;
each observer's ``state_dict``/``on_resume`` make a run resumable (:mod:`.checkpoint`).
"""

from __future__ import annotations

import collections
import logging
import sys
from pathlib import Path

import torch
from tqdm import tqdm

from ..records.gradients import GRAD_KIND, write_records
from ..records.jsonl import EVENTS, METRICS, JsonlLog
from ..records.sketch import GradientSketch
from ..records.snapshots import list_snapshots, write_snapshot
from ..records.tensor_norms import FILENAME as TENSOR_NORMS
from ..records.tensor_norms import write_tensor_norms
from ..records.trajectory import TRAJECTORY, sample_indices, write_trajectory
from .checkpoint import load_chunk, save_chunk
from .loop import Observer, Trainer

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
    """safetensors weight snapshots at step 0 (before training), after every N-th step and after
    the last, in ``dtype`` (float32, or bfloat16 to halve the disk: ``record.snapshot_dtype``).
    Measurement, not training work: untimed (``docs/design.md``, timing)."""

    untimed = True

    def __init__(self, folder: Path, every: int, dtype: torch.dtype = torch.float32):
        self.folder, self.every, self.dtype = folder / "snapshots", every, dtype
        self.folder.mkdir(exist_ok=True)

    def save(self, trainer: Trainer, step: int) -> None:
        tensors = {n: p.detach().to("cpu", self.dtype).contiguous() for n, p in trainer.params.items()}
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


class WeightAverage(Observer):
    """LAWA (latest weight averaging; Kaddour 2022, Sanyal et al. 2023): the weights after every
    ``every``-th step are kept, the latest ``keep`` of them; at every evaluation the validation loss
    and accuracy of their average are measured on the same windows as the raw weights' and written
    beside them (``val_loss_avg``, ``val_accuracy_avg`` in ``metrics.jsonl``;
    ``final_val_loss_avg`` and ``final_val_accuracy_avg`` in ``summary.json``). Before the first kept
    step the average is the current weights. An evaluation option of every arm: it changes no
    weight the run trains on, and it is measurement, untimed like the evaluation itself.

    Must come before :class:`MetricsRecorder` among the observers (it adds to the row it writes)."""

    untimed = True

    def __init__(self, every: int, keep: int):
        if every < 1 or keep < 1:
            raise ValueError(f"record.weight_average: every ({every}) and keep ({keep}) must be at least 1")
        self.every, self.keep = every, keep
        self.kept: collections.deque[dict[str, torch.Tensor]] = collections.deque(maxlen=keep)
        self.last: tuple[float, float] | None = None

    def on_start(self, trainer):
        self.kept.clear()
        self.last = None

    def state_dict(self, trainer, checkpointer):
        return {"kept": [{n: t.clone() for n, t in w.items()} for w in self.kept], "last": self.last}

    def on_resume(self, trainer, state, checkpointer):
        self.kept = collections.deque(state["kept"], maxlen=self.keep)
        self.last = tuple(state["last"]) if state["last"] is not None else None

    @torch.no_grad()
    def on_step(self, trainer, info, grads, update):
        if (info.step + 1) % self.every == 0:
            self.kept.append({n: p.detach().clone() for n, p in trainer.params.items()})
        if info.val_loss is None:
            return
        if self.kept:
            loss, acc = trainer.evaluate_weights({n: torch.stack([w[n] for w in self.kept]).mean(0)
                                                  for n in trainer.params})
        else:
            loss, acc = info.val_loss, info.val_accuracy  # nothing kept yet: the average is the weights
        self.last = (loss, acc)
        info.extra["val_loss_avg"], info.extra["val_accuracy_avg"] = loss, acc

    def on_end(self, trainer, summary):
        if self.last is not None:
            summary["final_val_loss_avg"], summary["final_val_accuracy_avg"] = self.last
        summary["weight_average"] = {"method": "lawa", "every": self.every, "keep": self.keep}


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
    """Every ``grad_every``-th full step: the RAW (pre-clipping) gradient, the clip factor and the
    applied update, exact or sketched.

    The trainer hands observers the clipped gradients; clipping multiplies all of them by one
    factor ``clip_coef`` (:func:`~.loop.clip_factor`), so the raw gradient the plan describes is
    ``clipped / clip_coef`` (divided after sketching: the sketch is linear). ``clip_coef`` is
    recorded per row, so the clipped stream is ``grad * clip_coef`` and clipping stays visible.

    Measurement (Exp 1), not training work: untimed.
    """

    wants_tensors = True
    untimed = True
    key = "gradients"
    columns = ("grad", "update", "clip_coef")

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
        coef = 1.0 if info.clip_coef is None else float(info.clip_coef)
        self.steps.append(info.step)
        self.grad.append(self._compress(grads) / coef)  # raw = clipped / clip_coef
        self.update.append(self._compress(update))
        self.clip_coef.append(torch.tensor(coef, dtype=torch.float32))

    def on_end(self, trainer, summary):
        write_records(
            self.path,
            torch.tensor(self.steps, dtype=torch.int64),
            torch.stack(self.grad),
            torch.stack(self.update),
            {"mode": self.mode, "dim": self.dim if self.mode == "sketch" else self.n_params,
             "n_params": self.n_params, "seed": self.seed, "grad": GRAD_KIND},
            clip_coef=torch.stack(self.clip_coef),
        )


class TensorNormRecorder(_SpilledRows, Observer):
    """Per-tensor gradient and update L2 norms of every full step (the dynamics model's observations).

    Written to ``snapshots/tensor_norms.safetensors``: ``steps`` [T], ``grad_norm`` [T, n] and
    ``update_norm`` [T, n] float32, with the parameter names (column order) in the metadata.
    Measurement (the experiments' features), not training work: untimed.
    """

    wants_tensors = True
    untimed = True
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


class TrajectoryRecorder(_SpilledRows, Observer):
    """The per-weight update history of a fixed sample of weights at a coarse stride
    (``trajectory.safetensors``, :mod:`predictive_training.records.trajectory`): the nowcaster's
    offline training data. Every ``stride`` real steps, the sampled weights' summed updates of those
    steps (bf16 on disk) and the sum of their learning rates. Timed like every recorder."""

    wants_tensors = True
    key = "trajectory"
    columns = ("delta", "lr")

    def __init__(self, folder: Path, stride: int, per_tensor: int, seed: int):
        self.path = Path(folder) / TRAJECTORY
        self.stride, self.per_tensor, self.seed = int(stride), int(per_tensor), int(seed)
        self._init_rows()

    def on_start(self, trainer):
        shapes = {n: tuple(p.shape) for n, p in trainer.params.items()}
        self.names = list(shapes)
        self.index = sample_indices(shapes, self.per_tensor)
        self.device = trainer.device
        self._idx = {n: i.to(self.device) for n, i in self.index.items()}
        self.acc = torch.zeros(sum(i.numel() for i in self.index.values()), device=self.device)
        self.acc_lr, self.n = 0.0, 0
        self.meta = {"names": self.names, "shapes": {n: list(s) for n, s in shapes.items()}, "stride": self.stride,
                     "seed": self.seed, "steps": int(trainer.train_cfg["steps"]),
                     "warmup_steps": int(trainer.train_cfg["warmup_steps"]), "sample_per_tensor": self.per_tensor}

    def on_step(self, trainer, info, grads, update):
        if update is None or not info.backward:
            return
        self.acc.add_(torch.cat([update[n].reshape(-1)[self._idx[n]].float() for n in self.names]))
        self.acc_lr += float(info.lr)
        self.n += 1
        if self.n == self.stride:
            self.steps.append(info.step + 1)
            self.delta.append(self.acc.to("cpu", torch.bfloat16))
            self.lr.append(torch.tensor([self.acc_lr], dtype=torch.float32))
            self.acc.zero_()
            self.acc_lr, self.n = 0.0, 0

    def state_dict(self, trainer, checkpointer):
        return {**self._rows_state(checkpointer), "acc": self.acc.cpu().clone(), "acc_lr": self.acc_lr,
                "in_window": self.n}

    def on_resume(self, trainer, state, checkpointer):
        self.on_start(trainer)
        self._load_rows(state, checkpointer)
        self.acc.copy_(state["acc"].to(self.device))
        self.acc_lr, self.n = float(state["acc_lr"]), int(state["in_window"])

    def on_end(self, trainer, summary):
        tensor = torch.cat([torch.full((self.index[n].numel(),), i, dtype=torch.int32) for i, n in enumerate(self.names)])
        deltas = torch.stack(self.delta) if self.delta else torch.zeros(0, tensor.numel(), dtype=torch.bfloat16)
        lr = torch.cat(self.lr) if self.lr else torch.zeros(0)
        write_trajectory(self.path, deltas, lr, torch.tensor(self.steps, dtype=torch.int64),
                         torch.cat([self.index[n] for n in self.names]), tensor, self.meta)
        summary["trajectory"] = {"file": TRAJECTORY, "windows": len(self.steps), "weights": int(tensor.numel()),
                                 "stride": self.stride, "bytes": self.path.stat().st_size}


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


#: the phases as numbers on a TensorBoard scalar (``phase`` of a metrics row)
PHASE_CODES = {"warmup": 0, "full": 1, "predict": 2, "correct": 3}


class TensorBoardRecorder(Observer):
    """A live view of a run for people developing a predictor (``record.tensorboard``): TensorBoard
    scalars in ``tensorboard/`` beside ``metrics.jsonl`` (``torch.utils.tensorboard``; open with
    ``tensorboard --logdir results/<study>/runs``). Per step: training loss, learning rate, gradient
    norm, the applied weight change's norm and the phase (0 warmup, 1 Full, 2 Predict, 3 Correct);
    per evaluation the validation loss; per shadow row the progress captured of each predictor and
    horizon (:meth:`shadow_row`, called by the shadow observer). Measurement only: untimed, and it
    reads nothing the run uses, so the study's numbers do not change. A resumed run discards what
    the interrupted one logged after its checkpoint (``purge_step``)."""

    untimed = True

    def __init__(self, folder: Path):
        self.folder = Path(folder) / "tensorboard"
        self.writer = None

    def _open(self, purge_step: int | None = None) -> None:
        from torch.utils.tensorboard import SummaryWriter  # imported only when the view is asked for

        if self.writer is None:
            self.writer = SummaryWriter(str(self.folder), purge_step=purge_step)

    def on_start(self, trainer):
        self._open()

    def on_resume(self, trainer, state, checkpointer):
        self.close()
        self._open(purge_step=int(trainer.step))

    def on_step(self, trainer, info, grads, update):
        w, s = self.writer, int(info.step)
        for key, value in (("train/loss", info.loss), ("train/lr", info.lr), ("train/grad_norm", info.grad_norm),
                           ("train/delta_norm", info.delta_norm), ("val/loss", info.val_loss)):
            if value is not None:
                w.add_scalar(key, float(value), s)
        w.add_scalar("train/phase", PHASE_CODES.get(info.phase, -1), s)

    def shadow_row(self, row: dict) -> None:
        """One shadow-mode row: progress captured (and after the scale search) at the step it completed."""
        if self.writer is None or row.get("kind") == "forecast":
            return
        step = int(row["origin"]) + int(row["horizon"])
        for key, tag in (("progress", "progress"), ("search_progress", "progress_after_search")):
            value = row.get(key) if key == "progress" else (row.get("search") or {}).get("progress")
            if value is not None:
                self.writer.add_scalar(f"shadow/{tag}/{row['predictor']}@{row['horizon']}", float(value), step)

    def on_end(self, trainer, summary):
        self.close()

    def close(self):
        if self.writer is not None:
            self.writer.close()
            self.writer = None
