"""Snakemake entry: the study report, HTML (self-contained) and PDF."""

import json
from pathlib import Path

from predictive_training.cli import setup_logging
from predictive_training.report.build import build_report

setup_logging(snakemake.log[0])
fig_dir = Path(snakemake.input.figures)
figures = [(fig_dir / f["file"], f["caption"], f["section"]) for f in json.loads((fig_dir / "index.json").read_text())]
build_report(snakemake.params.cfg, f"results/{snakemake.params.cfg['study']}", snakemake.input.tests,
             snakemake.input.decisions, figures, snakemake.input.runs, snakemake.output.html, snakemake.output.pdf,
             frontier_csv=snakemake.input.frontier,
             frontier_cooldown_csv=snakemake.input.get("frontier_cooldown"))
