#!/usr/bin/env bash
# record.sh NAME FILE: replaces the lines of BENCHMARKS.md between `<!-- NAME:begin -->` and
# `<!-- NAME:end -->` with FILE's contents (the markers are appended when missing).
set -euo pipefail
name=$1 file=$2
doc=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/BENCHMARKS.md
[[ -f $doc ]] || echo "# Benchmarks" >"$doc"
if ! grep -q "<!-- $name:begin -->" "$doc"; then
    printf '\n<!-- %s:begin -->\n<!-- %s:end -->\n' "$name" "$name" >>"$doc"
fi
awk -v begin="<!-- $name:begin -->" -v end="<!-- $name:end -->" -v file="$file" '
    $0 == begin { print; while ((getline line < file) > 0) print line; skip = 1; next }
    $0 == end { skip = 0 }
    !skip { print }' "$doc" >"$doc.tmp"
mv "$doc.tmp" "$doc"
echo "recorded in $doc" >&2
