#!/usr/bin/env bash
# Snakemake runs this inside the new conda environment, from the workflow's working directory
# (the repository root): install the study's own package, editable, without touching the pins.
set -euo pipefail
python -m pip install --quiet --no-deps -e .
# the worked example of an outside predictor (docs/predictors.md; the smoke study runs it), as its own
# package: outside predictors are installed into the same environment as the study
python -m pip install --quiet --no-deps --no-build-isolation examples/halfmean_predictor
