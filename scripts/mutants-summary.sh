#!/usr/bin/env bash
# Summarizes a cargo-mutants run: the mutation score (killed / viable) and every surviving
# mutant, from the outcome lists cargo-mutants writes (caught.txt, missed.txt, timeout.txt,
# unviable.txt in its output directory). A timeout counts as killed: the mutant made the
# campaign hang, which the harness would report. Unviable mutants (they do not build) are not
# in the score.
#
# Usage: scripts/mutants-summary.sh [mutants.out]
set -euo pipefail

dir="${1:-mutants.out}"
if [[ ! -d "$dir" ]]; then
    echo "no cargo-mutants output in $dir" >&2
    exit 2
fi

count() {
    local file="$dir/$1"
    if [[ -s "$file" ]]; then
        grep -c . "$file"
    else
        echo 0
    fi
}

caught=$(count caught.txt)
missed=$(count missed.txt)
timeout=$(count timeout.txt)
unviable=$(count unviable.txt)
killed=$((caught + timeout))
viable=$((killed + missed))

echo "mutants: $viable viable ($caught caught, $timeout timed out, $missed missed), $unviable unviable"
if ((viable > 0)); then
    echo "mutation score: $killed/$viable killed ($((100 * killed / viable))%)"
else
    echo "mutation score: no viable mutant"
fi
if ((missed > 0)); then
    echo "surviving mutants (each is a hole in the harness or an equivalent mutant):"
    sed 's/^/  /' "$dir/missed.txt"
fi
