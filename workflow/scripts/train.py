"""Snakemake entry: train one (arm, seed) into its run folder.

Resumable: the job works in ``runs/<arm>/.seed<k>.partial/`` (outside the declared output, so
Snakemake's cleanup of a failed job leaves it) and checkpoints every ``train.checkpoint_every``
steps; rerunning a killed or failed job continues from the newest intact checkpoint ("resumed
from step N" in this job's log) to the same results as an uninterrupted run.
"""

from predictive_training.cli import setup_logging
from predictive_training.config import loso_model_name
from predictive_training.training.run import run_training

setup_logging(snakemake.log[0])
cfg, arm = snakemake.params.cfg, snakemake.wildcards.arm
# a leave-one-seed-out predictor's arm: its model, trained on the other seeds (rules in predictors.smk)
name = loso_model_name(cfg, arm)
files = {name: snakemake.input[name]} if name is not None else {}
run_training(cfg, snakemake.input.data, arm, int(snakemake.wildcards.seed), snakemake.output[0], files=files)
