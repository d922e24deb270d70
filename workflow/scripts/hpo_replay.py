"""Snakemake entry: every policy replayed on the recorded curves through Optuna; the laws' predictions."""

import json

from predictive_training.analysis import exp6
from predictive_training.cli import setup_logging
from predictive_training.io import atomic_write_text

setup_logging(snakemake.log[0])
p = snakemake.params
curves, _ = exp6.read_curves(json.loads(open(snakemake.input.curves).read()))
opts = {"decay": p.predictors["decay"], "prior": p.predictors["prior"]}
specs, confirmatory = p.policies, p.confirmatory
memo = exp6.prefix_memo(curves, opts, exp6.min_points(specs))
replay = exp6.replay(curves, specs, p.replay["orders"], p.replay["order_seed"], opts, snakemake.threads, memo)
atomic_write_text(snakemake.output.replay, replay.to_csv(index=False))
# the configuration-set bootstrap: the confirmatory policy and Hyperband's levels (its equal-compute comparison)
sub = {k: v for k, v in specs.items() if k == confirmatory or v["family"] == "hyperband"}
resamples = exp6.replay_resamples(curves, sub, p.replay["resamples"], p.replay["resample_orders"],
                                  p.replay["order_seed"], opts, snakemake.threads, memo)
atomic_write_text(snakemake.output.resamples, resamples.to_csv(index=False))
laws = p.laws
atomic_write_text(snakemake.output.predictions,
                  exp6.prediction_table(curves, laws, p.predictors["fractions"], opts).to_csv(index=False))
atomic_write_text(snakemake.output.exp2, exp6.exp2_table(curves, laws, p.predictors["holdout"], opts).to_csv(index=False))
