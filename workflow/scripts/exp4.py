"""Snakemake entry: Experiment 4 (prediction-phase training) for one seed, all arms."""

from predictive_training.analysis.exp4 import run_exp4
from predictive_training.cli import setup_logging
from predictive_training.records.costs import read_calibration

setup_logging(snakemake.log[0])
runs = {arm: snakemake.input[arm] for arm in snakemake.params.cfg["arms"]}
run_exp4(snakemake.params.cfg, runs, int(snakemake.wildcards.seed), snakemake.output[0],
         calibration=read_calibration(snakemake.input.calibration))
