"""Snakemake entry: Experiment 2 (loss prediction) for one seed of the baseline."""

from predictive_training.analysis.exp2 import run_exp2
from predictive_training.cli import setup_logging

setup_logging(snakemake.log[0])
run_exp2(snakemake.params.cfg, snakemake.input.run, int(snakemake.wildcards.seed), snakemake.output[0])
