"""The conventional frontier: interpolation, equal-cost statistics, budgets, the sweep grid."""

from __future__ import annotations

import copy
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from predictive_training import config as config_mod
from predictive_training.analysis.frontier import fit_frontier, frontier_at, seed_frontier
from predictive_training.stats import tests as st
from predictive_training.stats.frontier import confirmatory_metric, frontier_table, frontier_test_rows

from .conftest import TINY

ROOT = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------ interpolation (known answers)
def test_frontier_is_linear_in_log_cost_between_its_points():
    fit = fit_frontier([100.0, 400.0, 200.0], [4.0, 3.0, 3.5])
    assert fit == ([100.0, 200.0, 400.0], [4.0, 3.5, 3.0])
    assert frontier_at(fit, 200.0) == pytest.approx(3.5)
    assert frontier_at(fit, 100.0 * math.sqrt(2.0)) == pytest.approx(3.75)  # half way in log cost
    assert frontier_at(fit, 300.0) == pytest.approx(3.5 - 0.5 * math.log(1.5) / math.log(2.0))
    # outside the frontier's range: extrapolation, no value
    assert frontier_at(fit, 99.0) is None and frontier_at(fit, 401.0) is None


def test_frontier_is_isotonic_and_pools_equal_costs():
    # the 400-cost run ends worse than the 200-cost run: the fit pools them (loss never rises with cost)
    xs, ys = fit_frontier([100.0, 200.0, 400.0], [4.0, 3.0, 3.2])
    assert ys == pytest.approx([4.0, 3.1, 3.1])
    # two runs of equal cost (matched_r50 and conv_b050) are one point, their mean
    xs, ys = fit_frontier([100.0, 200.0, 200.0], [4.0, 3.0, 3.4])
    assert xs == [100.0, 200.0] and ys == pytest.approx([4.0, 3.2])
    # cloze accuracy is non-decreasing in cost
    assert fit_frontier([1.0, 2.0, 3.0], [0.5, 0.4, 0.6], increasing=True)[1] == pytest.approx([0.45, 0.45, 0.6])
    with pytest.raises(ValueError, match="positive"):
        fit_frontier([0.0, 1.0], [1.0, 2.0])


# ------------------------------------------------------------------ the equal-cost statistic
FRONT = {"baseline": (1000.0, 3.0), "conv_b070": (700.0, 3.3), "matched_r50": (500.0, 3.6)}


def _arm(kind, cost, loss, cloze=0.5, r=0.5):
    return {"kind": kind, "time_s": cost, "backward_passes": cost, "flops": cost * 1e9, "final_val_loss": loss,
            "downstream": {"cloze_accuracy": cloze}, "prediction_ratio_requested": r, "horizon": 20}


def _logs(predicted: dict, seeds=(0, 1, 2, 3), confirmatory=("on", "below")):
    """Exp 4 logs of synthetic seeds: the frontier's losses shift per seed, the predicted arms as given
    (``name -> function(seed, frontier fit) -> (cost, loss)``)."""
    logs = []
    for s in seeds:
        shift = 0.05 * s
        arms = {a: _arm("conventional" if a != "matched_r50" else "matched", c, l + shift, 0.5, 0.0)
                for a, (c, l) in FRONT.items()}
        fit = fit_frontier([c for c, _ in FRONT.values()], [l + shift for _, l in FRONT.values()])
        for name, f in predicted.items():
            cost, loss = f(s, fit)
            arms[name] = _arm("hybrid", cost, loss)
        fr = seed_frontier(arms, list(FRONT), list(predicted))
        fr.update(arms=list(FRONT), predicted=list(predicted), confirmatory=list(confirmatory))
        logs.append({"results": {"arms": arms, "frontier": fr}})
    return logs


def test_an_arm_exactly_on_the_frontier_gives_zero_and_is_not_better():
    logs = _logs({"on": lambda s, fit: (600.0 + 10 * s, frontier_at(fit, 600.0 + 10 * s)),
                  "below": lambda s, fit: (600.0 + 10 * s, frontier_at(fit, 600.0 + 10 * s) - 0.1 - 0.01 * (s % 2))})
    for lg in logs:
        g = lg["results"]["frontier"]["gaps"]["on"]["time"]
        assert g["loss_gap"] == pytest.approx(0.0, abs=1e-12) and g["in_range"]
    rows = frontier_test_rows(logs)
    assert [r.metric for r in rows] == [confirmatory_metric("on"), confirmatory_metric("below")]
    assert all(r.family == "study" for r in rows)
    table = st.tests_table(rows)
    on = table[table["metric"] == confirmatory_metric("on")].iloc[0]
    below = table[table["metric"] == confirmatory_metric("below")].iloc[0]
    assert on["estimate"] == pytest.approx(0.0, abs=1e-12) and not on["passed"]
    assert below["estimate"] == pytest.approx(-0.105) and below["passed"] and below["p_adjusted"] < 0.05
    assert below["ci_high"] < 0
    full = frontier_table(logs, table)
    # every measure and metric is a cell; only the confirmatory (time, loss) cells carry an adjusted p
    assert set(full["measure"]) == {"time", "backward", "flops"} and set(full["metric"]) == {"loss", "cloze"}
    conf = full[full["confirmatory"]]
    # the arm exactly on the frontier has a gap of 0 in every seed: zero variance, no test, no claim
    assert len(conf) == 2 and conf.set_index("arm")["p_adjusted"].notna().to_dict() == {"on": False, "below": True}
    assert "zero variance" in conf.set_index("arm").loc["on", "status"]
    assert full[~full["confirmatory"]]["p_adjusted"].isna().all()
    assert bool(conf.set_index("arm").loc["below", "below_frontier"]) is True
    assert bool(conf.set_index("arm").loc["on", "below_frontier"]) is False


def test_an_arm_outside_the_frontiers_cost_range_is_extrapolation_and_not_tested():
    logs = _logs({"cheap": lambda s, fit: (400.0, 3.0)}, confirmatory=("cheap",))
    assert logs[0]["results"]["frontier"]["gaps"]["cheap"]["time"]["in_range"] is False
    assert frontier_test_rows(logs) == []
    full = frontier_table(logs)
    assert full["p_value"].isna().all() and full["status"].str.startswith("extrapolation").all()


def test_a_costlier_arm_that_ends_worse_than_the_longest_frontier_run_is_dominated():
    logs = _logs({"slow": lambda s, fit: (1100.0, 3.1 + 0.05 * s), "slow_good": lambda s, fit: (1100.0, 2.5)},
                 confirmatory=())
    full = frontier_table(logs).set_index(["arm", "measure", "metric"])
    assert full.loc[("slow", "time", "loss"), "status"].startswith("dominated")
    # a costlier arm with a lower loss than the longest run is extrapolation: the frontier might reach it
    assert full.loc[("slow_good", "time", "loss"), "status"].startswith("extrapolation: the arm costs more")
    assert full["p_value"].isna().all()


def test_an_arm_clearly_above_the_frontier_is_not_below_it():
    logs = _logs({"above": lambda s, fit: (800.0, frontier_at(fit, 800.0) + 0.2 + 0.01 * s)}, confirmatory=("above",))
    table = st.tests_table(frontier_test_rows(logs))
    assert table.iloc[0]["estimate"] > 0 and not table.iloc[0]["passed"]


# ------------------------------------------------------------------ config: budgets, sweep, confirmatory
def _cfg(**over):
    raw = copy.deepcopy(TINY)
    raw.update(over)
    return config_mod.validate(raw)


def test_budget_and_confirmatory_errors_name_the_key():
    base = {"baseline": {"kind": "conventional"}}
    with pytest.raises(config_mod.ConfigError, match=r"arms\.h\.budget"):
        _cfg(arms={**base, "h": {"kind": "hybrid", "prediction_ratio": 0.25, "budget": 0.5}})
    with pytest.raises(config_mod.ConfigError, match=r"arms\.c\.budget"):  # 0.1 x 40 = 4 steps <= 5 warmup
        _cfg(arms={**base, "c": {"kind": "conventional", "budget": 0.1}})
    with pytest.raises(config_mod.ConfigError, match=r"frontier\.confirmatory\.0"):
        _cfg(arms=base, frontier={"confirmatory": ["nope"]})
    with pytest.raises(config_mod.ConfigError, match=r"frontier\.confirmatory\.0.*frontier itself"):
        _cfg(arms={**base, "c": {"kind": "conventional", "budget": 0.5}}, frontier={"confirmatory": ["c"]})
    with pytest.raises(config_mod.ConfigError, match=r"sweep\.kinds\.0"):
        _cfg(sweep={"kinds": ["oracle"], "ratios": [0.25], "horizons": [5]})
    with pytest.raises(config_mod.ConfigError, match=r"arms\.conv_b050"):
        _cfg(arms={**base, "conv_b050": {"kind": "conventional", "budget": 0.4}}, sweep={"budgets": [0.5]})
    assert config_mod.budget_steps(_cfg(arms={**base, "c": {"kind": "conventional", "budget": 0.55}}), "c") == 22
    # the default declaration: hybrid_r50 and repeat_r50 where the study has them
    assert config_mod.confirmatory_arms(config_mod.validate({})) == ["hybrid_r50", "repeat_r50"]
    assert config_mod.confirmatory_arms(_cfg(arms=base)) == []


def test_sweep_expands_before_any_job_and_lists_the_cells_that_do_not_fit():
    cfg = config_mod.validate({"sweep": {"budgets": [0.2, 0.5, 1.0], "kinds": ["hybrid", "dmd"],
                                         "ratios": [0.25, 0.5, 0.67, 0.8], "horizons": [5, 10, 20, 50]}})
    grid, skipped = config_mod.sweep_cells(cfg)
    # r <= 0.95 / (1 + 5 / Y) with 50 warmup and 5 Correct steps in 1,000: Y = 5 -> r 0.25; Y = 10 -> 0.25,
    # 0.5; Y = 20 -> 0.25, 0.5, 0.67; Y = 50 -> all four: 10 of 16 cells per kind
    fits = {(r, y) for y, rs in {5: [0.25], 10: [0.25, 0.5], 20: [0.25, 0.5, 0.67], 50: [0.25, 0.5, 0.67, 0.8]}.items()
            for r in rs}
    for kind in ("hybrid", "dmd"):
        assert {(a["prediction_ratio"], a["horizon"]) for n, a in grid.items() if a["kind"] == kind} == fits
    assert sorted(c["name"] for c in skipped if c["kind"] == "dmd") == sorted(
        ["dmd_r50_y5", "dmd_r67_y5", "dmd_r67_y10", "dmd_r80_y5", "dmd_r80_y10", "dmd_r80_y20"])
    assert all("not reachable" in c["reason"] for c in skipped)
    # 1.0 is the baseline; conv_b050 is matched_r50 (500 steps) and hybrid_r25_y20 / hybrid_r50_y20 are
    # hybrid_r25 / hybrid_r50 of the default arms: none is run twice
    added = [a for a in cfg["arms"] if a not in config_mod.validate({})["arms"]]
    assert "conv_b020" in added and "conv_b050" not in added and "conv_b100" not in added
    assert "hybrid_r50_y20" not in added and "hybrid_r25_y20" not in added and "dmd_r50_y20" in added
    assert len(added) == 1 + 2 * 10 - 2
    assert config_mod.validate(cfg) == cfg  # idempotent: a job re-validating its config gets the same arms


def _expected_arms(path: str) -> int:
    """The arms a sweep config runs, counted from its grid and arms by hand-written rules."""
    cfg = config_mod.load(ROOT / path)
    raw = __import__("yaml").safe_load((ROOT / path).read_text())
    sw = raw.get("sweep", {})
    steps, warm, correct = 1000 if "steps" not in raw["train"] else raw["train"]["steps"], raw["train"]["warmup_steps"], 5
    fits = 0
    for r in sw.get("ratios", []):
        for y in sw.get("horizons", []):
            n = max(0, math.ceil(r * steps / y - 0.5))
            fits += n * (y + correct) <= steps - warm
    predicted = fits * len(sw.get("kinds", []))
    explicit = raw["arms"]
    dup_pred = sum(1 for a in explicit.values() if a["kind"] not in ("conventional", "matched")
                   and a["kind"] in sw.get("kinds", []) and a["prediction_ratio"] in sw.get("ratios", [])
                   and a.get("horizon", cfg["hybrid"]["horizon"]) in sw.get("horizons", []))
    budgets = [b for b in sw.get("budgets", []) if b < 1.0 and not (b == 0.5 and "matched_r50" in explicit)]
    return len(explicit) + predicted - dup_pred + len(budgets)


@pytest.mark.parametrize("path, arms", [("config/frontier.yaml", 78), ("config/regimes_batch.yaml", 7),
                                        ("config/regimes_steps.yaml", 7), ("config/field.yaml", 8)])
def test_sweep_configs_dry_run_plans_every_run(path, arms, tmp_path):
    cfg = config_mod.load(ROOT / path)
    assert len(cfg["arms"]) == arms == _expected_arms(path)
    assert len(cfg["seeds"]) == 3
    frontier = config_mod.frontier_arms(cfg)
    assert {"baseline", "matched_r50"} <= set(frontier)
    out = subprocess.run([str(Path(sys.executable).parent / "snakemake"), "-n", "--quiet", "rules", "--cores", "2",
                          "--configfile", path, "--directory", str(ROOT), "--forceall"],
                         cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    counts = {}
    for line in out.stdout.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit():
            counts[parts[0]] = int(parts[1])
    assert counts["train"] == arms * 3, out.stdout


# ------------------------------------------------------------------ a budget arm trains its own schedule
def test_a_conventional_budget_arm_trains_its_share_with_its_own_schedule(tiny_data, tmp_path, one_thread):
    from predictive_training.records.jsonl import read_metrics
    from predictive_training.training.loop import lr_at
    from predictive_training.training.run import run_training

    cfg = _cfg(arms={"baseline": {"kind": "conventional"}, "conv_b050": {"kind": "conventional", "budget": 0.5}},
               record={**TINY["record"], "shadow": {"arms": []}})
    cfg["train"]["checkpoint_every"] = 0
    s = run_training(cfg, tiny_data, "conv_b050", 0, tmp_path / "run")
    assert s["steps"] == 20 and s["backward_passes"] == 20 and s["budget"] == 0.5 and s["budget_steps"] == 40
    rows = read_metrics(tmp_path / "run")
    assert len(rows) == 20
    short = copy.deepcopy(cfg)
    short["train"]["steps"] = 20
    # the cosine ends at the arm's own budget: the last step runs at the minimum learning rate
    assert rows[-1]["lr"] == pytest.approx(lr_at(19, short["train"]))
    assert rows[-1]["lr"] < lr_at(19, cfg["train"])
    assert rows[-1].get("val_loss") is not None and "work" in rows[-1]
