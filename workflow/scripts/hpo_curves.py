"""Snakemake entry: recorded validation curves in one file (the sweep's, or the second seed's top configurations)."""

from predictive_training.analysis.exp6 import curves_from_runs, write_curves
from predictive_training.cli import setup_logging
from predictive_training.io import write_json

setup_logging(snakemake.log[0])
p = snakemake.params
names = list(p.top) if "top" in p.keys() else list(p.points)  # hpo_second_seed: the top configurations
runs = dict(zip(names, snakemake.input.runs))
write_json(snakemake.output[0], write_curves(curves_from_runs(runs, p.points, p.seed)))
