"""The counted-work cost model covers every predicted arm kind and every
per-arm horizon.

A calibration measures every unit that a run of any predicted kind (``hybrid``, ``skip``,
``repeat``, ``verified``, ``dmd``, ``nowcaster``, ``rssm_pretrained``) counts, at every horizon its
arms use, without the models that the workflow trains on the other seeds (untrained stand-ins of the
same size); ``plan``'s nominal work is what the runs count where the schedule is nominal (and a
bound for verified extrapolation, whose rollouts may end early). Before, the calibration and
``nominal_work`` knew only ``hybrid``, ``skip``, ``repeat`` and ``hybrid.horizon``: a study with a
field arm failed in Exp 4 with a CalibrationError.
"""

from __future__ import annotations

import copy
import math
import re
from pathlib import Path

import pytest
import torch

from predictive_training import config as config_mod
from predictive_training import registry
from predictive_training.data.prepare import TokenData
from predictive_training.records.costs import contention_free_s, flops
from predictive_training.records.jsonl import read_events
from predictive_training.training.calibrate import (STAND_INS, RandomTokens, calibrate, measure_units, measured_kinds,
                                                    rollout_lengths, stand_in_models)
from predictive_training.training.hybrid import HybridTrainer
from predictive_training.dynamics.rssm import RSSMConfig
from predictive_training.training.plan import nominal_work, rssm_train_runs
from predictive_training.training.run import run_training
from tests.conftest import TINY

ROOT = Path(__file__).resolve().parents[1]
#: every built-in predictor as an arm kind (the registry), and the unit name of each
PREDICTED_KINDS = tuple(registry.arm_kinds())
PREDICTOR_OF_KIND = {k: registry.lookup(k).unit for k in PREDICTED_KINDS}
pytestmark = pytest.mark.usefixtures("one_thread")

TINY_RSSM = {"window": 8, "burn_in": 3, "update_every": 4, "basis_window": 4, "batch_size": 4,
             "deter_dim": 16, "stoch_dim": 4, "hidden": 16, "n_samples": 4}
NO_GUARD = {"spike_sigma": 1e9, "grad_explosion_factor": 1e9}
#: the nowcaster is ready after stride x history = 5 observed steps, before the first Predict phase
NOWCASTER = {"stride": 5, "history": 1, "train_steps": 10, "batch_size": 64}


def _cfg() -> dict:
    """Tiny study: one arm of every predicted kind at Y = 5 (ratio 0.375: 3 cycles), and a DMD and a
    verified arm with their own horizon Y = 10; the guard off so that the nominal schedule runs."""
    cfg = copy.deepcopy(TINY)
    cfg["arms"] = {"baseline": {"kind": "conventional"},
                   **{k: {"kind": k, "prediction_ratio": 0.375} for k in PREDICTED_KINDS},
                   "dmd_y10": {"kind": "dmd", "prediction_ratio": 0.25, "horizon": 10},
                   "verified_y10": {"kind": "verified", "prediction_ratio": 0.25, "horizon": 10},
                   "matched": {"kind": "matched", "prediction_ratio": 0.375}}
    cfg["hybrid"] = {"horizon": 5, "correct_steps": 2, "rssm": TINY_RSSM, "guard": NO_GUARD,
                     "corrector": {"batches": 2}, "nowcaster": NOWCASTER}
    return config_mod.validate(cfg)


@pytest.fixture(scope="module")
def runs(tmp_path_factory, tiny_data):
    """Seed 0 of every arm; the nowcaster and the pretrained RSSM load untrained stand-ins of their size
    (what they count does not depend on their weights)."""
    cfg = _cfg()
    out = tmp_path_factory.mktemp("runs")
    files = {}
    for kind in ("nowcaster", "rssm_pretrained"):
        files.update(stand_in_models(cfg, kind, TokenData(tiny_data).vocab_size, 0, out / "models"))
    torch.set_num_threads(1)
    summaries = {arm: run_training(cfg, tiny_data, arm, 0, out / arm, files=files, record=False)
                 for arm in cfg["arms"]}
    return cfg, out, summaries


@pytest.fixture(scope="module")
def calibration(tmp_path_factory, tiny_data):
    torch.set_num_threads(1)
    return calibrate(_cfg(), tiny_data, tmp_path_factory.mktemp("cal") / "calibration.json", calls=4, warmup=1,
                     train_calls=2, repeats=1)


def _gate_gap(unit: str) -> bool:
    """A Full gap's forecast of the skill gate: only its shortest and longest lengths are timed."""
    return re.fullmatch(r"rollout/(rssm|reference_\w+)/\d+", unit) is not None


def test_every_predicted_kind_has_its_predictor(tiny_data, tmp_path):
    """The unit names of a kind are its predictor's ``name``; the stand-ins load through the runs' own
    loaders (the leave-one-seed-out checks included) and are trained on no seed."""
    cfg = _cfg()
    assert set(measured_kinds(cfg)) == set(PREDICTED_KINDS)
    data = TokenData(tiny_data)
    for kind in PREDICTED_KINDS:
        files = stand_in_models(cfg, kind, data.vocab_size, 0, tmp_path) if kind in STAND_INS else None
        tr = HybridTrainer(cfg, data, kind, 0, files=files)
        assert tr.predictor.name == PREDICTOR_OF_KIND[kind], kind
        if files:
            assert torch.load(files[kind], weights_only=True)["trained_on_seeds"] == []
    with pytest.raises(ValueError, match="'dmd'"):
        stand_in_models(cfg, "dmd", data.vocab_size, 0, tmp_path)


def test_rollout_lengths_are_every_horizon_of_the_kinds_arms():
    cfg = _cfg()
    assert rollout_lengths(cfg, "dmd") == [5, 10]
    assert rollout_lengths(cfg, "verified") == [5, 10]
    assert rollout_lengths(cfg, "nowcaster") == [5]
    gaps = rollout_lengths(cfg, "hybrid")  # the horizon and the skill gate's Full-gap lengths
    assert 5 in gaps and len(gaps) >= 2
    # any arm dict with a kind and an optional horizon: names are not enumerated
    cfg["arms"]["anything_at_all"] = {"kind": "rssm_pretrained", "prediction_ratio": 0.25, "horizon": 10}
    assert rollout_lengths(cfg, "rssm_pretrained") == [5, 10]


def test_the_calibration_costs_every_unit_every_kind_counts(runs, calibration):
    """Every unit that a run of any kind counted is measured (a gate gap's length may be interpolated
    between the timed ones); before, the field's arms raised a CalibrationError (no unit)."""
    cfg, out, summaries = runs
    units = calibration["units"]
    for arm, s in summaries.items():
        w = s["work"]
        missing = [u for u in w if u not in units and not _gate_gap(u)]
        assert not missing, (arm, missing)
        cost = contention_free_s(w, calibration)  # raises on a unit it cannot cost
        assert cost > contention_free_s({"full_step": w["full_step"]}, calibration) or s.get("kind") in (
            None, "conventional", "matched"), arm
        assert flops(w, calibration) >= w["full_step"] * units["full_step"]["flops"]
    # the field's own units, at both horizons
    for u in ("observe/verified", "verify_check/verified", "rollout/verified/5", "rollout/verified/10",
              "observe/dmd", "rollout/dmd/5", "rollout/dmd/10", "observe/nowcaster", "rollout/nowcaster/5",
              "observe/rssm_pretrained", "predictor_train/rssm_pretrained", "rollout/rssm_pretrained/5"):
        assert u in units and units[u]["s"] >= 0 and units[u]["n"] >= 1, u
    # a DMD rollout computes Gram matrices, a nowcaster rollout runs its network on every weight
    assert units["rollout/dmd/5"]["flops"] > 0 and units["rollout/nowcaster/5"]["flops"] > 0
    # the stand-ins are named in the file
    p = calibration["predictors"]
    assert set(p) == set(PREDICTED_KINDS)
    assert "stand-in" in p["nowcaster"]["model"] and "stand-in" in p["rssm_pretrained"]["model"]
    assert p["dmd"]["rollout_lengths"] == [5, 10] and p["dmd"]["predictor"] == "dmd"


def test_a_verified_run_counts_its_checks(runs):
    """A verified rollout counts one ``rollout/verified/<Y>`` and one ``verify_check/verified`` per check;
    the checks' forward batches are ``forward_batch``."""
    cfg, out, summaries = runs
    batches = cfg["hybrid"]["verified"]["batches"]
    for arm, Y in (("verified", 5), ("verified_y10", 10)):
        s, w = summaries[arm], summaries[arm]["work"]
        preds = [e for e in read_events(out / arm) if e["event"] == "prediction"]
        checks = sum(e["diagnostics"]["checks"] for e in preds)
        assert checks > 0 and w["verify_check/verified"] == checks
        assert w[f"rollout/verified/{Y}"] == s["rollouts"] == len(preds)
        assert s["verified"]["forward_passes"] == checks * batches


def test_nominal_work_is_what_the_runs_counted(runs):
    """Exact for the kinds whose schedule is nominal here (no gate, a predictor ready at every Predict
    phase: DMD at both horizons, the nowcaster, skip, repeat, conventional, matched); a bound for
    verified extrapolation, whose rollouts may end early; the same units for the gated RSSMs."""
    cfg, out, summaries = runs
    for arm in ("baseline", "matched", "skip", "repeat", "dmd", "dmd_y10", "nowcaster"):
        assert nominal_work(cfg, arm) == {k: v for k, v in summaries[arm]["work"].items() if v}, arm
    assert "rollout/dmd/10" in nominal_work(cfg, "dmd_y10")
    T = cfg["train"]["steps"]
    for arm in ("verified", "verified_y10"):
        nom, s = nominal_work(cfg, arm), summaries[arm]
        w = s["work"]
        assert set(w) <= set(nom), arm
        for u in ("verify_check/verified", "forward_batch", "apply_delta", "pre_predict_snapshot", "search_trial"):
            assert w.get(u, 0) <= nom[u], (arm, u)
        Y = s["plan"]["horizon"]
        assert w[f"rollout/verified/{Y}"] == nom[f"rollout/verified/{Y}"]
        assert w["full_step"] == T - s["predict_steps"] >= nom["full_step"]
        assert w["observe/verified"] == w["full_step"]
        n, k = s["plan"]["cycles"], cfg["hybrid"]["verified"]["check_every"]
        assert nom["verify_check/verified"] == n * (1 + math.ceil(Y / k))
        if s["verified"]["early_ends"] == s["verified"]["empty_ends"] == 0:  # every check passed: exact
            assert nom == {k: v for k, v in w.items() if v}, arm
    for arm in ("hybrid", "rssm_pretrained"):  # gated by readiness (and skill): the same units, no more
        assert set(summaries[arm]["work"]) <= set(nominal_work(cfg, arm)) | {
            u for u in summaries[arm]["work"] if _gate_gap(u)}, arm


def test_the_rssms_optimisation_runs_are_what_the_runs_counted(runs):
    """``plan``'s count of the RSSM's online optimisation runs (its own grid: every ``update_every``
    observed steps once the replay holds a training and a held-out window) against the runs of the
    ``hybrid`` and ``rssm_pretrained`` arms, whatever their gate did. Before, the count started as soon
    as the replay held one window (9 runs where the hybrid arm ran 5, 5 where the pretrained one ran 1)."""
    cfg, out, summaries = runs
    r = RSSMConfig.from_dict({**cfg["hybrid"]["rssm"], "seed": 0})
    for arm, name in (("hybrid", "rssm"), ("rssm_pretrained", "rssm_pretrained")):
        w = summaries[arm]["work"]
        assert w[f"predictor_train/{name}"] == rssm_train_runs(r, w[f"observe/{name}"]) * r.train_iters > 0, arm
    # known answer without a held-out block (holdout_every 0): a training window must end before the
    # newest 2 windows, so the replay needs 3 windows (12 steps of window 4): runs at 12, 14 and 16
    r = RSSMConfig(window=4, burn_in=2, update_every=2, holdout_every=0)
    assert [rssm_train_runs(r, m) for m in (11, 12, 16)] == [0, 1, 3]


def _with_field_arms(cfg: dict) -> dict:
    """``cfg`` plus the field's arms of config/frontier.yaml's issue-17 block (their kinds and horizons)."""
    front = config_mod.load(ROOT / "config/frontier.yaml")
    text = (ROOT / "config/frontier.yaml").read_text()
    block = text[text.index("BEGIN the field's predictors"):text.index("END the field's predictors")]
    raw = {k: copy.deepcopy(v) for k, v in cfg.items()}
    raw["arms"] = {**cfg["arms"], **{n: a for n, a in front["arms"].items() if re.search(rf"^\s+{n}:", block, re.M)}}
    return config_mod.validate(raw)


@pytest.mark.parametrize("with_field", [False, True], ids=["smoke", "smoke+field_arms"])
def test_the_smoke_config_calibrates_every_arm(with_field):
    """config/smoke.yaml, and the same study with the field's arms of config/frontier.yaml at their own
    horizons, calibrate without error, and every arm's nominal work is costed."""
    cfg = config_mod.load(ROOT / "config/smoke.yaml")
    if with_field:
        cfg = _with_field_arms(cfg)
        assert {"verified", "dmd", "nowcaster", "rssm_pretrained"} <= {a["kind"] for a in cfg["arms"].values()}
    cal = {"units": measure_units(cfg, RandomTokens(cfg["data"]["vocab_size"], 20_000), calls=2, warmup=1,
                                  train_calls=1, count_flops=False, say=lambda s: None)}
    for arm in cfg["arms"]:
        work = nominal_work(cfg, arm)
        missing = [u for u in work if u not in cal["units"] and not _gate_gap(u)]
        assert not missing, (arm, missing)
        assert contention_free_s(work, cal) > 0, arm


def test_nominal_work_of_a_frontier_arm_is_its_own_budget():
    from predictive_training import config as config_mod
    from predictive_training.training.plan import nominal_work

    cfg = config_mod.validate({"arms": {"baseline": {"kind": "conventional"},
                                        "conv_b070": {"kind": "conventional", "budget": 0.7}}})
    assert nominal_work(cfg, "baseline") == {"full_step": cfg["train"]["steps"]}
    assert nominal_work(cfg, "conv_b070") == {"full_step": round(0.7 * cfg["train"]["steps"])}
