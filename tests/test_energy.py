"""EnergyMeter: RAPL (fake powercap folder, wrap-around, permission errors), NVML (fake pynvml), FLOP estimate."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest

from predictive_training.training import energy
from predictive_training.training.energy import ESTIMATE, EnergyMeter, forward_flops, training_flops


def make_zone(root: Path, zone: str, energy_uj: int, max_uj: int = 1_000_000, name: str = "package-0") -> Path:
    d = root / zone
    d.mkdir(parents=True)
    (d / "energy_uj").write_text(f"{energy_uj}\n")
    (d / "max_energy_range_uj").write_text(f"{max_uj}\n")
    (d / "name").write_text(name + "\n")
    return d / "energy_uj"


@pytest.fixture
def rapl(tmp_path):
    """Two packages, a sub-zone (part of package 0) and a psys zone; both must be ignored."""
    p0 = make_zone(tmp_path, "intel-rapl:0", 100_000)
    p1 = make_zone(tmp_path, "intel-rapl:1", 5_000)
    sub = make_zone(tmp_path, "intel-rapl:0:0", 7_000, name="core")
    psys = make_zone(tmp_path, "intel-rapl:2", 0, name="psys")
    return tmp_path, p0, p1, sub, psys


def test_rapl_sums_packages_only(rapl):
    root, p0, p1, sub, psys = rapl
    meter = EnergyMeter("run", rapl_root=root)
    meter.start()
    p0.write_text("600000\n")   # +500,000 uJ
    p1.write_text("255000\n")   # +250,000 uJ
    sub.write_text("999999\n")  # ignored (inside package 0)
    psys.write_text("999999\n")  # ignored (whole platform)
    res = meter.stop()
    assert res["source"] == "rapl" and res["label"] == "run"
    assert res["joules"] == pytest.approx(0.75)
    assert res["joules_per_flop"] is None


def test_rapl_wraparound(rapl):
    root, p0, p1, _, _ = rapl
    p0.write_text("990000\n")
    meter = EnergyMeter(rapl_root=root, source="rapl")
    meter.start()
    p0.write_text("10000\n")  # passed max 1,000,000 and restarted: 10,000 + 1,000,000 - 990,000 = 20,000 uJ
    p1.write_text("5000\n")   # unchanged
    assert meter.stop()["joules"] == pytest.approx(0.02)


def test_rapl_sampling_counts_several_wraps(rapl):
    """Reading between wraps keeps every wrap countable: 3 wraps of 0.9 J each = 2.7 J."""
    root, p0, _, _, _ = rapl
    p0.write_text("0\n")
    meter = EnergyMeter(rapl_root=root)
    meter.start()
    value = 0
    for _ in range(3):
        value = (value + 900_000) % 1_000_000
        p0.write_text(f"{value}\n")
        meter.sample()
    assert meter.stop()["joules"] == pytest.approx(2.7)


def test_rapl_permission_error_falls_back_to_estimate(rapl, monkeypatch):
    root = rapl[0]
    real = energy._read_int

    def denied(path):
        if path.name == "energy_uj":
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(energy, "_read_int", denied)
    meter = EnergyMeter("cpu run", rapl_root=root)
    meter.start()
    meter.add_flops(1e9)
    res = meter.stop()
    assert res["source"] == ESTIMATE
    assert res["joules"] == pytest.approx(1e9 * energy.JOULES_PER_FLOP["cpu"])
    assert "PermissionError" in res["fallback_reason"]
    with pytest.raises(RuntimeError, match="rapl"):
        EnergyMeter(rapl_root=root, source="rapl").start()


def test_no_powercap_falls_back(tmp_path):
    meter = EnergyMeter(rapl_root=tmp_path / "missing")
    meter.start()
    res = meter.stop()
    assert res["source"] == ESTIMATE and res["joules"] == 0.0
    assert "FileNotFoundError" in res["fallback_reason"]


def test_flop_estimate_known_answer(tmp_path):
    """100M parameters x 1,000 tokens: 6e11 training FLOPs + 2e11 forward FLOPs at 1e-11 J/FLOP = 8 J."""
    assert training_flops(100_000_000, 1000) == 6e11
    assert forward_flops(100_000_000, 1000) == 2e11
    meter = EnergyMeter("est", source="estimate", joules_per_flop=1e-11, rapl_root=tmp_path)
    meter.start()
    meter.add_flops(training_flops(100_000_000, 1000))
    meter.add_flops(forward_flops(100_000_000, 1000))
    res = meter.stop()
    assert res == {**res, "joules": pytest.approx(8.0), "source": ESTIMATE, "label": "est", "flops": 8e11,
                   "joules_per_flop": 1e-11, "fallback_reason": None}
    # the device picks the assumed constant
    gpu = EnergyMeter(device="cuda", source="estimate")
    gpu.start()
    gpu.add_flops(1e15)
    assert gpu.stop()["joules"] == pytest.approx(1e15 * energy.JOULES_PER_FLOP["cuda"])


def fake_pynvml(readings_mj: dict[int, list[int]]):
    """A pynvml stand-in: GPU i returns readings_mj[i] one after another (millijoules)."""
    mod = types.ModuleType("pynvml")
    mod.nvmlInit = lambda: None
    mod.nvmlDeviceGetCount = lambda: len(readings_mj)
    mod.nvmlDeviceGetHandleByIndex = lambda i: i
    mod.nvmlDeviceGetTotalEnergyConsumption = lambda h: readings_mj[h].pop(0)
    return mod


def test_nvml_counts_visible_gpus(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", fake_pynvml({0: [1_000, 9_000], 1: [50_000, 80_000], 2: [0, 10**9]}))
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    meter = EnergyMeter("gpu", device="cuda")
    meter.start()
    res = meter.stop()
    assert res["source"] == "nvml"
    assert res["joules"] == pytest.approx((8_000 + 30_000) / 1000)  # GPU 2 not visible


def test_nvml_missing_falls_back(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", None)  # import fails
    meter = EnergyMeter(device="cuda")
    meter.start()
    meter.add_flops(4e14)
    res = meter.stop()
    assert res["source"] == ESTIMATE and "pynvml" in res["fallback_reason"]
    assert res["joules"] == pytest.approx(4e14 * energy.JOULES_PER_FLOP["cuda"])


@pytest.mark.parametrize(
    "kwargs, match",
    [({"device": "tpu"}, "device"), ({"source": "wattmeter"}, "source"), ({"joules_per_flop": 0}, "joules_per_flop")],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        EnergyMeter(**kwargs)


def test_bad_counts():
    with pytest.raises(ValueError, match="n_params"):
        training_flops(-1, 10)
    with pytest.raises(ValueError, match="tokens"):
        forward_flops(10, float("nan"))
    meter = EnergyMeter(source="estimate")
    meter.start()
    with pytest.raises(ValueError, match="n "):
        meter.add_flops(-5)
