"""Snakemake entry: Experiment 5 (correction effectiveness) for one seed of hybrid_r50."""

from predictive_training.analysis.exp5 import run_exp5
from predictive_training.cli import setup_logging

setup_logging(snakemake.log[0])
run_exp5(snakemake.config, snakemake.input.run, int(snakemake.wildcards.seed), snakemake.output[0])
