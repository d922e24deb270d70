"""The open testbed: the predictor registry, outside predictors, the base class and its
conformance check, the state bound in a run, roles, and the rules' params."""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
from collections import deque
from pathlib import Path

import numpy as np
import pytest
import torch

from predictive_training import config as config_mod
from predictive_training import registry
from predictive_training.config import ConfigError
from predictive_training.dynamics.base import BasePredictor, StateBoundError, check_config_predictors
from predictive_training.dynamics.conformance import ConformanceError, check_predictor
from predictive_training.dynamics.protocol import PredictedPhase
from predictive_training.training.run import run_training
from tests.conftest import TINY

ROOT = Path(__file__).resolve().parents[1]
HERE = __name__  # dotted paths to the test predictors below: f"{HERE}:ClassName"


# --- predictors that keep or break the protocol --------------------------------------------------------


class NeedsWindow(BasePredictor):
    """Keeps the last ``window`` updates; predicts ``Y x`` their mean (a required option)."""

    def __init__(self, window: int):
        self.window = int(window)
        self.recent = deque(maxlen=self.window)
        self.last_loss = float("nan")

    def observe(self, obs):
        self.recent.append({n: u.clone() for n, u in obs.update.items()})
        self.last_loss = float(obs.loss)

    def ready(self):
        return bool(self.recent)

    def rollout(self, horizon, lrs, seed):
        k = len(self.recent)
        return PredictedPhase({n: horizon / k * sum(u[n] for u in self.recent) for n in self.recent[0]},
                              np.full(horizon, self.last_loss), 0.0)


class WrongNames(NeedsWindow):
    def rollout(self, horizon, lrs, seed):
        out = super().rollout(horizon, lrs, seed)
        out.delta = {f"model.{n}": d for n, d in out.delta.items()}  # defect 7: names that match nothing
        return out


class TouchesUpdates(NeedsWindow):
    def observe(self, obs):
        super().observe(obs)
        for u in obs.update.values():
            u.mul_(0.5)  # modifies what the trainer applied


class CountsInState(NeedsWindow):
    """Its rollout moves what it predicts from: every rollout scales its memory."""

    def rollout(self, horizon, lrs, seed):
        out = super().rollout(horizon, lrs, seed)
        for u in self.recent:
            for t in u.values():
                t.mul_(1.5)
        return out


class Keeps(NeedsWindow):
    """Never forgets an update: its state grows by N per observation."""

    def __init__(self, window: int = 1):
        super().__init__(window)
        self.recent = deque()


def _tiny(**over) -> dict:
    cfg = copy.deepcopy(TINY)
    cfg.update(over)
    return cfg


# --- the registry --------------------------------------------------------------------------------------


def test_every_builtin_is_a_base_predictor_named_as_its_units():
    for name, spec in registry.BUILTIN.items():
        cls = registry.resolve(spec)
        assert issubclass(cls, BasePredictor), name
        assert cls.name == spec.unit, name
        assert registry.lookup(spec.kind) is spec and registry.lookup(name) is spec
    assert registry.lookup("hybrid").name == "rssm" and registry.lookup("skip").name == "zero"
    assert registry.group_of("span50") == "oracle" and registry.group_of("a.b:C") == "outside"


def test_an_unknown_name_is_a_config_error_that_says_where_predictors_are_registered():
    cfg = _tiny(arms={"baseline": {"kind": "conventional"}, "mine": {"kind": "mine", "prediction_ratio": 0.5}})
    with pytest.raises(ConfigError) as err:
        config_mod.validate(cfg)
    msg = str(err.value)
    assert "arms.mine.kind" in msg and "'mine'" in msg
    assert "predictive_training.predictors" in msg and "package.module:ClassName" in msg and "rssm" in msg
    with pytest.raises(ConfigError, match=r"record\.shadow\.predictors\.0.*no predictor named 'nope'"):
        config_mod.validate(_tiny(record={"shadow": {"predictors": ["nope"]}}))
    with pytest.raises(ConfigError, match="arm kind of predictor 'rssm'"):  # shadow names predictors, not kinds
        config_mod.validate(_tiny(record={"shadow": {"predictors": ["hybrid"]}}))
    cfg["arms"]["mine"]["kind"] = "no_such_package.predictors:Mine"
    with pytest.raises(ConfigError, match="module 'no_such_package.predictors' cannot be found"):
        config_mod.validate(cfg)


def test_finding_an_outside_predictor_imports_nothing():
    """Validation checks that the module can be found, without importing it, its parents or torch."""
    code = ("import sys; from predictive_training import config, registry; "
            "cfg = {'arms': {'baseline': {'kind': 'conventional'}, "
            "'a': {'kind': 'predictive_training.dynamics.dmd:DMDPredictor', 'prediction_ratio': 0.5}, "
            "'b': {'kind': 'halfmean', 'prediction_ratio': 0.5}}, 'seeds': [0]}; config.validate(cfg); "
            "assert registry.find_module('predictive_training.dynamics.rssm.model').endswith('model.py'); "
            "bad = [m for m in ('torch', 'predictive_training.dynamics', 'halfmean_predictor') if m in sys.modules]; "
            "print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_the_worked_example_is_an_installed_outside_package():
    """examples/halfmean_predictor is installed as a package of its own (scripts/setup.sh), not from src/:
    its entry point resolves, and a run records where it came from."""
    spec = registry.lookup("halfmean")
    assert spec.source == "entry point" and spec.group == "outside" and spec.unit == "halfmean"
    prov = registry.provenance(spec)
    assert prov["package"] == "pt-halfmean-predictor" and prov["version"] == "0.1.0"
    assert "src/predictive_training" not in prov["file"] and prov["file"].endswith("halfmean_predictor.py")
    example = ROOT / "examples/halfmean_predictor/halfmean_predictor.py"
    import hashlib
    assert prov["sha256"] == hashlib.sha256(example.read_bytes()).hexdigest(), "the installed example is stale"
    assert check_predictor("halfmean", {"window": 5, "factor": 0.5}).ok


def test_options_are_checked_against_the_class_before_any_job(tmp_path):
    arms = {"baseline": {"kind": "conventional"}, "mine": {"kind": f"{HERE}:NeedsWindow", "prediction_ratio": 0.5}}
    cfg = config_mod.validate(_tiny(arms=arms))  # the schema and the registry pass: the module is found
    assert config_mod.needs_predictor_check(cfg)
    with pytest.raises(ConfigError, match=r"predictors\.tests\.test_registry:NeedsWindow\.options.*missing option.*window"):
        check_config_predictors(cfg)
    cfg["arms"]["mine"]["options"] = {"window": 3, "colour": "red"}
    with pytest.raises(ConfigError, match=r"arms\.mine\.options.*unknown option.*colour"):
        check_config_predictors(cfg)
    cfg["arms"]["mine"]["options"] = {"window": 3}
    check_config_predictors(cfg)
    # the example declares an options schema
    cfg = config_mod.validate(_tiny(arms={"baseline": {"kind": "conventional"},
                                          "h": {"kind": "halfmean", "prediction_ratio": 0.5,
                                                "options": {"window": 0}}}))
    with pytest.raises(ConfigError, match=r"arms\.h\.options.*window"):
        check_config_predictors(cfg)
    # a built-in's per-arm options against its block's schema, at validation
    with pytest.raises(ConfigError, match=r"arms\.d\.options.*window"):
        config_mod.validate(_tiny(arms={"baseline": {"kind": "conventional"},
                                        "d": {"kind": "dmd", "prediction_ratio": 0.5, "options": {"window": 1}}}))
    with pytest.raises(ConfigError, match="only a predicted arm has options"):
        config_mod.validate(_tiny(arms={"baseline": {"kind": "conventional", "options": {}}}))


@pytest.mark.parametrize("bad, key", [("missing", "predictors.tests.test_registry:NeedsWindow.options"),
                                      ("unknown", "arms.mine.kind")])
def test_the_workflow_stops_before_any_job(tmp_path, bad, key):
    """A missing option (checked against the class) or an unknown name: Snakemake stops at parse time
    with the key, and results/ stays empty."""
    arms = {"baseline": {"kind": "conventional"},
            "mine": {"kind": f"{HERE}:NeedsWindow" if bad == "missing" else "not_registered", "prediction_ratio": 0.5}}
    cfg_file = tmp_path / "study.yaml"
    cfg_file.write_text(json.dumps(_tiny(study="bad_predictor", arms=arms)))
    out = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--cores", "1", "--configfile", str(cfg_file)],
                         cwd=ROOT, capture_output=True, text=True, env={**__import__("os").environ,
                                                                        "PYTHONPATH": str(ROOT)})
    assert out.returncode != 0
    assert key in out.stdout + out.stderr
    assert not (ROOT / "results/bad_predictor").exists()


# --- the conformance check -----------------------------------------------------------------------------


def test_check_predictor_passes_a_conforming_class_and_names_each_broken_rule():
    rep = check_predictor(NeedsWindow, {"window": 4})
    assert rep.ok and set(rep.checks) >= {"builds", "ready", "rollout", "rollout_keeps_state", "weights_untouched",
                                          "deterministic", "state_round_trip", "state_bound"}
    assert rep.state["16"]["total"] == pytest.approx(4 * rep.state["16"]["n_params"])
    for cls, check in ((WrongNames, "rollout"), (TouchesUpdates, "weights_untouched"),
                       (CountsInState, "rollout_keeps_state")):
        with pytest.raises(ConformanceError, match=rf"{check}:"):
            check_predictor(cls, {"window": 8})
    with pytest.raises(ConformanceError, match="builds: .*missing .*window"):
        check_predictor(NeedsWindow, {})


def test_a_state_above_the_bound_fails_the_check_and_stops_a_run_at_the_first_observation(tiny_data, tmp_path):
    with pytest.raises(ConformanceError, match=r"state_bound: above the bound of 8 N.*20\.00 N"):
        check_predictor("halfmean", {"window": 20})
    cfg = config_mod.validate(_tiny(arms={"baseline": {"kind": "conventional"},
                                          "keep": {"kind": f"{HERE}:Keeps", "prediction_ratio": 0.5}},
                                    record={"shadow": {"arms": []}}))
    with pytest.raises(StateBoundError, match=r"'tests\.test_registry:Keeps'.*9\.00 N.*after observing step 8"):
        run_training(cfg, tiny_data, "keep", 0, tmp_path / "run", record=False)
    # the same bound holds a shadow predictor
    cfg = config_mod.validate(_tiny(record={"shadow": {"predictors": [f"{HERE}:Keeps", "ema"], "span_oracle": [],
                                                       "search": []}}))
    with pytest.raises(StateBoundError, match="in shadow mode after observing step 8"):
        run_training(cfg, tiny_data, "baseline", 0, tmp_path / "shadow")


# --- an outside predictor as an arm: built, costed, counted, planned ----------------------------------


def test_an_outside_arm_is_costed_counted_and_planned(tiny_data, tmp_path, one_thread):
    from predictive_training.training.calibrate import calibrate, measured_kinds
    from predictive_training.training.plan import nominal_work

    arms = {"baseline": {"kind": "conventional"},
            "half": {"kind": "halfmean", "prediction_ratio": 0.5, "horizon": 5, "options": {"window": 3}}}
    cfg = config_mod.validate(_tiny(arms=arms, hybrid={"horizon": 5, "correct_steps": 2, "corrector": {"batches": 2},
                                                       "guard": {"spike_sigma": 1e9, "grad_explosion_factor": 1e9}},
                                    record={"shadow": {"arms": []}}))
    assert measured_kinds(cfg) == ("halfmean",)
    cal = calibrate(cfg, tiny_data, tmp_path / "cal.json", calls=3, warmup=1, train_calls=1, repeats=1)
    assert {"observe/halfmean", "rollout/halfmean/5"} <= set(cal["units"])
    assert cal["predictors"]["halfmean"]["provenance"]["package"] == "pt-halfmean-predictor"
    s = run_training(cfg, tiny_data, "half", 0, tmp_path / "run", record=False)
    work = nominal_work(cfg, "half")
    assert s["work"] == {k: v for k, v in work.items()}, "the run counts what plan expects"
    assert s["predictor_provenance"]["source"] == "entry point" and s["skill_gate"] is False
    assert s["predictor_state"]["numbers"] == pytest.approx(3 * s["predictor_state"]["n_params"])
    assert s["rollouts"] == s["plan"]["cycles"] > 0 and s["predictor"]["name"] == "halfmean"


def test_the_skill_gate_is_a_per_arm_option(tiny_data):
    from predictive_training.data.prepare import TokenData
    from predictive_training.training.hybrid import HybridTrainer

    arms = {"baseline": {"kind": "conventional"}, "h": {"kind": "hybrid", "prediction_ratio": 0.5},
            "h_open": {"kind": "hybrid", "prediction_ratio": 0.5, "skill_gate": False},
            "r_gated": {"kind": "repeat", "prediction_ratio": 0.5, "skill_gate": True}}
    cfg = config_mod.validate(_tiny(arms=arms, roles={"plan_r50": "h"}))
    data = TokenData(tiny_data)
    gated = {a: HybridTrainer(cfg, data, a, 0).skill is not None for a in ("h", "h_open", "r_gated")}
    assert gated == {"h": True, "h_open": False, "r_gated": True}
    assert not config_mod.skill_gated(config_mod.validate(_tiny(arms=arms, roles={"plan_r50": "h"},
                                                                hybrid={"gate": {"reference": "none"}})), "h")


# --- roles ---------------------------------------------------------------------------------------------


def test_roles_are_derived_from_the_arms_and_follow_a_rename():
    r = config_mod.roles(config_mod.validate({}))
    assert (r.baseline, r.plan_r25, r.plan_r50) == ("baseline", "hybrid_r25", "hybrid_r50")
    assert r.controls_of("hybrid_r50") == {"skip": "skip_r50", "repeat": "repeat_r50", "matched": "matched_r50"}
    assert r.controls_of("hybrid_r25") == {} and r.compared == ("hybrid_r25", "hybrid_r50")
    arms = {"ref": {"kind": "conventional"}, "rssm_half": {"kind": "hybrid", "prediction_ratio": 0.5},
            "nothing_half": {"kind": "skip", "prediction_ratio": 0.5}, "dmd_half": {"kind": "dmd", "prediction_ratio": 0.5},
            "skip_y10": {"kind": "skip", "prediction_ratio": 0.5, "horizon": 10}}
    cfg = config_mod.validate({"arms": arms, "roles": {"baseline": "ref"}, "seeds": [0],
                               "record": {"shadow": {"arms": ["ref"]}, "snapshot_arms": ["ref"]}})
    r = config_mod.roles(cfg)
    assert (r.baseline, r.plan_r50, r.plan_r25) == ("ref", "rssm_half", None)
    assert r.compared == ("rssm_half", "dmd_half")
    # the control at the arm's ratio AND horizon (skip_y10 has another schedule)
    assert r.controls_of("dmd_half") == {"skip": "nothing_half"}
    assert config_mod.confirmatory_arms(cfg) == ["rssm_half"]


@pytest.mark.parametrize("roles, msg", [
    ({"baseline": "nope"}, r"roles\.baseline.*'nope' is not an arm"),
    ({"baseline": "conv_b070"}, r"roles\.baseline.*conventional arm at the whole budget"),
    ({"plan_r50": "skip_r50"}, r"roles\.plan_r50.*not a predicted arm that is not a control"),
    ({"plan_r50": "hybrid_r25"}, r"roles\.plan_r50.*prediction_ratio 0\.25, not 0\.5"),
    ({"controls": ["hybrid_r50"]}, r"roles\.controls\.0.*not a control"),
    ({"frontier": ["hybrid_r50"]}, r"roles\.frontier\.0.*conventional and matched arms"),
])
def test_a_role_no_arm_can_play_is_a_config_error(roles, msg):
    with pytest.raises(ConfigError, match=msg):
        config_mod.validate({"roles": roles})


def test_without_a_baseline_named_or_declared_the_error_says_how_to_name_one():
    with pytest.raises(ConfigError, match="roles.baseline"):
        config_mod.validate({"arms": {"ref": {"kind": "conventional"}}})


def test_a_beats_control_row_needs_comparable_realised_ratios():
    """A gated arm that predicted 10% against a control that skipped 50% mostly measures 400 extra
    backward passes: the row says so and makes no claim; comparable arms get their paired test."""
    from predictive_training.stats import tests as S
    from predictive_training.stats.rows import COMPARABLE, control_rows

    def log(seed, hyb_ratio):
        arms = {"baseline": {"final_val_loss": 3.0, "realised_ratio": 0.0},
                "h": {"final_val_loss": 3.1 + 0.01 * seed, "realised_ratio": hyb_ratio},
                "skip": {"final_val_loss": 3.5 + 0.02 * seed, "realised_ratio": 0.5}}
        return {"results": {"arms": arms}}

    roles = {"compared": ["h"], "controls_of": {"h": {"skip": "skip"}}}
    far = control_rows([log(s, 0.10) for s in range(3)], roles)
    assert [r.test for r in far] == ["not_comparable"] and "realised ratio 0.10 vs 0.50" in far[0].note
    table = S.tests_table(far)
    assert not table.passed.any() and table.p_adjusted.isna().all()
    near = control_rows([log(s, 0.5 - COMPARABLE / 2) for s in range(3)], roles)
    assert near[0].test == "paired_t_greater" and near[0].estimate == pytest.approx(0.41)


# --- the rules read only their params ------------------------------------------------------------------


def test_every_rule_script_reads_only_its_params():
    """A script that reads ``snakemake.config`` can depend on a key its rule does not list (a changed
    key would not rerun it, and its outputs would go stale); every script reads
    its rule's ``cfg`` param, a reduced config with exactly the keys the rule declares (workflow/rules/
    common.smk: ``reads``), so an undeclared read fails with a KeyError in the smoke study."""
    scripts = sorted((ROOT / "workflow/scripts").glob("*.py"))
    assert scripts
    for path in scripts:
        assert "snakemake.config" not in path.read_text(), path.name
    rules = "\n".join(p.read_text() for p in (ROOT / "workflow/rules").glob("*.smk"))
    for block in re.split(r"\n(?=rule |checkpoint )", rules):
        m = re.search(r'script:\s*\n\s*"\.\./scripts/(\w+)\.py"', block)
        if not m:
            continue
        text = (ROOT / "workflow/scripts" / f"{m.group(1)}.py").read_text()
        if "snakemake.params.cfg" in text:
            assert re.search(r"params:\s*\n(\s+(\w+=|#|\*\*\w+\().*\n)*\s+cfg=", block), (m.group(1), "reads params.cfg")


def test_tensorboard_view_writes_scalars_and_changes_no_number(tiny_data, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    base = _tiny(record={"shadow": {"predictors": ["ema"], "span_oracle": [], "search": []}, "gradients": "off"})
    plain = run_training(config_mod.validate(base), tiny_data, "baseline", 0, tmp_path / "plain")
    tb_cfg = copy.deepcopy(base)
    tb_cfg["record"]["tensorboard"] = True
    viewed = run_training(config_mod.validate(tb_cfg), tiny_data, "baseline", 0, tmp_path / "tb")
    assert viewed["final_val_loss"] == plain["final_val_loss"]

    def rows(run: str, name: str) -> list[dict]:  # every value but the clocks
        return [{k: v for k, v in json.loads(x).items() if not k.endswith("_s")}
                for x in (tmp_path / run / name).read_text().splitlines()]

    for name in ("metrics.jsonl", "shadow.jsonl"):
        assert rows("tb", name) == rows("plain", name), name
    assert not (tmp_path / "plain/tensorboard").exists()
    ea = EventAccumulator(str(tmp_path / "tb/tensorboard"))
    ea.Reload()
    tags = set(ea.Tags()["scalars"])
    assert {"train/loss", "train/lr", "train/grad_norm", "train/phase", "train/delta_norm", "val/loss"} <= tags
    assert len(ea.Scalars("train/loss")) == TINY["train"]["steps"]
    assert any(t.startswith("shadow/progress/ema@") for t in tags)
    losses = [r["loss"] for r in rows("tb", "metrics.jsonl")]
    assert [e.value for e in ea.Scalars("train/loss")] == pytest.approx(losses, rel=1e-6)


def test_every_arm_of_a_figure_has_its_own_colour():
    """Before, every arm outside the six named ones was drawn in the same brown (conv_b070, the field's arms,
    an outside predictor's): the role colours first, then unused ones."""
    from predictive_training.report.figures import ROLE_COLORS, arm_colors

    cfg = config_mod.validate({"sweep": {"budgets": [0.3, 0.5, 0.9], "kinds": ["dmd", "verified", "ema"],
                                         "ratios": [0.25, 0.5], "horizons": [10, 20]}})
    arms = list(cfg["arms"])
    colours = arm_colors(arms, config_mod.roles(cfg))
    assert len(arms) > 20 and len(set(colours.values())) == len(arms)
    assert colours["baseline"] == ROLE_COLORS["baseline"] and colours["hybrid_r50"] == ROLE_COLORS["plan_r50"]
    assert colours["skip_r50"] == ROLE_COLORS["skip"] and colours["matched_r50"] == ROLE_COLORS["matched"]
