"""Snakemake entry: train one (arm, seed) into its run folder.

Resumable: the job works in ``runs/<arm>/.seed<k>.partial/`` (outside the declared output, so
Snakemake's cleanup of a failed job leaves it) and checkpoints every ``train.checkpoint_every``
steps; rerunning a killed or failed job continues from the newest intact checkpoint ("resumed
from step N" in this job's log) to the same results as an uninterrupted run.
"""

from predictive_training.cli import setup_logging
from predictive_training.config import LEAVE_ONE_SEED_OUT
from predictive_training.training.run import run_training

setup_logging(snakemake.log[0])
# a nowcaster or rssm_pretrained arm: its model, trained on the other seeds (rules in predictors.smk)
files = {name: snakemake.input[name] for name in LEAVE_ONE_SEED_OUT if name in snakemake.input.keys()}
run_training(snakemake.config, snakemake.input.data, snakemake.wildcards.arm, int(snakemake.wildcards.seed),
             snakemake.output[0], files=files)
