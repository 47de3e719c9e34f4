#!/usr/bin/env bash
# Benchmarks: figures as ratios to a ceiling measured in the same run.
# They print and never fail on timing.
#   bench/run.pl    ceilings, reads, P1 (hot worklist), P3, P2 (writes)
#   bench/scale.pl  P5: 1,000,000 cases (about 2 more minutes); skipped
#                   with BENCH_SCALE=0
#   bench/sync.pl   P4: the relay county -> city -> province and its lag
#                   (about a minute); skipped with BENCH_SYNC=0
#   bench/soak.pl   P6: not run here (ten minutes): perl -I t/lib
#                   bench/soak.pl
# BENCH_SECONDS (5) is the length of each wrk and pgbench run.
set -euo pipefail
cd "$(dirname "$0")/.."
perl -I t/lib bench/run.pl "$@"
if [ "${BENCH_SCALE:-1}" != 0 ]; then
    echo
    perl -I t/lib bench/scale.pl
fi
if [ "${BENCH_SYNC:-1}" != 0 ]; then
    echo
    perl -I t/lib bench/sync.pl
fi
