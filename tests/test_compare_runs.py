"""tests/slurm/compare_runs.py --results-only: two result folders agree apart from timings, or differ by name."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent / "slurm" / "compare_runs.py"


def _study(root: Path, loss: float, wall: float) -> Path:
    run = root / "runs" / "baseline" / "seed0"
    run.mkdir(parents=True)
    rows = [{"step": 0, "phase": "warmup", "loss": loss, "wall_s": wall},
            {"step": 1, "phase": "full", "loss": 1.0, "wall_s": 2 * wall}]
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (run / "summary.json").write_text(json.dumps({"final_val_loss": loss, "wall_s": wall, "speedup": 1 / wall}))
    (root / "runs" / "summary.csv").write_text(f"arm,seed,final_val_loss,wall_s\nbaseline,0,{loss},{wall}\n")
    return root


def _compare(a: Path, b: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), "--results-only", "--local", str(a), "--slurm", str(b)],
                          capture_output=True, text=True, timeout=60)


def test_identical_apart_from_timings(tmp_path):
    proc = _compare(_study(tmp_path / "before", 2.5, 1.0), _study(tmp_path / "after", 2.5, 7.0))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "all checks passed" in proc.stdout and "1 metrics.jsonl" in proc.stdout


def test_a_changed_number_is_named(tmp_path):
    proc = _compare(_study(tmp_path / "before", 2.5, 1.0), _study(tmp_path / "after", 2.25, 1.0))
    assert proc.returncode == 1
    assert "runs/baseline/seed0/metrics.jsonl[0].loss: 2.5 vs 2.25" in proc.stderr
    assert "FAILED" in proc.stdout


def test_scheduler_arguments_are_required_without_results_only(tmp_path):
    proc = subprocess.run([sys.executable, str(SCRIPT), "--local", str(tmp_path), "--slurm", str(tmp_path)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "--results-only" in proc.stderr
