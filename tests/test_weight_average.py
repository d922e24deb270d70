"""``record.weight_average`` (LAWA, training/observers.py:WeightAverage): the recorded loss is the
loss of the average of the kept weights, the run itself is unchanged, it resumes identically, and
the frontier compares the averaged losses (metric ``loss_avg``) only where every run recorded one."""

from __future__ import annotations

import copy
import math

import pytest
import torch

from predictive_training import config as config_mod
from predictive_training.analysis.frontier import seed_frontier
from predictive_training.data.prepare import TokenData
from predictive_training.records.snapshots import list_snapshots
from predictive_training.training.loop import Trainer
from predictive_training.training.run import run_training
from tests.test_resume import _cfg, _crash_then_resume, _jsonl, assert_same_run

pytestmark = pytest.mark.usefixtures("one_thread")

AVG = {"loss_avg", "val_loss_avg", "val_accuracy_avg"}


def _with_lawa(every=10, keep=2) -> dict:
    cfg = _cfg()
    cfg["record"]["weight_average"] = {"every": every, "keep": keep}
    cfg["record"]["snapshot_every"] = 10  # the baseline's snapshots are the weights LAWA keeps
    return config_mod.validate(cfg)


def _snapshot(path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(path))


def test_the_recorded_loss_is_the_average_of_the_kept_weights(tiny_data, tmp_path):
    cfg = _with_lawa(every=10, keep=2)
    s = run_training(cfg, tiny_data, "baseline", 0, tmp_path / "run")
    rows = [r for r in _jsonl(tmp_path / "run" / "metrics.jsonl") if "val_loss" in r]
    assert [r["step"] for r in rows] == [9, 19, 29, 39] and all("val_loss_avg" in r for r in rows)
    # after step 39 LAWA holds the weights after 30 and 40 steps: their mean, evaluated on the same windows
    snaps = list_snapshots(tmp_path / "run" / "snapshots")
    w30, w40 = _snapshot(snaps[30]), _snapshot(snaps[40])
    trainer = Trainer(cfg, TokenData(tiny_data), "baseline", 0)
    loss, acc = trainer.evaluate_weights({n: (w30[n] + w40[n]) / 2 for n in w30})
    assert rows[-1]["val_loss_avg"] == pytest.approx(loss, abs=1e-6)
    assert rows[-1]["val_accuracy_avg"] == pytest.approx(acc)
    assert s["final_val_loss_avg"] == rows[-1]["val_loss_avg"]
    assert s["weight_average"] == {"method": "lawa", "every": 10, "keep": 2}
    assert rows[-1]["val_loss_avg"] != rows[-1]["val_loss"]  # an average is not the last weights
    # evaluating other weights leaves the trainer's own weights (its seed-0 initialisation) as they were
    assert all(torch.equal(p, trainer.params[n]) for n, p in Trainer(cfg, TokenData(tiny_data), "baseline", 0).params.items())


@pytest.mark.parametrize("arm", ["baseline", "arm"])
def test_weight_averaging_changes_no_number_of_the_run(arm, tiny_data, tmp_path):
    plain = _cfg()
    run_training(plain, tiny_data, arm, 0, tmp_path / "plain")
    run_training(_with_lawa(every=5, keep=3), tiny_data, arm, 0, tmp_path / "lawa")
    a = _jsonl(tmp_path / "plain" / "metrics.jsonl")
    b = [{k: v for k, v in r.items() if k not in AVG} for r in _jsonl(tmp_path / "lawa" / "metrics.jsonl")]
    assert a == b


def test_a_run_with_weight_averaging_resumes_identically(tiny_data, tmp_path, caplog):
    cfg = _with_lawa(every=5, keep=3)
    run_training(cfg, tiny_data, "arm", 0, tmp_path / "ref")
    summary = _crash_then_resume(cfg, tiny_data, "arm", tmp_path / "got", [11, 27], caplog)
    assert summary["resumed_from"] == [9, 27]
    assert_same_run(tmp_path / "ref", tmp_path / "got")


def test_bad_weight_average_settings_are_named():
    cfg = copy.deepcopy(_cfg())
    cfg["record"]["weight_average"] = {"every": 0, "keep": 2}
    with pytest.raises(Exception, match="weight_average"):
        config_mod.validate(cfg)


def _rec(cost, loss, loss_avg=None):
    return {"time_s": cost, "backward_passes": cost, "flops": cost * 1e9, "final_val_loss": loss,
            "final_val_loss_avg": loss_avg, "downstream": {"cloze_accuracy": 0.5}}


def test_the_frontier_compares_averaged_losses_where_every_run_has_one():
    front = {"baseline": _rec(1000.0, 3.0, 2.9), "short": _rec(500.0, 3.6, 3.4)}
    arms = {**front, "hyb": _rec(750.0, 3.2, 3.0)}
    gap = seed_frontier(arms, list(front), ["hyb"])["gaps"]["hyb"]["time"]
    mid = math.log(1.5) / math.log(2.0)  # where 750 lies between 500 and 1000 in log cost
    assert gap["loss_gap"] == pytest.approx(3.2 - (3.6 - 0.6 * mid))
    assert gap["loss_avg_gap"] == pytest.approx(3.0 - (3.4 - 0.5 * mid))
    # a frontier run without an averaged loss: no averaged comparison, the raw one unchanged
    arms["short"] = _rec(500.0, 3.6)
    gap2 = seed_frontier(arms, list(front), ["hyb"])["gaps"]["hyb"]["time"]
    assert "loss_avg_gap" not in gap2 and gap2["loss_gap"] == gap["loss_gap"]
