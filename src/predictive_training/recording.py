"""Recording observers (the plan's data-collection table) and the entry that runs one training job.

A run folder ``runs/<arm>/seed<k>/`` holds:

- ``metrics.jsonl``: one ``StepInfo`` row per step;
- ``events.jsonl``: phase transitions, predictions, corrections, guard events;
- ``summary.json``: final losses, downstream metrics, wall-clock, pass counts, prediction ratio;
- ``snapshots/step<NNNNNN>.safetensors``: weights every ``record.snapshot_every`` steps (and the
  first and last), keyed by parameter name; ``snapshots/gradients.safetensors``: gradient and
  update records (full float16 vectors in ``exact`` mode, seeded projections in ``sketch`` mode).

The folder is built under a temporary name and renamed into place when the run is complete.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path

import torch
from safetensors.torch import save_file
from tqdm import tqdm

from .data.prepare import TokenData
from .io import atomic_dir, write_json
from .training import Observer, StepInfo, Trainer

log = logging.getLogger(__name__)


class MetricsRecorder(Observer):
    def __init__(self, folder: Path):
        self.fh = open(folder / "metrics.jsonl", "w", encoding="utf-8")

    def on_step(self, trainer, info, grads, update):
        self.fh.write(json.dumps(info.to_row()) + "\n")

    def on_end(self, trainer, summary):
        self.fh.close()


class EventRecorder(Observer):
    def __init__(self, folder: Path):
        self.fh = open(folder / "events.jsonl", "w", encoding="utf-8")

    def on_event(self, trainer, event):
        self.fh.write(json.dumps(event) + "\n")

    def on_end(self, trainer, summary):
        self.fh.close()


class SnapshotRecorder(Observer):
    """safetensors weight snapshots at step 0 (before training) and after every N-th step."""

    def __init__(self, folder: Path, every: int):
        self.folder, self.every = folder / "snapshots", every
        self.folder.mkdir(exist_ok=True)

    def save(self, trainer: Trainer, step: int) -> None:
        tensors = {n: p.detach().to("cpu", torch.float32).contiguous() for n, p in trainer.params.items()}
        save_file(tensors, str(self.folder / f"step{step:06d}.safetensors"), metadata={"step": str(step)})

    def on_start(self, trainer):
        self.save(trainer, 0)

    def on_step(self, trainer, info, grads, update):
        done = info.step + 1  # weights now hold the state after `done` steps
        if done % self.every == 0 or done == trainer.train_cfg["steps"]:
            self.save(trainer, done)


class GradientRecorder(Observer):
    """Every ``grad_every``-th full step: the gradient and the applied update, exact or sketched."""

    wants_tensors = True

    def __init__(self, folder: Path, mode: str, every: int, sketch_dim: int, seed: int):
        self.path = folder / "snapshots" / "gradients.safetensors"
        self.path.parent.mkdir(exist_ok=True)
        self.mode, self.every, self.dim, self.seed = mode, every, sketch_dim, seed
        self.steps: list[int] = []
        self.grad: list[torch.Tensor] = []
        self.update: list[torch.Tensor] = []

    def on_start(self, trainer):
        self.n_params = sum(p.numel() for p in trainer.params.values())
        if self.mode == "sketch":
            from .sketch import GradientSketch

            self.sketch = GradientSketch(self.n_params, self.dim, self.seed, device=trainer.device)

    def _compress(self, tensors: dict[str, torch.Tensor]) -> torch.Tensor:
        chunks = [t.reshape(-1) for t in tensors.values()]
        if self.mode == "sketch":
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
        from .gradient_structure import write_records

        write_records(
            self.path,
            torch.tensor(self.steps, dtype=torch.int64),
            torch.stack(self.grad),
            torch.stack(self.update),
            {"mode": self.mode, "dim": self.dim if self.mode == "sketch" else self.n_params,
             "n_params": self.n_params, "seed": self.seed},
        )


class TensorNormRecorder(Observer):
    """Per-tensor gradient and update L2 norms of every full step (the dynamics model's observations).

    Written to ``snapshots/tensor_norms.safetensors``: ``steps`` [T], ``grad_norm`` [T, n] and
    ``update_norm`` [T, n] float32, with the parameter names (column order) in the metadata.
    """

    wants_tensors = True

    def __init__(self, folder: Path):
        self.path = folder / "snapshots" / "tensor_norms.safetensors"
        self.path.parent.mkdir(exist_ok=True)
        self.steps: list[int] = []
        self.grad: list[torch.Tensor] = []
        self.update: list[torch.Tensor] = []

    def on_step(self, trainer, info, grads, update):
        if grads is None or not info.backward:
            return
        self.names = list(grads)
        self.steps.append(info.step)
        self.grad.append(torch.stack([torch.linalg.vector_norm(g.float()) for g in grads.values()]).cpu())
        self.update.append(torch.stack([torch.linalg.vector_norm(u.float()) for u in update.values()]).cpu())

    def on_end(self, trainer, summary):
        if not self.steps:
            return
        save_file({"steps": torch.tensor(self.steps, dtype=torch.int64), "grad_norm": torch.stack(self.grad),
                   "update_norm": torch.stack(self.update)}, str(self.path),
                  metadata={"names": json.dumps(self.names)})


def read_tensor_norms(path: str | Path) -> dict:
    """Inverse of ``TensorNormRecorder``: steps, grad_norm, update_norm tensors and the names."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        out = {k: f.get_tensor(k) for k in ("steps", "grad_norm", "update_norm")}
        out["names"] = json.loads(f.metadata()["names"])
    return out


class Progress(Observer):
    """A progress bar in the job log plus a periodic plain log line (for non-tty logs)."""

    def __init__(self, every: int, label: str):
        self.every, self.label = every, label

    def on_start(self, trainer):
        self.bar = tqdm(total=trainer.train_cfg["steps"], desc=self.label, file=sys.stderr,
                        mininterval=2.0, dynamic_ncols=False, ncols=100)

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
                 record: bool = True) -> dict:
    """Train one (arm, seed) and write its run folder atomically; returns the summary."""
    if arm not in cfg["arms"]:
        raise ValueError(f"arm {arm!r} is not in config key 'arms' ({', '.join(cfg['arms'])})")
    torch.set_num_threads(cfg["threads"])
    data = TokenData(data_dir)
    rec = cfg["record"]
    t0 = time.perf_counter()
    with atomic_dir(out_dir) as tmp:
        observers: list[Observer] = [MetricsRecorder(tmp), EventRecorder(tmp)]
        if record:
            observers.append(SnapshotRecorder(tmp, rec["snapshot_every"]))
            observers.append(TensorNormRecorder(tmp))
            if rec["gradients"] != "off":
                observers.append(GradientRecorder(tmp, rec["gradients"], rec["grad_every"], rec["sketch_dim"], seed))
        observers.append(Progress(rec["progress_every"], f"{arm}/seed{seed}"))
        trainer = make_trainer(cfg, data, arm, seed, observers)
        summary = trainer.run()
        summary["job_s"] = time.perf_counter() - t0
        write_json(tmp / "summary.json", summary)
    log.info("%s/seed%d: final val loss %.4f (initial %.4f, ln V = %.4f), %.1f s", arm, seed,
             summary["final_val_loss"], summary["initial_val_loss"], summary["ln_vocab"], summary["wall_s"])
    return summary
