#!/usr/bin/env bash
# Benchmarks: figures as ratios to a ceiling measured in the same run.
# They print and never fail on timing.
set -euo pipefail
cd "$(dirname "$0")/.."
exec perl -I t/lib bench/run.pl "$@"
