#!/bin/sh
# fuzz/run.sh — runs each libFuzzer target for a fixed time over its seeds; any crash, leak or hang fails (used by make fuzz).
# usage: run.sh SRCDIR SECONDS TARGET...   (from the build directory, after make builds fuzz/fuzz_TARGET)
set -u
srcdir=$1 seconds=$2
shift 2

# The dictionary of tokens that speeds a target up (fuzz/dict/).
dict_for() {
    case $1 in
    conf|scenario|set|model|hwprofile) echo yaml ;;
    hfimport|trace_mooncake|trace_kvtier|trace_sharegpt) echo json ;;
    trace_azure|trace_vidur) echo csv ;;
    *) echo "$1" ;;
    esac
}

# Per input: 10 s is a hang; 2 GiB is a leak or an absurd allocation.
limits="-timeout=10 -rss_limit_mb=2048 -max_total_time=$seconds -print_final_stats=1"
failed=
for t in "$@"; do
    out=fuzz-out/$t
    mkdir -p "$out/corpus"
    echo "fuzz: $t for ${seconds}s"
    # New inputs go to the build tree's corpus; the seeds are read only.
    dirs="$out/corpus $srcdir/fuzz/corpus/$t"
    [ -d "$srcdir/fuzz/regressions/$t" ] && dirs="$dirs $srcdir/fuzz/regressions/$t"
    # shellcheck disable=SC2086
    if ! "fuzz/fuzz_$t" $limits -dict="$srcdir/fuzz/dict/$(dict_for "$t").dict" -artifact_prefix="$out/" \
        $dirs >"$out/log" 2>&1; then
        tail -n 60 "$out/log"
        echo "fuzz: $t FAILED: the input is in $out/ (add it to fuzz/regressions/$t once fixed)"
        failed="$failed $t"
    fi
done
if [ -n "$failed" ]; then
    echo "fuzz: failed:$failed"
    exit 1
fi
echo "fuzz: $# targets, ${seconds}s each: no crash, leak or hang"
