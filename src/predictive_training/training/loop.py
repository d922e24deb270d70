"""The conventional trainer: AdamW (or ``train.optimizer``), linear warmup then cosine decay (or
``train.schedule``, :mod:`.optim`), gradient clipping.

:class:`Trainer` runs the steps (every step has a :class:`Phase`; the hybrid trainer adds Predict
and Correct), keeps the clock and the pass counters, and hands every step's :class:`StepInfo`,
gradients and update to its :class:`Observer` s, which record everything. Resumable through
:meth:`Trainer.checkpoint_state` and :meth:`Trainer.restore`. :class:`MatchedTrainer` is conventional
training for a shorter budget with its own full schedule: the ``matched`` control (as many backward
passes as a predicted arm's nominal plan) and the conventional frontier's budgets. Design notes:
``docs/design.md``.
"""

from __future__ import annotations

import collections
import copy
import enum
import logging
import math
import random
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..config import arm_plan, budget_steps
from ..data.prepare import TokenData
from ..model import GPT, GPTConfig
from .optim import lr_at, make_optimizer
from .work import FORWARD_BATCH, FULL_STEP

log = logging.getLogger(__name__)


class Phase(str, enum.Enum):
    WARMUP = "warmup"
    FULL = "full"
    PREDICT = "predict"
    CORRECT = "correct"


@dataclass
class StepInfo:
    """What one training step did; one ``metrics.jsonl`` row."""

    step: int
    phase: str
    loss: float | None  # training loss of this step's batch before the update (nats); None if no forward ran
    lr: float
    grad_norm: float | None  # global gradient norm before clipping; None if no backward ran
    backward: bool
    wall_s: float  # cumulative training seconds after this step
    tokens: int  # cumulative tokens whose gradients were computed
    delta_norm: float  # L2 norm of the weight change applied at this step
    # the common factor clipping multiplied every gradient by, min(1, grad_clip / (grad_norm + 1e-6))
    # (1: not clipped); None if no backward ran. Clipped gradient = raw gradient * clip_coef.
    clip_coef: float | None = None
    val_loss: float | None = None
    val_accuracy: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_row(self) -> dict:
        row = asdict(self)
        extra = row.pop("extra")
        if row["val_loss"] is None:
            row.pop("val_loss")
            row.pop("val_accuracy")
        row.update(extra)
        # Strict JSON has no NaN/inf: a non-finite value (a diverged step) is written as null.
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in row.items()}


def clip_factor(grad_norm: float, max_norm: float) -> float:
    """The factor ``torch.nn.utils.clip_grad_norm_`` multiplies every gradient by:
    ``min(1, max_norm / (grad_norm + 1e-6))`` (NaN for a non-finite norm). The gradients that
    observers receive are the clipped ones; the raw gradient is ``clipped / clip_factor``."""
    if not math.isfinite(grad_norm):
        return math.nan
    return min(1.0, max_norm / (grad_norm + 1e-6))


class Batches:
    """Deterministic random windows of a token array: ``get(t)`` depends only on (seed, t)."""

    def __init__(self, tokens: np.ndarray, batch_size: int, context: int, seed: int, device: torch.device):
        # the ids stay in their compact dtype (uint16 for vocabularies below 65536): an int64 copy of a
        # paper-scale corpus would take 4x the memory; each batch's windows are widened on the fly
        self.tokens = np.asarray(tokens)
        self.batch_size, self.context, self.seed, self.device = batch_size, context, seed, device
        self.n_windows = len(tokens) - context - 1
        if self.n_windows < 1:
            raise ValueError(f"token array of length {len(tokens)} is shorter than one window of {context + 1}")

    def get(self, t: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Inputs and next-token targets, both [batch_size, context] int64."""
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + t)
        starts = torch.randint(0, self.n_windows + 1, (self.batch_size,), generator=g)
        idx = starts[:, None] + torch.arange(self.context + 1)
        win = torch.from_numpy(self.tokens[idx.numpy()].astype(np.int64))
        return win[:, :-1].to(self.device), win[:, 1:].to(self.device)


def pick_device(name: str) -> torch.device:
    if name == "cuda" or (name == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise RuntimeError("config key 'device' is 'cuda' but torch sees no CUDA device")
        return torch.device("cuda")
    return torch.device("cpu")


class Observer:
    """Receives every step; subclasses record what they need. All hooks are optional."""

    wants_tensors = False  # True: on_step receives grads and update dicts (else None)
    untimed = False  # True: on_step is not training work (shadow mode); its time is kept out of wall_s

    def on_start(self, trainer: "Trainer") -> None: ...

    def on_step(
        self,
        trainer: "Trainer",
        info: StepInfo,
        grads: dict[str, torch.Tensor] | None,
        update: dict[str, torch.Tensor] | None,
    ) -> None: ...

    def on_event(self, trainer: "Trainer", event: dict) -> None: ...

    def on_end(self, trainer: "Trainer", summary: dict) -> None: ...

    # --- checkpoints (:mod:`.checkpoint`) ---------------------------------------------------------

    def state_dict(self, trainer: "Trainer", checkpointer) -> dict | None:
        """What a resumed run needs to continue this observer (None: nothing). A ``"files"`` entry
        (``relpath -> {"bytes", "sha256"}``, paths relative to the run folder) lists files the state
        depends on; the checkpoint is only resumed while they still match."""
        return None

    def on_resume(self, trainer: "Trainer", state: dict | None, checkpointer) -> None:
        """Called instead of ``on_start`` when the run resumes from a checkpoint, with what
        ``state_dict`` returned then. Default: ``on_start`` (right for stateless observers)."""
        self.on_start(trainer)

    def close(self) -> None:
        """Release files; called after the run, also when it failed. Must be idempotent."""


class Trainer:
    """Conventional training of one (arm, seed). Subclasses add phases; the clock and the
    pass counters live here so that every arm is timed and counted the same way."""

    def __init__(self, cfg: dict, data: TokenData, arm: str, seed: int, observers: list[Observer] = ()):
        self.cfg, self.data, self.arm, self.seed = cfg, data, arm, seed
        self.train_cfg = cfg["train"]
        if "schedule" in cfg["arms"][arm]:  # a conventional arm's own schedule (a cooldown branch)
            self.train_cfg = {**cfg["train"], "schedule": cfg["arms"][arm]["schedule"]}
        self.device = pick_device(cfg["device"])
        torch.manual_seed(seed)
        self.model_cfg = GPTConfig(vocab_size=data.vocab_size, **cfg["model"])
        self.model = GPT(self.model_cfg).to(self.device)
        self.params = dict(self.model.named_parameters())
        self.optimizer = self._make_optimizer()
        ctx, bs = cfg["model"]["context"], self.train_cfg["batch_size"]
        self.batches = Batches(data.train, bs, ctx, seed, self.device)
        # Validation windows are fixed (seed-independent) so that arms and seeds compare on the same text.
        self.val_batches = Batches(data.val, bs, ctx, 10_000_019, self.device)
        self.observers = list(observers)
        self.wants_tensors = any(o.wants_tensors for o in self.observers)
        self.step = 0
        self.wall_s = 0.0
        self.tokens = 0
        self.forward_passes = 0
        self.backward_passes = 0
        self.eval_s = 0.0
        self.predict_steps = 0
        self.recent_losses: collections.deque[float] = collections.deque(maxlen=20)
        self.initial_val_loss: float | None = None
        # counted work beyond the pass counters (training/work.py), process CPU time, the last
        # periodic evaluation (the final validation loss is the one at the last step)
        self.work: collections.Counter[str] = collections.Counter()
        self.cpu_s = 0.0
        self._cpu_t0: float | None = None
        self.last_eval: dict | None = None
        self._val_se: float | None = None
        self._run_phase: Phase | None = None  # phase of the last step (Trainer.run's phase events)
        # resumability (.checkpoint): set by run_training; restore() fills the rest
        self.checkpointer = None
        self.checkpoint_s = 0.0  # seconds spent writing checkpoints (outside wall_s)
        self.resumed_from: list[int] = []
        self._observer_states: dict | None = None
        self.autocast = (
            torch.autocast("cuda", dtype=torch.bfloat16)
            if self.device.type == "cuda" and self.train_cfg["precision"] == "bf16"
            else None
        )

    def _make_optimizer(self) -> torch.optim.Optimizer:
        """The optimiser of ``train.optimizer`` (AdamW by default; :mod:`.optim`)."""
        return make_optimizer(self.params, self.train_cfg)

    # --- the pieces of a step -------------------------------------------------------------

    def forward_loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        self.forward_passes += 1
        if self.autocast is not None:
            with self.autocast:
                return self.model.loss(x, y)
        return self.model.loss(x, y)

    def full_step(self, phase: Phase) -> StepInfo:
        """One real optimisation step: forward, backward, clip, optimiser update."""
        t0 = time.perf_counter()
        lr = lr_at(self.step, self.train_cfg)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        x, y = self.batches.get(self.step)
        self.model.train()
        loss = self.forward_loss(x, y)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.backward_passes += 1
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.train_cfg["grad_clip"])
        clip_coef = clip_factor(float(grad_norm), self.train_cfg["grad_clip"])
        before = {n: p.detach().clone() for n, p in self.params.items()}
        self.optimizer.step()
        update = {n: p.detach() - before[n] for n, p in self.params.items()}
        grads = {n: p.grad.detach() for n, p in self.params.items()} if self.wants_tensors else None
        self.tokens += x.numel()
        info = StepInfo(
            step=self.step,
            phase=phase.value,
            loss=float(loss.detach()),
            lr=lr,
            grad_norm=float(grad_norm),
            backward=True,
            wall_s=0.0,
            tokens=self.tokens,
            delta_norm=global_norm(update),
            clip_coef=clip_coef,
        )
        self.wall_s += time.perf_counter() - t0
        return self._finish_step(info, grads, update)

    def _finish_step(self, info: StepInfo, grads, update) -> StepInfo:
        """Evaluate if due, notify observers (timed: recording is training overhead), advance."""
        if info.loss is not None:
            self.recent_losses.append(info.loss)
        if (self.step + 1) % self.train_cfg["eval_every"] == 0 or self.step + 1 == self.train_cfg["steps"]:
            info.val_loss, info.val_accuracy = self.evaluate()
            self._record_eval(info)

        t0 = time.perf_counter()
        info.wall_s = self.wall_s
        untimed = 0.0
        for obs in self.observers:
            if getattr(obs, "untimed", False):
                t1 = time.perf_counter()
                obs.on_step(self, info, grads, update if self.wants_tensors else None)
                untimed += time.perf_counter() - t1
            else:
                obs.on_step(self, info, grads, update if self.wants_tensors else None)
        self.wall_s += time.perf_counter() - t0 - untimed
        info.wall_s = self.wall_s
        self.step += 1
        return info

    def _record_eval(self, info: StepInfo) -> None:
        """An evaluation step's row gets the standard error of its validation loss and the work
        counted so far (so that time-to-target can be costed at every evaluation)."""
        info.extra["val_loss_se"] = self._val_se
        info.extra["work"] = self.work_counts()
        self.last_eval = {"step": self.step, "val_loss": info.val_loss, "val_accuracy": info.val_accuracy,
                          "val_loss_se": self._val_se}

    def work_counts(self) -> dict[str, int]:
        """Cumulative counted work (units: training/work.py): real steps, forward-only batches and
        whatever the subclass counts in ``self.work``."""
        out = {FULL_STEP: self.backward_passes, FORWARD_BATCH: self.forward_passes - self.backward_passes}
        out.update({k: int(v) for k, v in sorted(self.work.items()) if v})
        return out

    def cpu_seconds(self) -> float:
        """Process CPU seconds (all threads) of the training loop so far, validation and recording
        included, summed over resumed attempts."""
        return self.cpu_s + (time.process_time() - self._cpu_t0 if self._cpu_t0 is not None else 0.0)

    def emit(self, event: dict) -> None:
        event = {"step": self.step, "wall_s": round(self.wall_s, 6), **event}
        for obs in self.observers:
            obs.on_event(self, event)

    @torch.no_grad()
    def evaluate(self, n_batches: int | None = None) -> tuple[float, float]:
        """Mean validation loss (nats/token) and next-token accuracy over fixed windows; untimed."""
        t0 = time.perf_counter()
        self.model.eval()
        losses, correct, total = [], 0, 0
        for i in range(n_batches or self.train_cfg["eval_batches"]):
            x, y = self.val_batches.get(i)
            logits = self.model(x)
            losses.append(float(F.cross_entropy(logits.flatten(0, 1).float(), y.flatten())))
            correct += int((logits.argmax(-1) == y).sum())
            total += y.numel()
        self.model.train()
        self.eval_s += time.perf_counter() - t0
        # standard error of the mean over the windows (they are a fixed random sample of the split)
        self._val_se = float(np.std(losses, ddof=1) / math.sqrt(len(losses))) if len(losses) > 1 else None
        return float(np.mean(losses)), correct / total

    @torch.no_grad()
    def evaluate_weights(self, weights: dict[str, torch.Tensor]) -> tuple[float, float]:
        """:meth:`evaluate` of other weights (an average, say) on the same windows; the trainer's own
        weights and the standard error of its last evaluation are left as they were."""
        own = {n: p.detach().clone() for n, p in self.params.items()}
        se = self._val_se
        try:
            for n, p in self.params.items():
                p.copy_(weights[n])
            return self.evaluate()
        finally:
            for n, p in self.params.items():
                p.copy_(own[n])
            self._val_se = se

    @torch.no_grad()
    def cloze_accuracy(self) -> float | None:
        """Share of held-out cloze items where the true next word has the highest log-likelihood."""
        items = self.data.cloze
        if not items:
            return None
        tok = self.data.tokenizer()
        ctx_len = self.model_cfg.context
        self.model.eval()
        hits = 0
        for item in items:
            ctx_ids = tok.encode(item["context"]).ids
            seqs, spans = [], []
            for word in item["choices"]:
                w_ids = tok.encode(" " + word).ids
                ids = (ctx_ids + w_ids)[-(ctx_len + 1):]
                seqs.append(ids)
                spans.append(len(w_ids))
            width = max(len(s) for s in seqs)
            batch = torch.zeros(len(seqs), width, dtype=torch.long)
            for i, s in enumerate(seqs):
                batch[i, : len(s)] = torch.tensor(s)
            batch = batch.to(self.device)
            logp = F.log_softmax(self.model(batch[:, :-1]).float(), dim=-1)
            scores = []
            for i, (s, n) in enumerate(zip(seqs, spans)):
                pos = torch.arange(len(s) - 1 - n, len(s) - 1, device=self.device)
                scores.append(float(logp[i, pos, batch[i, pos + 1]].sum()))
            hits += int(np.argmax(scores) == item["answer"])
        self.model.train()
        return hits / len(items)

    # --- the loop ---------------------------------------------------------------------------

    def phase_of(self, step: int) -> Phase:
        return Phase.WARMUP if step < self.train_cfg["warmup_steps"] else Phase.FULL

    def _begin(self) -> bool:
        """Start (initial validation, ``on_start``) or, after :meth:`restore`, resume (``on_resume``
        with each observer's saved state). Returns True for a fresh start."""
        self._cpu_t0 = time.process_time()
        if self._observer_states is not None:
            states, self._observer_states = self._observer_states, None
            for i, obs in enumerate(self.observers):
                obs.on_resume(self, states.get(_observer_key(i, obs)), self.checkpointer)
            return False
        self.initial_val_loss, _ = self.evaluate()
        for obs in self.observers:
            obs.on_start(self)
        return True

    def run(self) -> dict:
        """Train for ``train.steps`` steps (from the restored step after :meth:`restore`) and
        return the summary dict."""
        self._begin()
        while self.step < self.train_cfg["steps"]:
            new_phase = self.phase_of(self.step)
            if new_phase != self._run_phase:
                self.emit({"event": "phase", "from": self._run_phase.value if self._run_phase else None,
                           "to": new_phase.value})
                self._run_phase = new_phase
            self.full_step(new_phase)
            self._at_boundary()
        summary = self.summary()
        for obs in self.observers:
            obs.on_end(self, summary)
        return summary

    def summary(self) -> dict:
        steps = self.train_cfg["steps"]
        last = self.last_eval
        if last is None or last["step"] != steps - 1:  # the last step always evaluates; kept for safety
            val_loss, val_acc = self.evaluate()
            last = {"step": steps - 1, "val_loss": val_loss, "val_accuracy": val_acc, "val_loss_se": self._val_se}
        val_loss, val_acc = last["val_loss"], last["val_accuracy"]
        return {
            "arm": self.arm,
            "seed": self.seed,
            "steps": steps,
            "n_params": self.model.n_params(),
            "vocab_size": self.data.vocab_size,
            "ln_vocab": math.log(self.data.vocab_size),
            "initial_val_loss": self.initial_val_loss,
            "final_val_loss": val_loss,
            "final_train_loss": self._final_train_loss(),
            "downstream": {"val_token_accuracy": val_acc, "cloze_accuracy": self.cloze_accuracy()},
            "wall_s": self.wall_s,
            "eval_s": self.eval_s,
            "tokens": self.tokens,
            "forward_passes": self.forward_passes,
            "backward_passes": self.backward_passes,
            # conventional: every step has one; hybrid arms: the phase plan's count (training/hybrid.py)
            "backward_passes_nominal": steps,
            "extra_backward_passes": self.backward_passes - steps,
            "predict_steps": self.predict_steps,
            "prediction_ratio_requested": self.cfg["arms"][self.arm].get("prediction_ratio", 0.0),
            "prediction_ratio_achieved": self.predict_steps / steps,
            "device": str(self.device),
            "torch_threads": torch.get_num_threads(),
            "checkpoint_s": self.checkpoint_s,
            "resumed_from": list(self.resumed_from),
            # the same evaluation (train.eval_batches fixed windows) as every periodic one
            "final_val_loss_se": last["val_loss_se"],
            "eval_batches": self.train_cfg["eval_batches"],
            "work": self.work_counts(),
            "cpu_s": self.cpu_seconds(),
        }

    # --- checkpoints ---------------------------------------------------------------------------

    def checkpointable(self) -> bool:
        """Whether the state between two steps is complete in :meth:`state_dict` right now."""
        return True

    def _at_boundary(self) -> None:
        """Between two steps: save a checkpoint if one is due (untimed: not training work)."""
        ck = self.checkpointer
        if ck is None or not ck.due(self.step) or self.step >= self.train_cfg["steps"] or not self.checkpointable():
            return
        t0 = time.perf_counter()
        path = ck.save(self.checkpoint_state(), self.step)
        self.checkpoint_s += time.perf_counter() - t0
        log.debug("checkpoint %s written", path)

    def checkpoint_state(self) -> dict:
        """The trainer's and every observer's state, and the files they depend on."""
        observers, files = {}, {}
        for i, obs in enumerate(self.observers):
            st = obs.state_dict(self, self.checkpointer)
            if st is not None:
                observers[_observer_key(i, obs)] = st
                files.update(st.get("files", {}))
        return {"arm": self.arm, "seed": self.seed, "trainer": self.state_dict(), "observers": observers,
                "files": files, "resumed_from": list(self.resumed_from)}

    def restore(self, state: dict) -> None:
        """Continue from a checkpoint written by :meth:`checkpoint_state` (call before ``run``)."""
        if state.get("arm") != self.arm or state.get("seed") != self.seed:
            raise ValueError(f"checkpoint is for {state.get('arm')}/seed{state.get('seed')}, "
                             f"not {self.arm}/seed{self.seed}")
        self.load_state_dict(state["trainer"])
        self._observer_states = dict(state.get("observers", {}))
        self.resumed_from = list(state.get("resumed_from", [])) + [self.step]

    def state_dict(self) -> dict:
        """Model, AdamW, counters, clocks and the global random-number generators."""
        return {
            "step": self.step, "wall_s": self.wall_s, "tokens": self.tokens,
            "forward_passes": self.forward_passes, "backward_passes": self.backward_passes,
            "eval_s": self.eval_s, "predict_steps": self.predict_steps,
            "checkpoint_s": self.checkpoint_s,
            "recent_losses": list(self.recent_losses), "initial_val_loss": self.initial_val_loss,
            "run_phase": self._run_phase.value if self._run_phase else None,
            "work": dict(self.work), "cpu_s": self.cpu_seconds(), "last_eval": self.last_eval,
            "model": {k: v.detach().clone() for k, v in self.model.state_dict().items()},
            "optimizer": self.optimizer.state_dict(),
            "rng": rng_state(),
        }

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        for k in ("step", "tokens", "forward_passes", "backward_passes", "predict_steps"):
            setattr(self, k, int(state[k]))
        for k in ("wall_s", "eval_s", "checkpoint_s"):
            setattr(self, k, float(state[k]))
        self.recent_losses = collections.deque(state["recent_losses"], maxlen=self.recent_losses.maxlen)
        self.initial_val_loss = state["initial_val_loss"]
        self._run_phase = Phase(state["run_phase"]) if state["run_phase"] else None
        self.work.clear()  # in place: the counting wrappers hold this counter
        self.work.update(state["work"])
        self.cpu_s, self.last_eval = float(state["cpu_s"]), state["last_eval"]
        set_rng_state(state["rng"])

    def _final_train_loss(self) -> float | None:
        """Mean training loss of the last (up to 20) steps that ran a forward pass."""
        return float(np.mean(self.recent_losses)) if self.recent_losses else None


class MatchedTrainer(Trainer):
    """The ``matched`` control: conventional AdamW for as many steps as the nominal phase plan of
    ``arms.<arm>.prediction_ratio`` has backward passes, the schedule compressed to that length.
    A ``conventional`` arm with a ``budget`` b < 1 (a point of the conventional frontier) is the
    same trainer for ``round(b x train.steps)`` steps (:func:`~predictive_training.config.budget_steps`)."""

    def __init__(self, cfg: dict, data: TokenData, arm: str, seed: int, observers: list[Observer] = ()):
        arm_cfg = cfg["arms"][arm]
        tc = cfg["train"]
        if arm_cfg["kind"] == "conventional":
            steps = budget_steps(cfg, arm)
        elif "prediction_ratio" not in arm_cfg:
            raise ValueError(f"config key 'arms.{arm}.prediction_ratio' is required for kind 'matched'")
        else:
            steps = arm_plan(cfg, arm).backward_passes
        if steps <= tc["warmup_steps"]:
            raise ValueError(f"arms.{arm}: matched budget {steps} steps does not exceed train.warmup_steps")
        self.budget_steps = tc["steps"]
        cfg = copy.deepcopy(cfg)
        cfg["train"]["steps"] = steps  # lr_at reads train.steps: the cosine ends at the matched budget
        super().__init__(cfg, data, arm, seed, observers)

    def summary(self) -> dict:
        s = super().summary()
        if self.cfg["arms"][self.arm]["kind"] == "conventional":
            s.update({"budget": float(self.cfg["arms"][self.arm].get("budget", 1.0)), "budget_steps": self.budget_steps})
            return s
        s.update({"kind": "matched", "budget_steps": self.budget_steps, "matched_backward_passes": s["steps"],
                  "matched_to_ratio": s["prediction_ratio_requested"],
                  "prediction_ratio_requested": 0.0, "prediction_ratio_achieved": 0.0})
        return s


def _observer_key(i: int, obs: Observer) -> str:
    return f"{i}:{type(obs).__name__}"


def rng_state() -> dict:
    """The global generators: torch (CPU and, if initialised, CUDA), numpy, python ``random``."""
    state = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def global_norm(tensors: dict[str, torch.Tensor]) -> float:
    """L2 norm of all ``tensors`` together (their values as one vector)."""
    return float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(t.float()) for t in tensors.values()])))
