"""Snakemake entry: the Experiment 6 report (HTML and PDF) and its figures."""

from predictive_training.cli import setup_logging
from predictive_training.io import atomic_dir
from predictive_training.report.exp6 import build_exp6_report

setup_logging(snakemake.log[0])
with atomic_dir(snakemake.output.figures) as tmp:
    build_exp6_report(snakemake.params.cfg, snakemake.params.results, snakemake.output.html, snakemake.output.pdf, tmp)
