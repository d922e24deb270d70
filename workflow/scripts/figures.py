"""Snakemake entry: every figure whose inputs exist (written atomically as one folder)."""

import json

from predictive_training.cli import setup_logging
from predictive_training.config import roles
from predictive_training.io import atomic_dir
from predictive_training.report.figures import make_all

setup_logging(snakemake.log[0])
cfg = snakemake.params.cfg
results = f"results/{cfg['study']}"
with atomic_dir(snakemake.output.figures) as tmp:
    figs = make_all(results, list(cfg["arms"]), cfg["seeds"], tmp, hybrid_horizon=cfg["hybrid"]["horizon"],
                    roles=roles(cfg))
    index = [{"file": p.name, "caption": c, "section": s} for p, c, s in figs]
    (tmp / "index.json").write_text(json.dumps(index, indent=2))
