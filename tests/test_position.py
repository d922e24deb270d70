"""The hybrid phase machine's position (training.position): its rules, its checkpoint form, and the
positions a real run passes through (what a checkpoint taken after each step would hold)."""

from __future__ import annotations

import copy
import json

import pytest

from predictive_training import config as config_mod
from predictive_training.data.prepare import TokenData
from predictive_training.training.position import Correcting, Position
from predictive_training.training.run import make_trainer
from tests.conftest import TINY

pytestmark = pytest.mark.usefixtures("one_thread")


def test_position_rules():
    assert Position("warmup", 5).stage is None
    assert Position.in_cycle("full", 4) == Position("cycle", 4, "full")
    for bad in (lambda: Position("nap", 1), lambda: Position("warmup", 1, "full"), lambda: Position("cycle", 1),
                lambda: Position.in_cycle("sleep", 1), lambda: Position("plain", -1),
                lambda: Position("plain", True), lambda: Position.in_cycle("correct", 2),
                lambda: Position.in_cycle("full", 2, Correcting([0], [1], 3.0, 2.9, {}))):
        with pytest.raises(ValueError):
            bad()


def test_count_step_and_checkpointable():
    pos = Position("fallback", 2)
    pos.count_step()
    pos.count_step()
    assert pos.left == 0
    with pytest.raises(ValueError, match="no step left"):
        pos.count_step()
    assert pos.checkpointable and Position.in_cycle("correct", 1, Correcting([9], [13], 2.5, 2.4, {})).checkpointable
    assert not Position.in_cycle("predict").checkpointable


def test_checkpoint_form_round_trips_as_plain_data():
    rec = Correcting(probe=[9], search=[13], loss_after_predict=2.5, loss_after_search=2.4,
                     correction={"search_loss_before": 2.6, "per_layer": {}})
    pos = Position.in_cycle("correct", 2, rec)
    state = pos.to_dict()
    assert json.loads(json.dumps(state)) == state  # plain data: no class of this package in a checkpoint
    back = Position.from_dict(state)
    assert back == pos
    state["correcting"]["probe"].append(10)  # the dict is a copy: the position is not changed through it
    assert pos.correcting.probe == [9]


class _Recorder:
    """Stands in for the checkpointer: due after every step; records the position it would save."""

    def __init__(self):
        self.positions: dict[int, dict] = {}

    def due(self, step):
        return True

    def save(self, state, step):
        self.positions[step] = state["trainer"]["hybrid"]["position"]


def test_positions_of_a_run_follow_the_realised_schedule(tiny_data):
    """Tiny schedule (ratio 0.375, Y = 5, C = 2, warmup 5, 40 steps): warmup 0-4; Full 5-8, Predict
    9-13, Correct 14-15; Full 16-18, Predict 19-23, Correct 24-25; Full 26-29, Predict 30-34,
    Correct 35-36; Full tail 37-39. Key: steps done when the checkpoint is offered."""
    cfg = copy.deepcopy(TINY)
    cfg["arms"] = {"baseline": {"kind": "conventional"}, "rep": {"kind": "repeat", "prediction_ratio": 0.375}}
    cfg["hybrid"] = {"horizon": 5, "correct_steps": 2}
    cfg = config_mod.validate(cfg)
    trainer = make_trainer(cfg, TokenData(tiny_data), "rep", 0, [])
    trainer.checkpointer = rec = _Recorder()
    trainer.run()

    def cyc(stage, left):
        return {"unit": "cycle", "stage": stage, "left": left}

    expected = {s: {"unit": "warmup", "stage": None, "left": 5 - s} for s in range(1, 6)}
    expected |= {s: cyc("full", 9 - s) for s in range(6, 10)}
    expected |= {s: cyc("correct", 16 - s) for s in (15, 16)}  # no checkpoint inside Predict (10-14)
    expected |= {s: cyc("full", 19 - s) for s in range(17, 20)}
    expected |= {s: cyc("correct", 26 - s) for s in (25, 26)}
    expected |= {s: cyc("full", 30 - s) for s in range(27, 31)}
    expected |= {s: cyc("correct", 37 - s) for s in (36, 37)}
    expected |= {s: cyc("full_only", 40 - s) for s in (38, 39)}  # the tail after the last cycle
    got = {s: {k: p[k] for k in ("unit", "stage", "left")} for s, p in rec.positions.items()}
    assert got == expected
    correcting = rec.positions[15]["correcting"]
    # probe: the last 4 skipped batches (corrector.probe_batches); search: the one skipped batch
    # left, then 7 batches of the stream beyond the 40-step budget (corrector.batches = 8, cycle 0)
    assert correcting["probe"] == [10, 11, 12, 13] and correcting["search"] == [9, 40, 41, 42, 43, 44, 45, 46]
    assert trainer.n_rollouts == 3 and trainer.cycle == 4  # the tail counts as a cycle (as it always has)
