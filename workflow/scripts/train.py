"""Snakemake entry: train one (arm, seed) into its run folder."""

from predictive_training.cli import setup_logging
from predictive_training.recording import run_training

setup_logging(snakemake.log[0])
run_training(snakemake.config, snakemake.input.data, snakemake.wildcards.arm, int(snakemake.wildcards.seed),
             snakemake.output[0])
