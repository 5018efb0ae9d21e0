#!/bin/sh
# bench/speed.sh — the simulator's speed targets in one table: Azure replay, bench-100k, the fleet at 96/1,000/10,000 GPUs, Mooncake at 16-token blocks.
# usage: bench/speed.sh SRCDIR BUILDDIR [--quick] [--no-valgrind] [--no-10k] [--runs N]
#   --quick        no 10,000-GPU row and no valgrind (minutes instead of the better part of an hour)
#   --no-valgrind  skip the instructions-per-request column (callgrind's total Ir / requests)
#   --no-10k       skip the 10,000-GPU fleet (the longest row)
#   --runs N       wall time of the short rows is the minimum of N runs (default 3); fleet rows run once
# Wall times are the simulation loop's (the `simulator:` line) for requests per wall-second and the
# growth exponent, and the whole process's (/usr/bin/time) for the fleet's and Mooncake's limits;
# CPU time (user + system) is shown beside them, being less at the mercy of a shared machine's load.
set -eu
case "${1:-}" in -h|--help) sed -n '2,10p' "$0"; exit 0 ;; esac
src=${1:-.}
build=${2:-.}
shift 2 2>/dev/null || shift $#
valgrind=1
big=1
runs=3
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) valgrind=0; big=0 ;;
    --no-valgrind) valgrind=0 ;;
    --no-10k) big=0 ;;
    --runs) runs=${2:?--runs needs a number}; shift ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "speed.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
kvtier="$build/sim/kvtier"
[ -x "$kvtier" ] || { echo "speed.sh: no $kvtier (build first)" >&2; exit 2; }
command -v valgrind >/dev/null 2>&1 || valgrind=0
timer=/usr/bin/time
[ -x "$timer" ] || timer=
tmp=$(mktemp -d "${TMPDIR:-/tmp}/kvtier-speed.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
rows="$tmp/rows"
: > "$rows"

# One run of kvtier ARGS...: prints "requests sim_wall_s process_wall_s peak_KiB cpu_s" (- where unknown).
run_once() {
  if [ -n "$timer" ]; then
    KVTIER_DATA="$src" "$timer" -f "timed %e %M %U %S" "$kvtier" run "$@" --no-db > "$tmp/out" 2>&1
  else
    KVTIER_DATA="$src" "$kvtier" run "$@" --no-db > "$tmp/out" 2>&1
  fi
  sed 's/,//g' "$tmp/out" | awk '
    /^requests:/ { req = $2 + $4 + $6 }
    /^simulator:/ { wall = $5 }
    /^timed / { proc = $2; peak = $3; cpu = $4 + $5 }
    END { printf "%s %s %s %s %s\n", req, wall, proc == "" ? "-" : proc, peak == "" ? "-" : peak, proc == "" ? "-" : cpu }'
}

# The minimum of n runs of each time (and the largest peak).
run_min() {
  n=$1
  shift
  i=0
  : > "$tmp/runs"
  while [ $i -lt "$n" ]; do
    run_once "$@" >> "$tmp/runs"
    i=$((i + 1))
  done
  awk 'NR == 1 { r = $1; w = $2; p = $3; m = $4; c = $5; next }
       { if ($2 < w) w = $2; if ($3 != "-" && $3 < p) p = $3; if ($4 != "-" && $4 > m) m = $4
         if ($5 != "-" && $5 < c) c = $5 }
       END { print r, w, p, m, c }' "$tmp/runs"
}

# Instructions per request under callgrind (- without valgrind).
ir_per_request() {
  if [ "$valgrind" -eq 0 ]; then
    echo -
    return
  fi
  KVTIER_DATA="$src" valgrind --tool=callgrind --callgrind-out-file="$tmp/cg" "$kvtier" run "$@" --no-db \
    > "$tmp/cgout" 2>&1
  req=$(sed 's/,//g' "$tmp/cgout" | awk '/^requests:/ { print $2 + $4 + $6 }')
  awk -v req="$req" '/^totals:/ { printf "%.0f\n", $2 / req }' "$tmp/cg"
}

# row NAME "requests sim_wall_s process_wall_s peak_KiB cpu_s" IR_PER_REQUEST: one line of the table.
row() {
  echo "$1|$2|$3" >> "$rows"
}

echo "kvtier speed targets: $kvtier, --no-db, one process at a time (short rows: the minimum of $runs runs)"

m=$(run_min "$runs" "$src/scenarios/azure.yaml")
row azure "$m" "$(ir_per_request "$src/scenarios/azure.yaml")"
m=$(run_min "$runs" "$src/scenarios/bench-100k.yaml")
row bench-100k "$m" -
sizes="96 1000"
[ "$big" -eq 1 ] && sizes="$sizes 10000"
# bench/fleet.sh scales replicas, sessions and rate together; its lines give the figures.
sh "$src/bench/fleet.sh" "$src" "$build" $sizes | sed 's/,//g' |
  sed -n 's/^ *\([0-9]*\) GPUs.*: \([0-9]*\) requests \([0-9.]*\) s wall (\([0-9.]*\) s whole process \([0-9.]*\) s CPU) \([0-9]*\) MiB peak.*/\1 \2 \3 \4 \6 \5/p' |
  while read -r gpus req wall proc mib cpu; do
    row "fleet-$gpus" "$req $wall $proc $((mib * 1024)) $cpu" -
  done
m=$(run_min "$runs" "$src/scenarios/mooncake.yaml" --set kv.block_tokens=16)
row mooncake-16 "$m" -

# The table: each row against the issue's target. GB and MB are decimal (10^9, 10^6 bytes).
awk -F'|' '
  function rps(r, w) { return w > 0 ? r / w : 0 }
  function verdict(ok) { return ok ? "met" : "missed" }
  BEGIN {
    printf "%-12s %10s %9s %9s %9s %9s %11s %9s  %-40s %s\n", "row", "requests", "sim s", "proc s", "cpu s",
           "peak MB", "req/wall-s", "Ir/req", "target", "result"
  }
  {
    split($2, m, " ")
    name = $1; req = m[1]; wall = m[2]; proc = m[3]; kib = m[4]; cpu = m[5]; ir = $3
    mb = kib == "-" ? "-" : sprintf("%.0f", kib * 1024 / 1e6)
    r = rps(req, wall)
    if (name == "azure") {
      target = ">= 300000 req/s or <= 20000 Ir/req"
      ok = r >= 300000 || (ir != "-" && ir <= 20000)
    } else if (name == "bench-100k") {
      target = ">= 400000 req/s"
      ok = r >= 400000
    } else if (name ~ /^fleet-/) {
      gpus = substr(name, 7) + 0
      if (nf > 0) {
        b = log(wall / fw[nf]) / log(req / fr[nf])
        growth[nf] = sprintf("fleet growth %d -> %d GPUs: wall ~ requests^%.3f%s", fg[nf], gpus, b,
                             cpu == "-" ? "" : sprintf(" (CPU ^%.3f)", log(cpu / fc[nf]) / log(req / fr[nf])))
        gok[nf] = b <= 1.02
      }
      nf++; fg[nf] = gpus; fw[nf] = wall; fr[nf] = req; fc[nf] = cpu
      if (gpus == 10000) {
        target = "< 30 s and < 1.5 GB (whole process)"
        ok = proc != "-" && proc < 30 && kib != "-" && kib * 1024 < 1.5e9
      } else {
        target = "(growth exponent below)"
        ok = -1
      }
    } else if (name == "mooncake-16") {
      target = "< 1.5 s and < 150 MB (whole process)"
      ok = proc != "-" && proc < 1.5 && kib != "-" && kib * 1024 < 150e6
    }
    printf "%-12s %10d %9.3f %9s %9s %9s %11.0f %9s  %-40s %s\n", name, req, wall, proc, cpu, mb, r, ir, target,
           ok < 0 ? "-" : verdict(ok)
  }
  END {
    for (k = 1; k < nf; k++)
      printf "%-89s  %-40s %s\n", growth[k], "exponent <= 1.02", verdict(gok[k])
    if (nf > 2) {
      b = log(fw[nf] / fw[1]) / log(fr[nf] / fr[1])
      c = fc[1] == "-" ? "" : sprintf(" (CPU ^%.3f)", log(fc[nf] / fc[1]) / log(fr[nf] / fr[1]))
      printf "%-89s  %-40s %s\n", sprintf("fleet growth %d -> %d GPUs: wall ~ requests^%.3f%s", fg[1], fg[nf], b, c),
             "exponent <= 1.02", verdict(b <= 1.02)
    }
  }' "$rows"
