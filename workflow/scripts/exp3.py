"""Snakemake entry: Experiment 3 (weight-delta prediction) for one seed of the baseline."""

from predictive_training.analysis.exp3 import run_exp3
from predictive_training.cli import setup_logging

setup_logging(snakemake.log[0])
# the leave-one-seed-out predictors' rows come from the replay of this seed's baseline (when configured)
replay = list(getattr(snakemake.input, "replay", []))
run_exp3(snakemake.params.cfg, snakemake.input.run, int(snakemake.wildcards.seed), snakemake.output[0],
         replay_dir=replay[0] if replay else None)
