"""Snakemake entry: Experiment 1 (gradient structure) for one seed."""

from predictive_training.analysis.exp1 import run_exp1
from predictive_training.cli import setup_logging

setup_logging(snakemake.log[0])
run_exp1(snakemake.params.cfg, snakemake.input.run, int(snakemake.wildcards.seed), snakemake.output[0])
