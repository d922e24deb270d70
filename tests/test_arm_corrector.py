"""``arms.<name>.corrector``: per-arm corrector settings, deep-merged over ``hybrid.corrector``; they
reach the arm's corrector, its counted work and its plan, and bad ones are named under the arm."""

from __future__ import annotations

import copy

import pytest

from predictive_training import config as config_mod
from predictive_training.data.prepare import TokenData
from predictive_training.training.hybrid import HybridTrainer
from predictive_training.training.plan import nominal_work
from predictive_training.training.run import run_training
from predictive_training.training.work import FORWARD_BATCH, SEARCH_TRIAL
from tests.test_resume import TINY_RSSM, _jsonl

from .conftest import TINY

pytestmark = pytest.mark.usefixtures("one_thread")

OWN = {"groups": "tensor", "batches": 2, "evidence_z": 0.0, "trials": None}


def _cfg(own=OWN) -> dict:
    raw = copy.deepcopy(TINY)
    raw["arms"] = {"baseline": {"kind": "conventional"},
                   "plain": {"kind": "repeat", "prediction_ratio": 0.375},
                   "own": {"kind": "repeat", "prediction_ratio": 0.375, "corrector": own}}
    raw["hybrid"] = {"horizon": 5, "correct_steps": 2, "rssm": TINY_RSSM}
    raw["record"] = {**TINY["record"], "shadow": {"arms": []}}
    return config_mod.validate(raw)


def test_the_arm_corrector_is_merged_over_the_studys():
    cfg = _cfg()
    study = cfg["hybrid"]["corrector"]
    own = config_mod.arm_hybrid(cfg, "own")["corrector"]
    assert own == {**study, **OWN} and config_mod.arm_hybrid(cfg, "plain") is cfg["hybrid"]
    assert cfg["hybrid"]["corrector"] == study  # the study's block is not changed


def test_it_reaches_the_corrector_and_the_plan(tiny_data):
    cfg = _cfg()
    data = TokenData(tiny_data)
    plain, own = HybridTrainer(cfg, data, "plain", 0), HybridTrainer(cfg, data, "own", 0)
    assert len(plain.corrector.groups) == 2 and len(own.corrector.groups) == len(own.params)
    assert own.n_search_batches == 2 and own.corrector.evidence_z == 0.0 and plain.corrector.evidence_z == 2.0
    wp, wo = nominal_work(cfg, "plain"), nominal_work(cfg, "own")
    # per tensor and every scale: more trials per search; two search batches per evaluation
    assert wo[SEARCH_TRIAL] > wp[SEARCH_TRIAL] and wo[FORWARD_BATCH] != wp[FORWARD_BATCH]


def test_a_run_with_its_own_corrector_counts_its_own_work(tiny_data, tmp_path):
    cfg = _cfg()
    cfg["train"]["checkpoint_every"] = 0
    a = run_training(cfg, tiny_data, "plain", 0, tmp_path / "plain")
    b = run_training(cfg, tiny_data, "own", 0, tmp_path / "own")
    assert b["work"][SEARCH_TRIAL] > a["work"][SEARCH_TRIAL]
    assert b["work"][SEARCH_TRIAL] == nominal_work(cfg, "own")[SEARCH_TRIAL]
    corrections = [e for e in _jsonl(tmp_path / "own" / "events.jsonl") if e.get("event") == "correction"]
    assert corrections and all(len(e["per_layer"]) == 16 and e["search_batches"] == 2 for e in corrections)


@pytest.mark.parametrize("arms, match", [
    ({"own": {"kind": "repeat", "prediction_ratio": 0.375, "corrector": {"batches": 0}}},
     r"arms\.own\.corrector': batches"),
    ({"own": {"kind": "repeat", "prediction_ratio": 0.375, "corrector": {"groups": "layer"}}},
     r"arms\.own\.corrector': groups"),
    ({"own": {"kind": "repeat", "prediction_ratio": 0.375, "corrector": {"probe_batches": 6}}},
     r"arms\.own\.corrector\.probe_batches"),
    ({"c": {"kind": "conventional", "budget": 0.5, "corrector": {"batches": 2}}}, r"arms\.c\.corrector"),
    # a conventional arm's own search (training/searched.py): at the whole budget, beside a predicted arm
    ({"h": {"kind": "hybrid", "prediction_ratio": 0.25, "search_every": 10}}, r"arms\.h\.search_every"),
    ({"c": {"kind": "conventional", "budget": 0.5, "search_every": 10},
      "rep": {"kind": "repeat", "prediction_ratio": 0.375}}, r"arms\.c\.search_every"),
    ({"c": {"kind": "conventional", "search_every": 10}}, r"arms\.c\.search_every': the study needs a predicted arm"),
])
def test_bad_arm_correctors_and_searches_are_named(arms, match):
    raw = copy.deepcopy(TINY)
    raw["arms"] = {"baseline": {"kind": "conventional"}, **arms}
    raw["hybrid"] = {"horizon": 5, "correct_steps": 2}
    with pytest.raises(config_mod.ConfigError, match=match):
        config_mod.validate(raw)
