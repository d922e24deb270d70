"""``train.optimizer`` and ``train.schedule`` (training/optim.py): the schedules' known values, each
optimiser trains the tiny model deterministically through Predict phases and resumes to the
uninterrupted run after a crash, Muon's split of the parameters, and bad values named by key."""

from __future__ import annotations

import copy
import math

import pytest
import torch

from predictive_training import config as config_mod
from predictive_training.training.optim import OPTIMIZERS, Combined, lr_at, make_optimizer
from predictive_training.training.run import run_training
from tests.conftest import TINY
from tests.test_resume import _cfg, _crash_then_resume, _jsonl, assert_same_run

pytestmark = pytest.mark.usefixtures("one_thread")

TC = {"lr": 1.0, "warmup_steps": 10, "steps": 110, "min_lr_ratio": 0.1}


def test_cosine_is_the_default_schedule():
    assert [lr_at(t, TC) for t in range(110)] == [lr_at(t, {**TC, "schedule": "cosine"}) for t in range(110)]


def test_wsd_is_constant_then_a_one_minus_sqrt_cooldown_to_the_floor():
    tc = {**TC, "schedule": "wsd", "cooldown_fraction": 0.2}  # cooldown over the last 22 steps: 88-109
    assert lr_at(0, tc) == pytest.approx(0.1)  # the same warmup
    assert lr_at(9, tc) == pytest.approx(1.0)
    assert [lr_at(t, tc) for t in range(10, 88)] == [1.0] * 78
    assert lr_at(88, tc) == pytest.approx(0.1 + 0.9 * (1 - math.sqrt(1 / 22)))
    assert lr_at(98, tc) == pytest.approx(0.1 + 0.9 * (1 - math.sqrt(11 / 22)))
    assert lr_at(109, tc) == pytest.approx(0.1)  # the floor at the last step
    assert lr_at(109, {**tc, "min_lr_ratio": 0.0}) == 0.0  # Hagele et al.'s cooldown to zero
    lrs = [lr_at(t, tc) for t in range(88, 110)]
    assert all(a > b for a, b in zip(lrs, lrs[1:]))
    # a shorter budget compresses it: the cooldown is the last 20% of that budget
    assert lr_at(49, tc, total_steps=50) == pytest.approx(0.1) and lr_at(39, tc, total_steps=50) == 1.0


def test_constant_schedule_keeps_the_peak_after_the_warmup():
    tc = {**TC, "schedule": "constant"}
    assert lr_at(4, tc) == pytest.approx(0.5) and {lr_at(t, tc) for t in range(10, 110)} == {1.0}


@pytest.mark.parametrize("key, value", [("optimizer", "adam"), ("schedule", "linear"), ("cooldown_fraction", 0)])
def test_a_bad_value_is_named_by_its_key(key, value):
    cfg = copy.deepcopy(_cfg())
    cfg["train"][key] = value
    with pytest.raises(Exception, match=key):
        config_mod.validate(cfg)


def test_configs_without_the_keys_validate_to_the_same_content():
    """Absent, not defaulted: a config written before the keys keeps its validated content (its
    results' recorded config, its per-rule parameters, its checkpoints)."""
    cfg = config_mod.validate(copy.deepcopy(_cfg()))
    assert not {"optimizer", "schedule", "cooldown_fraction", "momentum", "nesterov"} & set(cfg["train"])


def _params():
    torch.manual_seed(0)
    from predictive_training.model import GPT, GPTConfig

    model = GPT(GPTConfig(vocab_size=64, context=8, n_layer=1, n_head=2, d_model=16))
    return model, dict(model.named_parameters())


def test_muon_updates_the_blocks_matrices_and_adamw_the_rest():
    model, params = _params()
    tc = {**config_mod.validate(copy.deepcopy(_cfg()))["train"], "optimizer": "muon"}
    opt = make_optimizer(params, tc)
    assert isinstance(opt, Combined)
    muon, adamw = opt.parts
    assert isinstance(muon, torch.optim.Muon) and isinstance(adamw, torch.optim.AdamW)
    in_muon = {id(p) for g in muon.param_groups for p in g["params"]}
    assert {n for n, p in params.items() if id(p) in in_muon} == {
        "blocks.0.attn.qkv.weight", "blocks.0.attn.proj.weight", "blocks.0.mlp.0.weight", "blocks.0.mlp.2.weight"}
    # one step: every parameter has state in its own part, reachable through the combined view
    model.loss(torch.randint(0, 64, (2, 8)), torch.randint(0, 64, (2, 8))).backward()
    opt.step()
    assert all(p in opt.state for p in params.values()) and len(opt.state) == len(params)
    assert set(opt.state[params["blocks.0.mlp.0.weight"]]) == {"momentum_buffer"}
    assert {"exp_avg", "exp_avg_sq", "step"} <= set(opt.state[params["tok_emb.weight"]])
    # the learning rate set on the combined groups reaches both parts
    for g in opt.param_groups:
        g["lr"] = 0.123
    assert {g["lr"] for o in opt.parts for g in o.param_groups} == {0.123}
    # ... also after loading a state (which replaces the parts' group dicts)
    opt.load_state_dict(copy.deepcopy(opt.state_dict()))
    for g in opt.param_groups:
        g["lr"] = 0.5
    assert {g["lr"] for o in opt.parts for g in o.param_groups} == {0.5}


@pytest.mark.parametrize("kind", OPTIMIZERS)
def test_each_optimizer_state_round_trips_through_its_state_dict(kind):
    _, params = _params()
    tc = {**config_mod.validate(copy.deepcopy(_cfg()))["train"], "optimizer": kind}
    opt = make_optimizer(params, tc)
    for p in params.values():
        p.grad = torch.randn_like(p)
    opt.step()
    fresh = make_optimizer(params, tc)
    fresh.load_state_dict(copy.deepcopy(opt.state_dict()))
    for p in params.values():
        a, b = opt.state[p], fresh.state[p]
        assert set(a) == set(b) and all(torch.equal(torch.as_tensor(a[k]), torch.as_tensor(b[k])) for k in a)


# learning rates at which each optimiser trains the tiny model in 40 steps (LAMB's trust ratio makes
# its step a share lr of each tensor's norm; SGD has no per-coordinate scaling)
LR = {"adamw": 0.003, "sgd": 0.02, "lion": 0.001, "muon": 0.02, "lamb": 0.02}


def _study(kind: str, schedule: str = "cosine") -> dict:
    cfg = _cfg()
    cfg["train"].update(optimizer=kind, schedule=schedule, lr=LR[kind])
    return cfg


@pytest.mark.parametrize("kind", OPTIMIZERS)
def test_each_optimizer_trains_deterministically_and_resumes_identically(kind, tiny_data, tmp_path, caplog):
    """The hybrid arm (3 Predict phases, the RSSM predicting in each) under each optimiser: the
    loss falls, two runs are identical, and a run crashed inside a Predict phase resumes to it."""
    cfg = _study(kind, schedule="wsd")
    a = run_training(cfg, tiny_data, "arm", 0, tmp_path / "a")
    run_training(cfg, tiny_data, "arm", 0, tmp_path / "b")
    assert_same_run(tmp_path / "a", tmp_path / "b")
    rows = _jsonl(tmp_path / "a" / "metrics.jsonl")
    val = [r["val_loss"] for r in rows if "val_loss" in r]
    assert val[-1] < math.log(320) - 0.5, f"{kind}: the validation loss did not fall ({val})"
    assert sum(r["phase"] == "predict" for r in rows) == 15  # 3 Predict phases of Y = 5
    assert a["resumed_from"] == []
    summary = _crash_then_resume(cfg, tiny_data, "arm", tmp_path / "c", [11], caplog)  # inside Predict 9-13
    assert summary["resumed_from"] == [9]
    assert_same_run(tmp_path / "a", tmp_path / "c")


def test_the_optimizer_changes_the_run(tiny_data, tmp_path):
    """The key reaches the trainer: SGD's run is not AdamW's."""
    run_training(_study("adamw"), tiny_data, "baseline", 0, tmp_path / "adamw")
    run_training(_study("sgd"), tiny_data, "baseline", 0, tmp_path / "sgd")
    a, b = _jsonl(tmp_path / "adamw" / "metrics.jsonl"), _jsonl(tmp_path / "sgd" / "metrics.jsonl")
    assert a[0]["loss"] == b[0]["loss"] and a[-1]["loss"] != b[-1]["loss"]


def test_the_lr_sweep_chooses_the_lowest_final_loss_on_a_seed_the_study_does_not_evaluate(tiny_data, tmp_path):
    from predictive_training.cli import main
    from predictive_training.training.search import lr_sweep

    cfg = _study("sgd")
    cfg["train"]["steps"] = 20
    res = lr_sweep(cfg, tiny_data, [0.3, 0.001, 0.03], seed=7)
    assert res["lrs"] == [0.001, 0.03, 0.3] and res["optimizer"] == "sgd" and res["seed"] == 7
    assert res["train"]["steps"] == 20 and "lr" not in res["train"]
    finals = res["final_val_loss"]
    assert res["chosen_lr"] == res["lrs"][min(range(3), key=lambda i: finals[i] if finals[i] is not None else 1e9)]
    assert res["edge"] == (res["chosen_index"] in (0, 2))
    assert [len(c) for c in res["curves"]] == [2, 2, 2]  # evaluations after 10 and 20 steps
    assert res["curves"][1][-1][1] == finals[1]
    with pytest.raises(ValueError, match="seed 0 is one of the study's seeds"):
        lr_sweep(cfg, tiny_data, [0.01, 0.1], seed=0)
    with pytest.raises(ValueError, match="at least two distinct"):
        lr_sweep(cfg, tiny_data, [0.01], seed=7)
    # the command line names the seed before any training
    cfg_path = tmp_path / "c.yaml"
    import yaml

    cfg_path.write_text(yaml.safe_dump(copy.deepcopy(TINY)))
    assert main(["lr-sweep", str(cfg_path), "--lrs", "0.01", "0.1", "--seed", "0", "--out", str(tmp_path / "o.json"),
                 "--data", str(tiny_data)]) == 2
    assert not (tmp_path / "o.json").exists()


def _sweep_file(tmp_path, **over) -> str:
    res = {"optimizer": "sgd", "schedule": "cosine", "seed": 9, "lrs": [0.01, 0.03, 0.1], "chosen_lr": 0.03,
           "chosen_index": 1, "edge": False, "final_val_loss": [5.0, 4.0, 4.5], **over}
    path = tmp_path / "sweep.json"
    path.write_text(__import__("json").dumps(res))
    return str(path)


def test_lr_from_takes_the_rate_the_sweep_chose_and_names_every_mismatch(tmp_path):
    raw = copy.deepcopy(TINY)
    raw["train"].update(optimizer="sgd", lr_from=_sweep_file(tmp_path))
    assert config_mod.validate(copy.deepcopy(raw))["train"]["lr"] == 0.03
    for over, match in [({"optimizer": "lion"}, "swept lion with cosine"), ({"seed": 1}, "chose on seed 1"),
                        ({"edge": True, "chosen_lr": 0.1}, "edge of its grid"), ({"chosen_lr": "x"}, "not an lr sweep")]:
        raw["train"]["lr_from"] = _sweep_file(tmp_path, **over)
        with pytest.raises(config_mod.ConfigError, match=r"train\.lr_from.*" + match):
            config_mod.validate(copy.deepcopy(raw))
    # the sweep's fixed train settings (when it records them) must be the config's
    settings = {k: v for k, v in config_mod.validate(copy.deepcopy({**raw, "train": {
        k: v for k, v in raw["train"].items() if k != "lr_from"}}))["train"].items() if k != "lr"}
    raw["train"]["lr_from"] = _sweep_file(tmp_path, train=settings)
    assert config_mod.validate(copy.deepcopy(raw))["train"]["lr"] == 0.03
    raw["train"]["lr_from"] = _sweep_file(tmp_path, train={**settings, "weight_decay": 0.5})
    with pytest.raises(config_mod.ConfigError, match=r"other train settings \(weight_decay\)"):
        config_mod.validate(copy.deepcopy(raw))
    raw["train"]["lr_from"] = str(tmp_path / "missing.json")
    with pytest.raises(config_mod.ConfigError, match=r"train\.lr_from.*does not exist: run the declared"):
        config_mod.validate(copy.deepcopy(raw))
    # the sweep itself loads the config without it
    import yaml

    (tmp_path / "c.yaml").write_text(yaml.safe_dump(raw))
    assert config_mod.load(tmp_path / "c.yaml", lr_from=False)["train"]["lr"] == TINY["train"].get("lr", 0.003)


def test_the_mitigation_configs_validate_and_each_optimiser_config_declares_its_sweep(monkeypatch):
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    monkeypatch.chdir(root)  # lr_from is relative to the repository
    paths = sorted((root / "config/mitigations").glob("*.yaml"))
    assert paths
    for path in paths:
        cfg = config_mod.load(path, lr_from=False)
        assert cfg["study"].startswith("mit_") and len(cfg["seeds"]) == 3, path.name
    for kind in OPTIMIZERS:
        path = root / f"config/mitigations/opt_{kind}.yaml"
        text = path.read_text()
        cfg = config_mod.load(path, lr_from=False)
        assert cfg["train"]["optimizer"] == kind and 9 not in cfg["seeds"]
        sweep = f"config/mitigations/lr_sweeps/opt_{kind}.json"
        assert f"lr_from: {sweep}" in text and f"--seed 9 --out {sweep}" in text
        if not (root / sweep).exists():  # declared, not yet run: the study cannot start by mistake
            with pytest.raises(config_mod.ConfigError, match="run the declared learning-rate sweep first"):
                config_mod.load(path)
