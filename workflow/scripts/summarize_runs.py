"""Snakemake entry: one row per run (arm, seed) with final losses, downstream metrics and timing
(measured wall-clock, CPU time, and the contention-free time and FLOPs from the calibration)."""

from predictive_training.cli import setup_logging
from predictive_training.records.costs import read_calibration
from predictive_training.records.summary import runs_table

setup_logging(snakemake.log[0])
runs_table(snakemake.input.runs, read_calibration(snakemake.input.calibration)).to_csv(snakemake.output[0], index=False)
