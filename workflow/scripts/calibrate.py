"""Snakemake entry: measure the unit costs of training work (serial: the rule holds every core)."""

from predictive_training.cli import setup_logging
from predictive_training.training.calibrate import calibrate

setup_logging(snakemake.log[0])
calibrate(snakemake.params.cfg, snakemake.input.data, snakemake.output[0],
          repeats=snakemake.params.cfg["calibration"]["repeats"])
