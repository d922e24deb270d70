"""Snakemake entry: Experiment 3 (weight-delta prediction) for one seed of the baseline."""

from predictive_training.analysis.exp3 import run_exp3
from predictive_training.cli import setup_logging

setup_logging(snakemake.log[0])
run_exp3(snakemake.config, snakemake.input.run, int(snakemake.wildcards.seed), snakemake.output[0])
