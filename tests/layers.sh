#!/bin/sh
# tests/layers.sh — checks that dependencies in sim/ point down: a file includes only headers of its own layer or of the layers below it (base, model, core, serve, run, cmd, in that order).
set -u
top=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
layers="base model core serve run cmd"

# rank LAYER: the layer's position, 1 for base.
rank() {
  i=1
  for l in $layers; do
    [ "$l" = "$1" ] && { echo "$i"; return; }
    i=$((i + 1))
  done
  echo 0
}

bad=0 checked=0
for l in $layers; do
  r=$(rank "$l")
  for f in "$top/sim/$l"/*.[ch]; do
    [ -f "$f" ] || continue
    for h in $(sed -n 's/^#include "\([^"]*\)".*/\1/p' "$f"); do
      [ "$h" = config.h ] && continue
      owner=""
      for m in $layers; do
        [ -f "$top/sim/$m/$h" ] && owner=$m
      done
      checked=$((checked + 1))
      if [ -z "$owner" ]; then
        echo "FAIL: sim/$l/$(basename "$f") includes $h, which is in no layer of sim/"
        bad=$((bad + 1))
      elif [ "$(rank "$owner")" -gt "$r" ]; then
        echo "FAIL: sim/$l/$(basename "$f") ($l) includes $owner/$h: an arrow back up a layer"
        bad=$((bad + 1))
      fi
    done
  done
done
echo "layers: $checked includes checked, $bad pointing up"
[ "$bad" -eq 0 ]
