"""Snakemake entry: train a leave-one-seed-out predictor (rules train_nowcaster, train_rssm_pretrained)
for the held-out seed on the other seeds' baseline runs."""

from predictive_training.cli import setup_logging
from predictive_training.dynamics.nowcaster import train_for_seed
from predictive_training.dynamics.rssm_pretrain import pretrain_for_seed

setup_logging(snakemake.log[0])
train = {"train_nowcaster": train_for_seed, "train_rssm_pretrained": pretrain_for_seed}[snakemake.rule]
train(snakemake.params.cfg, list(snakemake.input.runs), int(snakemake.wildcards.seed), snakemake.output.model)
