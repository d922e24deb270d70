"""Energy of a piece of work, measured where the hardware tells, estimated from FLOPs where it does not.

Sources, tried in this order by ``EnergyMeter(source="auto")``:

1. ``nvml``: NVIDIA GPUs through ``pynvml`` (package ``nvidia-ml-py``, optional): the driver's
   total-energy counter (``nvmlDeviceGetTotalEnergyConsumption``, millijoules since the driver
   loaded; Volta and newer), summed over the GPUs in use (``CUDA_VISIBLE_DEVICES`` when it holds
   indices, else every GPU NVML sees). Whole-GPU energy, idle power included.
2. ``rapl``: CPU packages through Linux powercap (``/sys/class/powercap/intel-rapl:N/energy_uj``,
   microjoules; Intel, and AMD on recent kernels). Top-level package zones only (their ``:N:M``
   sub-zones are parts of them; a ``psys`` zone covers the whole platform and would count the
   packages twice). The counters wrap at ``max_energy_range_uj``: one wrap between two readings is
   corrected; call :meth:`EnergyMeter.sample` more often than a wrap period (hundreds of kJ,
   tens of minutes at full power) in long runs. Whole-package energy: other processes count too.
   Since 2020 kernels let only root read ``energy_uj``; a permission error falls back to (3).
3. ``estimate (FLOPs)``: the FLOPs counted with :meth:`EnergyMeter.add_flops` (``6 N T`` to train
   an ``N``-parameter model on ``T`` tokens, ``2 N T`` forward only: :func:`training_flops`,
   :func:`forward_flops`) times an assumed energy per FLOP (``JOULES_PER_FLOP``). An order of
   magnitude, labelled as such.

Usage::

    meter = EnergyMeter("baseline seed 0", device="cuda")
    meter.start()
    ...train...; meter.add_flops(training_flops(n_params, tokens))
    result = meter.stop()   # {"joules": ..., "source": "nvml", "label": "baseline seed 0", ...}
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

# Assumed energy per FLOP (J) for the estimate, by device type. Orders of magnitude, not
# measurements: a server CPU core does ~1e10-1e11 float32 FLOP/s for a few watts of its share
# (1e-10 J/FLOP); an H100/H200-class GPU draws ~700 W at ~1e15 bf16 FLOP/s peak, ~3e14 at the
# 30-40% utilisation training reaches (2.5e-12 J/FLOP).
JOULES_PER_FLOP = {"cpu": 1e-10, "cuda": 2.5e-12}
SOURCES = ("auto", "nvml", "rapl", "estimate")
ESTIMATE = "estimate (FLOPs)"
_PACKAGE_ZONE = re.compile(r"intel-rapl:\d+")


def training_flops(n_params: int, tokens: int) -> float:
    """FLOPs of training (forward + backward) an ``n_params`` model on ``tokens`` tokens: 6 N T."""
    _check_count("n_params", n_params)
    _check_count("tokens", tokens)
    return 6.0 * n_params * tokens


def forward_flops(n_params: int, tokens: int) -> float:
    """FLOPs of a forward pass only (evaluation, a predicted phase's loss): 2 N T."""
    _check_count("n_params", n_params)
    _check_count("tokens", tokens)
    return 2.0 * n_params * tokens


def _check_count(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 or value != value:
        raise ValueError(f"{name} must be a non-negative number, got {value!r}")


def _read_int(path: Path) -> int:
    return int(path.read_text().strip())


class RaplZones:
    """The top-level RAPL package zones under ``root``; energy in joules since the first reading."""

    def __init__(self, root: str | os.PathLike = "/sys/class/powercap"):
        self.zones: list[tuple[Path, int]] = []  # (energy_uj file, wrap range in uJ)
        root = Path(root)
        if not root.is_dir():
            raise FileNotFoundError(f"no powercap folder {root}")
        for zone in sorted(root.iterdir()):
            if not _PACKAGE_ZONE.fullmatch(zone.name):
                continue
            name = zone / "name"
            if name.exists() and name.read_text().strip() == "psys":
                continue
            # PermissionError propagates: the caller falls back to the estimate.
            self.zones.append((zone / "energy_uj", _read_int(zone / "max_energy_range_uj")))
        if not self.zones:
            raise FileNotFoundError(f"no RAPL package zones (intel-rapl:N) under {root}")
        self.last = [_read_int(f) for f, _ in self.zones]
        self.total_uj = 0

    def sample(self) -> float:
        """Read every zone, add the energy since the last reading (one wrap corrected); joules so far."""
        for i, (f, wrap) in enumerate(self.zones):
            now = _read_int(f)
            delta = now - self.last[i]
            if delta < 0:  # the counter passed max_energy_range_uj and restarted from 0
                delta += wrap
            self.total_uj += delta
            self.last[i] = now
        return self.total_uj * 1e-6


class NvmlCounters:
    """NVML total-energy counters of the GPUs in use; energy in joules since construction."""

    def __init__(self, indices: list[int] | None = None):
        import pynvml  # optional dependency (nvidia-ml-py)

        self.nvml = pynvml
        pynvml.nvmlInit()
        count = pynvml.nvmlDeviceGetCount()
        if count == 0:
            raise RuntimeError("NVML sees no GPU")
        if indices is None:
            visible = os.environ.get("CUDA_VISIBLE_DEVICES", "")
            ids = [s.strip() for s in visible.split(",") if s.strip()]
            indices = [int(s) for s in ids] if ids and all(s.isdigit() for s in ids) else list(range(count))
        self.handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in indices]
        self.start_mj = self._read()

    def _read(self) -> int:
        return sum(int(self.nvml.nvmlDeviceGetTotalEnergyConsumption(h)) for h in self.handles)

    def sample(self) -> float:
        return (self._read() - self.start_mj) * 1e-3


class EnergyMeter:
    """Energy of the work between :meth:`start` and :meth:`stop`, in joules.

    ``label``: free text carried into the result. ``device``: ``"cpu"`` or ``"cuda"``: which
    hardware counter to try (NVML for ``cuda``, RAPL for ``cpu``) and which energy per FLOP the
    estimate assumes. ``source``: ``"auto"`` (the first that works), or force ``"nvml"``,
    ``"rapl"`` (errors if unavailable) or ``"estimate"``. ``rapl_root``: the powercap folder (tests
    point it at a fake one). ``joules_per_flop``: override the estimate's constant.
    """

    def __init__(
        self,
        label: str = "",
        *,
        device: str = "cpu",
        source: str = "auto",
        rapl_root: str | os.PathLike = "/sys/class/powercap",
        gpu_indices: list[int] | None = None,
        joules_per_flop: float | None = None,
    ):
        if device not in JOULES_PER_FLOP:
            raise ValueError(f"device must be one of {sorted(JOULES_PER_FLOP)}, got {device!r}")
        if source not in SOURCES:
            raise ValueError(f"source must be one of {SOURCES}, got {source!r}")
        if joules_per_flop is not None and not (joules_per_flop > 0):
            raise ValueError(f"joules_per_flop must be positive, got {joules_per_flop!r}")
        self.label, self.device, self.source = label, device, source
        self.rapl_root, self.gpu_indices = rapl_root, gpu_indices
        self.joules_per_flop = joules_per_flop if joules_per_flop is not None else JOULES_PER_FLOP[device]
        self.flops = 0.0
        self._counter = None
        self._active_source: str | None = None
        self.fallback_reason: str | None = None
        self._t0: float | None = None

    def _open_counter(self):
        """The hardware counter to use, or None for the estimate (reason kept in fallback_reason)."""
        wanted = {"auto": ("nvml",) if self.device == "cuda" else ("rapl",), "nvml": ("nvml",),
                  "rapl": ("rapl",), "estimate": ()}[self.source]
        reasons = []
        for name in wanted:
            try:
                counter = NvmlCounters(self.gpu_indices) if name == "nvml" else RaplZones(self.rapl_root)
                return name, counter
            # ImportError (no pynvml), OSError (no powercap, PermissionError), NVMLError (no
            # driver, counter unsupported), ...: no counter here, which is not a bug.
            except Exception as exc:
                reasons.append(f"{name}: {type(exc).__name__}: {exc}")
        if self.source in ("nvml", "rapl"):
            raise RuntimeError(f"energy source {self.source!r} unavailable ({'; '.join(reasons)})")
        self.fallback_reason = "; ".join(reasons) or None
        return ESTIMATE, None

    def start(self) -> None:
        """Open the counter and take the first reading; resets the FLOP count."""
        self.flops = 0.0
        self._active_source, self._counter = self._open_counter()
        self._t0 = time.perf_counter()

    @property
    def measuring(self) -> bool:
        """Whether a hardware energy counter is being read (started, and one was found)."""
        return self._counter is not None

    def add_flops(self, n: float) -> None:
        """Count ``n`` FLOPs of work done since :meth:`start` (used by the estimate, reported always)."""
        _check_count("n", n)
        self.flops += float(n)

    def sample(self) -> float:
        """Joules so far (hardware counters: also a reading that keeps RAPL wrap-arounds countable)."""
        if self._t0 is None:
            raise RuntimeError("EnergyMeter.sample() before start()")
        if self._counter is None:
            return self.flops * self.joules_per_flop
        return self._counter.sample()

    def stop(self) -> dict:
        """Final reading: ``{"joules", "source", "label", "seconds", "flops", "joules_per_flop"}``.

        ``source`` is ``"nvml"``, ``"rapl"`` or ``"estimate (FLOPs)"``; ``joules_per_flop`` is the
        assumed constant for the estimate and None for measurements; ``fallback_reason`` says why
        no counter was used (None when one was, or when the estimate was asked for).
        """
        joules = self.sample()
        seconds = time.perf_counter() - self._t0
        estimate = self._active_source == ESTIMATE
        result = {
            "joules": float(joules),
            "source": self._active_source,
            "label": self.label,
            "seconds": seconds,
            "flops": self.flops,
            "joules_per_flop": self.joules_per_flop if estimate else None,
            "fallback_reason": self.fallback_reason,
        }
        self._t0 = None
        return result


class EnergyObserver:
    """Training observer (:class:`.loop.Observer`): meters one run and adds ``summary["energy"]``.

    The FLOP count (used for the estimate where no hardware counter is readable, reported always)
    comes from the trainer's pass counters at the end: 6 N tokens per step with a backward pass,
    2 N tokens per extra forward pass (held-aside losses, line search), nothing for Predict steps;
    the dynamics model's own FLOPs are not counted (a small share at the default scale: see
    benchmarks/rssm_cost.py). A resumed run adds the energy measured before the interruption.
    """

    wants_tensors = False
    untimed = True  # metering is measurement, not training work (kept out of wall_s)

    def __init__(self, label: str = ""):
        self.label = label
        self.offset_joules = 0.0

    def on_start(self, trainer) -> None:
        self.meter = EnergyMeter(self.label, device=trainer.device.type)
        self.meter.start()

    def on_step(self, trainer, info, grads, update) -> None:
        self.meter.sample()  # frequent readings keep RAPL counter wrap-arounds countable

    def on_event(self, trainer, event) -> None: ...

    def state_dict(self, trainer, checkpointer) -> dict:
        measured = self.meter.measuring
        return {"joules": (self.meter.sample() + self.offset_joules) if measured else 0.0}

    def on_resume(self, trainer, state: dict | None, checkpointer) -> None:
        self.on_start(trainer)
        self.offset_joules = float((state or {}).get("joules", 0.0))

    def close(self) -> None: ...

    def on_end(self, trainer, summary: dict) -> None:
        n = sum(p.numel() for p in trainer.params.values())
        tokens = trainer.train_cfg["batch_size"] * trainer.model_cfg.context
        extra_forward = max(0, trainer.forward_passes - trainer.backward_passes)
        self.meter.add_flops(training_flops(n, tokens * trainer.backward_passes)
                             + forward_flops(n, tokens * extra_forward))
        result = self.meter.stop()
        if result["source"] != ESTIMATE:
            result["joules"] += self.offset_joules
        summary["energy"] = result
