"""The second, cooldown frontier: conventional arms with their own ``schedule`` (wsd branches of a
constant-rate run), their role, the branch being the same run as the constant run up to its
cooldown, and the exploratory table of stats/frontier_cooldown.csv."""

from __future__ import annotations

import copy
import math

import pandas as pd
import pytest

from predictive_training import config as config_mod
from predictive_training.analysis.frontier import frontier_at, seed_frontier
from predictive_training.records.jsonl import read_metrics
from predictive_training.stats.frontier import COOLDOWN_COLUMNS, cooldown_frontier_table
from predictive_training.training.optim import lr_at
from predictive_training.training.run import run_training

from .conftest import TINY

ARMS = {"baseline": {"kind": "conventional"},
        "conv_b050": {"kind": "conventional", "budget": 0.5},
        "wsd_b050": {"kind": "conventional", "budget": 0.5, "schedule": "wsd"},
        "wsd_b100": {"kind": "conventional", "schedule": "wsd"},
        "hybrid_r50": {"kind": "hybrid", "prediction_ratio": 0.5}}


def _cfg(arms=ARMS, **train) -> dict:
    raw = copy.deepcopy(TINY)
    raw["arms"] = copy.deepcopy(arms)
    raw["train"].update(train)
    raw["record"] = {**TINY["record"], "shadow": {"arms": []}}
    return config_mod.validate(raw)


def test_arms_with_their_own_schedule_form_the_second_frontier():
    r = config_mod.roles(_cfg())
    assert r.frontier == ("baseline", "conv_b050") and r.cooldown_frontier == ("wsd_b050", "wsd_b100")
    assert r.record()["cooldown_frontier"] == ["wsd_b050", "wsd_b100"]
    # a study without such arms has none, and its recorded roles are unchanged
    plain = config_mod.roles(_cfg({a: v for a, v in ARMS.items() if "schedule" not in v}))
    assert plain.cooldown_frontier == () and "cooldown_frontier" not in plain.record()
    # the roles come from the arms alone (rules read reduced configs): a study that itself runs wsd
    # still keeps the arms with their own schedule apart
    assert config_mod.roles(_cfg(schedule="wsd")) == r
    assert config_mod.roles({k: v for k, v in _cfg().items() if k != "train"}) == r


@pytest.mark.parametrize("arms, key", [
    ({"baseline": {"kind": "conventional", "schedule": "wsd"}}, r"arms\.baseline\.schedule"),
    ({"baseline": {"kind": "conventional"}, "h": {"kind": "hybrid", "prediction_ratio": 0.5, "schedule": "wsd"}},
     r"arms\.h\.schedule"),
])
def test_a_schedule_where_it_cannot_apply_is_named(arms, key):
    with pytest.raises(config_mod.ConfigError, match=key):
        _cfg(arms)


def test_a_wsd_branch_is_the_constant_run_up_to_its_cooldown(tiny_data, tmp_path, one_thread):
    """Batches are a function of the step: the wsd arm at budget 0.5 (20 steps, cooldown 16-19) is the
    constant-rate run's first 16 steps, then its own (1 - sqrt) cooldown: a branch, costed at 20 steps."""
    arms = {"baseline": {"kind": "conventional"}, "const": {"kind": "conventional", "schedule": "constant"},
            "wsd_b050": {"kind": "conventional", "budget": 0.5, "schedule": "wsd"}}
    cfg = _cfg(arms)
    cfg["train"]["checkpoint_every"] = 0
    run_training(cfg, tiny_data, "const", 0, tmp_path / "const")
    s = run_training(cfg, tiny_data, "wsd_b050", 0, tmp_path / "wsd")
    const, wsd = read_metrics(tmp_path / "const"), read_metrics(tmp_path / "wsd")
    assert s["backward_passes"] == 20 and len(wsd) == 20
    strip = lambda r: {k: v for k, v in r.items() if k not in ("wall_s", "work")}  # noqa: E731
    assert [strip(r) for r in wsd[:16]] == [strip(r) for r in const[:16]]
    assert wsd[16]["lr"] < const[16]["lr"] and wsd[16]["loss"] == const[16]["loss"]  # same weights, lower rate
    branch = {**cfg["train"], "schedule": "wsd", "steps": 20}
    assert [r["lr"] for r in wsd] == pytest.approx([lr_at(t, branch) for t in range(20)])
    assert wsd[-1]["lr"] == pytest.approx(cfg["train"]["lr"] * cfg["train"]["min_lr_ratio"])


def _rec(cost, loss):
    return {"time_s": cost, "backward_passes": cost, "flops": cost * 1e9, "final_val_loss": loss,
            "downstream": {"cloze_accuracy": None}, "kind": "conventional", "prediction_ratio_requested": 0.0}


def _log(shift: float) -> dict:
    """One seed's Exp 4 log: the cosine frontier (500, 1000), the cooldown one 0.1 lower, a hybrid arm."""
    arms = {"baseline": _rec(1000.0, 3.0 + shift), "conv_b050": _rec(500.0, 3.6 + shift),
            "wsd_b050": _rec(500.0, 3.5 + shift), "wsd_b100": _rec(1000.0, 2.9 + shift),
            "hybrid_r50": {**_rec(750.0, 3.3 + shift), "kind": "hybrid", "prediction_ratio_requested": 0.5}}
    front, cool = ["baseline", "conv_b050"], ["wsd_b050", "wsd_b100"]
    return {"results": {"arms": arms, "frontier_cooldown": {
        "arms": cool,
        "predicted": {"arms": cool, "predicted": ["hybrid_r50"], "confirmatory": [],
                      **seed_frontier(arms, cool, ["hybrid_r50"])},
        "vs_frontier": {"arms": front, "predicted": cool, "confirmatory": [], **seed_frontier(arms, front, cool)}}}}


def test_the_cooldown_table_compares_both_ways_and_is_exploratory():
    logs = [_log(0.01 * s + 0.003 * (s % 2)) for s in range(4)]
    t = cooldown_frontier_table(logs)
    assert list(t.columns) == COOLDOWN_COLUMNS
    t = t[(t["measure"] == "backward") & (t["metric"] == "loss")].set_index("arm")
    # the cooldown arms against the cosine frontier at their own budget: 0.1 lower at both budgets
    assert t.loc["wsd_b050", "comparison"] == "cooldown_arm_vs_frontier"
    assert t.loc["wsd_b050", "estimate"] == pytest.approx(-0.1) and t.loc["wsd_b100", "estimate"] == pytest.approx(-0.1)
    # the hybrid arm against the cooldown frontier at its own cost (750, between its two points)
    mid = math.log(1.5) / math.log(2.0)
    assert t.loc["hybrid_r50", "comparison"] == "predicted_vs_cooldown_frontier"
    assert t.loc["hybrid_r50", "estimate"] == pytest.approx(3.3 - (3.5 - 0.6 * mid))
    assert frontier_at(([500.0, 1000.0], [3.5, 2.9]), 750.0) == pytest.approx(3.5 - 0.6 * mid)
    assert not t["confirmatory"].any() and t["p_adjusted"].isna().all()
    # no second frontier: an empty table with the same columns
    assert list(cooldown_frontier_table([{"results": {"arms": {}}}]).columns) == COOLDOWN_COLUMNS


def test_the_pareto_figure_draws_the_second_frontier(tmp_path):
    from predictive_training.report.frontier import _pareto

    logs = []
    for s in range(3):
        lg = _log(0.01 * s)
        arms = lg["results"]["arms"]
        for a in arms.values():
            a.update(horizon=20, budget=None)
        lg["results"]["frontier"] = {"arms": ["baseline", "conv_b050"], "predicted": ["hybrid_r50"],
                                     **seed_frontier(arms, ["baseline", "conv_b050"], ["hybrid_r50"])}
        logs.append(lg)
    path, caption, _ = _pareto(logs, tmp_path, "contention-free time (s)")
    assert path.exists() and path.stat().st_size > 1000
    assert "warmup-stable-decay" in caption
    for lg in logs:
        del lg["results"]["frontier_cooldown"]
    assert "warmup-stable-decay" not in _pareto(logs, tmp_path, "contention-free time (s)")[1]


def test_the_report_section_lists_both_comparisons():
    from predictive_training.report.frontier import cooldown_section

    sec = cooldown_section(cooldown_frontier_table([_log(0.01 * s + 0.003 * (s % 2)) for s in range(4)]))
    comparisons = {r[0] for r in sec["rows"]}
    assert comparisons == {"cooldown arm vs frontier", "predicted vs cooldown frontier"}
    assert len(sec["rows"][0]) == len(sec["columns"])
    assert cooldown_section(pd.DataFrame(columns=COOLDOWN_COLUMNS)) is None


MITIGATION = {"id": "MF", "title": "t", "question": "q", "rule": "r", "evaluate": "cooldown_frontier"}


@pytest.mark.parametrize("worse, outcome", [(None, "Go"), ("wsd_b100", "No-Go")])
def test_the_mitigation_record_is_go_only_when_every_cooldown_arm_is_below(worse, outcome):
    from predictive_training.stats.milestones import validate_record
    from predictive_training.stats.mitigation import cooldown_frontier_record

    logs = []
    for s in range(4):
        lg = _log(0.01 * s)
        arms, front = lg["results"]["arms"], ["baseline", "conv_b050"]
        for a in ("wsd_b050", "wsd_b100"):  # 0.1 below the cosine frontier, give or take a seed's noise
            arms[a]["final_val_loss"] += 0.004 * ((s * 7 + len(a)) % 3)
        if worse:  # this cooldown arm ends 0.05 above the cosine frontier at its budget
            arms[worse]["final_val_loss"] = arms["baseline"]["final_val_loss"] + 0.05 + 0.002 * s
        lg["results"]["frontier_cooldown"]["vs_frontier"].update(seed_frontier(arms, front, ["wsd_b050", "wsd_b100"]))
        logs.append(lg)
    table = cooldown_frontier_table(logs)
    rec = cooldown_frontier_record({"mitigation": MITIGATION}, table, pd.DataFrame(columns=["measure", "metric"]),
                                   None, None)
    validate_record(rec)
    assert rec["outcome"] == outcome and rec["family"] == "study" and rec["id"] == "MF"
    for key, inp in rec["inputs"].items():  # passed = below the frontier by the one-sided paired t test
        assert inp["passed"] == (inp["estimate"] < 0 and inp["p_value"] < 0.05), key
    assert set(rec["criteria"]) == {"wsd_b050 - cosine frontier (equal backward passes)",
                                    "wsd_b100 - cosine frontier (equal backward passes)"}
    assert any(k.startswith("hybrid_r50 - cooldown frontier") for k in rec["exploratory"])


def test_a_cooldown_mitigation_without_cooldown_arms_is_named():
    raw = copy.deepcopy(TINY)
    raw["arms"] = {"baseline": {"kind": "conventional"}}
    raw["mitigation"] = MITIGATION
    with pytest.raises(config_mod.ConfigError, match=r"mitigation\.evaluate"):
        config_mod.validate(raw)
