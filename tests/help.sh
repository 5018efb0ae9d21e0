#!/bin/sh
# help.sh — every command `kvtier --help` lists has help (`kvtier help CMD` equal to `kvtier CMD --help`), a one-line usage error pointing at it, a section in the man page and a place in bash completion.
set -u
src=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
build=${top_builddir:-$src}
kvtier=$build/sim/kvtier
bad=0
fail() { echo "FAIL: $*"; bad=1; }
# The commands, as the top-level help lists them (two spaces, the name, a space).
cmds=$("$kvtier" --help | sed -n 's/^  \([a-z][a-z]*\) .*/\1/p')
[ -n "$cmds" ] || fail "kvtier --help lists no commands"
for c in $cmds; do
    a=$("$kvtier" help "$c" 2>&1); ra=$?
    b=$("$kvtier" "$c" --help 2>&1); rb=$?
    [ $ra -eq 0 ] && [ $rb -eq 0 ] || fail "$c: help exits $ra, --help $rb"
    [ "$a" = "$b" ] || fail "$c: 'kvtier help $c' differs from 'kvtier $c --help'"
    grep -q "^\\.BI\\? \"\\?$c\\b\\|^\\.B $c\$\\|^\\.BR $c " "$src/docs/kvtier.1" || fail "$c: not in docs/kvtier.1"
    grep -q "commands=\".*\\b$c\\b" "$src/completion/kvtier.in" || fail "$c: not in completion/kvtier.in"
    [ "$c" = version ] && continue
    # An unknown option: exit 2, one line, ending with the pointer to help.
    out=$("$kvtier" "$c" --no-such-option 2>&1 >/dev/null); rc=$?
    [ $rc -eq 2 ] || fail "$c --no-such-option: exit $rc, not 2"
    [ "$(printf '%s\n' "$out" | wc -l)" -eq 1 ] || fail "$c --no-such-option: more than one line: $out"
    case $out in *"(try kvtier $c --help)") ;; *) fail "$c --no-such-option: no pointer to help: $out" ;; esac
done
out=$("$kvtier" runn 2>&1); rc=$?
[ $rc -eq 2 ] && [ "$out" = "kvtier: unknown command 'runn' (did you mean 'run'?) (try kvtier --help)" ] ||
    fail "a misspelt command: exit $rc: $out"
[ $bad -eq 0 ] && echo "help: $(echo $cmds | wc -w) commands checked"
exit $bad
