#!/usr/bin/env bash
# Create .venv (if needed) and install the pinned requirements, this package (editable) and the worked
# example of an outside predictor (examples/halfmean_predictor, an installed package of its own: the
# smoke study runs it; docs/predictors.md).
# Idempotent: a second run only checks that everything is installed.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.installed-$(sha256sum requirements.txt pyproject.toml examples/halfmean_predictor/pyproject.toml \
  examples/halfmean_predictor/halfmean_predictor.py | sha256sum | cut -c1-16)
if [ ! -f "$stamp" ]; then
  .venv/bin/pip install --quiet --disable-pip-version-check -r requirements.txt
  .venv/bin/pip install --quiet --disable-pip-version-check --no-deps -e .
  # a copy (not editable), as an outside author's package is installed; its build scratch is removed
  .venv/bin/pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation examples/halfmean_predictor
  rm -rf examples/halfmean_predictor/build examples/halfmean_predictor/*.egg-info
  rm -f .venv/.installed-* && touch "$stamp"
fi
