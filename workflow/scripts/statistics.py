"""Snakemake entry: tests table over seeds and the Go/No-Go decisions."""

import pandas as pd

from predictive_training.cli import setup_logging
from predictive_training.io import atomic_write_text, write_json
from predictive_training.stats.milestones import merge_tests, read_records, with_study_records
from predictive_training.stats.rows import build, cooldown_frontier, frontier

setup_logging(snakemake.log[0])
table, decisions = build(snakemake.params.cfg, snakemake.input.logs)
# the study's own experiments (Exp 6): their records beside the plan's, their rows appended
decisions = with_study_records(decisions, read_records(snakemake.input.study))
table = merge_tests(table, [pd.read_csv(p) for p in snakemake.input.study_tests])
atomic_write_text(snakemake.output.frontier, frontier(snakemake.params.cfg, snakemake.input.logs, table).to_csv(index=False))
if "frontier_cooldown" in snakemake.output.keys():  # a study with a second (cooldown) frontier
    atomic_write_text(snakemake.output.frontier_cooldown,
                      cooldown_frontier(snakemake.params.cfg, snakemake.input.logs).to_csv(index=False))
if "mitigation" in snakemake.params.keys():  # a mitigation's declared rule: its record (stats/mitigation.py)
    from pathlib import Path

    from predictive_training.stats.mitigation import mitigation_record

    first_run = (Path(snakemake.input.data) / "meta.json").stat().st_mtime
    cfg = {**snakemake.params.cfg, "mitigation": snakemake.params.mitigation}
    record = mitigation_record(cfg, stats_dir=Path(snakemake.output.frontier).parent, tests=table,
                               log_paths=list(snakemake.input.logs), config_file=snakemake.params.configfile,
                               first_run=first_run)
    decisions = with_study_records(decisions, [record])
atomic_write_text(snakemake.output.tests, table.to_csv(index=False))
write_json(snakemake.output.decisions, decisions)
