"""The optimisers and learning-rate schedules of ``train.optimizer`` and ``train.schedule``.

Every optimiser is a library's, not hand-written: ``adamw`` and ``sgd`` (heavy-ball momentum,
Nesterov by default) from ``torch.optim``, ``lion`` and ``lamb`` from ``pytorch-optimizer``, and
``muon``: ``torch.optim.Muon`` on the 2-D matrices inside the transformer blocks, AdamW on
everything else (the tied token embedding and head, the position embedding, norms and biases), one
learning rate for both (``adjust_lr_fn="match_rms_adamw"`` scales Muon's orthogonalised update to
AdamW's update RMS, so that ``train.lr`` and ``train.weight_decay`` mean the same for both parts).
Matrices get ``train.weight_decay``, vectors none, for every optimiser.

What each optimiser keeps over a Predict phase (the hybrid trainer applies a predicted delta
without calling ``step``): its whole per-parameter state, untouched, as it is for AdamW (moments
and step counter; ``docs/design.md``, "AdamW over Predict"): SGD its momentum buffer, Lion its
one moment, LAMB its two moments and step counter, Muon its momentum buffer (and AdamW's state
for the rest). The divergence guard's snapshot copies and restores that state, whatever it holds.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping

import torch

OPTIMIZERS = ("adamw", "sgd", "lion", "muon", "lamb")
SCHEDULES = ("cosine", "wsd", "constant")


def lr_at(step: int, train_cfg: dict, total_steps: int | None = None) -> float:
    """The learning rate of ``step`` (0-based) under ``train.schedule``: a linear warmup to
    ``train.lr`` over ``train.warmup_steps``, then

    - ``cosine``: cosine decay to ``lr * min_lr_ratio`` at the budget's end;
    - ``wsd`` (warmup-stable-decay, Hagele et al. 2024): constant, then over the last
      ``train.cooldown_fraction`` of the budget a (1 - sqrt) cooldown to ``lr * min_lr_ratio``
      (``min_lr_ratio`` 0 gives the paper's cooldown to zero);
    - ``constant``: constant after the warmup.

    The budget is ``total_steps`` or ``train.steps`` (a shorter budget compresses the schedule)."""
    peak, warm = train_cfg["lr"], train_cfg["warmup_steps"]
    total = total_steps or train_cfg["steps"]
    if step < warm:
        return peak * (step + 1) / warm
    schedule = train_cfg.get("schedule", "cosine")
    floor = peak * train_cfg["min_lr_ratio"]
    if schedule == "constant":
        return peak
    if schedule == "wsd":
        decay_steps = max(1, round(train_cfg.get("cooldown_fraction", 0.2) * total))
        start = max(warm, total - decay_steps)
        if step < start:
            return peak
        progress = min(1.0, (step - start + 1) / max(1, total - start))
        return floor + (peak - floor) * (1.0 - math.sqrt(progress))
    if schedule != "cosine":
        raise ValueError(f"config key 'train.schedule': unknown schedule {schedule!r} (one of {', '.join(SCHEDULES)})")
    progress = min(1.0, (step - warm) / max(1, total - warm))
    return floor + 0.5 * (peak - floor) * (1 + math.cos(math.pi * progress))


def is_muon_matrix(name: str, p: torch.Tensor) -> bool:
    """The hidden matrices Muon updates: 2-D weights inside the transformer blocks."""
    return p.dim() == 2 and name.startswith("blocks.")


def make_optimizer(params: dict[str, torch.nn.Parameter], train_cfg: dict) -> torch.optim.Optimizer:
    """The optimiser of ``train.optimizer`` over the named parameters (see the module docstring)."""
    tc, kind = train_cfg, train_cfg.get("optimizer", "adamw")
    wd, betas = tc["weight_decay"], (tc["beta1"], tc["beta2"])

    def groups(named):
        decay = [p for n, p in named if p.dim() >= 2]
        no_decay = [p for n, p in named if p.dim() < 2]
        return [{"params": decay, "weight_decay": wd}, {"params": no_decay, "weight_decay": 0.0}]

    named = list(params.items())
    if kind == "adamw":
        return torch.optim.AdamW(groups(named), lr=tc["lr"], betas=betas)
    if kind == "sgd":
        return torch.optim.SGD(groups(named), lr=tc["lr"], momentum=tc.get("momentum", 0.9),
                               nesterov=tc.get("nesterov", True))
    if kind in ("lion", "lamb"):
        import pytorch_optimizer

        cls = pytorch_optimizer.Lion if kind == "lion" else pytorch_optimizer.Lamb
        return cls(groups(named), lr=tc["lr"], betas=betas)
    if kind == "muon":
        matrices = [p for n, p in named if is_muon_matrix(n, p)]
        rest = [(n, p) for n, p in named if not is_muon_matrix(n, p)]
        muon = torch.optim.Muon(matrices, lr=tc["lr"], weight_decay=wd, momentum=tc.get("momentum", 0.9),
                                nesterov=tc.get("nesterov", True), adjust_lr_fn="match_rms_adamw")
        return Combined([muon, torch.optim.AdamW(groups(rest), lr=tc["lr"], betas=betas)])
    raise ValueError(f"config key 'train.optimizer': unknown optimizer {kind!r} (one of {', '.join(OPTIMIZERS)})")


class _States(Mapping):
    """``Combined.state``: each parameter's state lives in the optimiser that owns the parameter."""

    def __init__(self, owner: dict[int, torch.optim.Optimizer], parts: list[torch.optim.Optimizer]):
        self._owner, self._parts = owner, parts

    def __getitem__(self, p: torch.Tensor) -> dict:
        return self._owner[id(p)].state[p]

    def __contains__(self, p: object) -> bool:
        opt = self._owner.get(id(p))
        return opt is not None and p in opt.state

    def __iter__(self) -> Iterator[torch.Tensor]:
        for opt in self._parts:
            yield from opt.state

    def __len__(self) -> int:
        return sum(len(opt.state) for opt in self._parts)

    def values(self):  # Mapping's default builds on __iter__/__getitem__; this is the same, faster
        return [v for opt in self._parts for v in opt.state.values()]


class Combined:
    """Several optimisers over disjoint parameters, used as one: the trainer sets ``lr`` on
    ``param_groups`` (all parts' groups), reads ``state[p]``, steps, zeroes and checkpoints it."""

    def __init__(self, parts: list[torch.optim.Optimizer]):
        self.parts = parts
        owner = {id(p): opt for opt in parts for g in opt.param_groups for p in g["params"]}
        self.state = _States(owner, parts)

    @property
    def param_groups(self) -> list[dict]:
        """Every part's groups, read afresh: ``load_state_dict`` replaces a part's group dicts."""
        return [g for opt in self.parts for g in opt.param_groups]

    def step(self) -> None:
        for opt in self.parts:
            opt.step()

    def zero_grad(self, set_to_none: bool = True) -> None:
        for opt in self.parts:
            opt.zero_grad(set_to_none=set_to_none)

    def state_dict(self) -> dict:
        return {"parts": [opt.state_dict() for opt in self.parts]}

    def load_state_dict(self, state: dict) -> None:
        if len(state["parts"]) != len(self.parts):
            raise ValueError(f"optimizer state has {len(state['parts'])} parts, this optimizer {len(self.parts)}")
        for opt, st in zip(self.parts, state["parts"]):
            opt.load_state_dict(st)
