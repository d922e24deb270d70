"""The Snakemake workflow: lint, formatting, dry runs, bad config, and the smoke study end to end."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake"]


def snakemake(*args, cwd=ROOT, check=True):
    proc = subprocess.run([*SNAKEMAKE, *args], cwd=cwd, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


@pytest.mark.parametrize("configfile", ["config/config.yaml", "config/smoke.yaml", "config/shadow_dense.yaml"])
def test_dry_run_plans(configfile):
    out = snakemake("-n", "--forceall", "--configfile", configfile, "--quiet", "rules").stdout
    assert "train" in out


def test_lint_is_clean():
    proc = snakemake("--lint", check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Lints for" not in proc.stdout + proc.stderr


def test_snakefmt_check():
    files = ["Snakefile", *map(str, sorted((ROOT / "workflow/rules").glob("*.smk")))]
    proc = subprocess.run([sys.executable, "-m", "snakefmt", "--check", *files], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_bad_config_stops_before_any_job(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("study: bad_cfg\ntrain: {stepz: 3}\n")
    proc = snakemake("-n", "--configfile", str(bad), check=False)
    assert proc.returncode != 0
    assert "train.stepz" in proc.stdout + proc.stderr
    assert not (ROOT / "results/bad_cfg").exists()


@pytest.mark.slow
def test_smoke_study_end_to_end(smoke_study):
    """The whole DAG on config/smoke.yaml, in a copy of the workflow so results/ stays clean (the
    session's smoke study: tests/conftest.py)."""
    res = smoke_study
    runs = pd.read_csv(res / "runs/summary.csv")
    cfg_seeds = yaml.safe_load((ROOT / "config/smoke.yaml").read_text())["seeds"]
    assert sorted(runs.seed.unique()) == cfg_seeds
    assert runs.initial_loss_ok.all()
    assert (runs.final_val_loss < runs.initial_val_loss - 0.5).all()
    # the calibrate rule makes as many whole measurements as calibration.repeats asks
    cal = json.loads((res / "calibration.json").read_text())
    assert cal["repeats"] == yaml.safe_load((ROOT / "config/smoke.yaml").read_text())["calibration"]["repeats"] == 2
    meta = json.loads((res / "data/meta.json").read_text())
    assert meta["source"] == "synthetic" and meta["tokens"]["train"] > 100_000
    for arm in runs.arm.unique():
        for s in cfg_seeds:
            d = res / f"runs/{arm}/seed{s}"
            assert (d / "metrics.jsonl").exists() and (d / "events.jsonl").exists()
            assert (d / "snapshots/gradients.safetensors").exists()
    # every experiment, in the plan's template, for every seed
    template = {"experiment_id", "hypothesis", "date", "seed", "config", "results", "conclusion", "next_steps"}
    for name in ("exp1_gradient_structure", "exp2_loss_prediction", "exp3_weight_delta",
                 "exp4_prediction_phases", "exp5_correction"):
        for s in cfg_seeds:
            log = json.loads((res / f"experiments/{name}/seed{s}.json").read_text())
            assert template <= set(log) and log["seed"] == s and log["results"]["criteria"]
    # statistics, decisions and both reports
    tests = pd.read_csv(res / "stats/tests.csv")
    assert list(tests.columns) == ["experiment", "metric", "n", "estimate", "ci_low", "ci_high", "test",
                                   "statistic", "p_value", "p_adjusted", "threshold", "passed", "family", "note"]
    assert {"exp1", "exp2", "exp3", "exp4", "exp5"} <= set(tests.experiment)
    assert set(tests.family) == {"plan", "study"}
    # Exp 5: the skip control's search effect is 0 by construction, and the log says what it measures
    assert tests.set_index("metric").loc["skip_r50_search_effect_max_abs", "estimate"] == 0.0
    decisions = json.loads((res / "decisions.json").read_text())
    assert [m["id"] for m in decisions["milestones"]] == ["M1", "M2", "M3", "M4", "M5"]
    assert [d["id"] for d in decisions["decisions"]] == ["D1", "D2", "D3"]
    html = (res / "report/report.html").read_text()
    assert all(d["outcome"] in html for d in decisions["milestones"] + decisions["decisions"])
    # shadow mode: the baseline's records, Exp 3 from them, the horizon figure and the section with its sentence
    assert all((res / f"runs/baseline/seed{s}/shadow.jsonl").exists() for s in cfg_seeds)
    assert not (res / "runs/hybrid_r50/seed0/shadow.jsonl").exists()
    exp3 = json.loads((res / "experiments/exp3_weight_delta/seed0.json").read_text())
    assert exp3["results"]["criteria_from"]["predictor"] == "rssm" and exp3["results"]["shadow"]["origins"]
    assert (res / "figures/shadow_horizon.png").exists()
    assert "Shadow mode" in html and "H1: at the hybrid arms&#39; horizon" in html  # autoescaped
    assert (res / "report/report.pdf").read_bytes()[:5] == b"%PDF-"
    # the conventional frontier: the equal-cost table, the confirmatory rows, figures, section
    frontier = pd.read_csv(res / "stats/frontier.csv")
    assert {"hybrid_r50", "repeat_r50", "skip_r50", "hybrid_r25"} <= set(frontier.arm)
    assert set(frontier.measure) == {"time", "backward", "flops"}
    # the declared confirmatory arms (the default: hybrid_r50, repeat_r50); a confirmatory arm outside the
    # frontier's cost range (the smoke hybrids, whose gate blocks every cycle, cost more than the baseline)
    # is reported as extrapolation and has no test row
    conf = frontier[frontier.confirmatory].set_index("arm")
    assert set(conf.index) == {"hybrid_r50", "repeat_r50"}
    for arm, rec in conf.iterrows():
        assert (f"frontier_time_loss_gap_{arm}" in set(tests.metric)) == (rec["status"] == "confirmatory")
        assert rec["status"] == "confirmatory" or rec["status"].startswith("extrapolation")
    assert (res / "figures/frontier_pareto.png").exists() and (res / "figures/frontier_time_to_target.png").exists()
    assert "the conventional frontier (loss at equal contention-free time)" in html
    # a predicting arm really predicted: Predict rows without backward passes changed the weights
    # (repeat_r50 is never gated; the hybrid arms predict only when the gate from measured skill lets them)
    for arm in ("repeat_r50", "hybrid_r50"):
        rows = [json.loads(x) for x in (res / f"runs/{arm}/seed0/metrics.jsonl").read_text().splitlines()]
        predict = [r for r in rows if r["phase"] == "predict"]
        assert not any(r["backward"] for r in predict)
        assert not predict or max(r["delta_norm"] for r in predict) > 0
        if arm == "repeat_r50":
            assert predict
    # every cycle of the hybrid arm has a gate decision with its reason
    events = [json.loads(x) for x in (res / "runs/hybrid_r50/seed0/events.jsonl").read_text().splitlines()]
    gates = [e for e in events if e["event"] == "gate"]
    summary = json.loads((res / "runs/hybrid_r50/seed0/summary.json").read_text())
    assert gates and all(g["decision"] in ("full", "predict") for g in gates)
    assert sum(g["decision"] == "full" for g in gates) == summary["gate_blocks"]
    assert all(g["reason"] for g in gates if g["decision"] == "full")
    assert sum(summary["gate_block_reasons"].values()) == summary["gate_blocks"]
    # nothing half-written is left behind
    assert not list(res.rglob(".*.tmp-*")) and not list(res.rglob(".*.partial"))


@pytest.mark.slow
def test_the_rssm_applies_its_rollouts_end_to_end(smoke_study):
    """The ungated RSSM arm of config/smoke.yaml (skill_gate false, ready after its first optimisation
    step) applies at least one RSSM rollout in every seed: a ``prediction`` event of the ``rssm``
    predictor with a non-zero predicted delta, and Predict rows (no backward pass) that moved the
    weights by that delta's norm."""
    res = smoke_study
    cfg = yaml.safe_load((ROOT / "config/smoke.yaml").read_text())
    arm = "rssm_ungated_r50"
    assert cfg["arms"][arm]["kind"] == "hybrid" and cfg["arms"][arm]["skill_gate"] is False
    for s in cfg["seeds"]:
        d = res / f"runs/{arm}/seed{s}"
        events = [json.loads(x) for x in (d / "events.jsonl").read_text().splitlines()]
        applied = [e for e in events if e["event"] == "prediction" and e["predictor"] == "rssm"
                   and (e["predicted_delta_norm"] or 0) > 0]
        assert applied, f"{arm} seed {s} applied no RSSM rollout"
        rows = [json.loads(x) for x in (d / "metrics.jsonl").read_text().splitlines()]
        moved = [r for r in rows if r["phase"] == "predict" and r["delta_norm"] > 0]
        assert moved and not any(r["backward"] for r in rows if r["phase"] == "predict")
        assert sorted(r["delta_norm"] for r in moved) == pytest.approx(
            sorted(e["predicted_delta_norm"] for e in applied), rel=1e-6)
        summary = json.loads((d / "summary.json").read_text())
        assert summary["rollouts"] >= len(applied) and summary["skill_gate"] is False


@pytest.mark.slow
def test_an_outside_predictor_is_judged_everywhere(smoke_study):
    """The worked example (examples/halfmean_predictor, an installed package's entry point: one module,
    one arm line and one shadow line in config/smoke.yaml) runs as an arm and a shadow predictor and
    appears wherever a built-in does: the frontier, Exp 3, Exp 5, the tests table and the report."""
    res = smoke_study
    s = json.loads((res / "runs/halfmean_r50/seed0/summary.json").read_text())
    assert s["predictor_provenance"]["package"] == "pt-halfmean-predictor" and s["rollouts"] > 0
    assert s["predictor_state"]["max_growing_numbers"] <= s["predictor_state"]["bound_numbers"]
    rows = [json.loads(x) for x in (res / "runs/halfmean_r50/seed0/metrics.jsonl").read_text().splitlines()]
    assert max(r["delta_norm"] for r in rows if r["phase"] == "predict") > 0  # its Predict phases move the weights
    cal = json.loads((res / "calibration.json").read_text())
    assert "observe/halfmean" in cal["units"] and cal["predictors"]["halfmean"]["predictor"] == "halfmean"
    frontier = pd.read_csv(res / "stats/frontier.csv")
    assert set(frontier[frontier.arm == "halfmean_r50"].measure) == {"time", "backward", "flops"}
    assert set(frontier[frontier.arm == "halfmean_r50"].kind) == {"halfmean"}
    exp3 = json.loads((res / "experiments/exp3_weight_delta/seed0.json").read_text())["results"]
    assert exp3["outside_predictors"] == ["halfmean"] and any(k.startswith("halfmean@") for k in exp3["table"])
    exp5 = json.loads((res / "experiments/exp5_correction/seed0.json").read_text())["results"]
    assert set(exp5["by_arm"]["halfmean_r50"]["controls"]) == {"skip_r50", "repeat_r50"}
    tests = pd.read_csv(res / "stats/tests.csv").set_index("metric")
    assert {"halfmean_r50_loss_reduction", "halfmean_r50_share_positive",
            "correct_phase_halfmean_r50_minus_skip_r50"} <= set(tests.index)
    for control in ("skip_r50", "repeat_r50", "matched_r50"):  # compared, or said not comparable
        row = tests.loc[f"halfmean_r50_beats_{control}"]
        assert row["family"] == "study"
        assert (row["test"] == "not_comparable") == str(row["note"]).startswith("not comparable")
    html = (res / "report/report.html").read_text()
    assert "halfmean_r50" in html and "halfmean" in html


@pytest.mark.slow
def test_a_changed_key_reruns_the_rules_that_read_it(smoke_study):
    """A changed key must not leave outputs stale ("Nothing to be done"). Each
    rule's params are the keys its script reads: changing that key reruns Exp 4 and the statistics, and
    nothing that does not read it."""
    work = smoke_study.parents[1]
    out = snakemake("-n", "--cores", "1", "--configfile", "config/smoke.yaml", "--config",
                    'frontier={"confirmatory": ["hybrid_r25"]}', cwd=work).stdout
    jobs = dict(re.findall(r"^(\w+)\s+(\d+)$", out.split("Job stats:")[1].split("Reasons:")[0], re.M))
    assert {"exp4_prediction_phases", "statistics"} <= set(jobs), jobs
    assert not set(jobs) & {"train", "calibrate", "prepare_data", "exp1_gradient_structure", "exp2_loss_prediction",
                            "exp3_weight_delta", "exp5_correction", "shadow_replay"}, jobs
    out = snakemake("-n", "--cores", "1", "--configfile", "config/smoke.yaml", cwd=work).stdout
    assert "Nothing to be done" in out
