"""Snakemake entry: Experiment 5 (correction effectiveness) for one seed: hybrid_r50, the
baseline (shortfall) and the repeat/skip controls present."""

from predictive_training.analysis.exp5 import run_exp5
from predictive_training.cli import setup_logging

setup_logging(snakemake.log[0])
runs = {arm: snakemake.input[arm] for arm in ("hybrid_r50", "baseline", "repeat_r50", "skip_r50")
        if arm in snakemake.input.keys()}
run_exp5(snakemake.config, runs, int(snakemake.wildcards.seed), snakemake.output[0])
