"""Experiment 6: learning-curve laws, the pruners on synthetic curves, the replay against
Optuna's own decisions, the statistics of the pivot, the config block, and a smoke-size sweep end to end."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest
import yaml

import predictive_training.config as study_config
from predictive_training.analysis import exp6
from predictive_training.analysis.lc_predictors import annealing_areas, fit_law, predict_final
from predictive_training.stats import exp6 as st
from predictive_training.stats import milestones
from predictive_training.training.loop import lr_at

ROOT = Path(__file__).resolve().parents[1]
T, EVERY = 200, 10


def schedule(peak: float, warmup: int, total: int = T) -> np.ndarray:
    train = {"lr": peak, "warmup_steps": warmup, "steps": total, "min_lr_ratio": 0.1}
    return np.array([lr_at(t, train) for t in range(total)])


def law_curve(lr, l0, a=2.0, alpha=0.5, c=0.0005, every=EVERY, noise=0.0, seed=0):
    s1, s2 = annealing_areas(lr)
    steps = np.arange(every, lr.size + 1, every)
    y = l0 + a * s1[steps] ** -alpha - c * s2[steps]
    y = y + noise * np.random.default_rng(seed).standard_normal(steps.size)
    return steps, y


def make_curves(specs) -> dict[str, exp6.Curve]:
    """``specs``: name -> (peak lr, warmup, L0, noise seed or None)."""
    out = {}
    for name, (peak, warm, l0, noise, seed) in specs.items():
        lr = schedule(peak, warm)
        steps, y = law_curve(lr, l0, noise=noise, seed=seed)
        out[name] = exp6.Curve(name, {"lr": peak, "warmup_steps": warm, "weight_decay": 0.1}, 0, steps, y, lr, T)
    return out


def hpo_cfg(**policies) -> dict:
    raw = {"train": {"steps": T, "warmup_steps": 10, "eval_every": EVERY},
           "hpo": {"grid": {"lr": [0.001, 0.003], "warmup_steps": [5], "weight_decay": [0.1]},
                   "seed_noise": {"top": 0}, "live": {"trials": 2, "policies": []},
                   "policies": {"median": {"n_startup_trials": 3, "n_warmup_steps": [20]},
                                "successive_halving": {"min_resource": [10]},
                                "hyperband": {"min_resource": [10, 30]},
                                "predictive": {"laws": ["last", "power", "schedule"], "margins": [0.0, 0.01, 0.02, 0.05],
                                               "min_points": 5}, **policies}}}
    return study_config.validate(raw)


# ------------------------------------------------------------------------------------ the laws
def test_schedule_law_recovers_a_noise_free_curve_and_the_power_law_misses_the_decay():
    lr = schedule(0.003, 20, 1000)
    s1, s2 = annealing_areas(lr)
    steps = np.arange(20, 1001, 20)
    y = 2.5 + 3.0 * s1[steps] ** -0.5 - 0.002 * s2[steps]
    final = float(y[-1])
    half = steps <= 500
    free = predict_final("schedule", steps[half], y[half], 1000, lr, prior=0.0)
    assert free.used == "schedule" and abs(free.value - final) / final < 1e-3
    assert free.params[3] == pytest.approx(0.002, rel=0.02)
    default = predict_final("schedule", steps[half], y[half], 1000, lr)
    assert abs(default.value - final) / final < 0.01  # the weak prior costs little once the decay shows
    power = predict_final("power", steps[half], y[half], 1000, lr)
    assert power.value - final > 0.1  # blind to the coming decay: it predicts a much higher loss


def test_power_law_known_answer_and_fallbacks():
    s = np.arange(10, 501, 10)
    y = 1.5 + 4.0 * s ** -0.7
    fit = fit_law("power", s[:20], y[:20])
    assert fit is not None
    assert fit[0] == pytest.approx([1.5, 4.0, 0.7], rel=1e-3)
    assert predict_final("power", s[:20], y[:20], 500).value == pytest.approx(y[-1], rel=1e-4)
    # too few points for a law: the fallback chain ends at the last value, and says so
    p = predict_final("schedule", s[:2], y[:2], 500, np.full(500, 1e-3))
    assert p.used == "last" and p.value == y[1]
    with pytest.raises(ValueError):
        predict_final("schedule", s[:5], [1.0, 2.0, math.nan, 1.0, 1.0], 500, np.full(500, 1e-3))


def test_annealing_areas_count_warmup_in_s1_only():
    lr = schedule(0.01, 50)
    s1, s2 = annealing_areas(lr)
    assert s1[0] == 0 and s1[-1] == pytest.approx(lr.sum() / lr.max())
    assert np.all(s2[:51] == 0)  # no annealing before the peak
    assert np.all(np.diff(s2[51:]) >= 0) and s2[-1] > 0


# ------------------------------------------------------------------------------------ the pruners
def predictors(curves):
    """One memoised predictor per law, shared by a test's studies (each prefix is fitted once)."""
    return {law: exp6.CurvePredictor(law, {k: c.lr for k, c in curves.items()}, T) for law in ("last", "power", "schedule")}


def replay_states(curves, spec, order, name="t", preds=None):
    res = exp6.run_study(order, spec, exp6.replay_run(curves), T, name, name, preds or predictors(curves))
    return {t["config"]: t for t in res.trials}, res


def test_no_predictive_pruner_stops_the_best_of_non_crossing_curves():
    """Known best, same shape, offsets of at least 2%, noise 0.1% (below every margin tested)."""
    rng = np.random.default_rng(3)
    offsets = [0.0, 0.05, 0.1, 0.2, 0.4, 0.8]
    specs = {f"c{i}": (0.003, 20, 2.0 + off, 0.002, i) for i, off in enumerate(offsets)}
    curves = make_curves(specs)
    cfg = hpo_cfg()
    policies = {k: v for k, v in study_config.hpo_policies(cfg).items()
                if v["family"] in ("last", "power", "schedule") and v["margin"] >= 0.01}
    assert len(policies) == 9
    pruned_any = 0
    preds = predictors(curves)
    for k in range(4):
        order = list(rng.permutation(list(curves)))
        for name, spec in policies.items():
            states, res = replay_states(curves, spec, order, f"{name}-{k}", preds)
            assert states["c0"]["state"] == "complete", (name, order)
            pruned_any += sum(t["state"] == "pruned" for t in res.trials)
    assert pruned_any > 0  # the pruners do stop the poor trials


def crossing_curves():
    """Four fast starters (short warmup) and a slow starter (warmup 100 of 200 steps) that ends best:
    its loss is the highest of all for the first 40 steps."""
    specs = {"fast0": (0.01, 5, 2.10, 0.0, 0), "fast1": (0.01, 5, 2.15, 0.0, 0), "fast2": (0.01, 5, 2.2, 0.0, 0),
             "fast3": (0.01, 5, 2.25, 0.0, 0), "slow": (0.01, 100, 2.0, 0.0, 0)}
    return make_curves(specs)


def test_crossing_curves_record_which_pruners_stop_the_slow_starter(capsys):
    curves = crossing_curves()
    slow, fast = curves["slow"], curves["fast3"]
    assert slow.final < min(c.final for k, c in curves.items() if k != "slow")
    assert np.all(slow.values[:4] > fast.values[:4])  # it crosses: worst early, best at the end
    order = ["fast0", "fast1", "fast2", "fast3", "slow"]
    cfg = hpo_cfg()
    stopped = {}
    preds = predictors(curves)
    for name, spec in study_config.hpo_policies(cfg).items():
        states, _ = replay_states(curves, spec, order, f"cross-{name}", preds)
        stopped[name] = states["slow"]["state"] == "pruned"
    with capsys.disabled():
        print("\nslow starter stopped by:", sorted(k for k, v in stopped.items() if v))
    assert stopped["median_w20"]  # by design: below the median of the others at equal steps is all it sees
    assert stopped["last_m0"]  # the last value cannot see the crossing either
    assert not stopped["none"]


def test_replay_reproduces_optunas_own_decisions_in_memory_and_in_sqlite(tmp_path):
    """The replay (exp6.run_study over recorded curves) against a plain Optuna study written here,
    and against a live study in SQLite storage whose 'trainer' reports the same curves."""
    curves = crossing_curves()
    cfg = hpo_cfg()
    specs = study_config.hpo_policies(cfg)
    order = ["fast2", "slow", "fast0", "fast3", "fast1"]
    preds = predictors(curves)
    for name in ("median_w20", "sha_r10", "hyperband_r10", "hyperband_r30", "schedule_m0.01", "power_m0"):
        spec = specs[name]
        study_name = f"agree-{name}"
        _, replayed = replay_states(curves, spec, order, study_name, preds)
        # Optuna's own loop: the same pruner, the same study name (Hyperband's brackets hash it)
        study = optuna.create_study(direction="minimize", pruner=exp6.make_pruner(spec, T, preds),
                                    study_name=study_name, sampler=optuna.samplers.RandomSampler(seed=0))
        for c in order:
            study.enqueue_trial({"config": c})

        def objective(trial):
            c = curves[trial.suggest_categorical("config", order)]
            for s, v in zip(c.steps, c.values):
                trial.report(float(v), int(s))
                if trial.should_prune():
                    trial.set_user_attr("steps", int(s))
                    raise optuna.TrialPruned()
            trial.set_user_attr("steps", int(c.steps[-1]))
            return c.final

        study.optimize(objective, n_trials=len(order))
        own = [(t.params["config"], t.state.name.lower(), t.user_attrs["steps"]) for t in study.trials]
        assert replayed.decisions() == own, name
        if name not in ("median_w20", "hyperband_r10", "schedule_m0.01"):
            continue
        # a live study in SQLite whose runs report the curves (what the hpo_live rule does with real training)
        reported = {}

        def train(config, report, reported=reported):
            c = curves[config]
            reported[config] = []
            for s, v in zip(c.steps, c.values):
                reported[config].append([int(s), float(v)])
                report(int(s), float(v))
            return c.final

        # SQLite costs about 20 ms a report: one policy there (Hyperband, whose brackets hash the study name)
        storage = f"sqlite:///{tmp_path / (name + '.db')}" if name == "hyperband_r10" else None
        live = exp6.live_study(order, spec, name, train, {k: c.lr for k, c in curves.items()}, T, storage, study_name)
        rec = {"policy": name, "study_name": study_name, "trials": live.trials, "reported": reported}
        agree = exp6.agreement(rec, replayed, curves)
        assert agree["agree"] and agree["max_abs_value_diff"] == 0.0
        if storage:
            assert len(optuna.load_study(study_name=study_name, storage=storage).trials) == len(order)


def test_agreement_notices_a_different_decision():
    curves = crossing_curves()
    spec = study_config.hpo_policies(hpo_cfg())["median_w20"]
    order = list(curves)
    rep = exp6.replay_order(curves, spec, order, "x")
    live = {"policy": "median_w20", "study_name": "x", "trials": [dict(t) for t in rep.trials], "reported": {}}
    live["trials"][-1]["state"] = "complete" if live["trials"][-1]["state"] == "pruned" else "pruned"
    assert exp6.agreement(live, rep, curves)["agree"] is False


@pytest.mark.slow
def test_replay_is_exactly_repeatable_and_parallel_equals_serial():
    curves = make_curves({f"c{i}": (0.003 * (1 + i % 2), 5 + 20 * (i % 3), 2.0 + 0.03 * i, 0.003, i) for i in range(5)})
    specs = study_config.hpo_policies(hpo_cfg())
    a = exp6.replay(curves, specs, 3, seed=7)
    b = exp6.replay(curves, specs, 3, seed=7, workers=2)
    pd.testing.assert_frame_equal(a, b)
    assert set(a["policy"]) >= {"none", "first_k1", "first_k5", "schedule_m0.02", "hyperband_r10"}
    first_all = a[a["policy"] == "first_k5"]
    assert (first_all["regret"] == 0).all() and (first_all["compute"] == 1).all()
    assert (a["regret"] >= 0).all() and (a["compute"] <= 1).all()
    res = exp6.replay_resamples(curves, {k: specs[k] for k in ("schedule_m0.02", "hyperband_r10")}, 3, 2, seed=7)
    assert set(res["set"]) == {0, 1, 2} and len(res) == 3 * 2 * 2


# ------------------------------------------------------------------------------------ the statistics
def test_tie_rule_and_equal_compute_known_answers():
    finals = {"a": 2.0, "b": 2.004, "c": 2.01, "d": 2.018, "e": 2.5}
    t = st.tie_rule(finals, 0.01, 0.01, 3)
    assert t["n_within"] == 4 and t["tightened"] and t["bound"] == pytest.approx(0.005)
    assert st.tie_rule({"a": 2.0, "b": 2.1, "c": 2.2}, 0.01, 0.01, 3)["bound"] == 0.01
    pts = [(0.2, 0.04), (0.4, 0.02), (1.0, 0.0)]
    assert st.equal_compute(pts, 0.3) == pytest.approx(0.03)
    assert st.equal_compute(pts, 0.1) == pytest.approx(0.04)  # below the cheapest level: its regret
    assert st.equal_compute(pts + [(0.4, 0.04)], 0.4) == pytest.approx(0.03)  # same compute: averaged


def test_pivot_rows_and_record_go_and_no_go():
    cfg = hpo_cfg()
    conf = study_config.hpo_confirmatory(cfg)
    assert conf == "schedule_m0.02"
    finals = {"a": 2.0, "b": 2.1, "c": 2.3}

    def table(c_conf, r_conf, sets=range(-1, 100)):
        rows = []
        rng = np.random.default_rng(0)
        for s in sets:
            for o in range(3):
                rows.append({"set": s, "order": o, "policy": conf, "family": "schedule", "level": 0.02,
                             "compute": c_conf + 0.01 * rng.standard_normal(), "regret_rel": max(0.0, r_conf + 0.0005 * rng.standard_normal()),
                             "regret": 0.0, "chose_best": True, "n_pruned": 1})
                for h, c, r in (("hyperband_r10", 0.3, 0.004), ("hyperband_r30", 0.6, 0.0)):
                    rows.append({"set": s, "order": o, "policy": h, "family": "hyperband", "level": 10, "compute": c,
                                 "regret_rel": r, "regret": 0.0, "chose_best": r == 0, "n_pruned": 1})
        df = pd.DataFrame(rows)
        return df[df["set"] == -1], df[df["set"] >= 0]

    sweep, boot = table(0.3, 0.003)
    tab, info = st.criterion_rows(cfg, sweep, boot, finals)
    assert list(tab["test"]) == ["bootstrap_less"] * 3 and tab["passed"].all()
    rec = st.pivot_record(cfg, tab, info, str(ROOT / "config/hpo.yaml"), None)
    assert rec["outcome"] == "Go" and rec["family"] == "study"
    for field in milestones.REQUIRED_FIELDS:
        assert field in rec
    assert rec["rule_declared"]["commit"] is None or len(rec["rule_declared"]["commit"]) == 40
    sweep, boot = table(0.3, 0.008)  # 0.8% regret: below 1% but 0.4% worse than Hyperband's 0.4% at 0.3
    tab, info = st.criterion_rows(cfg, sweep, boot, finals)
    rec = st.pivot_record(cfg, tab, info, None, None)
    assert rec["outcome"] == "No-Go" and "regret_minus_hyperband" in rec["reason"]
    assert bool(tab.set_index("metric").loc[f"regret_rel_{conf}", "passed"])
    # too few resamples for any row to pass after Bonferroni: said in the record
    sweep, boot = table(0.3, 0.003, sets=range(-1, 20))
    tab, info = st.criterion_rows(cfg, sweep, boot, finals)
    rec = st.pivot_record(cfg, tab, info, None, None)
    assert rec["outcome"] == "No-Go" and any("resamples" in c for c in rec["caveats"])


def test_study_records_merge_into_decisions_without_changing_a_plain_study():
    plan = {"milestones": [{"id": "M1"}], "decisions": []}
    assert milestones.with_study_records(plan, []) == plan  # no "study" key without records
    rec = milestones.study_record("X1", "t", "q?", "r", milestones.declared(None, ["k"]), {
        "a": {"estimate": 1.0, "passed": True}}, ["a"])
    out = milestones.with_study_records(plan, [rec])
    assert out["study"][0]["outcome"] == "Go"
    with pytest.raises(ValueError, match="duplicate"):
        milestones.with_study_records(out, [rec])
    assert milestones.outcome_of([True, None]) == "not evaluated"
    assert milestones.outcome_of([True, False, None]) == "No-Go"


def test_declared_commit_of_the_hpo_config():
    d = milestones.declared(ROOT / "config/hpo.yaml", ["hpo.criterion"], first_run=4e9)
    if shutil.which("git") is None or d["commit"] is None:
        pytest.skip("not a git work tree")
    assert len(d["commit"]) == 40 and d["uncommitted_changes"] in (True, False)
    assert d["declared_before_runs"] is (not d["uncommitted_changes"])
    assert milestones.declared(ROOT / "config/hpo.yaml", [], first_run=0)["declared_before_runs"] is False


# ------------------------------------------------------------------------------------ the config
def test_config_without_hpo_is_unchanged_and_hpo_yaml_declares_the_criterion():
    default = study_config.load(ROOT / "config/config.yaml")
    assert "hpo" not in default
    cfg = study_config.load(ROOT / "config/hpo.yaml")
    assert len(study_config.hpo_points(cfg)) == 27 and cfg["hpo"]["only"]
    c = cfg["hpo"]["criterion"]
    assert (c["law"], c["margin"], c["compute_max"], c["regret_max"], c["hyperband_margin"], c["tie_window"],
            c["tie_count"]) == ("schedule", 0.02, 0.5, 0.01, 0.002, 0.01, 3)
    trial = study_config.hpo_trial_config(cfg, "lr0.01_wu300_wd1")
    assert (trial["train"]["lr"], trial["train"]["warmup_steps"], trial["train"]["weight_decay"]) == (0.01, 300, 1.0)
    assert trial["train"]["eval_every"] == 20 and list(trial["arms"]) == ["baseline"]
    assert trial["model"] == default["model"] and trial["train"]["steps"] == default["train"]["steps"]


@pytest.mark.parametrize("patch, key", [
    ({"criterion": {"margin": 0.03}}, "hpo.criterion.margin"),
    ({"criterion": {"law": "power"}, "policies": {"predictive": {"laws": ["schedule"]}}}, "hpo.criterion.law"),
    ({"live": {"policies": ["median_w7"]}}, "hpo.live.policies.0"),
    ({"grid": {"warmup_steps": [10, 2000]}}, "hpo.grid.warmup_steps.1"),
    ({"seed_noise": {"seed": 0}}, "hpo.seed_noise.seed"),
    ({"policies": {"hyperband": {"min_resource": []}}}, "hpo.policies.hyperband.min_resource"),
    ({"replay": {"orderz": 3}}, "hpo.replay.orderz"),
])
def test_bad_hpo_config_names_the_key(patch, key):
    with pytest.raises(study_config.ConfigError, match=key.replace(".", r"\.")):
        study_config.validate({"hpo": patch})


def _planned(*args) -> dict[str, int]:
    out = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--forceall", "--quiet", "rules", *args], cwd=ROOT,
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    jobs = {}
    for line in out.stdout.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit():
            jobs[parts[0]] = int(parts[1])
    return jobs


def test_dry_runs_default_study_has_no_hpo_job_and_hpo_study_no_plan_job():
    default = _planned()
    assert default["train"] == 35 and not any(k.startswith("hpo_") for k in default)
    hpo = _planned("--configfile", "config/hpo.yaml")
    assert hpo["hpo_train"] == 27 and hpo["hpo_live"] == 4  # the 5 second-seed runs join after the checkpoint
    assert "train" not in hpo and "calibrate" not in hpo and hpo["statistics"] == 1


def test_dry_run_of_a_plan_study_with_an_hpo_block_plans_both(tmp_path):
    smoke = yaml.safe_load((ROOT / "config/smoke.yaml").read_text())
    hpo = yaml.safe_load((ROOT / "tests/data/hpo_smoke.yaml").read_text())["hpo"]
    smoke["train"]["eval_every"] = 5
    cfg = tmp_path / "both.yaml"
    cfg.write_text(yaml.safe_dump({**smoke, "study": "both", "hpo": {**hpo, "only": False}}))
    jobs = _planned("--configfile", str(cfg))
    assert jobs["train"] == len(smoke["arms"]) * len(smoke["seeds"]) and jobs["hpo_train"] == 4 and jobs["study_report"] == 1 and jobs["hpo_report"] == 1


def test_live_training_reports_the_recorded_curve_bit_for_bit(tiny_cfg, tiny_data, tmp_path):
    """The sweep's run (run_training with checkpoints and recorders) and a live trial (the trainer with
    only the reporting observer) give identical validation losses: what lets the decisions agree.
    A pruned live trial stops training at once."""
    from predictive_training.training.run import run_training
    from predictive_training.training.search import live_runner, lr_schedule

    cfg = dict(tiny_cfg, hpo={"grid": {"lr": [0.003, 0.01], "warmup_steps": [5], "weight_decay": [0.1]},
                              "seed_noise": {"top": 0}, "live": {"trials": 1, "policies": []},
                              "policies": {"median": {"n_warmup_steps": [5]}, "successive_halving": {"min_resource": [5]},
                                           "hyperband": {"min_resource": [5]}}})
    cfg["train"] = dict(cfg["train"], checkpoint_every=15)
    cfg = study_config.validate(cfg)
    point = "lr0.01_wu5_wd0.1"
    trial = study_config.hpo_trial_config(cfg, point)
    run_training(trial, tiny_data, "baseline", 0, tmp_path / "run", record=False)
    curves = exp6.curves_from_runs({point: tmp_path / "run"}, study_config.hpo_points(cfg), 0)
    rec = curves[point]
    assert np.array_equal(rec.lr, lr_schedule(trial))
    seen = []
    final = live_runner({point: trial}, tiny_data, 0)(point, lambda s, v: seen.append((s, v)))
    assert seen == list(zip(rec.steps.tolist(), rec.values.tolist())) and final == rec.final

    def stop(s, v):
        seen.append(s)
        if s >= 20:
            raise optuna.TrialPruned()

    seen.clear()
    with pytest.raises(optuna.TrialPruned):
        live_runner({point: trial}, tiny_data, 0)(point, stop)
    assert seen == [10, 20]


# ------------------------------------------------------------------------------------ end to end
@pytest.mark.slow
def test_smoke_sweep_end_to_end(tmp_path):
    """tests/data/hpo_smoke.yaml (4 configurations of a tiny model, 60 steps) through Snakemake: every
    Exp 6 rule, the live studies agreeing with the replay, the record in decisions.json."""
    for name in ("Snakefile", "workflow", "config", "profiles", "envs", "requirements.txt"):
        src = ROOT / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, tmp_path / name)
    (tmp_path / "tests" / "data").mkdir(parents=True)
    shutil.copy(ROOT / "tests/data/hpo_smoke.yaml", tmp_path / "tests/data/hpo_smoke.yaml")
    proc = subprocess.run([sys.executable, "-m", "snakemake", "--cores", "2", "--configfile", "tests/data/hpo_smoke.yaml"],
                          cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    res = tmp_path / "results/hpo_smoke"
    cfg = yaml.safe_load((ROOT / "tests/data/hpo_smoke.yaml").read_text())
    assert not (res / "runs").exists()  # hpo.only: no plan arm ran
    curves, _ = exp6.read_curves(json.loads((res / "hpo/curves.json").read_text()))
    second, _ = exp6.read_curves(json.loads((res / "hpo/second_seed.json").read_text()))
    assert len(curves) == 4 and len(second) == cfg["hpo"]["seed_noise"]["top"]
    top = json.loads((res / "hpo/top.json").read_text())["top"]
    assert list(second) == top and top[0] == min(curves, key=lambda k: curves[k].final)
    assert all(second[k].seed == 1 and second[k].final != curves[k].final for k in top)
    assert all(c.steps[-1] == 60 and c.steps.size == 12 for c in curves.values())
    agreement = json.loads((res / "hpo/live_agreement.json").read_text())
    assert [a["policy"] for a in agreement] == cfg["hpo"]["live"]["policies"]
    assert all(a["agree"] and a["max_abs_value_diff"] == 0.0 for a in agreement)
    for p in cfg["hpo"]["live"]["policies"]:
        study = optuna.load_study(study_name=f"exp6-live-{p}", storage=f"sqlite:///{res / 'hpo/live' / (p + '.db')}")
        assert len(study.trials) == cfg["hpo"]["live"]["trials"]
    decisions = json.loads((res / "decisions.json").read_text())
    (rec,) = decisions["study"]
    assert rec["id"] == "P6" and rec["outcome"] in ("Go", "No-Go") and rec["family"] == "study"
    tests_csv = pd.read_csv(res / "stats/tests.csv")
    assert list(tests_csv["experiment"]) == ["exp6"] * 3
    replay = pd.read_csv(res / "hpo/replay.csv")
    assert len(replay[replay["set"] == -1]) == cfg["hpo"]["replay"]["orders"] * (len(study_config.hpo_policies(
        study_config.validate(cfg))) + 4)
    for f in ("report/exp6.html", "report/exp6.pdf", "hpo/figures/exp6_compute_regret.png",
              "experiments/exp6_hyperparameter_search/seed0.json", "stats/exp6_policies.csv"):
        assert (res / f).is_file(), f
