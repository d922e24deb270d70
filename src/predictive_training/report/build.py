"""Assemble the study's report (HTML and PDF) from real outputs, with provenance."""

from __future__ import annotations

import datetime as _dt
import importlib.metadata as md
import json
import platform
import subprocess
from pathlib import Path

import pandas as pd

from ..config import sweep_cells
from .context import ReportContext
from .corpus import corpus_section
from .frontier import cooldown_section, frontier_section
from .html import render_html
from .pdf import render_pdf
from .shadow import shadow_section

PACKAGES = ["torch", "numpy", "scipy", "pandas", "statsmodels", "matplotlib", "safetensors", "tokenizers",
            "datasets", "snakemake", "jinja2", "reportlab"]


def git_commit(cwd: str | Path = ".") -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return out.stdout.strip() + (" (uncommitted changes)" if dirty else "") if out.returncode == 0 else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def provenance(cfg: dict, data_meta: dict) -> dict:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = md.version(name)
        except md.PackageNotFoundError:
            versions[name] = "not installed"
    return {
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "git commit": git_commit(Path(__file__).resolve().parent),
        "machine": f"{platform.node()} ({platform.platform()}, {platform.processor() or platform.machine()}, "
                   f"python {platform.python_version()})",
        "packages": versions,
        "data": {"source": data_meta.get("source"), "vocab_size": data_meta.get("vocab_size"),
                 "tokens": data_meta.get("tokens"), "sha256": data_meta.get("sha256")},
        "config": cfg,
    }


NOTES = """\
Every number comes from the runs of this study folder: real training on the configured text, \
over the configured seeds, with the initial loss checked against ln(vocabulary size) (column \
initial_loss_ok of the runs table).

Verdicts: a criterion passes when its estimate (mean over seeds) is on the plan's side of the \
threshold AND its Bonferroni-adjusted p-value is below alpha; "within X% of baseline" criteria \
use an equivalence test (TOST) with the plan's margin. A failed hypothesis is a result: the \
decisions below follow the plan's rules whatever the outcome.

Speed is measured on the contention-free time: each run counts its work (real steps, forward-only \
batches, the dynamics model's observing, training and rollouts, snapshots, applied deltas, line-search \
trials) and the calibration job measures what each unit costs while nothing else runs (calibration.json); \
cost_s = work x unit costs. It includes every overhead of training and excludes measurement (periodic \
validation, snapshots, gradient records, which are the same for every arm). The measured wall-clock \
(wall_s), which other jobs on the machine stretch, is reported beside it. Exp 5's probe losses \
after the line search and after the Correct steps are measurement too.

Families: rows marked "(study control)" are the study's own controls and comparisons, not the \
plan's criteria; Bonferroni runs within each family (plan, study), so a control never changes a \
plan verdict.

Exp 5 measures the correction alone: the probe loss (the last skipped Predict batches, forward \
only) right after the Predict phase and right after the per-layer line search, with no real \
optimiser step between them; the search chose its scales on other batches. loss_reduction, \
share_positive and loss_before_minus_after are that search effect; error_reduction is the share of \
the prediction's shortfall against the conventional baseline (its training loss on the same \
batches at the same steps and seed) that the search recovers, pooled over the events of a seed. \
The study's controls (the control arms at the plan arm's ratio and horizon, config roles): the same \
search effect for the repeat control (a trivial prediction), the skip control's search effect (0 by \
construction, a check), and the whole Correct phase (search plus the real Correct steps) of the plan's \
50% arm against that of the skip control, which has nothing to correct; every other predicted arm \
that is not a control gets the same search-effect rows, beside the controls at its own ratio. An arm \
is said to beat a control only when their realised prediction ratios lie within 0.05 of each other; \
otherwise the row says "not comparable" and makes no claim. A sample whose values are all equal has \
no test and makes no claim ("zero variance")."""


def _shadow_section(cfg: dict, results_dir: Path) -> dict | None:
    """The shadow-mode section from the Exp 3 and Exp 2 logs of the configured seeds (None without them)."""
    def logs(name: str) -> list[dict]:
        paths = [results_dir / "experiments" / name / f"seed{s}.json" for s in cfg["seeds"]]
        return [json.loads(p.read_text()) for p in paths if p.exists()]

    return shadow_section(logs("exp3_weight_delta"), logs("exp2_loss_prediction"), int(cfg["hybrid"]["horizon"]))


def _frontier_section(cfg: dict, frontier_csv: str | Path | None) -> dict | None:
    """The equal-cost section from ``stats/frontier.csv`` (None without it or with no cell)."""
    if frontier_csv is None or not Path(frontier_csv).exists():
        return None
    table = pd.read_csv(frontier_csv)
    return frontier_section(table, sweep_cells(cfg)[1], cfg["thresholds"]["alpha"])


def build_report(cfg: dict, results_dir: str | Path, tests_csv: str | Path, decisions_json: str | Path,
                 figures: list[tuple], runs_csv: str | Path, html_out: str | Path, pdf_out: str | Path,
                 frontier_csv: str | Path | None = None, frontier_cooldown_csv: str | Path | None = None) -> None:
    results_dir = Path(results_dir)
    meta = json.loads((results_dir / "data" / "meta.json").read_text())
    ctx = ReportContext(
        title=f"Predictive training study: {cfg['study']}",
        study=cfg["study"],
        summary=pd.read_csv(tests_csv),
        decisions=json.loads(Path(decisions_json).read_text()),
        figures=figures,
        runs=pd.read_csv(runs_csv),
        provenance=provenance(cfg, meta),
        notes=NOTES,
        sections=[sec for sec in (_frontier_section(cfg, frontier_csv),
                                  cooldown_section(pd.read_csv(frontier_cooldown_csv)) if frontier_cooldown_csv else None,
                                  corpus_section(meta),
                                  _shadow_section(cfg, results_dir)) if sec],
    )
    render_html(ctx, html_out)
    render_pdf(ctx, pdf_out)
