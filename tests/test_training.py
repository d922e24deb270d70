"""The conventional trainer and its recording: determinism, learning, snapshots, contract fields."""

import json
import math

import pytest
import torch
from safetensors.torch import load_file

from predictive_training.data.prepare import TokenData
from predictive_training.io import read_jsonl
from predictive_training.model import GPT, GPTConfig
from predictive_training.training.loop import lr_at
from predictive_training.training.run import run_training

FIELDS = {"step", "phase", "loss", "lr", "grad_norm", "backward", "wall_s", "tokens", "delta_norm"}


def _strip_time(rows):
    return [{k: v for k, v in r.items() if k != "wall_s"} for r in rows]


@pytest.fixture(scope="module")
def runs(tmp_path_factory, tiny_data):
    import copy

    from tests.conftest import TINY
    from predictive_training import config as config_mod

    cfg = config_mod.validate(copy.deepcopy(TINY))
    base = tmp_path_factory.mktemp("runs")
    out = {}
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        run_training(cfg, tiny_data, "baseline", seed, base / name)
        out[name] = base / name
    return cfg, out


def test_metrics_rows_have_contract_fields(runs):
    cfg, d = runs
    rows = read_jsonl(d["a"] / "metrics.jsonl")
    assert len(rows) == cfg["train"]["steps"]
    assert all(FIELDS <= set(r) for r in rows)
    assert [r["step"] for r in rows] == list(range(cfg["train"]["steps"]))
    assert all(r["backward"] and r["grad_norm"] > 0 and r["delta_norm"] > 0 for r in rows)
    evals = [r for r in rows if "val_loss" in r]
    assert [r["step"] + 1 for r in evals] == [10, 20, 30, 40]
    assert rows[-1]["tokens"] == cfg["train"]["steps"] * 8 * 32
    assert all(b["wall_s"] > a["wall_s"] for a, b in zip(rows, rows[1:]))
    assert {r["phase"] for r in rows[:5]} == {"warmup"} and rows[5]["phase"] == "full"


def test_same_seed_identical_different_seed_differs(runs):
    _, d = runs
    a, b, c = (_strip_time(read_jsonl(d[k] / "metrics.jsonl")) for k in "abc")
    assert a == b
    assert a != c
    sa, sb = (json.loads((d[k] / "summary.json").read_text()) for k in "ab")
    assert sa["final_val_loss"] == sb["final_val_loss"]


def test_initial_loss_near_ln_vocab_and_loss_falls(runs):
    _, d = runs
    s = json.loads((d["a"] / "summary.json").read_text())
    assert abs(s["initial_val_loss"] - math.log(s["vocab_size"])) < 0.1 * math.log(s["vocab_size"])
    assert s["final_val_loss"] < s["initial_val_loss"] - 0.5
    rows = read_jsonl(d["a"] / "metrics.jsonl")
    first = sum(r["loss"] for r in rows[:5]) / 5
    last = sum(r["loss"] for r in rows[-5:]) / 5
    assert last < first - 0.5
    assert s["backward_passes"] == s["forward_passes"] == 40
    assert 0.0 <= s["downstream"]["cloze_accuracy"] <= 1.0


def test_snapshots_reload_into_identical_model(runs, tiny_data):
    cfg, d = runs
    snaps = sorted((d["a"] / "snapshots").glob("step*.safetensors"))
    assert [p.name for p in snaps] == [f"step{s:06d}.safetensors" for s in (0, 10, 20, 30, 40)]
    data = TokenData(tiny_data)
    model = GPT(GPTConfig(vocab_size=data.vocab_size, **cfg["model"]))
    state = load_file(str(snaps[-1]))
    assert set(state) == {n for n, _ in model.named_parameters()}
    model.load_state_dict(state, strict=False)
    model.head.weight = model.tok_emb.weight
    for n, p in model.named_parameters():
        assert torch.equal(p, state[n])
    x = torch.from_numpy(data.val[: 33].astype("int64"))[None]
    with torch.no_grad():
        loss = float(model.loss(x[:, :-1], x[:, 1:]))
    assert loss < math.log(data.vocab_size)  # the reloaded model is the trained one, not a fresh init
    # snapshot 0 is the untrained model, and weights moved between snapshots
    s0 = load_file(str(snaps[0]))
    assert any(not torch.equal(s0[n], state[n]) for n in state)


def test_gradient_records_exact(runs):
    from predictive_training.records.gradients import read_records

    cfg, d = runs
    rec = read_records(d["a"] / "snapshots" / "gradients.safetensors")
    steps, grad, update, meta = rec["steps"], rec["grad"], rec["update"], rec["meta"]
    assert steps.tolist() == list(range(cfg["train"]["steps"]))
    assert grad.shape == update.shape and grad.shape[0] == len(steps)
    assert meta["mode"] == "exact"
    # the recorded gradient is the RAW one: its norm is the logged pre-clip norm, and the
    # clip factor of each row is recorded beside it (and in metrics.jsonl)
    rows = read_jsonl(d["a"] / "metrics.jsonl")
    norms = grad.float().norm(dim=1) * rec["grad_scale"]
    clip = cfg["train"]["grad_clip"]
    assert torch.allclose(norms, torch.tensor([r["grad_norm"] for r in rows]), rtol=1e-2)
    coef = torch.tensor([min(1.0, clip / (r["grad_norm"] + 1e-6)) for r in rows])
    assert torch.allclose(rec["clip_coef"], coef) and (coef < 1).any()  # some steps were clipped
    assert torch.allclose(torch.tensor([r["clip_coef"] for r in rows]), coef)
    assert torch.allclose(norms * rec["clip_coef"], torch.tensor([min(r["grad_norm"], clip) for r in rows]), rtol=1e-2)
    assert torch.allclose(update.float().norm(dim=1) * rec["update_scale"], torch.tensor([r["delta_norm"] for r in rows]), rtol=1e-2)


def test_lr_schedule_warmup_then_cosine():
    tc = {"lr": 1.0, "warmup_steps": 10, "steps": 110, "min_lr_ratio": 0.1}
    assert lr_at(0, tc) == pytest.approx(0.1)
    assert lr_at(9, tc) == pytest.approx(1.0)
    assert lr_at(10, tc) == pytest.approx(1.0)
    assert lr_at(60, tc) == pytest.approx(0.55)
    assert lr_at(110, tc) == pytest.approx(0.1)


def test_tensor_norms_recorded_per_parameter(runs):
    from predictive_training.records.tensor_norms import read_tensor_norms

    cfg, d = runs
    tn = read_tensor_norms(d["a"] / "snapshots" / "tensor_norms.safetensors")
    rows = read_jsonl(d["a"] / "metrics.jsonl")
    assert tn["steps"].tolist() == list(range(cfg["train"]["steps"]))
    assert tn["grad_norm"].shape == (cfg["train"]["steps"], len(tn["names"]))
    # per-tensor update norms combine to the global delta_norm of each step
    total = tn["update_norm"].pow(2).sum(dim=1).sqrt()
    assert torch.allclose(total, torch.tensor([r["delta_norm"] for r in rows]), rtol=1e-4)


def test_non_finite_values_are_written_as_null():
    from predictive_training.training.loop import StepInfo

    row = StepInfo(step=3, phase="predict", loss=None, lr=1e-3, grad_norm=None, backward=False,
                   wall_s=1.0, tokens=0, delta_norm=float("nan")).to_row()
    assert row["delta_norm"] is None
    json.loads(json.dumps(row), parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))
