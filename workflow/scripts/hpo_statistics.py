"""Snakemake entry: Exp 6's statistics, the pivot's study record, the live studies against the replay."""

import json

import pandas as pd

from predictive_training.analysis import exp6
from predictive_training.analysis.template import write_log
from predictive_training.cli import setup_logging
from predictive_training.io import atomic_write_text, write_json
from predictive_training.stats import exp6 as st

setup_logging(snakemake.log[0])
p, inp, out = snakemake.params, snakemake.input, snakemake.output
cfg = {"hpo": p.hpo, "thresholds": p.thresholds}
curves, _ = exp6.read_curves(json.loads(open(inp.curves).read()))
second, _ = exp6.read_curves(json.loads(open(inp.second_seed).read()))
replay = pd.read_csv(inp.replay)
resamples = pd.read_csv(inp.resamples) if open(inp.resamples).read().strip() else None
finals = st.finals_of(curves)

policies = st.policy_table(replay)
atomic_write_text(out.policies, policies.to_csv(index=False))
preds = st.prediction_summary(pd.read_csv(inp.predictions))
atomic_write_text(out.predictions, preds.to_csv(index=False))
exp2 = st.exp2_summary(pd.read_csv(inp.exp2), p.thresholds["exp2_r2"], p.thresholds["exp2_mae_over_range"])
atomic_write_text(out.exp2, exp2.to_csv(index=False))
noise = exp6.seed_noise(curves, second) if second else {"n": 0}

live = []
opts = {"decay": p.hpo["predictors"]["decay"], "prior": p.hpo["predictors"]["prior"]}
for path in inp.live:
    rec = json.loads(open(path).read())
    rep = exp6.replay_order(curves, p.policies[rec["policy"]], rec["order"], rec["study_name"], opts)
    live.append(exp6.agreement(rec, rep, curves))
write_json(out.agreement, st.json_safe(live))

table, info = st.criterion_rows(cfg, replay, resamples, finals)
atomic_write_text(out.tests, table.to_csv(index=False))
starts = [c.extra.get("started_at") for c in curves.values() if c.extra.get("started_at") is not None]
exploratory = {"policies": "stats/exp6_policies.csv", "predictions": "stats/exp6_predictions.csv",
               "exp2_across_the_sweep": "stats/exp6_exp2.csv", "live_agreement": [x["agree"] for x in live]}
record = st.pivot_record(cfg, table, info, p.configfile, min(starts) if starts else None, exploratory)
write_json(out.milestones, st.json_safe([record]))
criteria = {k.removeprefix("exp6."): {"estimate": v["estimate"], "threshold": v["threshold"], "passed": v["passed"]}
            for k, v in record["inputs"].items() if isinstance(v, dict)}
results = {"criteria": criteria, "criterion": info, "outcome": record["outcome"], "seed_noise": noise, "live": live,
           "policies": policies.to_dict("records"), "predictions": preds.to_dict("records"),
           "exp2_across_the_sweep": exp2.to_dict("records")}
log_cfg = {"study": p.study, "configurations": len(curves), "steps": next(iter(curves.values())).total,
           "hpo": p.hpo}
write_log(6, int(p.hpo["seed"]), log_cfg, st.json_safe(results), out.log)
