#!/bin/sh
# bench/fleet.sh — fleet scale: scenarios/fleet-10k.yaml at 100, 1,000 and 10,000 GPUs (replicas,
# sessions and arrival rate scaled together), one run each: wall time, CPU time, peak memory, requests per wall-second.
# usage: bench/fleet.sh SRCDIR BUILDDIR [GPUS...]   (default GPUS: 96 1000 10000)
set -eu
src=${1:-.}
build=${2:-.}
shift 2 2>/dev/null || shift $#
kvtier="$build/sim/kvtier"
scenario="$src/scenarios/fleet-10k.yaml"
[ $# -gt 0 ] || set -- 96 1000 10000
echo "fleet scale: $scenario, --no-db, one core"
for gpus in "$@"; do
  reps=$((gpus / 8))
  # 10,000 GPUs = 1,250 replicas serve 500,000 sessions at 138.9/s; scale both with the replicas.
  sessions=$((reps * 400))
  rate=$(awk -v r="$reps" 'BEGIN { printf "%.4f", 138.9 * r / 1250 }')
  out=$(KVTIER_DATA="$src" /usr/bin/time -f "peak %M KiB %e s %U %S" "$kvtier" run "$scenario" --no-db \
        --set replicas.count=$reps --set workload.sessions=$sessions --set "workload.arrival.rate=$rate/s" 2>&1)
  echo "$out" | awk -v g=$((reps * 8)) -v r=$reps '
    /^requests:/ { req = $2 }
    /^simulator:/ { wall = $5; rps = $8 }
    /^peak/ { mib = $2 / 1024; proc = $4; cpu = $6 + $7 }
    END { printf "  %6d GPUs (%4d replicas): %s requests, %s s wall (%s s whole process, %.2f s CPU), %.0f MiB peak, %s simulated requests per wall-second\n",
                 g, r, req, wall, proc, cpu, mib, rps }'
done
