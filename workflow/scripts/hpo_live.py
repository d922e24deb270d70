"""Snakemake entry: one live Optuna study (SQLite storage) that trains the first trials of replay order 0."""

from pathlib import Path

from predictive_training.analysis import exp6
from predictive_training.cli import setup_logging
from predictive_training.io import write_json
from predictive_training.training.search import live_runner, lr_schedule

setup_logging(snakemake.log[0])
p = snakemake.params
trials, hpo, policy = p.trials, p.hpo, snakemake.wildcards.policy
order = exp6.orders(list(trials), 1, hpo["replay"]["order_seed"])[0][: hpo["live"]["trials"]]
db = Path(snakemake.output.db)
db.unlink(missing_ok=True)  # a fresh study: a rerun never continues an old one
exp6.quiet_optuna()
reported = {}
run = live_runner(trials, snakemake.input.data, hpo["seed"])


def recording(config, report):
    pts = reported.setdefault(config, [])

    def rep(step, value):
        pts.append([step, value])
        report(step, value)

    return run(config, rep)


total = int(next(iter(trials.values()))["train"]["steps"])
name = f"exp6-live-{policy}"
res = exp6.live_study(order, p.spec, policy, recording, {k: lr_schedule(trials[k]) for k in order}, total,
                      f"sqlite:///{db.resolve()}", name,
                      {"decay": hpo["predictors"]["decay"], "prior": hpo["predictors"]["prior"]})
write_json(snakemake.output.record, {"policy": policy, "study_name": name, "storage": str(db), "order": order,
                                     "trials": res.trials, "reported": reported})
