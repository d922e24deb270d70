"""Snakemake entry: Experiment 5 (correction effectiveness) for one seed: every predicted arm
that is not a control, their repeat/skip controls and the baseline (analysis/exp5.py: exp5_arms)."""

from predictive_training.analysis.exp5 import exp5_arms, run_exp5
from predictive_training.cli import setup_logging

setup_logging(snakemake.log[0])
runs = {arm: snakemake.input[arm] for arm in exp5_arms(snakemake.params.cfg)}
run_exp5(snakemake.params.cfg, runs, int(snakemake.wildcards.seed), snakemake.output[0])
