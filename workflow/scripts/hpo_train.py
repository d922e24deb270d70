"""Snakemake entry: one configuration of the Exp 6 sweep (a conventional run, metrics and summary only)."""

from predictive_training.cli import setup_logging
from predictive_training.training.run import run_training

setup_logging(snakemake.log[0])
run_training(snakemake.params.trial, snakemake.input.data, "baseline", int(snakemake.wildcards.seed),
             snakemake.output[0], record=False)
