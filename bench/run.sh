#!/bin/sh
# bench/run.sh — simulator speed: the 100,000-request one-replica scenario, best and median of 5 runs.
# usage: bench/run.sh SRCDIR BUILDDIR
set -eu
src=${1:-.}
build=${2:-.}
kvtier="$build/sim/kvtier"
scenario="$src/scenarios/bench-100k.yaml"
echo "simulator speed: $scenario (100,000 requests, 1 replica), --no-db, 5 runs"
i=0
: > /tmp/kvtier-bench.$$
while [ $i -lt 5 ]; do
  KVTIER_DATA="$src" "$kvtier" run "$scenario" --no-db --json |
    sed -n 's/^ *"wall_s": *\([0-9.eE+-]*\).*/\1/p' >> /tmp/kvtier-bench.$$
  i=$((i + 1))
done
sort -g /tmp/kvtier-bench.$$ | awk '{ w[NR] = $1 } END {
  printf "  wall: best %.3f s, median %.3f s\n", w[1], w[3];
  printf "  simulated requests per wall-second: best %.0f, median %.0f\n", 100000 / w[1], 100000 / w[3] }'
rm -f /tmp/kvtier-bench.$$
if command -v /usr/bin/time >/dev/null 2>&1; then
  KVTIER_DATA="$src" /usr/bin/time -f "  peak memory: %M KiB" "$kvtier" run "$scenario" --no-db > /dev/null
fi
