"""Snakemake entry: the sweep's recorded validation curves (and the second seed's) in one file."""

from predictive_training.analysis.exp6 import curves_from_runs, write_curves
from predictive_training.cli import setup_logging
from predictive_training.io import write_json

setup_logging(snakemake.log[0])
points, seed, seed2 = snakemake.params.points, snakemake.params.seed, snakemake.params.second_seed
curves = curves_from_runs(dict(zip(points, snakemake.input.runs)), points, seed)
second = {p: r for p, r in zip(snakemake.params.top, snakemake.input.second)}
extra = {str(seed2): curves_from_runs(second, points, seed2)} if second else {}
write_json(snakemake.output[0], write_curves(curves, extra))
