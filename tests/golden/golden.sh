#!/bin/bash
# golden.sh — golden-output regression check: reruns a fixed list of kvtier commands and compares their normalized output with tests/golden/expected/ (--record writes it).
#
# usage: tests/golden/golden.sh [--record] [BUILDDIR [CASE-GLOB...]]
#   BUILDDIR   the build tree holding sim/kvtier (default: the repo root)
#   CASE-GLOB  run only the cases whose name matches one of these shell patterns (e.g. 'sweep-*')
#   --record   write tests/golden/expected/NAME.out instead of comparing (with no CASE-GLOB the
#              folder is emptied first, so cases that were removed leave no file behind)
# Runs from the repo root, so scenario, model and data paths are relative as in README.md; the
# scenario, model, profile and data files are this checkout's. Each case's stdout and stderr
# (normalized: see norm below) and exit status go to OUT/NAME.out; compare mode prints
# `same NAME` or `DIFFERENT NAME` with the start of the diff, then `golden: N same, N different`,
# and exits 1 if any differ (2 on usage errors). Needs bash, sed, awk, diff, python3 (with its
# sqlite3 module, for tests/golden/dbdump.py); nothing else (no jq, no sqlite3 CLI).
# Set GOLDEN_TIMES=1 to print each case's wall time in compare mode too.
set -u

record=0
if [ "${1:-}" = "--record" ]; then record=1; shift; fi
case "${1:-}" in -h|--help) sed -n '2,15p' "$0"; exit 0 ;; -*) echo "golden.sh: unknown option $1" >&2; exit 2 ;; esac

here=$(cd "$(dirname "$0")" && pwd -P)
ROOT=$(cd "$here/../.." && pwd -P)
BUILD=${1:-$ROOT}
BUILD=$(cd "$BUILD" 2>/dev/null && pwd -P) || { echo "golden.sh: no such directory: ${1:-$ROOT}" >&2; exit 2; }
KVTIER=$BUILD/sim/kvtier
[ $# -gt 0 ] && shift
[ -x "$KVTIER" ] || { echo "golden.sh: $KVTIER is not built" >&2; exit 2; }
command -v python3 >/dev/null || { echo "golden.sh: needs python3" >&2; exit 2; }
python3 -c 'import sqlite3' 2>/dev/null || { echo "golden.sh: needs python3's sqlite3 module" >&2; exit 2; }
patterns=("$@")

EXPECTED=$here/expected
WORK=$(mktemp -d "${TMPDIR:-/tmp}/golden.XXXXXX") || exit 2
trap 'rm -rf "$WORK"' EXIT
if [ $record = 1 ]; then
    OUT=$EXPECTED
    [ ${#patterns[@]} -eq 0 ] && rm -f "$EXPECTED"/*.out
    mkdir -p "$OUT"
else
    OUT=$WORK/out
    mkdir -p "$OUT"
fi

cd "$ROOT" || exit 2
# Nothing from the caller's environment may steer the program: names resolve next to the
# scenario and in ./models, ./hwprofiles (README "Model cards and hardware profiles").
unset KVTIER_DATA KVTIER_DEBUG KVTIER_GNUPLOT
export LC_ALL=C TZ=UTC

# ---------- helpers the cases use ----------
kvtier() { "$KVTIER" "$@"; }
# dbdump DB [OPTIONS]: every table's rows (tests/golden/dbdump.py drops only wall-clock columns)
dbdump() { python3 "$here/dbdump.py" "$@"; }
# x CMD...: run a step of a compound case and print its exit status on stdout
x() { "$@"; echo "[exit $?]"; }

sed_escape() { printf '%s' "$1" | sed -e 's/[][\.*^$|/]/\\&/g'; }
# What depends on the machine or the clock, never on the simulation: the run's wall time (JSON
# "wall_s"; the text summary's "simulator:" line keeps its event count), and scratch paths.
norm() {
    sed -E -e 's/("wall_s": *)-?[0-9][0-9.eE+-]*/\1"<wall>"/g' \
           -e 's/^(simulator: [0-9,]+ events) in .*/\1 in <wall>/' \
           -e "s/$(sed_escape "$KVTIER")/kvtier/g" \
           -e "s/$(sed_escape "$WORK")/<WORK>/g" \
           -e "s/$(sed_escape "$ROOT")/<ROOT>/g"
}

now() { date +%s.%N; }
nsame=0 ndiff=0 ncases=0
t_all=$(now)

# c NAME 'COMMAND': one case. COMMAND is eval'd from the repo root in a subshell, with $W a fresh
# scratch directory of its own (databases, pools).
c() {
    local name=$1 cmd=$2 p hit t0 t1 rc
    if [ ${#patterns[@]} -gt 0 ]; then
        hit=0
        for p in "${patterns[@]}"; do
            # shellcheck disable=SC2254
            case $name in $p) hit=1 ;; esac
        done
        [ $hit = 1 ] || return 0
    fi
    ncases=$((ncases + 1))
    W=$WORK/case/$name
    mkdir -p "$W"
    t0=$(now)
    ( cd "$ROOT" && eval "$cmd" ) > "$W/.stdout" 2> "$W/.stderr" < /dev/null
    rc=$?
    t1=$(now)
    {
        printf '$ %s\n' "$cmd"
        norm < "$W/.stdout"
        echo "--- stderr"
        norm < "$W/.stderr"
        echo "--- exit $rc"
    } > "$OUT/$name.out"
    rm -rf "$W"
    secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
    if [ $record = 1 ]; then
        echo "recorded $name (exit $rc, $secs s)"
    elif [ -f "$EXPECTED/$name.out" ] && cmp -s "$EXPECTED/$name.out" "$OUT/$name.out"; then
        nsame=$((nsame + 1))
        if [ "${GOLDEN_TIMES:-0}" = 1 ]; then echo "same $name ($secs s)"; else echo "same $name"; fi
    else
        ndiff=$((ndiff + 1))
        echo "DIFFERENT $name"
        if [ -f "$EXPECTED/$name.out" ]; then
            diff -u "$EXPECTED/$name.out" "$OUT/$name.out" | sed -n '3,22s/^/    /p'
        else
            echo "    (no expected file $EXPECTED/$name.out: record it with --record)"
        fi
    fi
}
# rj NAME 'ARGS': kvtier run ARGS --json --no-db
rj() { c "$1" "kvtier run $2 --json --no-db"; }

# ---------- every scenario as written, JSON summary ----------
rj run-azure                       'scenarios/azure.yaml'
rj run-bench-100k                  'scenarios/bench-100k.yaml'
rj run-disaggregated               'scenarios/disaggregated.yaml'
# fleet-10k as written (1,250 replicas, 2 M requests) takes about 2 minutes and 2 GiB: shrunk to
# 96 GPUs as bench/fleet.sh does (12 replicas, 4,800 sessions, rate × 12/1250).
rj run-fleet-10k-96gpus            'scenarios/fleet-10k.yaml --set replicas.count=12 --set workload.sessions=4800 --set workload.arrival.rate=1.3334/s'
rj run-fleet-cost-savings-replica  'scenarios/fleet-cost-savings-replica.yaml'
# a plan file, not a scenario: kvtier run refuses it (exit 2); kvtier plan runs it below.
rj run-fleet-cost-savings          'scenarios/fleet-cost-savings.yaml'
rj run-kv-precision                'scenarios/kv-precision.yaml'
rj run-llama4-scout-10m            'scenarios/llama4-scout-10m.yaml'
rj run-llama4-scout-10m-nvl72      'scenarios/llama4-scout-10m-nvl72.yaml'
rj run-mooncake                    'scenarios/mooncake.yaml'
rj run-multiturn-tiers             'scenarios/multiturn-tiers.yaml'
rj run-node-failure                'scenarios/node-failure.yaml'
rj run-paged-attention-over-rdma   'scenarios/paged-attention-over-rdma.yaml'
rj run-quickstart                  'scenarios/quickstart.yaml'
rj run-sparse-1m                   'scenarios/sparse-1m.yaml'
rj run-semantic-cache              'scenarios/semantic-cache.yaml'
# a plan file, not a scenario: kvtier run refuses it (exit 2).
rj run-semantic-cache-plan         'scenarios/semantic-cache-plan.yaml'
rj run-speculative                 'scenarios/speculative.yaml'

# ---------- the text summary, and --check (every invariant after every event) ----------
c text-quickstart          'kvtier run scenarios/quickstart.yaml --no-db'
c text-multiturn-tiers     'kvtier run scenarios/multiturn-tiers.yaml --no-db --set kv_policy.tiers_used=2'
c text-disaggregated       'kvtier run scenarios/disaggregated.yaml --no-db'
c text-llama4-scout-10m    'kvtier run scenarios/llama4-scout-10m.yaml --no-db'
c text-node-failure-short  'kvtier run scenarios/node-failure.yaml --no-db --set workload.sessions=300 --set "faults=[{at: 2min, node: 1}]"'
c text-mooncake-3000       'kvtier run scenarios/mooncake.yaml --no-db --set workload.trace.limit=3000'
# every request rejected: the summary and the JSON say why
c run-all-rejected         'x kvtier run scenarios/quickstart.yaml --no-db --set kv.hbm_fraction=0.3 --set workload.first_input_tokens=100000 --set workload.sessions=5; x kvtier run scenarios/quickstart.yaml --no-db --json --set workload.first_input_tokens=140000 --set workload.sessions=3'
c check-quickstart         'kvtier run scenarios/quickstart.yaml --no-db --json --check'
c check-multiturn-tiers    'kvtier run scenarios/multiturn-tiers.yaml --no-db --json --check --set workload.sessions=60'
c check-fleet-faults       'kvtier run scenarios/quickstart.yaml --no-db --json --check --set replicas.count=4 --set replicas.prefill_replicas=2 --set "faults=[{at: 60s, replica: 2}]"'
c text-sparse-1m           'kvtier run scenarios/sparse-1m.yaml --no-db'
c check-sparse-1m          'kvtier run scenarios/sparse-1m.yaml --no-db --json --check'

# ---------- KV tiers below HBM (multiturn-tiers.yaml) ----------
M=scenarios/multiturn-tiers.yaml
for n in 0 1 2 3; do rj set-tiers-used-$n "$M --set kv_policy.tiers_used=$n"; done
for f in demand layerwise prefetch predicted; do
    rj set-fetch-$f "$M --set kv_policy.tiers_used=2 --set kv_policy.fetch=$f --set kv_policy.prefetch_lead=30s"
done
rj set-eviction-lru          "$M --set kv_policy.tiers_used=1 --set kv.eviction=lru"
rj set-eviction-heat         "$M --set kv_policy.tiers_used=1 --set kv.eviction=heat"
rj set-retention-drop        "$M --set kv_policy.tiers_used=0 --set kv.retention.window=1024 --set kv.retention.keep=0.25"
rj set-retention-offload     "$M --set kv_policy.tiers_used=1 --set kv.retention.window=1024 --set kv.retention.keep=0.25 --set kv.retention.rest=offload"
rj set-offload-write-through "$M --set kv_policy.tiers_used=2 --set kv_policy.offload=write_through"
rj set-offload-drop          "$M --set kv_policy.tiers_used=2 --set kv_policy.offload=drop"
rj set-decide-fetch-io-sync  "$M --set kv_policy.tiers_used=2 --set kv_policy.decide=fetch --set kv_policy.io=sync"
rj set-decide-recompute      "$M --set kv_policy.tiers_used=2 --set kv_policy.decide=recompute"
rj set-hbm-cache-off         "$M --set kv_policy.tiers_used=1 --set kv_policy.hbm_cache=false"
rj set-prefix-caching-off    "$M --set kv_policy.tiers_used=0 --set kv.prefix_caching=false"
rj set-tiers-int4            "$M --set kv.dtype=int4"
# tier precision, compression, a CXL tier over chip-to-chip, two tiers behind one shared switch
rj set-tiers-mixed "$M --set \"tiers=[{name: dram, kind: dram, capacity: 96GiB, read: 100GB/s, write: 100GB/s, latency: 1us, dtype: int2, quant_group: 64}, {name: cxl, kind: cxl, capacity: 256GiB, read: 60GB/s, write: 60GB/s, latency: 2us, gpu_link: c2c, via: [sw0]}, {name: nvme, kind: nvme, capacity: 3.84TB, drives: 2, read: 14GB/s, write: 7GB/s, iops: 2500000, latency: 80us, dtype: fp8, compression: 1.5, via: [sw0]}]\" --set \"links.shared=[{name: sw0, bandwidth: 64GB/s}]\" --set links.c2c=450GB/s"

# ---------- recompute or fetch over RDMA (README table) ----------
P=scenarios/paged-attention-over-rdma.yaml
for d in recompute fetch; do for k in bf16 fp8; do for io in async sync; do
    rj rdma-$d-$k-$io "$P --set kv_policy.decide=$d --set kv.dtype=$k --set kv_policy.io=$io"
done; done; done
rj rdma-in-storage-attention "$P --set kv_policy.in_storage_attention=true"

# ---------- sparse attention by page selection (README table) ----------
S=scenarios/sparse-1m.yaml
rj set-sparse-recall-0.99    "$S --set sparse_attention.recall=0.99"
rj set-sparse-prefetch-off   "$S --set sparse_attention.prefetch=off"
rj set-sparse-full-dram      "$S --set sparse_attention.budget_tokens=1M --set sparse_attention.metadata=none --set sparse_attention.hbm_tokens=0 --set sparse_attention.recall=1"
rj set-sparse-full-hbm       "$S --set sparse_attention.budget_tokens=1M --set sparse_attention.metadata=none --set 'sparse_attention.kv_tier=\"\"'"
rj set-sparse-hbm            "$S --set 'sparse_attention.kv_tier=\"\"'"
rj set-sparse-nvme           "$S --set \"tiers=[{name: nvme, kind: nvme, capacity: 7.68TB, drives: 4, read: 14GB/s, write: 7GB/s, iops: 2500000, latency: 80us, queue_depth: 128}]\" --set sparse_attention.kv_tier=nvme"
rj set-sparse-multiturn      "scenarios/multiturn-tiers.yaml --set kv_policy.tiers_used=1 --set sparse_attention.budget_tokens=1024 --set sparse_attention.kv_tier=dram --set sparse_attention.recall=0.9 --set workload.sessions=60"
# ---------- speculative decoding (speculative.yaml: README table; quickstart with a head) ----------
S=scenarios/speculative.yaml
c text-speculative        'kvtier run scenarios/speculative.yaml --no-db'
for b in 1 64; do for a in 0.6 0.8; do
    rj spec-batch$b-alpha$a "$S --set workload.sessions=$b --set scheduler.max_running=$b --set speculative.acceptance.rate=$a"
done; done
rj spec-off-batch64       "$S --set workload.sessions=64 --set scheduler.max_running=64 --set speculative.method=off"
rj set-spec-eagle         "$S --set \"speculative={method: eagle, k: 3, head_layers: 1, acceptance: {rate: 0.7}}\""
rj set-spec-ngram         "$S --set \"speculative={method: ngram, k: 5, acceptance: {rate: 0.5}}\""
rj set-spec-beta          "$S --set speculative.acceptance.rate=0.7 --set speculative.acceptance.concentration=10"
c spec-trace-acceptance   'kvtier run scenarios/speculative.yaml --no-db --set "workload={kind: trace, trace: {format: kvtier, path: ../tests/data/traces/spec_acceptance.jsonl}}" --set speculative.acceptance.trace=true --set speculative.acceptance.rate=1'
c check-spec-quickstart   'kvtier run scenarios/quickstart.yaml --no-db --json --check --set "speculative={method: eagle, k: 3, head_layers: 1, acceptance: {rate: 0.7, concentration: 10}}"'
c check-spec-fleet-faults 'kvtier run scenarios/quickstart.yaml --no-db --json --check --set replicas.count=4 --set replicas.prefill_replicas=2 --set "faults=[{at: 60s, replica: 2}]" --set "speculative={method: ngram, k: 5, acceptance: {rate: 0.5}}"'
c bad-spec 'x kvtier run scenarios/speculative.yaml --no-db --set speculative.method=medusa; x kvtier run scenarios/speculative.yaml --no-db --set speculative.draft_model=qwen3-8b; x kvtier run scenarios/speculative.yaml --no-db --set speculative.head_layers=1; x kvtier run scenarios/speculative.yaml --no-db --set speculative.acceptance.rate=1.2'
c db-run-speculative      'x kvtier run scenarios/speculative.yaml --db "$W/r.db"; dbdump "$W/r.db" --subst "$W=<W>"'

# ---------- KV precision, scheduler knobs (quickstart.yaml) ----------
Q=scenarios/quickstart.yaml
for d in fp8 int4 int2 int8 fp16 fp32; do rj set-dtype-$d "$Q --set kv.dtype=$d"; done
rj set-chunked-prefill-off   "$Q --set scheduler.chunked_prefill=false --set scheduler.token_budget=131072"
rj set-multi-step-1          "$Q --set scheduler.max_multi_step=1"
rj set-block-tokens-32       "$Q --set kv.block_tokens=32"
rj set-gamma-arrivals        "$Q --set workload.arrival.process=gamma --set workload.arrival.cv=3"

# ---------- fleets: routers, shedding, disaggregation, failures ----------
for r in round_robin least_loaded least_kv cache_aware session_sticky; do
    rj set-router-$r "$Q --set replicas.count=3 --set replicas.router=$r"
done
rj set-router-cache-aware-imbalance2 "$Q --set replicas.count=3 --set replicas.router=cache_aware --set replicas.max_imbalance=2"
rj set-shed-imbalance        "$Q --set replicas.count=3 --set replicas.router=session_sticky --set replicas.shed_imbalance=0.5 --set workload.arrival.rate=6/s"
rj set-disaggregated-2p2d    "$Q --set replicas.count=4 --set replicas.prefill_replicas=2 --set replicas.router=least_loaded"
rj set-colocated             'scenarios/disaggregated.yaml --set replicas.prefill_replicas=0'
rj set-faults-replica        "$Q --set replicas.count=3 --set \"faults=[{at: 60s, replica: 1}]\""
rj set-faults-none           'scenarios/node-failure.yaml --set "faults=[]"'
rj set-faults-dram-only      'scenarios/node-failure.yaml --set kv_policy.tiers_used=1'
rj set-faults-two            'scenarios/node-failure.yaml --set workload.sessions=600 --set "faults=[{at: 90s, replica: 3}, {at: 5min, node: 2}]"'

# ---------- parallel layouts ----------
rj set-tp2                   "$Q --set replicas.gpus=2 --set replicas.tensor_parallel=2"
rj set-pp2                   "$Q --set replicas.gpus=2 --set replicas.pipeline_parallel=2"
rj set-cp2                   "$Q --set replicas.gpus=2 --set replicas.context_parallel=2"
rj set-tp2-pp2-cp2           "$Q --set replicas.gpus=8 --set replicas.tensor_parallel=2 --set replicas.pipeline_parallel=2 --set replicas.context_parallel=2"
# expert parallel needs an MoE card: DeepSeek-V3 (FP8 weights, 671B) fits 8 H200s or B200s; Scout 4 H100s
rj set-ep8-deepseek-v3-h200  "$Q --set model=deepseek-v3 --set hardware=h200-sxm --set replicas.gpus=8 --set replicas.tensor_parallel=8 --set replicas.expert_parallel=8"
rj set-ep1-deepseek-v3-h200  "$Q --set model=deepseek-v3 --set hardware=h200-sxm --set replicas.gpus=8 --set replicas.tensor_parallel=8 --set replicas.expert_parallel=1"
rj set-ep4-deepseek-v3-b200  "$Q --set model=deepseek-v3 --set hardware=b200 --set replicas.gpus=8 --set replicas.tensor_parallel=8 --set replicas.expert_parallel=4"
rj set-ep16-deepseek-v3-h100 "$Q --set model=deepseek-v3 --set hardware=h100-sxm --set replicas.gpus=16 --set replicas.tensor_parallel=16 --set replicas.expert_parallel=16"
rj set-ep4-llama-4-scout     "$Q --set model=llama-4-scout --set replicas.gpus=4 --set replicas.tensor_parallel=4 --set replicas.expert_parallel=4"

# ---------- Llama-4-Scout at 10M tokens (README table) ----------
L=scenarios/llama4-scout-10m.yaml
rj scout10m-h100-rejected    "$L --set hardware=h100-sxm"
rj scout10m-h100-cp2         "$L --set hardware=h100-sxm --set replicas.gpus=16 --set replicas.context_parallel=2"
rj scout10m-h100-pp2         "$L --set hardware=h100-sxm --set replicas.gpus=16 --set replicas.pipeline_parallel=2"
rj scout10m-b200             "$L --set hardware=b200"
rj scout10m-recompute        "$L --set kv_policy.decide=recompute"
rj scout10m-ep8              "$L --set replicas.expert_parallel=8"
rj scout10m-cxl              "$L --set 'tiers=[{name: cxl, kind: cxl, capacity: 2TB, read: 288GB/s, write: 288GB/s, latency: 1us}]'"
rj scout10m-b300             "$L --set hardware=b300"
rj scout10m-nvl72-cp9        'scenarios/llama4-scout-10m-nvl72.yaml --set replicas.gpus=72 --set replicas.context_parallel=9'
rj scout500k-gh200-c2c       "$L --set workload.first_input_tokens=500000 --set hardware=gh200 --set replicas.gpus=2 --set replicas.tensor_parallel=2 --set 'tiers=[{name: grace, kind: dram, gpu_link: c2c, capacity: 960GB, read: 1TB/s, write: 1TB/s, latency: 1us}]'"
rj kvprec-dequant            'scenarios/kv-precision.yaml --set kv.packed_attention=false'
rj kvprec-cla2               "scenarios/kv-precision.yaml --set 'kv.sharing={every: 2}'"
rj kvprec-bf16-yoco          "scenarios/kv-precision.yaml --set 'kv.precision=[]' --set 'kv.sharing={sources: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15]}'"
rj semcache-capacity         'scenarios/semantic-cache.yaml --set semantic_cache.capacity=2MB'
rj semcache-flat             "scenarios/semantic-cache.yaml --set semantic_cache.index.kind=flat --set 'semantic_cache.index.lookup=[{entries: 10000, latency: 1.5ms}, {entries: 1000000, latency: 154ms}]'"

# ---------- trace replay ----------
rj trace-mooncake-hbm-only   'scenarios/mooncake.yaml --set kv_policy.tiers_used=0'
rj trace-mooncake-cache-aware 'scenarios/mooncake.yaml --set workload.trace.limit=3000 --set replicas.router=cache_aware'
rj trace-mooncake-burst-64   'scenarios/mooncake.yaml --set workload.trace.limit=3000 --set workload.trace.release=burst --set kv.block_tokens=64'
rj trace-azure-window-rate2  'scenarios/azure.yaml --set workload.trace.rate_scale=2 --set workload.trace.start=5min --set workload.trace.duration=20min'
for f in vidur:vidur_small.csv kvtier:kvtier_small.jsonl mooncake:mooncake_small.jsonl azure:azure_small.csv; do
    rj trace-small-${f%%:*} "scenarios/azure.yaml --set workload.trace.format=${f%%:*} --set workload.trace.path=../tests/data/traces/${f#*:}"
done
rj trace-skip-bad            'tests/data/bad/bad-trace.yaml --skip-bad'
rj trace-sharegpt-small      'tests/data/traces/sharegpt_small.yaml'
rj trace-sharegpt-skip-bad   'tests/data/bad/bad-sharegpt.yaml --skip-bad'

# ---------- bad input: exit 2, one line on stderr ----------
c bad-input 'for f in tests/data/bad/*.yaml; do echo "== $f"; kvtier run "$f" --no-db --json; echo "[exit $?]"; done'
c bad-set   'x kvtier run scenarios/quickstart.yaml --no-db --set kv.blocktokens=32; x kvtier run scenarios/quickstart.yaml --no-db --set model=llama-3.1-405b; x kvtier run scenarios/quickstart.yaml --no-db --set kv.dtype=int3; x kvtier run scenarios/quickstart.yaml --no-db --set replicas.router=random'

# ---------- kvtier kv ----------
for m in deepseek-v3 llama-3.1-405b llama-3.1-70b llama-3.1-8b llama-4-scout mistral-7b; do
    c kv-all-$m  "kvtier kv $m --all --gpu h100-sxm --tp 8"
    c kv-json-$m "kvtier kv $m --json"
done
c kv-plain-all-mistral-7b     'kvtier kv mistral-7b --all'
c kv-llama-3.1-70b-128k       'kvtier kv llama-3.1-70b --context 128K --gpu h100-sxm'
c kv-minikv-cla2-8b           "kvtier kv llama-3.1-8b --context 128K --kv-precision '[{layers: 4, dtype: int8}, {dtype: int2}]' --kv-sharing '{every: 2}'"
c kv-minikv-cla2-8b-json      "kvtier kv llama-3.1-8b --context 1000 --kv-precision '[{layers: 4, dtype: int8}, {dtype: int2}]' --kv-sharing '{every: 2}' --json"
c kv-scout-nvl72-memory       'kvtier kv llama-4-scout --context 10M --gpu gb200-nvl72 --tp 8 --memory'
c kv-sharing-bad              "kvtier kv llama-4-scout --kv-sharing '{every: 2}'"
c kv-llama-3.1-70b-128k-json  'kvtier kv llama-3.1-70b --context 128K --gpu h100-sxm --json'
c kv-llama-4-scout-10m        'kvtier kv llama-4-scout --context 10000000 --gpu h100-sxm --tp 8'
c kv-llama-4-scout-all-json   'kvtier kv llama-4-scout --all --json --gpu h200-sxm --tp 8'
c kv-llama-3.1-8b-options     'kvtier kv llama-3.1-8b --context 1M --dtype fp8 --gpu a100-sxm-80gb --tp 2 --hbm-fraction 0.8 --reserve 2GiB --weight-dtype fp8 --json'
c kv-mistral-7b-paging        'kvtier kv mistral-7b --paging --lengths 100,1000:3,5000 --page-tokens 16,48 --page-scope layer --page-meta-bytes 64 --max-len 32K'
c kv-llama-4-scout-jenga      'kvtier kv llama-4-scout --jenga --context 1M --page-tokens 16,64,256'
c kv-deepseek-v3-tiles-memory 'kvtier kv deepseek-v3 --tiles --memory --gpu h200-sxm --node-gpus 8 --tile-tokens 32,64 --tile-dtype fp8 --dtype int4'
c kv-hybrid-card-all          'kvtier kv tests/data/hexmap/hybrid-gqa-mla.yaml --all --gpu b200'

# ---------- kvtier hexmap ----------
c hexmap-readme      'kvtier hexmap --synthesize --kv-dims 2,8,32,16 --dtype fp16 --lines 0x3FE..0x3FF'
c hexmap-at          'kvtier hexmap --synthesize --kv-dims 2,8,32,16 --dtype fp16 --at 0x3FF8'
c hexmap-coord       'kvtier hexmap --synthesize --kv-dims 2,8,32,16 --dtype fp16 --coord V,7,31,8'
c hexmap-coord-block 'kvtier hexmap --synthesize --kv-dims 2,4,16,8 --dtype bf16 --blocks 4 --coord 3,1,2,5,7 --layout split-nhd'
c hexmap-model-8b    'kvtier hexmap --synthesize --model llama-3.1-8b --tp 2 --dtype fp16 --lines 0..40'
c hexmap-model-mla   'kvtier hexmap --synthesize --model deepseek-v3 --dtype fp8 --lines 0..40 --block-tokens 32'
c hexmap-model-layer 'kvtier hexmap --synthesize --model tests/data/hexmap/hybrid-gqa-mla.yaml --layer 1 --dtype bf16 --lines 0x7F0..0x80F'
c hexmap-model-shared "kvtier hexmap --synthesize --model llama-3.1-8b --layer 3 --kv-sharing '{every: 2}' --kv-precision '[{layers: 4, dtype: int8}, {dtype: int2}]' --lines 0..2"
c hexmap-model-int2   "kvtier hexmap --synthesize --model llama-3.1-8b --layer 5 --kv-precision '[{layers: 4, dtype: int8}, {dtype: int2}]' --lines 0x1FE..0x201 --at 0x1701:2 --coord V,3,8,5"
for l in hnd nhd split-nhd split-hnd b,t,kv,h,d; do
    c hexmap-layout-${l//,/} "kvtier hexmap --synthesize --kv-dims 2,4,16,8 --dtype fp16 --blocks 2 --layout $l"
done
c hexmap-fp32-int8   'kvtier hexmap --synthesize --kv-dims 2,2,4,6 --dtype fp32 --lines 0..20; kvtier hexmap --synthesize --kv-dims 2,2,4,6 --dtype int8'
c hexmap-file        'x kvtier hexmap --synthesize --kv-dims 2,4,16,8 --dtype bf16 --blocks 3 -o "$W/pool.bin"; x cksum < "$W/pool.bin"; x kvtier hexmap "$W/pool.bin" --kv-dims 2,4,16,8 --dtype bf16 --lines 0xFE..0x104; x kvtier hexmap "$W/pool.bin" --kv-dims 2,4,16,8 --dtype bf16 --layout nhd --blocks 2 --at 0xF00'

# ---------- model import, version ----------
c model-import-llama-3.1-70b  'kvtier model import tests/data/hf/llama-3.1-70b.config.json'
c model-import-llama-4-scout  'kvtier model import tests/data/hf/llama-4-scout.config.json --name scout -o "$W/scout.yaml" && cat "$W/scout.yaml" && kvtier kv "$W/scout.yaml" --context 1M --gpu h200-sxm --tp 8'
c version                     'kvtier version'

# ---------- runs into a results database, every row dumped ----------
c db-run-quickstart  'x kvtier run scenarios/quickstart.yaml --db "$W/r.db" --set workload.sessions=40; dbdump "$W/r.db" --subst "$W=<W>"'
c db-run-tiers       'x kvtier run scenarios/multiturn-tiers.yaml --db "$W/r.db" --set workload.sessions=40 --set workload.arrival.rate=2/s --set kv_policy.tiers_used=3 --set results.sample_interval=20s; dbdump "$W/r.db" --subst "$W=<W>"'
c db-run-node-failure 'x kvtier run scenarios/node-failure.yaml --db "$W/r.db" --json --set workload.sessions=60 --set "faults=[{at: 90s, node: 1}]" --set results.sample_interval=60s; dbdump "$W/r.db" --subst "$W=<W>"'
c db-run-fleet-two   'x kvtier run scenarios/quickstart.yaml --db "$W/r.db" --set workload.sessions=30 --set replicas.count=4 --set replicas.prefill_replicas=2 --set results.sample_interval=10s; x kvtier run scenarios/quickstart.yaml --db "$W/r.db" --set workload.sessions=30 --set replicas.count=3 --set replicas.shed_imbalance=0.2 --set workload.arrival.rate=6/s --set results.sample_interval=10s --set "faults=[{at: 20s, replica: 0}]"; dbdump "$W/r.db" --subst "$W=<W>"'
c db-run-trace       'x kvtier run tests/data/bad/bad-trace.yaml --skip-bad --db "$W/r.db"; x kvtier run scenarios/azure.yaml --db "$W/r.db" --set workload.trace.limit=200 --set results.sample_interval=30s; dbdump "$W/r.db" --subst "$W=<W>"'

# ---------- sweeps into a fresh database ----------
S=tests/data/sweep.yaml
c sweep-list         'kvtier sweep sweeps/rate-by-tiers.yaml --list; kvtier sweep tests/data/sweep.yaml --list'
c sweep-test         "x kvtier sweep $S --db \"\$W/s.db\" --quiet --set workload.sessions=40 --metric ttft_p99 --metric goodput --metric kv_blocks_per_replica; x kvtier sweep $S --db \"\$W/s.db\" --quiet --set workload.sessions=40; dbdump \"\$W/s.db\" --subst \"\$W=<W>\""
# --jobs 2: the run ids follow completion order, so the table's run column is blanked and the
# dump renumbers runs by sweep point; everything else must equal a serial sweep's rows.
c sweep-test-jobs2   "kvtier sweep $S --db \"\$W/s.db\" --quiet --jobs 2 --set workload.sessions=40 | awk '\$1 ~ /^[0-9]+\$/ { \$2 = \"<run>\" } { print }'; echo \"[exit \${PIPESTATUS[0]}]\"; dbdump \"\$W/s.db\" --renumber-runs --subst \"\$W=<W>\""
c sweep-point        "x kvtier run $S --point 4 --db \"\$W/s.db\"; x kvtier run $S --point 4 --db \"\$W/s.db\"; x kvtier sweep $S --db \"\$W/s.db\" --quiet; dbdump \"\$W/s.db\" --max-rows 100 --subst \"\$W=<W>\""
c sweep-rate-by-tiers 'x kvtier sweep sweeps/rate-by-tiers.yaml --db "$W/t.db" --quiet --metric ttft_p99 --metric tier0_hit_ratio --metric tier1_hit_ratio; dbdump "$W/t.db" --subst "$W=<W>"'

# ---------- capacity plans ----------
c plan-test          'x kvtier plan tests/data/plan.yaml --db "$W/p.db"; dbdump "$W/p.db" --subst "$W=<W>"'
# as written it takes about 25 s of CPU (50 s on the shared 2 cores): 300 sessions a probe, not 2,400.
c plan-fleet-cost-savings 'kvtier plan scenarios/fleet-cost-savings.yaml --no-db --set workload.sessions=300'

# ---------- the verdict ----------
t_end=$(awk -v a="$t_all" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }')
if [ $record = 1 ]; then
    echo "golden: recorded $ncases cases in $OUT in $t_end s"
    exit 0
fi
if [ ${#patterns[@]} -eq 0 ]; then
    for f in "$EXPECTED"/*.out; do
        [ -e "$f" ] || continue
        n=$(basename "$f" .out)
        [ -e "$OUT/$n.out" ] || echo "golden: note: $f has no case any more (re-record to remove it)"
    done
fi
echo "golden: $ncases cases in $t_end s"
echo "golden: $nsame same, $ndiff different"
[ $ndiff -eq 0 ]
