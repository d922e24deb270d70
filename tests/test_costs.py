"""Counted work, calibrated unit costs, the
contention-free time of Exp 4, one definition of reaching the target, what is timed, the snapshot
policy, checkpoint rotation, and the plan's disk model."""

from __future__ import annotations

import copy
import json
import math
import time
from pathlib import Path

import pytest
import torch

from predictive_training import config as config_mod
from predictive_training.analysis.exp4 import run_exp4
from predictive_training.data.prepare import TokenData
from predictive_training.records.costs import (FORMAT, CalibrationError, contention_free_s, flops,
                                               read_calibration)
from predictive_training.records.jsonl import read_events, read_metrics
from predictive_training.records.snapshots import list_snapshots, load_snapshots
from predictive_training.training.calibrate import calibrate
from predictive_training.training.checkpoint import Checkpointer
from predictive_training.training.energy import EnergyObserver
from predictive_training.training.loop import Observer
from predictive_training.training.observers import GradientRecorder, SnapshotRecorder, TensorNormRecorder
from predictive_training.training.plan import nominal_work, run_disk
from predictive_training.training.run import make_trainer, run_training
from tests.conftest import TINY

pytestmark = pytest.mark.usefixtures("one_thread")

TINY_RSSM = {"window": 8, "burn_in": 3, "update_every": 4, "basis_window": 4, "batch_size": 4,
             "deter_dim": 16, "stoch_dim": 4, "hidden": 16, "n_samples": 4}
NO_GUARD = {"spike_sigma": 1e9, "grad_explosion_factor": 1e9}


def _cfg(**record) -> dict:
    """Tiny study: every arm kind, ratio 0.375 (3 cycles of Y = 5, C = 2), the guard off so that
    the nominal schedule is what runs."""
    cfg = copy.deepcopy(TINY)
    cfg["arms"] = {"baseline": {"kind": "conventional"}, "hyb": {"kind": "hybrid", "prediction_ratio": 0.375},
                   "rep": {"kind": "repeat", "prediction_ratio": 0.375},
                   "skp": {"kind": "skip", "prediction_ratio": 0.375},
                   "mat": {"kind": "matched", "prediction_ratio": 0.375}}
    cfg["hybrid"] = {"horizon": 5, "correct_steps": 2, "rssm": TINY_RSSM, "guard": NO_GUARD,
                     "corrector": {"batches": 2}}
    cfg["record"] = {**cfg["record"], **record}
    return config_mod.validate(cfg)


@pytest.fixture(scope="module")
def runs(tmp_path_factory, tiny_data):
    cfg = _cfg()
    out = tmp_path_factory.mktemp("runs")
    torch.set_num_threads(1)
    summaries = {arm: run_training(cfg, tiny_data, arm, 0, out / arm) for arm in cfg["arms"]}
    return cfg, out, summaries


# --- one definition of reaching the target (point 4) --------------------------------------


def test_final_val_loss_is_the_last_periodic_evaluation(runs):
    """The final validation loss and every periodic one are the same measurement (the same
    train.eval_batches windows): the final value IS the evaluation at the last step. Before, the
    final loss used twice as many windows as the evaluations that time-to-target compared with it."""
    cfg, out, summaries = runs
    for arm, s in summaries.items():
        rows = [r for r in read_metrics(out / arm) if r.get("val_loss") is not None]
        assert rows[-1]["step"] == s["steps"] - 1
        assert s["final_val_loss"] == rows[-1]["val_loss"], arm
        assert s["downstream"]["val_token_accuracy"] == rows[-1]["val_accuracy"]
        assert s["final_val_loss_se"] == rows[-1]["val_loss_se"] and s["final_val_loss_se"] > 0
        assert s["eval_batches"] == cfg["train"]["eval_batches"]


# --- counted work -------------------------------------------------------------------------------------


def test_work_counts_what_each_run_did(runs):
    cfg, out, summaries = runs
    for arm, s in summaries.items():
        w = s["work"]
        assert w["full_step"] == s["backward_passes"]
        assert w["forward_batch"] == s["forward_passes"] - s["backward_passes"]
        if s.get("kind") in ("hybrid", "repeat", "skip"):
            pred = {"hybrid": "rssm", "repeat": "repeat", "skip": "skip"}[s["kind"]]
            assert w[f"observe/{pred}"] == s["backward_passes"]  # the guard is off: every real step observed
            assert w.get(f"rollout/{pred}/5", 0) == s["rollouts"]
            assert w.get("apply_delta", 0) == w.get("pre_predict_snapshot", 0) == s["predict_steps"] // 5
            # every evaluation of the search's loss (the scale-1 evaluation included) is one trial
            trials = sum(e["search_evaluations"] for e in read_events(out / arm) if e["event"] == "correction")
            assert w.get("search_trial", 0) == trials
            if s["kind"] == "skip":
                assert trials == 0  # a zero delta costs no trial
        else:
            assert set(w) == {"full_step", "forward_batch"} and w["forward_batch"] == 0
        # the metrics rows of evaluation steps carry the work so far: non-decreasing, at most the total
        evals = [r["work"] for r in read_metrics(out / arm) if r.get("val_loss") is not None]
        for a, b in zip(evals, evals[1:]):
            assert all(b.get(k, 0) >= v for k, v in a.items())
        assert all(evals[-1].get(k, 0) <= v for k, v in w.items())


def test_rssm_training_steps_are_counted(tiny_cfg, tiny_data):
    cfg = _cfg()
    tr = make_trainer(cfg, TokenData(tiny_data), "hyb", 0, [])
    s = tr.run()
    assert s["work"]["predictor_train/rssm"] == tr.predictor.model.n_train_steps > 0


def test_nominal_work_is_what_the_runs_counted(runs):
    """The plan's schedule model (training/plan.py) against the counted work of runs whose gate never
    blocks (skip, repeat: uncertainty 0) and whose guard is off; conventional and matched exactly."""
    cfg, out, summaries = runs
    for arm in ("baseline", "rep", "skp", "mat"):
        assert nominal_work(cfg, arm) == {k: v for k, v in summaries[arm]["work"].items() if v}, arm


# --- what is timed ------------------------------------------------------------------------------------


class Sleeper(Observer):
    def __init__(self, untimed: bool, seconds: float = 0.05):
        self.untimed, self.seconds = untimed, seconds

    def on_step(self, trainer, info, grads, update):
        time.sleep(self.seconds)


def test_measurement_observers_are_kept_out_of_the_training_clock(tiny_cfg, tiny_data):
    """Recording that only the study needs is measurement, like validation: not in wall_s. The
    predictor's own observation is training work (counted, timed)."""
    data = TokenData(tiny_data)
    walls = {}
    for untimed in (True, False):
        tr = make_trainer(tiny_cfg, data, "baseline", 0, [Sleeper(untimed)])
        walls[untimed] = tr.run()["wall_s"]
    slept = 0.05 * tiny_cfg["train"]["steps"]
    assert walls[False] >= slept
    assert walls[True] < walls[False] - 0.5 * slept
    for cls in (SnapshotRecorder, GradientRecorder, TensorNormRecorder, EnergyObserver):
        assert cls.untimed, cls.__name__


def test_cpu_seconds_are_recorded(runs):
    for s in runs[2].values():
        assert s["cpu_s"] > 0


# --- calibration and the contention-free time ---------------------------------------------------------


@pytest.fixture(scope="module")
def calibration(tmp_path_factory, tiny_data):
    torch.set_num_threads(1)
    return calibrate(_cfg(), tiny_data, tmp_path_factory.mktemp("cal") / "calibration.json", calls=4, warmup=1,
                     train_calls=2, repeats=2)


def test_calibration_costs_every_unit_a_run_counts(runs, calibration):
    cal = calibration
    assert cal["format"] == FORMAT and cal["torch_threads"] == 1
    for u in cal["units"].values():
        assert u["s"] >= 0 and u["n"] >= 1 and "flops" in u
    # a backward pass costs two forward passes (matrix products)
    assert cal["units"]["full_step"]["flops"] == pytest.approx(3 * cal["units"]["forward_batch"]["flops"], rel=0.01)
    assert cal["units"]["forward_batch"]["flops"] > 0
    for arm, s in runs[2].items():
        cost = contention_free_s(s["work"], cal)
        assert cost > 0, arm
        assert flops(s["work"], cal) >= s["work"]["full_step"] * cal["units"]["full_step"]["flops"]


def test_calibration_file_errors_name_the_problem(tmp_path, calibration):
    with pytest.raises(CalibrationError, match="not found"):
        read_calibration(tmp_path / "none.json")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"format": "other"}))
    with pytest.raises(CalibrationError, match="format"):
        read_calibration(bad)
    bad.write_text(json.dumps({"format": FORMAT, "units": {"full_step": {"s": float("nan")}}}))
    with pytest.raises(CalibrationError, match="full_step"):
        read_calibration(bad)
    with pytest.raises(CalibrationError, match="rollout/unknown/7"):
        contention_free_s({"full_step": 3, "rollout/unknown/7": 1}, calibration)


def test_rollout_lengths_the_calibration_did_not_time_are_interpolated():
    """A rollout's cost at an untimed length: linear between the nearest timed lengths of the same
    predictor (the skill gate forecasts Full gaps whose lengths differ by a step)."""
    cal = {"units": {"full_step": {"s": 1.0}, "rollout/p/5": {"s": 0.5}, "rollout/p/10": {"s": 1.0},
                     "rollout/p/20": {"s": 2.0}, "rollout/q/4": {"s": 0.3}}}
    assert contention_free_s({"rollout/p/10": 1}, cal) == pytest.approx(1.0)  # timed: as measured
    assert contention_free_s({"rollout/p/15": 2}, cal) == pytest.approx(3.0)  # between 10 and 20
    assert contention_free_s({"rollout/p/30": 1}, cal) == pytest.approx(3.0)  # beyond: the nearest two
    assert contention_free_s({"rollout/q/9": 1}, cal) == pytest.approx(0.3)  # one timed length: its cost
    with pytest.raises(CalibrationError, match="rollout/r/5"):
        contention_free_s({"rollout/r/5": 1}, cal)


def test_skill_gate_work_is_counted_and_costed(tiny_data, calibration):
    """A skill-gated hybrid run counts the reference's observations, both forecasts of every gap and
    the gate's bookkeeping, and the calibration costs all of it."""
    cfg = _cfg()
    assert cfg["hybrid"]["gate"]["reference"] == "ema_of_deltas"
    s = make_trainer(cfg, TokenData(tiny_data), "hyb", 0, []).run()
    w = s["work"]
    assert w["observe/reference_ema"] == s["backward_passes"]
    assert w["skill_check"] >= 1
    gaps = sum(v for k, v in w.items() if k.startswith("rollout/reference_ema/"))
    assert gaps == w["skill_check"]
    assert "skill_check" in calibration["units"] and "observe/reference_ema" in calibration["units"]
    assert contention_free_s(w, calibration) > contention_free_s({"full_step": w["full_step"]}, calibration)


def _fake_run(folder: Path, arm: str, wall: float, work: dict, evals: list[tuple[int, float, dict]], final: float):
    folder.mkdir(parents=True)
    rows = []
    for step, loss, w in evals:
        rows.append({"step": step, "phase": "full", "loss": 3.0, "lr": 1e-3, "grad_norm": 1.0, "backward": True,
                     "wall_s": wall * (step + 1) / 100, "tokens": 0, "delta_norm": 0.0, "val_loss": loss,
                     "val_accuracy": 0.1, "work": w})
    (folder / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    s = {"arm": arm, "seed": 0, "steps": 100, "n_params": 1000, "final_val_loss": final, "final_train_loss": final,
         "downstream": {"val_token_accuracy": 0.1, "cloze_accuracy": 0.5}, "wall_s": wall, "forward_passes": 0,
         "backward_passes": work["full_step"], "prediction_ratio_requested": 0.0, "prediction_ratio_achieved": 0.0,
         "work": work, "cpu_s": wall}
    (folder / "summary.json").write_text(json.dumps(s))


def test_exp4_speed_uses_the_contention_free_time(tmp_path):
    """A baseline slowed down by a neighbour job (measured wall 200 s for 100 full steps at 1 s each)
    against a hybrid arm run alone: the measured ratio says 5x, the counted work says 2x. Exp 4's
    speedup, time ratio and time-to-target use the counted work; the measured ones are reported
    beside them. (Before, the speedup was the measured wall-clock ratio.)"""
    cfg = config_mod.validate({"arms": {"baseline": {"kind": "conventional"},
                                        "hybrid_r50": {"kind": "hybrid", "prediction_ratio": 0.5}}})
    cal = {"format": FORMAT, "units": {"full_step": {"s": 1.0, "flops": 6.0}, "forward_batch": {"s": 0.5, "flops": 2.0},
                                       "rollout/rssm/20": {"s": 2.0, "flops": 0.0}}}
    base_work = {"full_step": 100, "forward_batch": 0}
    hyb_work = {"full_step": 48, "forward_batch": 2, "rollout/rssm/20": 0}
    _fake_run(tmp_path / "b", "baseline", 200.0, base_work,
              [(49, 3.0, {"full_step": 50, "forward_batch": 0}), (99, 2.5, base_work)], 2.5)
    _fake_run(tmp_path / "h", "hybrid_r50", 40.0, hyb_work,
              [(49, 2.6, {"full_step": 20, "forward_batch": 1}), (99, 2.4, hyb_work)], 2.4)
    log = run_exp4(cfg, {"baseline": tmp_path / "b", "hybrid_r50": tmp_path / "h"}, 0, tmp_path / "e.json",
                   calibration=cal)
    h = log["results"]["arms"]["hybrid_r50"]
    assert log["results"]["time_basis"] == "contention_free"
    assert h["cost_s"] == pytest.approx(49.0) and h["speedup"] == pytest.approx(100 / 49)
    assert h["speedup_measured"] == pytest.approx(5.0)
    assert log["results"]["criteria"]["speedup_r50"]["estimate"] == pytest.approx(100 / 49)
    assert log["results"]["criteria"]["wallclock_reduction_r50"]["estimate"] == pytest.approx(1 - 49 / 100)
    # the target is the baseline's final validation loss (2.5); the hybrid reaches it at its last evaluation
    assert log["results"]["target"]["val_loss"] == 2.5
    assert h["time_to_target_s"] == pytest.approx(49.0) and h["backward_passes_to_target"] == 48
    assert h["flops_ratio"] == pytest.approx((48 * 6 + 2 * 2) / 600)
    # without a calibration: the measured wall-clock, and the log says so
    log = run_exp4(cfg, {"baseline": tmp_path / "b", "hybrid_r50": tmp_path / "h"}, 0, tmp_path / "w.json")
    assert log["results"]["time_basis"] == "wall_measured"
    assert log["results"]["arms"]["hybrid_r50"]["speedup"] == pytest.approx(5.0)


# --- snapshot policy (point 2) --------------------------------------------------------------


def test_snapshots_only_for_the_arms_an_experiment_reads(tiny_data, tmp_path):
    cfg = _cfg(snapshot_arms=["rep"], snapshot_dtype="bf16")
    run_training(cfg, tiny_data, "baseline", 0, tmp_path / "b")
    assert not list_snapshots(tmp_path / "b" / "snapshots")
    assert (tmp_path / "b" / "snapshots" / "gradients.safetensors").exists()  # other records stay
    run_training(cfg, tiny_data, "rep", 0, tmp_path / "r")
    snaps = list_snapshots(tmp_path / "r" / "snapshots")
    assert sorted(snaps) == [0, 10, 20, 30, 40]
    from safetensors import safe_open

    with safe_open(str(snaps[40]), framework="pt") as f:
        assert all(f.get_tensor(k).dtype == torch.bfloat16 for k in f.keys())
    loaded = load_snapshots(tmp_path / "r" / "snapshots")
    assert all(t.dtype == torch.float32 for _, w in loaded for t in w.values())
    assert config_mod.validate({})["record"]["snapshot_arms"] == ["baseline"]
    with pytest.raises(config_mod.ConfigError, match=r"record\.snapshot_arms.*'nope'"):
        config_mod.validate({"record": {"snapshot_arms": ["nope"]}})


def test_the_plans_disk_model_matches_a_run_folder(tiny_data, tmp_path):
    cfg = _cfg(snapshot_arms=["baseline", "rep"])
    for arm in ("baseline", "rep"):  # arms that run their nominal schedule (a tiny RSSM would be gated)
        run_training(cfg, tiny_data, arm, 0, tmp_path / arm)
        est = run_disk(cfg, arm)
        snap = sum(p.stat().st_size for p in list_snapshots(tmp_path / arm / "snapshots").values())
        assert est["parts"]["snapshots"] == pytest.approx(snap, rel=0.05)
        rec = (tmp_path / arm / "snapshots" / "gradients.safetensors").stat().st_size
        assert est["parts"]["gradient_records"] == pytest.approx(rec, rel=0.05)
        total = sum(p.stat().st_size for p in (tmp_path / arm).rglob("*") if p.is_file())
        assert est["final_bytes"] == pytest.approx(total, rel=0.25)


# --- checkpoints: at most `keep` on disk, the one being written included -------------------------------


def test_checkpoint_rotation_never_holds_more_than_keep(tmp_path, monkeypatch):
    ck = Checkpointer(tmp_path, every=1, keep=2)
    seen = []
    real_save = torch.save

    def spy(obj, path, *a, **k):
        seen.append(len(list((tmp_path / "checkpoints").glob("step*.pt"))) + 1)  # + the one being written
        return real_save(obj, path, *a, **k)

    monkeypatch.setattr(torch, "save", spy)
    for step in range(1, 6):
        ck.save({"x": torch.zeros(3), "files": {}}, step)
    assert max(seen) == 2
    assert sorted(p.name for p in (tmp_path / "checkpoints").glob("step*.pt")) == ["step000004.pt", "step000005.pt"]


def test_repeated_calibrations_combine_by_ratios_to_the_full_step():
    """A repeat made while the machine runs uniformly slower changes no unit's ratio to the Full step,
    so it moves no ratio of costs; a burst in one unit of one repeat is outvoted by the median."""
    from predictive_training.training.calibrate import combine_repeats

    def rep(full, fwd, obs):
        return {"full_step": {"s": full, "statistic": "median", "flops": 6.0},
                "forward_batch": {"s": fwd, "statistic": "median", "flops": 2.0},
                "observe/rssm": {"s": obs, "statistic": "mean"}}

    fast, slow, burst = rep(0.080, 0.020, 0.004), rep(0.120, 0.030, 0.006), rep(0.090, 0.0225, 0.018)
    out = combine_repeats([fast, slow, burst])
    assert out["full_step"]["s"] == pytest.approx(0.090)
    assert out["forward_batch"]["s"] / out["full_step"]["s"] == pytest.approx(0.25)
    assert out["observe/rssm"]["s"] / out["full_step"]["s"] == pytest.approx(0.05)  # not the burst's 0.2
    assert out["observe/rssm"]["repeat_s"] == [0.004, 0.006, 0.018]
    assert out["forward_batch"]["flops"] == 2.0 and "repeats" in out["forward_batch"]["statistic"]
    assert combine_repeats([fast]) == fast
    with pytest.raises(ValueError):
        combine_repeats([])
