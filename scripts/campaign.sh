#!/usr/bin/env bash
# The two steps of a simulation campaign split across machines, exactly as the GitHub Actions
# workflow (.github/workflows/campaign.yml) and the Kubernetes Jobs (deploy/k8s/) run them,
# so the same path runs (and is tested, scripts/campaign-test.sh) on one machine.
#
#   campaign.sh shard I N FIRST_SEED SEEDS_PER_SHARD OUT
#       Shard I of N (0-based): SEEDS_PER_SHARD seeds, FIRST_SEED+I, FIRST_SEED+I+N, ...
#       Writes OUT/shard-I.jsonl (one line per seed), OUT/shard-I.xml (JUnit) and the failing
#       seeds' files under OUT/seeds/shard-I/. Exits 0 when the seeds ran, failing or not (the
#       merge reports failures), non-zero when the run itself broke.
#   campaign.sh merge OUT
#       Merges OUT/shard-*.jsonl into OUT/summary.txt and OUT/junit.xml, gathers the failing
#       seeds' files into OUT/failing-seeds/. Exits 1 when any seed failed.
#
# The sim binary: $CLUSTERLAB if set, else `clusterlab` on the PATH (the container image),
# else target/sim/release/clusterlab (RUSTFLAGS="--cfg madsim" cargo build --release
# --target-dir target/sim -p clusterlab). Extra `sim run` flags: $CAMPAIGN_FLAGS (e.g.
# "--jobs 2 --shrink-runs 20").
set -euo pipefail

sim_binary() {
    if [[ -n "${CLUSTERLAB:-}" ]]; then
        echo "$CLUSTERLAB"
    elif command -v clusterlab >/dev/null 2>&1; then
        command -v clusterlab
    else
        echo "$(cd "$(dirname "$0")/.." && pwd)/target/sim/release/clusterlab"
    fi
}

usage() {
    sed -n '2,20p' "$0" >&2
    exit 2
}

shard() {
    [[ $# -eq 5 ]] || usage
    local index=$1 count=$2 first=$3 per_shard=$4 out=$5
    mkdir -p "$out/seeds/shard-$index"
    local status=0
    # shellcheck disable=SC2086 # CAMPAIGN_FLAGS is a list of flags
    "$(sim_binary)" sim run --seed "$first" --seeds "$per_shard" --shard "$index/$count" \
        --json "$out/shard-$index.jsonl" --junit "$out/shard-$index.xml" \
        --seeds-dir "$out/seeds/shard-$index" ${CAMPAIGN_FLAGS:-} \
        > "$out/shard-$index.log" 2>&1 || status=$?
    tail -n 25 "$out/shard-$index.log"
    # 1: some seed failed (reported by the merge); anything else: the run itself broke.
    if [[ $status -ne 0 && $status -ne 1 ]]; then
        echo "shard $index/$count: sim run exited $status" >&2
        exit "$status"
    fi
}

merge() {
    [[ $# -eq 1 ]] || usage
    local out=$1
    shopt -s nullglob
    local files=("$out"/shard-*.jsonl)
    if [[ ${#files[@]} -eq 0 ]]; then
        echo "no $out/shard-*.jsonl to merge" >&2
        exit 2
    fi
    local status=0
    "$(sim_binary)" sim merge --junit "$out/junit.xml" "${files[@]}" > "$out/summary.txt" \
        || status=$?
    cat "$out/summary.txt"
    # Each shard numbered its files from 0001: prefix the shard so none overwrites another.
    mkdir -p "$out/failing-seeds"
    local copied=0 file shard_dir
    for file in "$out"/seeds/shard-*/*.json; do
        shard_dir=$(basename "$(dirname "$file")")
        cp "$file" "$out/failing-seeds/$shard_dir-$(basename "$file")"
        copied=$((copied + 1))
    done
    echo "failing seed files: $copied (in $out/failing-seeds)"
    exit "$status"
}

case "${1:-}" in
    shard) shift; shard "$@" ;;
    merge) shift; merge "$@" ;;
    *) usage ;;
esac
