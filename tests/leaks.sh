#!/bin/sh
# tests/leaks.sh — runs every kvtier command and every file in scenarios/ once (big ones shortened) and fails on a leak at exit or a memory error.
#
# It checks something only in a sanitized build (LeakSanitizer reports at
# exit; tests/check-wrapper collects the reports of every process) or with
# --enable-valgrind (each kvtier runs under $KT_VALGRIND_RUN); otherwise it
# skips (77). `make leakcheck` runs it alone. Each command must also end
# with its usual exit status: a leak changes it (LeakSanitizer exits 23,
# valgrind 1), so an error path is checked as closely as a success.
set -u

EXIT_SKIP=77
EXIT_HARD_ERROR=99
# Sizes that keep each run to seconds under ASan, a minute under valgrind.
SESSIONS_MAX=100          # synthetic scenarios: at most this many sessions
TRACE_REQUESTS_MAX=400    # trace scenarios: the first requests of the trace
FLEET_REPLICAS_MAX=8      # fleets: at most this many replicas
CHECK_SESSIONS=20         # the run under --check (every invariant after every event)
SWEEP_SESSIONS=20         # sessions of each sweep point
PLAN_PROBES=2             # bisection probes per plan candidate
HEXMAP_FILE_BLOCKS=4      # blocks in the pool file hexmap reads
MPI_RANKS=2
NO_SUCH_RUN=999           # a run id no database here holds

if [ -z "${KT_SANITIZERS:-}" ] && [ -z "${KT_VALGRIND_RUN:-}" ]; then
  echo "leaks.sh: this build has neither sanitizers nor valgrind (configure --enable-asan or --enable-valgrind): skipped"
  exit "$EXIT_SKIP"
fi

srcdir=${top_srcdir:-.}
builddir=${top_builddir:-.}
kvtier=$builddir/sim/kvtier
scratch=$(mktemp -d "${TMPDIR:-/tmp}/kvtier-leaks.XXXXXX") || exit "$EXIT_HARD_ERROR"
trap 'rm -rf "$scratch"' EXIT
db=$scratch/leaks.db
KVTIER_DATA=$srcdir
export KVTIER_DATA
failures=0
commands=0
runs_stored=0

# expect STATUS ARGS...: runs kvtier ARGS (under valgrind when it is on)
# and counts a failure unless it exits with STATUS.
expect() {
  want=$1
  shift
  # shellcheck disable=SC2086 # the valgrind command line is words
  expect_program "$want" ${KT_VALGRIND_RUN:-} "$kvtier" "$@"
}

# expect_program STATUS PROGRAM ARGS...: the same for any command line.
expect_program() {
  want=$1
  shift
  commands=$((commands + 1))
  "$@" > "$scratch/out" 2>&1
  rc=$?
  if [ "$rc" -eq "$want" ]; then
    echo "ok: $*"
  else
    echo "FAIL (exit $rc, expected $want): $*"
    tail -n 40 "$scratch/out"
    failures=$((failures + 1))
  fi
}

# The number after "KEY:" in a scenario file (first match), or empty.
scenario_number() {
  sed -n "s/^ *$2: *\([0-9][0-9]*\).*/\1/p" "$1" | head -n 1
}

min() {
  if [ "$1" -lt "$2" ]; then echo "$1"; else echo "$2"; fi
}

# The overrides (KEY=VALUE, one a line) that shorten scenario $1 and keep
# its features: fewer sessions or trace requests, fewer replicas, a fault
# inside the shorter run.
shorten() {
  if grep -q '^ *kind: trace' "$1"; then
    echo "workload.trace.limit=$TRACE_REQUESTS_MAX"
  else
    sessions=$(scenario_number "$1" sessions)
    echo "workload.sessions=$(min "${sessions:-$SESSIONS_MAX}" "$SESSIONS_MAX")"
  fi
  replicas=$(sed -n 's/^replicas:.*count: *\([0-9][0-9]*\).*/\1/p' "$1")
  if [ -n "$replicas" ] && [ "$replicas" -gt "$FLEET_REPLICAS_MAX" ]; then
    echo "replicas.count=$FLEET_REPLICAS_MAX"
  fi
  if grep -q '^faults:' "$1"; then
    echo "faults=[{at: 30s, node: 1}]"
  fi
}

# kvtier run on scenario $1, shortened.
run_short() {
  file=$1
  overrides=$(shorten "$file")
  set --
  old_ifs=$IFS
  IFS='
'
  for o in $overrides; do
    set -- "$@" --set "$o"
  done
  IFS=$old_ifs
  expect 0 run "$file" --db "$db" "$@"
  runs_stored=$((runs_stored + 1))
}

# A plan file (it has candidates) with a shorter search, beside the scratch
# files: its scenario path made absolute.
short_plan() {
  sed -e "s|^scenario: *\([^ ]*\)|scenario: $(cd "$(dirname "$1")" && pwd)/\1|" \
      -e "s|max_probes: *[0-9]*|max_probes: $PLAN_PROBES|" "$1" > "$scratch/plan.yaml"
  echo "$scratch/plan.yaml"
}

# Every scenario, shortened; a plan file through kvtier plan.
check_scenarios() {
  for f in "$srcdir"/scenarios/*.yaml; do
    if grep -q '^candidates:' "$f"; then
      expect 0 plan "$(short_plan "$f")" --db "$db" --quiet --set "workload.sessions=$SESSIONS_MAX"
    else
      run_short "$f"
    fi
  done
}

# kvtier run's options and error paths.
check_run() {
  quick=$srcdir/scenarios/quickstart.yaml
  expect 0 run "$quick" --no-db --json --progress --set "workload.sessions=$SESSIONS_MAX"
  expect 0 run "$quick" --no-db --check --set "workload.sessions=$CHECK_SESSIONS"
  expect 0 run "$srcdir/scenarios/mooncake.yaml" --no-db --skip-bad \
    --set "workload.trace.path=$(cd "$srcdir" && pwd)/tests/data/traces/mooncake_bad.jsonl"
  expect 2 run "$srcdir/scenarios/no-such-scenario.yaml" --no-db
  expect 2 run "$quick" --no-db --set kv.block_tokens=banana
  expect 2 run "$quick" --no-db --set no.such.key=1
  expect 2 run "$srcdir/tests/data/traces/mooncake_bad.jsonl" --no-db
}

check_kv() {
  expect 0 kv llama-3.1-70b --context 128K --gpu h100-sxm
  expect 0 kv llama-4-scout --context 10000000 --gpu h100-sxm --tp 8 --json
  for m in "$srcdir"/models/*.yaml; do
    expect 0 kv "$(basename "$m" .yaml)" --all
  done
  expect 2 kv no-such-model
}

check_hexmap() {
  expect 0 hexmap --synthesize --kv-dims 2,8,32,16 --dtype fp16 --lines 0x3FE..0x3FF
  expect 0 hexmap --synthesize --model llama-3.1-8b --layout split-nhd --dtype bf16 --lines 0..3
  expect 0 hexmap --synthesize --model deepseek-v3 --dtype fp8 --at 0x100
  expect 0 hexmap --synthesize --kv-dims 2,8,32,16 --dtype fp16 --coord 0,1,7,31,8
  expect 0 hexmap --synthesize --kv-dims 2,8,32,16 --dtype fp16 --layout nhd -o "$scratch/pool.bin" \
    --blocks "$HEXMAP_FILE_BLOCKS"
  expect 0 hexmap "$scratch/pool.bin" --kv-dims 2,8,32,16 --dtype fp16 --layout nhd --lines 0..3
  expect 2 hexmap --synthesize --kv-dims 2,8,32,16 --dtype fp16 --layout b,kv,h,t
  expect 2 hexmap "$scratch/no-such-pool.bin" --kv-dims 2,8,32,16 --dtype fp16
}

check_model_import() {
  for cfg in "$srcdir"/tests/data/hf/*.json; do
    expect 0 model import "$cfg" -o "$scratch/card.yaml"
  done
  expect 2 model import "$scratch/no-such-config.json"
}

# Sweeps: serial, in worker processes, resumed, one point, and over MPI
# when kvtier has it and mpirun is here.
check_sweeps() {
  sweep=$srcdir/sweeps/rate-by-tiers.yaml
  short="workload.sessions=$SWEEP_SESSIONS"
  expect 0 sweep "$sweep" --list
  expect 0 sweep "$sweep" --db "$scratch/sweep1.db" --quiet --set "$short"
  expect 0 sweep "$sweep" --db "$scratch/sweep1.db" --quiet --set "$short" --metric completed
  expect 0 sweep "$sweep" --db "$scratch/sweep2.db" --quiet --set "$short" --jobs 2
  expect 0 run "$sweep" --point 1 --db "$scratch/sweep3.db" --set "$short"
  expect 2 sweep "$sweep" --jobs 0
  if grep -q '^#define KT_HAVE_MPI 1' "$builddir/config.h" && command -v mpirun > /dev/null; then
    check_mpi_sweep "$sweep" "$short"
  fi
}

# Open MPI's own leaks are suppressed by library (tests/lsan-thirdparty.supp,
# tests/valgrind-thirdparty.supp); the LeakSanitizer match needs whole
# stacks, so the ranks unwind slowly. Root may run mpirun here (CI).
check_mpi_sweep() {
  OMPI_ALLOW_RUN_AS_ROOT=1
  OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
  asan_options=${ASAN_OPTIONS:-}
  ASAN_OPTIONS="$asan_options:fast_unwind_on_malloc=0"
  export OMPI_ALLOW_RUN_AS_ROOT OMPI_ALLOW_RUN_AS_ROOT_CONFIRM ASAN_OPTIONS
  # shellcheck disable=SC2086 # the valgrind command line is words
  expect_program 0 ${KT_VALGRIND_RUN:-} mpirun -np "$MPI_RANKS" --oversubscribe "$kvtier" \
    sweep "$1" --mpi --db "$scratch/sweep-mpi.db" --quiet --set "$2"
  ASAN_OPTIONS=$asan_options
}

# Figures from what the runs, the sweep and the plan stored.
check_plot() {
  if ! command -v "${KVTIER_GNUPLOT:-gnuplot}" > /dev/null; then
    echo "leaks.sh: no gnuplot: kvtier plot not checked"
    return
  fi
  run=1
  while [ "$run" -le "$runs_stored" ]; do
    expect 0 plot --db "$db" --run "$run" --format both -o "$scratch/plots"
    run=$((run + 1))
  done
  expect 0 plot --db "$db" --run 1 --run 2 -o "$scratch/plots" latency
  expect 0 plot --db "$db" --plan 1 -o "$scratch/plots"
  expect 0 plot --db "$scratch/sweep1.db" --sweep 1 -o "$scratch/plots"
  expect 2 plot --db "$db" --run "$NO_SUCH_RUN" -o "$scratch/plots"
}

check_help() {
  expect 0 version
  for c in run sweep kv hexmap plan plot; do
    expect 0 "$c" --help
  done
  expect 0 model import --help
  expect 2 no-such-command
}

check_scenarios
check_run
check_kv
check_hexmap
check_model_import
check_sweeps
check_plot
check_help

echo "leaks.sh: $commands commands, $failures failed (${KT_SANITIZERS:-valgrind})"
[ "$failures" -eq 0 ]
