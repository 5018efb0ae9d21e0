#!/bin/sh
# tests/mutate.sh — every numeric field of the quickstart scenario, its model card and its hardware profile set to 0, -1, 1e300, a huge integer and a tiny positive, and the scenario cut at every byte: each run must be a valid run or a located error (exit 2, file:line:col), never a crash, a hang or a sanitizer report.
#
# Each mutant runs as `kvtier run FILE --no-db` with two sessions (unless
# the mutant is the session count itself), so a valid run takes
# milliseconds; the cases run on every CPU. Under the sanitized build
# (.ci/run with CI=true) tests/check-wrapper fails the test on any report
# from any kvtier this starts. KT_MUTATE_KEEP=1 keeps the cases and what
# kvtier said about each (under TMPDIR); KT_MUTATE_HANG_S changes the hang
# limit (to check the check itself with a program that sleeps).
set -u

EXIT_HARD_ERROR=99
# A run longer than this is a hang: two sessions take milliseconds.
HANG_LIMIT_S=${KT_MUTATE_HANG_S:-30}
# Values every numeric field takes in turn (units, where the field has one, kept).
VALUES="0 -1 1e300 99999999999999999999 1e-300"
TINY="--set workload.sessions=2"

srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
builddir=${top_builddir:-.}
kvtier=$(cd "$builddir" && pwd)/sim/kvtier

# ---- one case (the script runs itself as `mutate.sh --case FILE`) ----
# FILE is a scenario; FILE.args, when present, holds the extra arguments.
# Prints nothing when the outcome is clean, else one FAIL line and the
# first lines of what kvtier said.
if [ "${1:-}" = --case ]; then
  f=$2
  args=$TINY
  [ -f "$f.args" ] && args=$(cat "$f.args")
  # shellcheck disable=SC2086
  timeout "$HANG_LIMIT_S" "$kvtier" run "$f" --no-db $args >/dev/null 2>"$f.err"
  rc=$?
  if [ "$rc" -eq 0 ]; then
    exit 0
  fi
  if [ "$rc" -eq 2 ] && head -n 1 "$f.err" | grep -Eq '^[^ ]+:[0-9]+:[0-9]+: '; then
    exit 0
  fi
  what="exit $rc"
  [ "$rc" -eq 124 ] && what="hang (over $HANG_LIMIT_S s)"
  [ "$rc" -eq 2 ] && what="an error without file:line:col"
  echo "FAIL: $(cat "$f.what"): $what"
  head -n 3 "$f.err" | sed 's/^/    /'
  exit 0
fi

scratch=$(mktemp -d "${TMPDIR:-/tmp}/kvtier-mutate.XXXXXX") || exit "$EXIT_HARD_ERROR"
[ -n "${KT_MUTATE_KEEP:-}" ] || trap 'rm -rf "$scratch"' EXIT
# Cards and profiles are looked up by name beside the scenario, not in the tree.
unset KVTIER_DATA

# numbers FILE: how many numeric values (a number right after "key: " or
# in a flow mapping) FILE holds.
numbers() {
  awk '{ s = $0; sub(/[ \t]#.*$/, "", s); if (s ~ /^[ \t]*#/) next
         while (match(s, /: -?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?/)) { n++; s = substr(s, RSTART + RLENGTH) } }
       END { print n + 0 }' "$1"
}

# mutate FILE K VALUE: FILE with its K-th numeric value (1-based, as numbers
# counts them) replaced by VALUE, the unit after it kept; writes the line
# number of the change to fd 3.
mutate() {
  awk -v k="$2" -v v="$3" '
    { line = $0; cut = line; sub(/[ \t]#.*$/, "", cut); out = ""; rest = line; skipped = 0
      if (cut !~ /^[ \t]*#/) {
        while (!done && match(substr(cut, skipped + 1), /: -?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?/)) {
          start = skipped + RSTART; len = RLENGTH
          if (++n == k) {
            line = substr(line, 1, start + 1) v substr(line, start + len)
            done = 1; print NR > "/dev/fd/3"
          }
          skipped = start + len - 1
        }
      }
      print line }' "$1"
}

# scenario_with MODEL HARDWARE: the quickstart with its model and hardware
# given by path (or name).
scenario_with() {
  sed -e "s|^model: .*|model: $1|" -e "s|^hardware: .*|hardware: $2|" "$srcdir/scenarios/quickstart.yaml"
}

card=$srcdir/models/llama-3.1-8b.yaml
profile=$srcdir/hwprofiles/h100-sxm.yaml
mkdir "$scratch/cases" || exit "$EXIT_HARD_ERROR"
n_cases=0

# add_case TEXT_FILE WHAT [ARGS]: a case from the scenario TEXT_FILE.
add_case() {
  n_cases=$((n_cases + 1))
  c=$scratch/cases/$n_cases.yaml
  mv "$1" "$c"
  echo "$2" >"$c.what"
  [ $# -ge 3 ] && echo "$3" >"$c.args"
  return 0
}

# Every numeric field of the scenario, the card and the profile.
for target in scenario card profile; do
  case $target in
    scenario) src=$scratch/quickstart.yaml; scenario_with "$card" "$profile" >"$src" ;;
    card) src=$card ;;
    profile) src=$profile ;;
  esac
  total=$(numbers "$src")
  k=1
  while [ "$k" -le "$total" ]; do
    for v in $VALUES; do
      m=$scratch/mutant.yaml
      line=$(mutate "$src" "$k" "$v" 3>&1 >"$m")
      what="$target ($(basename "$src")) line $line, value $k set to $v"
      case $target in
        scenario)
          args=$TINY
          sed -n "${line}p" "$m" | grep -q 'sessions:' && args=" "
          add_case "$m" "$what" "$args" ;;
        card)
          mv "$m" "$scratch/card-$n_cases.yaml"
          scenario_with "$scratch/card-$n_cases.yaml" "$profile" >"$scratch/s.yaml"
          add_case "$scratch/s.yaml" "$what" ;;
        profile)
          mv "$m" "$scratch/profile-$n_cases.yaml"
          scenario_with "$card" "$scratch/profile-$n_cases.yaml" >"$scratch/s.yaml"
          add_case "$scratch/s.yaml" "$what" ;;
      esac
    done
    k=$((k + 1))
  done
done
fields_cases=$n_cases

# The scenario, its comments stripped (they only lengthen the walk), cut
# after every byte: 0 bytes, 1 byte, ... the whole file.
full=$scratch/full.yaml
scenario_with "$card" "$profile" | sed -e 's/[ \t]#.*$//' -e '/^[ \t]*#/d' -e '/^[ \t]*$/d' >"$full"
size=$(wc -c <"$full")
b=0
while [ "$b" -le "$size" ]; do
  head -c "$b" "$full" >"$scratch/cut.yaml"
  add_case "$scratch/cut.yaml" "the scenario cut after byte $b of $size"
  b=$((b + 1))
done

if [ "$fields_cases" -lt 5 ]; then
  echo "mutate.sh: found no numeric fields to vary"
  exit 1
fi
jobs=$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)
failures=$(ls "$scratch/cases"/*.yaml | xargs -P "$jobs" -n 1 sh "$0" --case)
echo "mutate.sh: $fields_cases field mutants ($VALUES), $((size + 1)) cuts of the scenario"
if [ -n "$failures" ]; then
  echo "$failures"
  echo "mutate.sh: $(echo "$failures" | grep -c '^FAIL') of $n_cases cases were not a valid run or a located error"
  exit 1
fi
echo "mutate.sh: all $n_cases cases a valid run or a located error"
exit 0
