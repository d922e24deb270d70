#!/usr/bin/env bash
# Snakemake runs this inside the new conda environment, from the workflow's working directory
# (the repository root): install the study's own package, editable, without touching the pins.
set -euo pipefail
python -m pip install --quiet --no-deps -e .
