#!/usr/bin/env bash
# On a machine with a GPU, in one line: tokens/s and MFU of the paper model (benchmarks/throughput.py)
# and `plan` for config/paper.yaml and config/paper_500m.yaml (unit costs, memory, disk, GPU hours,
# SLURM resources), measured on that GPU. Outputs (text and JSON) go to OUT_DIR.
#
#   bash benchmarks/gpu_plan.sh [OUT_DIR]          (default results/gpu_plan; PYTHON=... to choose Python)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-results/gpu_plan}
py=${PYTHON:-.venv/bin/python}
mkdir -p "$out"
"$py" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'no CUDA device: run this on a GPU machine')"
"$py" benchmarks/throughput.py --skip-cpu --json "$out/throughput.json" | tee "$out/throughput.txt"
for c in paper paper_500m; do
  "$py" -m predictive_training plan --configfile "config/$c.yaml" --json "$out/plan_$c.json" | tee "$out/plan_$c.txt"
done
