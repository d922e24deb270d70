#!/usr/bin/env bash
# Install everything the tests need, then run them: bash tests/run.sh [pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."
# System tools used by the report tests (headless Chromium, pdftotext); installed when we can.
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v pdftotext >/dev/null 2>&1 || need+=(poppler-utils)
if [ ${#need[@]} -gt 0 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null) \
    || echo "warning: could not install ${need[*]}; the tests that need them will be skipped" >&2
fi
bash scripts/setup.sh
# every core (pytest-xdist; PT_TEST_WORKERS=0 for one process), idle workers steal queued tests
exec .venv/bin/python -m pytest -n "${PT_TEST_WORKERS:-auto}" --dist worksteal "$@"
