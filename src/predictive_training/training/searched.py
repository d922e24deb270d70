"""Conventional training with the corrector's scale search on its own update (``arms.<a>.search_every``).

A predicted arm's correction multiplies each parameter group's predicted delta by the scale that
lowers the loss on held-aside batches. Part of what that search gains is not the prediction: the
optimiser under-steps some groups at this learning rate, and the same search applied to the REAL
update would find it too. This trainer is that conventional counterpart, a point of the frontier:
every ``search_every`` steps after the warmup, the update accumulated since the last search point
(the weights now minus the weights then) is searched group by group exactly as the hybrid arm's
corrector searches a predicted delta (``arms.<a>.corrector`` over ``hybrid.corrector``), the chosen
scales applied, and the work counted as the hybrid's is: every evaluation of the search's loss a
``search_trial``, its held-aside batches ``forward_batch`` es. The optimiser's state is kept, as over
a Predict phase. The held-aside batches come from the batch stream beyond the step budget (the
hybrid tops its search batches up from there too), a fresh set per search.
"""

from __future__ import annotations

import math
import time

import torch

from ..config import arm_hybrid
from ..dynamics.corrector import LayerwiseLineSearch, group_parameters
from .loop import Phase, StepInfo, Trainer, global_norm
from .work import CountingCorrector

__all__ = ["SearchedTrainer", "search_points"]


def search_points(steps: int, warmup: int, every: int) -> list[int]:
    """The steps before which a search runs: every ``every`` steps after the warmup, not at 0 steps
    after it and not after the last step (the update since the last point is searched)."""
    return list(range(warmup + every, steps, every))


class SearchedTrainer(Trainer):
    """A conventional run of the whole budget with the corrector's search on its accumulated update
    every ``arms.<arm>.search_every`` steps (see the module docstring); a point of the frontier."""

    def __init__(self, cfg, data, arm, seed, observers=()):
        super().__init__(cfg, data, arm, seed, observers)
        hc = arm_hybrid(cfg, arm)["corrector"]
        self.every = int(cfg["arms"][arm]["search_every"])
        self.corrector = CountingCorrector(
            LayerwiseLineSearch(group_parameters(self.params, hc.get("groups", "block")), hc["scales"], hc["trials"],
                                hc["evidence_z"]), self.work)
        self.n_search = int(hc["batches"])
        self.points = set(search_points(int(self.train_cfg["steps"]), int(self.train_cfg["warmup_steps"]),
                                        self.every))
        self.anchor: dict[str, torch.Tensor] | None = None  # the weights at the last search point
        self.n_searches = 0

    def full_step(self, phase: Phase) -> StepInfo:
        if self.step == int(self.train_cfg["warmup_steps"]):
            self.anchor = {n: p.detach().clone() for n, p in self.params.items()}
        elif self.step in self.points:
            self.search()
        return super().full_step(phase)

    @torch.no_grad()
    def _losses(self, steps: list[int]) -> list[float]:
        self.model.eval()
        out = [float(self.forward_loss(*self.batches.get(s))) for s in steps]  # counted: forward_batch
        self.model.train()
        return out

    def search(self) -> None:
        """The search on the update since the last point; timed (training work), an event."""
        t0 = time.perf_counter()
        delta = {n: p.detach() - self.anchor[n] for n, p in self.params.items()}
        T = int(self.train_cfg["steps"])
        steps = [T + self.n_searches * self.n_search + i for i in range(self.n_search)]
        before = {n: p.detach().clone() for n, p in self.params.items()}
        corr = self.corrector.correct(self.params, delta, lambda: self._losses(steps))
        change = {n: p.detach() - before[n] for n, p in self.params.items()}
        self.n_searches += 1
        self.anchor = {n: p.detach().clone() for n, p in self.params.items()}
        self.wall_s += time.perf_counter() - t0
        self.emit({"event": "search", "search": self.n_searches, "search_steps": steps,
                   "update_norm": global_norm(delta), "correction_norm": global_norm(change),
                   "search_loss_before": _num(corr.loss_before), "search_loss_after": _num(corr.loss_after_search),
                   "scales": {g: v["scale"] for g, v in corr.per_layer.items()}})

    def summary(self) -> dict:
        s = super().summary()
        s.update(search_every=self.every, searches=self.n_searches)
        return s

    def state_dict(self) -> dict:
        st = super().state_dict()
        st["searched"] = {"anchor": None if self.anchor is None else {n: t.clone() for n, t in self.anchor.items()},
                          "n_searches": self.n_searches, "corrector": self.corrector.state_dict()}
        return st

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        st = state["searched"]
        self.anchor = st["anchor"]
        self.n_searches = int(st["n_searches"])
        self.corrector.load_state_dict(st["corrector"])


def _num(x) -> float | None:
    return None if x is None or not math.isfinite(float(x)) else float(x)
