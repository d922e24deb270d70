"""Snakemake entry: shadow mode for the leave-one-seed-out predictors on a replay of one seed's baseline."""

from predictive_training.cli import setup_logging
from predictive_training.config import loso_shadow
from predictive_training.training.run import run_replay

setup_logging(snakemake.log[0])
files = {name: snakemake.input[name] for name in loso_shadow(snakemake.params.cfg)}
run_replay(snakemake.params.cfg, snakemake.input.data, int(snakemake.wildcards.seed), snakemake.input.run, snakemake.output[0],
           files)
