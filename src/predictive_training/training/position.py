"""Where the hybrid phase machine stands between two steps: the resume state a checkpoint holds.

The gate and the guard change the realised schedule, so the position cannot be derived from the
step alone. A :class:`Position` names the unit being run and the real steps left in it; inside a
cycle also its stage, and in the Correct stage what was measured before the Correct steps began
(:class:`Correcting`). It serialises to a plain dict for the checkpoint (``to_dict``/``from_dict``).
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass

__all__ = ["UNITS", "STAGES", "Correcting", "Position"]

# warmup; Full steps after a guard fired; Full to the end (prediction_ratio 0); one cycle
UNITS = ("warmup", "fallback", "plain", "cycle")
# the stages of a cycle: its Full gap; Predict (rollout, gate, apply, line search: no checkpoint
# there); Correct; Full steps in place of the rest of the cycle (the gate blocked Predict, no room
# for Predict and Correct before the budget's end, or after the plan's last cycle)
STAGES = ("full", "predict", "correct", "full_only")


@dataclass
class Correcting:
    """What a Correct phase measured before its real steps: the held-aside batches (``probe``
    scores the correction, ``search`` tuned the line search), the probe loss right after the
    Predict phase and right after the line search, and the line search's part of the event."""

    probe: list[int]
    search: list[int]
    loss_after_predict: float
    loss_after_search: float
    correction: dict


@dataclass
class Position:
    """A unit of the phase machine (``UNITS``), its stage if it is a cycle (``STAGES``), the real
    steps still to run in it, and in the Correct stage the :class:`Correcting` record."""

    unit: str
    left: int = 0
    stage: str | None = None
    correcting: Correcting | None = None

    def __post_init__(self):
        if self.unit not in UNITS:
            raise ValueError(f"unit must be one of {UNITS}, got {self.unit!r}")
        if (self.unit == "cycle") != (self.stage is not None):
            raise ValueError(f"a stage goes with unit 'cycle' (and only with it), got {self.unit!r}/{self.stage!r}")
        if self.stage is not None and self.stage not in STAGES:
            raise ValueError(f"stage must be one of {STAGES}, got {self.stage!r}")
        if (self.stage == "correct") != (self.correcting is not None):
            raise ValueError("the Correct stage, and only it, carries its Correcting record")
        if isinstance(self.left, bool) or not isinstance(self.left, int) or self.left < 0:
            raise ValueError(f"left must be an integer >= 0, got {self.left!r}")

    @classmethod
    def in_cycle(cls, stage: str, left: int = 0, correcting: Correcting | None = None) -> Position:
        return cls("cycle", left, stage, correcting)

    def count_step(self) -> None:
        """One real step of this unit has run."""
        if self.left < 1:
            raise ValueError(f"no step left in {self}")
        self.left -= 1

    @property
    def checkpointable(self) -> bool:
        """Whether a checkpoint here is complete (not inside Predict: the state there holds a
        whole predicted delta; a checkpoint due then is taken after the first Correct step)."""
        return self.stage != "predict"

    def to_dict(self) -> dict:
        return copy.deepcopy(asdict(self))

    @classmethod
    def from_dict(cls, state: dict) -> Position:
        c = state.get("correcting")
        return cls(state["unit"], int(state["left"]), state.get("stage"),
                   Correcting(**copy.deepcopy(c)) if c is not None else None)
