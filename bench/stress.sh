#!/bin/sh
# bench/stress.sh — runs tests/data/stress.yaml again and again with random policies and every
# invariant check after every event, until TOTAL requests have been simulated; any failed check stops it.
# usage: bench/stress.sh SRCDIR BUILDDIR [TOTAL_REQUESTS] [SEED] [SESSIONS_PER_RUN]
set -eu
src=${1:-.}
build=${2:-.}
total=${3:-1000000}
seed=${4:-1}
sessions=${5:-2500}
kvtier="$build/sim/kvtier"
scenario="$src/tests/data/stress.yaml"
out=$(mktemp)
trap 'rm -f "$out"' EXIT

# One random choice per policy, from a generator seeded by (seed, run).
policies() {
  awk -v s="$1" 'function pick(n) { return int(rand() * n) + 1 }
  function one(list,   a, n) { n = split(list, a, " "); return a[pick(n)] }
  BEGIN {
    srand(s)
    router = one("round_robin least_loaded least_kv cache_aware session_sticky")
    printf "replicas.router=%s\n", router
    printf "replicas.prefill_replicas=%s\n", one("0 0 1")
    if (router == "session_sticky") printf "replicas.shed_imbalance=%s\n", one("0 0.5 2")
    printf "kv.block_tokens=%s\n", one("16 32 64")
    printf "kv.dtype=%s\n", one("bf16 fp8")
    printf "kv.prefix_caching=%s\n", one("true true false")
    printf "kv.eviction=%s\n", one("lru heat")
    if (pick(4) == 1) printf "kv.retention={window: 256, keep: 0.3, rest: %s}\n", one("drop offload")
    chunked = one("true true false")
    printf "scheduler.chunked_prefill=%s\n", chunked
    # Without chunking a vLLM-style budget must hold the model context (README, Admission policies).
    if (chunked == "false") printf "scheduler.token_budget=131072\n"
    printf "scheduler.max_multi_step=%s\n", one("1 8 64")
    printf "kv_policy.offload=%s\n", one("drop write_back write_through")
    printf "kv_policy.fetch=%s\n", one("demand layerwise prefetch predicted")
    printf "kv_policy.decide=%s\n", one("compare fetch recompute")
    printf "kv_policy.io=%s\n", one("async sync")
    printf "kv_policy.hbm_cache=%s\n", one("true false")
    printf "kv_policy.tiers_used=%s\n", one("0 1 2")
    if (pick(4) == 1) printf "faults=[{at: %ds, replica: 2}]\n", pick(120)
  }'
}

done_requests=0
run=0
start=$(date +%s)
echo "stress: $scenario, $sessions sessions a run, random policies (seed $seed), --check, until $total requests"
while [ "$done_requests" -lt "$total" ]; do
  run=$((run + 1))
  set --
  for p in $(policies "$((seed * 100003 + run))" | tr ' ' '#'); do
    set -- "$@" --set "$(echo "$p" | tr '#' ' ')"
  done
  if ! KVTIER_DATA="$src" "$kvtier" run "$scenario" --no-db --check --json --set "seed=$run" \
       --set "workload.sessions=$sessions" "$@" > "$out" 2>&1; then
    echo "stress: run $run FAILED with: $*" >&2
    cat "$out" >&2
    exit 1
  fi
  n=$(sed -n 's/^ *"requests": *\([0-9]*\).*/\1/p' "$out" | head -1)
  done_requests=$((done_requests + n))
  echo "  run $run: $n requests ($done_requests in all, $(( $(date +%s) - start )) s): $*" | sed 's/--set //g'
done
echo "stress: $done_requests requests in $run runs with every check on, $(( $(date +%s) - start )) s wall"
