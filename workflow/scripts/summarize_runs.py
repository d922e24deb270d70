"""Snakemake entry: one row per run (arm, seed) with final losses, downstream metrics and timing."""

from predictive_training.cli import setup_logging
from predictive_training.records.summary import runs_table

setup_logging(snakemake.log[0])
runs_table(snakemake.input).to_csv(snakemake.output[0], index=False)
