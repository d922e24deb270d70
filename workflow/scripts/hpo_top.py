"""Snakemake entry: the sweep's best configurations (by final validation loss), to run at the second seed."""

import json
import math
from pathlib import Path

from predictive_training.cli import setup_logging
from predictive_training.io import write_json

setup_logging(snakemake.log[0])
finals = {}
for point, run in zip(snakemake.params.points, snakemake.input.runs):
    v = json.loads((Path(run) / "summary.json").read_text())["final_val_loss"]
    finals[point] = v if v is not None and math.isfinite(v) else math.inf
top = sorted(finals, key=lambda p: (finals[p], p))[: int(snakemake.params.top)]
write_json(snakemake.output[0], {"top": top, "finals": {p: finals[p] for p in top}})
