"""The package's import rules (pyproject.toml, [tool.importlinter]) hold, and a wrong import breaks them.

``lint-imports`` checks the contracts on the package as it is; the same check on a copy of the
package with one deliberately wrong import must fail and name the broken rule. The config must
also load and validate in a Python where torch cannot be imported (it runs before any job).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import predictive_training

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = Path(predictive_training.__file__).resolve().parent


def lint_imports(*, pythonpath: Path | None = None) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("lint-imports")
    cmd = [str(exe)] if exe.exists() else [shutil.which("lint-imports") or "lint-imports"]
    env = {**os.environ, "COLUMNS": "200"}  # no wrapped contract names
    if pythonpath is not None:  # the copy shadows the installed package
        env["PYTHONPATH"] = os.pathsep.join([str(pythonpath), env.get("PYTHONPATH", "")])
    return subprocess.run([*cmd, "--no-cache", "--no-logo", "--config", str(ROOT / "pyproject.toml")],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_contracts_are_kept():
    proc = lint_imports()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 broken" in proc.stdout


# (module to edit, line to add, contract that must break)
WRONG = {
    "analysis imports training": ("analysis/exp4.py", "from predictive_training.training import loop",
                                  "Analysis, statistics and the report read recorded files"),
    "dynamics imports training": ("dynamics/simple.py", "from ..training.loop import Trainer",
                                  "Dynamics models know no trainer"),
    "stats imports dynamics": ("stats/rows.py", "from ..dynamics import scores",
                               "Statistics and the report need no dynamics model"),
    "model imports training": ("model.py", "from .training import hybrid",
                               "The model imports no training"),
    "training imports analysis": ("training/run.py", "from ..analysis import exp1",
                                  "Training imports no analysis"),
    "config imports torch": ("config.py", "import torch", "The config validates without torch"),
    "package imports tests": ("io.py", "import tests.conftest", "imports nothing of workflow/, benchmarks/ or tests/"),
}


@pytest.mark.parametrize("case", list(WRONG))
def test_a_wrong_import_breaks_the_contract(case, tmp_path):
    rel, line, contract = WRONG[case]
    copy = tmp_path / "src" / "predictive_training"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__", "*.txt", "*.j2"))
    target = copy / rel
    text = target.read_text()
    head, sep, rest = text.partition("from __future__ import annotations\n")
    target.write_text(head + sep + line + "  # deliberately wrong\n" + rest if sep else line + "\n" + text)
    proc = lint_imports(pythonpath=tmp_path / "src")
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    assert "Broken contracts" in out and contract in out.split("Broken contracts", 1)[1], out


def test_config_loads_and_validates_without_torch():
    code = (
        "import sys; sys.modules['torch'] = None\n"  # any `import torch` now raises ImportError
        "from predictive_training import config\n"
        "cfg = config.load('config/config.yaml')\n"
        "config.load('config/smoke.yaml')\n"
        "assert cfg['arms'] and 'torch' not in [m for m in sys.modules if sys.modules[m] is not None]\n"
        "print('ok')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stdout + proc.stderr
