"""Snakemake entry: tests table over seeds and the Go/No-Go decisions."""

from predictive_training.cli import setup_logging
from predictive_training.io import atomic_write_text, write_json
from predictive_training.stats.rows import build, frontier

setup_logging(snakemake.log[0])
table, decisions = build(snakemake.params.cfg, snakemake.input.logs)
atomic_write_text(snakemake.output.frontier, frontier(snakemake.params.cfg, snakemake.input.logs, table).to_csv(index=False))
atomic_write_text(snakemake.output.tests, table.to_csv(index=False))
write_json(snakemake.output.decisions, decisions)
