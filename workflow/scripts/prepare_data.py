"""Snakemake entry: prepare the data folder (thin; the work is in predictive_training.data)."""

from predictive_training.cli import setup_logging
from predictive_training.data.prepare import prepare

setup_logging(snakemake.log[0])
prepare(snakemake.params.cfg, snakemake.output[0], base_dir=snakemake.scriptdir + "/../..")
