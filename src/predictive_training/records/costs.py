"""Measured unit costs (``calibration.json``) and the contention-free time and FLOPs of a run.

A run counts its work in units (``summary.json``'s ``work``; ``training/work.py`` defines them);
the study's calibration job (``training/calibrate.py``, the ``calibrate`` rule) measures what one
unit costs on the study's own config, model and device while nothing else runs. Then

    contention-free time = sum over units of count x seconds per unit     (``contention_free_s``)
    FLOPs                = sum over units of count x FLOPs per unit        (``flops``)

Other jobs sharing the machine change a run's measured ``wall_s`` but not its counts, so the speed
verdicts (Exp 4) use the contention-free time; ``wall_s`` stays reported as measured.

``calibration.json``::

    {"format": "predictive_training calibration 1", "device": ..., "torch_threads": ..., "n_params": ...,
     "units": {"<unit>": {"s": seconds per unit, "statistic": "median" | "mean",
                          "median_s", "mean_s", "q25_s", "q75_s", "n": calls timed,
                          "flops": FLOPs per unit (an estimate, see "flops_note")}, ...},
     "flops_note": ..., "config": the sections the costs depend on, ...}
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path

__all__ = ["FORMAT", "FILENAME", "CalibrationError", "read_calibration", "contention_free_s", "flops", "unit_table"]

FORMAT = "predictive_training calibration 1"
FILENAME = "calibration.json"


class CalibrationError(ValueError):
    """A calibration file that cannot cost a run; the message names the file or the unit."""


def read_calibration(path: str | Path) -> dict:
    """Read and check ``calibration.json`` (format, and a finite cost >= 0 for every unit)."""
    path = Path(path)
    if not path.exists():
        raise CalibrationError(f"calibration file not found: {path} (run the calibrate rule)")
    try:
        cal = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise CalibrationError(f"calibration file {path} is not JSON: {exc}") from exc
    if not isinstance(cal, dict) or cal.get("format") != FORMAT:
        raise CalibrationError(f"calibration file {path}: format is not {FORMAT!r}")
    units = cal.get("units")
    if not isinstance(units, dict) or not units:
        raise CalibrationError(f"calibration file {path} has no units")
    for name, u in units.items():
        s = u.get("s") if isinstance(u, dict) else None
        if not isinstance(s, (int, float)) or not math.isfinite(s) or s < 0:
            raise CalibrationError(f"calibration file {path}: unit {name!r} has no finite cost 's' >= 0")
    return cal


def _rollout_value(name: str, units: Mapping, field: str) -> float | None:
    """A ``rollout/<p>/<L>`` unit the calibration did not time: linear in ``L`` between the two
    nearest timed lengths of the same predictor (the nearest two on one side beyond the range; the
    one timed length if there is only one). None if ``name`` is no rollout unit or ``p`` has none."""
    parts = name.split("/")
    if len(parts) != 3 or parts[0] != "rollout" or not parts[2].isdigit():
        return None
    pts = sorted((int(k.split("/")[2]), u.get(field)) for k, u in units.items()
                 if k.startswith(f"rollout/{parts[1]}/") and k.split("/")[2].isdigit())
    if not pts or any(v is None for _, v in pts):
        return None
    x = int(parts[2])
    if len(pts) == 1:
        return float(pts[0][1])
    near = sorted(pts, key=lambda p: (abs(p[0] - x), p[0]))[:2]
    (x0, y0), (x1, y1) = sorted(near)
    return max(0.0, float(y0) + (float(y1) - float(y0)) * (x - x0) / (x1 - x0))


def _dot(work: Mapping[str, int], calibration: Mapping, field: str) -> float:
    units = calibration["units"]
    total = 0.0
    for name, count in work.items():
        if not count:
            continue
        if name not in units:
            value = _rollout_value(name, units, field)
            if value is not None:
                total += float(count) * value
                continue
            raise CalibrationError(
                f"the calibration has no unit {name!r} (it measured {', '.join(sorted(units))}); "
                "rerun the calibrate rule for this study's arms"
            )
        value = units[name].get(field)
        if value is None:
            raise CalibrationError(f"the calibration's unit {name!r} has no {field!r}")
        total += float(count) * float(value)
    return total


def contention_free_s(work: Mapping[str, int], calibration: Mapping) -> float:
    """Seconds the counted ``work`` takes at the calibrated unit costs."""
    return _dot(work, calibration, "s")


def flops(work: Mapping[str, int], calibration: Mapping) -> float:
    """FLOPs of the counted ``work`` at the calibrated FLOPs per unit (an estimate: see the
    calibration's ``flops_note``)."""
    return _dot(work, calibration, "flops")


def unit_table(calibration: Mapping) -> list[dict]:
    """One row per unit: name, seconds (the statistic used), spread, calls timed, FLOPs."""
    return [{"unit": k, "s": u["s"], "statistic": u.get("statistic"), "q25_s": u.get("q25_s"),
             "q75_s": u.get("q75_s"), "n": u.get("n"), "flops": u.get("flops")}
            for k, u in calibration["units"].items()]
