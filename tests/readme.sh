#!/bin/sh
# readme.sh — `make check`'s entry to tests/readme.py: every command README.md and docs/*.md show, run against this build, must print what they show.
# First it checks the checker on tests/data/readme/ (a page that agrees passes, a drifted page
# and an unchecked `$ ` example fail), so a checker that passes everything fails here.
# Without python3 the check is skipped (exit 77), as automake's harness expects.
src=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
build=${top_builddir:-$src}
command -v python3 >/dev/null 2>&1 || { echo "readme.sh: no python3: skipped"; exit 77; }
check() { python3 "$src/tests/readme.py" "$src" "$build/sim/kvtier" "$@"; }
check "$src/tests/data/readme/agrees.md" || { echo "readme.sh: the checker fails a page that agrees"; exit 1; }
for page in drift indented; do
    if check "$src/tests/data/readme/$page.md" >/dev/null; then
        echo "readme.sh: the checker passes tests/data/readme/$page.md, which must fail"; exit 1
    fi
done
check
