"""The hybrid's gate from measured skill: does the predictor beat a simple reference right now?

At the start of every Full gap of a ``hybrid`` cycle both the predictor and the reference (an
EMA of the per-step updates, :class:`~predictive_training.dynamics.simple.EmaDeltaPredictor` (beta = 1 - ema_alpha, per unit learning rate), or
the zero prediction) forecast the gap's weight delta, at the gap's length, with the learning
rates the schedule will use. At the gap's end the two forecasts are scored against the delta the
real steps made (:func:`delta_scores`: cosine, norm ratio ``|pred| / |real|``, relative L2 error
``|pred - real| / |real|``). The next Predict phase may run only if the predictor's statistic
(``hybrid.gate.statistic``) beats the reference's by more than ``hybrid.gate.margin``; the
trainer (:mod:`.hybrid`) also blocks a predictor that is not ready or whose rollout uncertainty is
not finite or above ``hybrid.gate.max_uncertainty``. The decision uses the last completed gap
(a gap cut short by the guard gives no measurement). Design notes: ``docs/design.md``.

Memory: the weights at the gap's start and the two forecasts, 3 N numbers (N = parameters), kept
until the gap ends; nothing per step (the real delta is the weights' change over the gap).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass

import torch

__all__ = ["STATISTICS", "REFERENCES", "delta_scores", "SkillResult", "SkillGate"]

STATISTICS = ("rel_l2", "cosine")  # rel_l2: lower is better; cosine: higher is better
REFERENCES = ("ema_of_deltas", "zero", "none")  # none: no skill check (the nominal schedule)


def delta_scores(pred: Mapping[str, torch.Tensor], real: Mapping[str, torch.Tensor]) -> dict:
    """Cosine, norm ratio and relative L2 error of ``pred`` against ``real`` over all tensors
    (float64 sums per tensor; no concatenated copy). Cosine is 0 and the ratio 0 for a zero
    prediction; every score is NaN when ``real`` is zero."""
    dot = pp = rr = 0.0
    for n, r in real.items():
        p = pred[n].detach().to(torch.float64).reshape(-1)
        r = r.detach().to(torch.float64).reshape(-1).to(p.device)
        dot += float(p @ r)
        pp += float(p @ p)
        rr += float(r @ r)
    if rr <= 0 or not math.isfinite(rr):
        return {"cosine": float("nan"), "norm_ratio": float("nan"), "rel_l2": float("nan")}
    cos = dot / math.sqrt(pp * rr) if pp > 0 else 0.0
    return {"cosine": cos, "norm_ratio": math.sqrt(pp / rr),
            "rel_l2": math.sqrt(max(pp - 2 * dot + rr, 0.0) / rr)}


@dataclass
class SkillResult:
    """One completed gap's measurement and what it says."""

    cycle: int
    gap_start: int
    gap_steps: int
    predictor: dict | None  # delta_scores of the predictor (None: it was not ready at the gap's start)
    reference: dict
    passed: bool
    why: str  # "beats_reference", "below_reference", "predictor_not_ready", "not_finite"


class SkillGate:
    """Measures the predictor's skill on each Full gap and decides whether the next Predict phase
    may run (see the module docstring).

    Args: statistic (``STATISTICS``), reference (``REFERENCES``, not ``none``), margin (>= 0).
    """

    def __init__(self, statistic: str, reference: str, margin: float):
        if statistic not in STATISTICS:
            raise ValueError(f"config key 'hybrid.gate.statistic' must be one of {STATISTICS}, got {statistic!r}")
        if reference not in REFERENCES or reference == "none":
            raise ValueError(f"config key 'hybrid.gate.reference' must be one of {REFERENCES[:-1]}, got {reference!r}")
        if not (isinstance(margin, (int, float)) and math.isfinite(margin) and margin >= 0):
            raise ValueError(f"config key 'hybrid.gate.margin' must be a finite number >= 0, got {margin!r}")
        self.statistic, self.reference, self.margin = statistic, reference, float(margin)
        self.cycle: int | None = None  # the cycle whose gap is being measured
        self._start: dict | None = None  # step, weights, forecasts at the gap's start
        self.last: SkillResult | None = None

    def begin(self, cycle: int, step: int, gap_steps: int, weights: Mapping[str, torch.Tensor],
              pred: Mapping[str, torch.Tensor] | None, ref: Mapping[str, torch.Tensor]) -> None:
        """The gap of ``cycle`` starts at ``step``: keep the weights and both forecasts of its delta
        (``pred`` None: the predictor was not ready)."""
        self.cycle = int(cycle)
        self._start = {"step": int(step), "gap_steps": int(gap_steps),
                       "weights": {n: w.detach().clone() for n, w in weights.items()},
                       "pred": None if pred is None else {n: d.detach().clone() for n, d in pred.items()},
                       "ref": {n: d.detach().clone() for n, d in ref.items()}}

    @property
    def measuring(self) -> bool:
        return self._start is not None

    def end(self, step: int, weights: Mapping[str, torch.Tensor]) -> SkillResult | None:
        """The gap ended at ``step`` (no step of it was cut short): score both forecasts against the
        real delta, keep and return the result. None if no gap was being measured or the gap
        ran a different number of steps than forecast (then the last result stays)."""
        st, self._start = self._start, None
        if st is None or step - st["step"] != st["gap_steps"] or st["gap_steps"] < 1:
            return None
        real = {n: weights[n].detach() - st["weights"][n] for n in st["weights"]}
        ref = delta_scores(st["ref"], real)
        pred = None if st["pred"] is None else delta_scores(st["pred"], real)
        if pred is None:
            passed, why = False, "predictor_not_ready"
        else:
            p, r = pred[self.statistic], ref[self.statistic]
            if not (math.isfinite(p) and math.isfinite(r)):
                passed, why = False, "not_finite"
            else:
                passed = p < r - self.margin if self.statistic == "rel_l2" else p > r + self.margin
                why = "beats_reference" if passed else "below_reference"
        self.last = SkillResult(self.cycle, st["step"], st["gap_steps"], pred, ref, bool(passed), why)
        return self.last

    def decision(self) -> tuple[bool, str]:
        """(may predict, reason): the last completed gap's verdict; no measurement yet blocks."""
        if self.last is None:
            return False, "no_skill_measurement"
        return self.last.passed, self.last.why

    def to_event(self) -> dict:
        """The skill part of a ``gate`` event."""
        out = {"statistic": self.statistic, "reference": self.reference, "margin": self.margin}
        if self.last is not None:
            out.update({"measured_cycle": self.last.cycle, "gap_start": self.last.gap_start,
                        "gap_steps": self.last.gap_steps, "predictor_scores": self.last.predictor,
                        "reference_scores": self.last.reference, "passed": self.last.passed})
        return out

    def state_dict(self) -> dict:
        return {"cycle": self.cycle, "start": self._start,
                "last": None if self.last is None else asdict(self.last)}

    def load_state_dict(self, state: Mapping, device: torch.device | None = None) -> None:
        self.cycle = state["cycle"]
        st = state["start"]
        if st is not None and device is not None:  # the checkpoint was loaded onto the CPU
            for key in ("weights", "pred", "ref"):
                if st[key] is not None:
                    st[key] = {n: t.to(device) for n, t in st[key].items()}
        self._start = st
        self.last = None if state["last"] is None else SkillResult(**state["last"])
