#!/usr/bin/env bash
# `just bench-failover`: the same failover procedure on redis-server and on clusterlab, side by
# side. For each kind and node timeout: 3 masters + 3 replicas (`--cluster-replicas 1`), keys
# written to one master, `kill -9` of that master, then times (from the kill) until
#   - FAIL: the first survivor flags the dead master `fail` (and until every survivor does),
#   - promotion: its replica reports role master,
#   - ok: after the promotion, every survivor reports cluster_state:ok,
# and the acknowledged keys missing on the promoted replica, in two batches: batch A was
# followed by `WAIT 1 1000` before the kill, batch B was killed right after its last reply
# (Redis's asynchronous replication window).
#
# Times are polled, so they are late by up to one polling round (printed as "resolution").
# The table goes to stdout and replaces the part of BENCHMARKS.md between
# `<!-- bench-failover:begin -->` and `<!-- bench-failover:end -->` (BENCH_RECORD=0: not).
#
# Settings (environment): BENCH_TIMEOUTS ("5000 2000"), BENCH_ROUNDS (3; medians are
# reported), BENCH_FAILOVER_KEYS (10000 per batch), BENCH_PORT_BASE (22200; each run takes a
# block of 10 ports above it, bus ports +10000), BENCH_KINDS ("redis clusterlab"; one of them to
# run only that server), BENCH_NO_BUILD=1, BENCH_KEEP=1.
source "$(dirname "${BASH_SOURCE[0]}")/cluster-lib.sh"

TIMEOUTS=${BENCH_TIMEOUTS:-5000 2000}
ROUNDS=${BENCH_ROUNDS:-3}
BATCH=${BENCH_FAILOVER_KEYS:-10000}
BASE=${BENCH_PORT_BASE:-22200}
RECORD=${BENCH_RECORD:-1}
read -r -a KINDS <<<"${BENCH_KINDS:-redis clusterlab}"

need redis-server redis-server
need redis-cli redis-tools
build_release

now_ms() { date +%s%3N; }

# A hash tag whose slot lies in FIRST..LAST, other than the ones given after it.
tag_in_range() {
    local port=$1 first=$2 last=$3 i slot
    shift 3
    for ((i = 0; i < 100000; i++)); do
        [[ " $* " == *" t$i "* ]] && continue
        slot=$(redis-cli -p "$port" CLUSTER KEYSLOT "t$i")
        if ((slot >= first && slot <= last)); then
            echo "t$i"
            return
        fi
    done
    die "no tag found for slots $first-$last"
}

# Sends COUNT SETs of `{TAG}:i` to PORT through redis-cli --pipe; fails unless all succeed.
write_batch() {
    local port=$1 tag=$2 count=$3 out
    out=$(awk -v tag="$tag" -v n="$count" 'BEGIN {
        for (i = 0; i < n; i++) {
            k = "{" tag "}:" i
            printf "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$1\r\nv\r\n", length(k), k
        } }' | redis-cli -p "$port" --pipe 2>&1)
    grep -q "errors: 0, replies: $count" <<<"$out" || die "writing $tag to $port failed: $out"
}

# Flags the node with ID has in PORT's CLUSTER NODES (empty when unreachable).
flags_of() {
    redis-cli -p "$1" CLUSTER NODES 2>/dev/null | awk -v id="$2" '$1 == id { print $3 }'
}

# Keys of SLOT on PORT, asked again while the node answers anything but a number; "?" if it
# never does.
count_in_slot() {
    local port=$1 slot=$2 reply i
    for ((i = 0; i < 50; i++)); do
        reply=$(redis-cli -p "$port" CLUSTER COUNTKEYSINSLOT "$slot" 2>&1)
        if [[ $reply =~ ^[0-9]+$ ]]; then
            echo "$reply"
            return
        fi
        sleep 0.1
    done
    echo "  CLUSTER COUNTKEYSINSLOT $slot on $port kept answering: $reply" >&2
    echo "?"
}

lost_of() { # batch count
    if [[ $1 == "?" ]]; then echo "?"; else echo $((BATCH - $1)); fi
}

RESULTS=$WORK_DIR/failover.csv # kind,timeout,round,fail_first,fail_all,promoted,ok,lost_a,lost_b,poll_ms,wait
: >"$RESULTS"

run_once() {
    local kind=$1 timeout_ms=$2 round=$3 first_port=$4
    local ports=() i
    for ((i = 0; i < 6; i++)); do ports+=($((first_port + i))); done
    local dir=$WORK_DIR/$kind-$timeout_ms-$round
    start_cluster "$kind" "$dir" "$timeout_ms" no 1 "${ports[@]}"

    local victim=${ports[0]} victim_id replica_port replica_id slots
    victim_id=$(redis-cli -p "$victim" CLUSTER MYID)
    slots=$(redis-cli -p "$victim" CLUSTER NODES | awk -v id="$victim_id" '$1 == id { print $9 }')
    replica_id=$(redis-cli -p "$victim" CLUSTER NODES | awk -v id="$victim_id" '$4 == id { print $1; exit }')
    [[ -n $replica_id && -n $slots ]] || die "no replica or slots for the victim ($kind)"
    replica_port=$(redis-cli -p "$victim" CLUSTER NODES |
        awk -v id="$replica_id" '$1 == id { split($2, a, "[:@]"); print a[2] }')
    local survivors=()
    for port in "${ports[@]:1}"; do survivors+=("$port"); done

    local tag_a tag_b slot_a slot_b wait_reply
    tag_a=$(tag_in_range "$victim" "${slots%-*}" "${slots#*-}")
    tag_b=$(tag_in_range "$victim" "${slots%-*}" "${slots#*-}" "$tag_a")
    slot_a=$(redis-cli -p "$victim" CLUSTER KEYSLOT "$tag_a")
    slot_b=$(redis-cli -p "$victim" CLUSTER KEYSLOT "$tag_b")

    write_batch "$victim" "$tag_a" "$BATCH"
    wait_reply=$(redis-cli -p "$victim" WAIT 1 1000 2>&1 | tr -d '\r\n,')
    write_batch "$victim" "$tag_b" "$BATCH"
    kill -9 "${NODE_PID[$victim]}"
    local t0
    t0=$(now_ms)
    { wait "${NODE_PID[$victim]}"; } 2>/dev/null || true # reaped here: no "Killed" notice later

    local fail_first="" fail_all="" promoted="" ok="" polls=0 deadline=$((t0 + 20 * timeout_ms + 30000))
    while [[ -z $ok ]]; do
        local t seen=0 port
        t=$(now_ms)
        ((t < deadline)) || die "$kind did not recover within $((deadline - t0)) ms"
        if [[ -z $fail_all ]]; then
            for port in "${survivors[@]}"; do
                [[ ,$(flags_of "$port" "$victim_id"), == *,fail,* ]] && seen=$((seen + 1))
            done
            ((seen > 0)) && [[ -z $fail_first ]] && fail_first=$((t - t0))
            ((seen == ${#survivors[@]})) && fail_all=$((t - t0))
        fi
        if [[ -z $promoted ]] && [[ ,$(flags_of "$replica_port" "$replica_id"), == *,master,* ]]; then
            promoted=$((t - t0))
        fi
        if [[ -n $promoted ]] && all_state_ok "${survivors[@]}"; then
            ok=$((t - t0))
        fi
        polls=$((polls + 1))
        sleep 0.01
    done
    local poll_ms=$((ok / polls))
    local lost_a lost_b dbsize
    lost_a=$(lost_of "$(count_in_slot "$replica_port" "$slot_a")")
    lost_b=$(lost_of "$(count_in_slot "$replica_port" "$slot_b")")
    dbsize=$(redis-cli -p "$replica_port" DBSIZE 2>&1)
    echo "$kind,$timeout_ms,$round,${fail_first:-?},${fail_all:-?},$promoted,$ok,$lost_a,$lost_b,$poll_ms,$wait_reply" >>"$RESULTS"
    echo "  $kind node-timeout $timeout_ms round $round: FAIL ${fail_first:-?}/${fail_all:-?} ms, promoted $promoted ms, ok $ok ms, lost $lost_a (after WAIT: $wait_reply) + $lost_b (no WAIT) of $BATCH+$BATCH; promoted replica :$replica_port DBSIZE $dbsize" >&2
    kill_started
}

run=0
for round in $(seq 1 "$ROUNDS"); do
    for timeout_ms in $TIMEOUTS; do
        for kind in "${KINDS[@]}"; do
            run_once "$kind" "$timeout_ms" "$round" $((BASE + 1 + 10 * run))
            run=$((run + 1))
        done
    done
done

median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
col() { awk -F, -v k="$1" -v t="$2" -v c="$3" '$1 == k && $2 == t { print $c }' "$RESULTS"; }
med() { col "$@" | median; }
sum() { col "$@" | awk '{ if ($1 !~ /^[0-9]+$/) unknown = 1; s += $1 } END { print s (unknown ? " + ?" : "") }'; }
cell() { # timeout column: "redis | clusterlab"
    echo "$(med redis "$1" "$2") | $(med clusterlab "$1" "$2")"
}

REPORT=$WORK_DIR/report.md
{
    echo "Run of $(date -u '+%Y-%m-%d %H:%M UTC') on $(machine_line); redis-server $(redis-server --version | awk '{ print $3 }' | cut -d= -f2), clusterlab $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet 2>/dev/null || echo '+dirty')."
    echo "3 masters + 3 replicas, \`kill -9\` of one master after two batches of $BATCH SETs to it; times in ms from the kill, median of $ROUNDS rounds; polled every ~$(col redis "${TIMEOUTS%% *}" 10 | median) ms (redis) / ~$(col clusterlab "${TIMEOUTS%% *}" 10 | median) ms (clusterlab). Lost keys are summed over the rounds. Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)."
    echo
    echo "| node-timeout | measure | redis-server | clusterlab |"
    echo "|---:|---|---:|---:|"
    for t in $TIMEOUTS; do
        echo "| $t | FAIL seen by a survivor | $(cell "$t" 4) |"
        echo "| $t | FAIL seen by every survivor | $(cell "$t" 5) |"
        echo "| $t | replica promoted | $(cell "$t" 6) |"
        echo "| $t | cluster_state:ok on every survivor | $(cell "$t" 7) |"
        echo "| $t | acknowledged keys lost, after \`WAIT 1 1000\` | $(sum redis "$t" 8) | $(sum clusterlab "$t" 8) |"
        echo "| $t | acknowledged keys lost, no WAIT | $(sum redis "$t" 9) | $(sum clusterlab "$t" 9) |"
    done
    echo
    echo "\`WAIT 1 1000\` answered: redis-server \`$(col redis "${TIMEOUTS%% *}" 11 | sort -u | tr '\n' ' ' | sed 's/ $//')\`, clusterlab \`$(col clusterlab "${TIMEOUTS%% *}" 11 | sort -u | tr '\n' ' ' | sed 's/ $//')\`."
} >"$REPORT"

cat "$REPORT"
if [[ $RECORD == 1 ]]; then
    "$ROOT/scripts/record.sh" bench-failover "$REPORT"
fi
