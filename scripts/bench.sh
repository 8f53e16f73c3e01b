#!/usr/bin/env bash
# `just bench`: throughput, latency and memory of a clusterlab cluster next to a redis-server
# cluster of the same shape, in one run on this machine, with the same redis.conf; for each
# persistence config (`appendonly no`, then `yes` with `appendfsync everysec`, the tutorial's)
# and each shape (3 masters, then 3 masters + 3 replicas: the replication stream costs the
# masters), both clusters are started afresh. After the throughput tests of each config and
# shape, `redis-cli --cluster reshard` moves BENCH_RESHARD_SLOTS empty slots between two
# masters of each cluster and is timed (each slot is four `CLUSTER SETSLOT`s and their
# `nodes.conf` saves).
#
# Both clusters run at the same time; each measurement runs on redis-server and then on
# clusterlab before the next one starts, and is repeated BENCH_ROUNDS times (the median is
# reported), so drifting background load hits both alike. The table goes to stdout and
# replaces the part of BENCHMARKS.md between `<!-- bench:begin -->` and `<!-- bench:end -->`
# (BENCH_RECORD=0 leaves the file alone).
#
# redis-benchmark measures elapsed time in steps of about 250 ms, so every test must run for
# seconds: hence the request counts (MSET runs a quarter of them, each carrying 10 keys).
#
# Settings (environment): BENCH_ROUNDS (3), BENCH_REQUESTS_P1 (200000), BENCH_REQUESTS_P16
# (1000000), BENCH_CLIENTS (50), BENCH_KEYSPACE (100000, redis-benchmark -r), BENCH_TESTS
# (set,get,incr,mset,lpush,lpop,lrange_100,hset,sadd,zadd), BENCH_KEYS (1000000 keys for the
# memory test; 0 skips it), BENCH_ELEMENTS (1000000 elements per collection for the
# memory-per-element test; 0 skips it; both memory tests run with the first config and
# shape only), BENCH_APPENDONLY ("no yes": the configs, in order), BENCH_REPLICAS ("0 1":
# replicas per master, the shapes, in order), BENCH_RESHARD_SLOTS (1000; 0 skips it),
# BENCH_PORT_BASE (22100; uses base+1..6 and base+11..16 and their bus ports +10000, and
# base+21..36 for the standalone servers of the element test), BENCH_NO_BUILD=1, BENCH_KEEP=1
# (keep logs).
#
# The list tests of redis-benchmark use one key (`mylist`), so they load one master; LPOP pops
# what LPUSH pushed before it, and LRANGE_100 fills its own list first (that filling LPUSH row
# is not reported).
source "$(dirname "${BASH_SOURCE[0]}")/cluster-lib.sh"

ROUNDS=${BENCH_ROUNDS:-3}
REQUESTS_P1=${BENCH_REQUESTS_P1:-200000}
REQUESTS_P16=${BENCH_REQUESTS_P16:-1000000}
CLIENTS=${BENCH_CLIENTS:-50}
KEYSPACE=${BENCH_KEYSPACE:-100000}
TESTS=${BENCH_TESTS:-set,get,incr,mset,lpush,lpop,lrange_100,hset,sadd,zadd}
KEYS=${BENCH_KEYS:-1000000}
ELEMENTS=${BENCH_ELEMENTS:-1000000}
APPENDONLY_LIST=${BENCH_APPENDONLY:-no yes}
REPLICAS_LIST=${BENCH_REPLICAS:-0 1}
RESHARD_SLOTS=${BENCH_RESHARD_SLOTS:-1000}
BASE=${BENCH_PORT_BASE:-22100}
RECORD=${BENCH_RECORD:-1}

need redis-server redis-server
need redis-cli redis-tools
need redis-benchmark redis-tools
need python3
build_release

KINDS=(redis clusterlab)
# kind,pipeline,test,round,rps,p50_ms,p99_ms,cpu_us_per_request,setup (setup: appendonly/replicas)
RESULTS=$WORK_DIR/results.csv
declare -A PORTS MASTER_PORTS RESHARD_S

# start_clusters APPENDONLY REPLICAS: a fresh cluster of each kind, 3 masters with REPLICAS
# replicas each.
start_clusters() {
    local appendonly=$1 replicas=$2 kind offset count=$((3 * (1 + $2))) i
    for kind in "${KINDS[@]}"; do
        offset=1
        [[ $kind == redis ]] || offset=11
        PORTS[$kind]=""
        for ((i = 0; i < count; i++)); do
            PORTS[$kind]+="$((BASE + offset + i)) "
        done
        PORTS[$kind]=${PORTS[$kind]% }
        # shellcheck disable=SC2086
        start_cluster "$kind" "$WORK_DIR/$kind-$appendonly-$replicas" 5000 "$appendonly" \
            "$replicas" ${PORTS[$kind]}
        MASTER_PORTS[$kind]=$(redis-cli -p "${PORTS[$kind]%% *}" CLUSTER NODES |
            awk '$3 ~ /master/ { split($2, a, "[:@]"); print a[2] }' | sort -n | tr '\n' ' ')
        echo "started $kind cluster (3 masters, $replicas replica(s) each, appendonly $appendonly) on ports ${PORTS[$kind]}" >&2
    done
}

FIRST_APPENDONLY=${APPENDONLY_LIST%% *}
FIRST_REPLICAS=${REPLICAS_LIST%% *}
start_clusters "$FIRST_APPENDONLY" "$FIRST_REPLICAS"

# ---- memory: 1M small string keys -----------------------------------------------------------

# "port:first-last" for each master of a cluster, from CLUSTER NODES.
slot_specs() {
    redis-cli -p "$1" CLUSTER NODES | awk '$3 ~ /master/ && $9 != "" {
        split($2, addr, "[:@]"); print addr[2] ":" $9 }'
}

declare -A MEM_USED MEM_RSS MEM_RSS0
measure_memory() {
    local kind=$1 port used=0 rss=0 rss0=0 specs
    for port in ${MASTER_PORTS[$kind]}; do
        rss0=$((rss0 + $(rss_bytes "${NODE_PID[$port]}")))
    done
    # shellcheck disable=SC2046
    python3 "$ROOT/scripts/gen-keys.py" "$KEYS" xxx "$WORK_DIR/$kind-keys-" \
        $(slot_specs "${MASTER_PORTS[$kind]%% *}")
    for port in ${MASTER_PORTS[$kind]}; do
        local out
        out=$(redis-cli -p "$port" --pipe <"$WORK_DIR/$kind-keys-$port.resp" 2>&1)
        grep -q 'errors: 0,' <<<"$out" || die "loading keys into $kind:$port failed: $out"
        rm -f "$WORK_DIR/$kind-keys-$port.resp"
    done
    local total=0
    for port in ${MASTER_PORTS[$kind]}; do
        total=$((total + $(redis-cli -p "$port" DBSIZE)))
        used=$((used + $(info_field "$port" memory used_memory)))
        rss=$((rss + $(rss_bytes "${NODE_PID[$port]}")))
    done
    ((total == KEYS)) || die "$kind holds $total keys, expected $KEYS"
    MEM_USED[$kind]=$used MEM_RSS[$kind]=$rss MEM_RSS0[$kind]=$rss0
    for port in ${MASTER_PORTS[$kind]}; do
        redis-cli -p "$port" FLUSHALL >/dev/null
    done
}

if ((KEYS > 0)); then
    for kind in "${KINDS[@]}"; do
        echo "memory: loading $KEYS keys into $kind" >&2
        measure_memory "$kind"
    done
fi

# ---- memory per element: one collection type at a time, in a fresh standalone server --------

# A fresh process per measurement: freed memory stays in the allocator, so a server that held
# the previous type would grow less.
ELEMENT_TYPES=(list hash set zset)
ELEMENT_SHAPES=(big compact)
declare -A EL_USED EL_RSS
ELEMENT_PORT=$((BASE + 21))

# stop_node PORT: kills the node on PORT (by its PID) and forgets the PID.
stop_node() {
    local pid=${NODE_PID[$1]} kept=() p
    kill -9 "$pid" 2>/dev/null || true
    { wait "$pid"; } 2>/dev/null || true
    for p in "${STARTED_PIDS[@]}"; do
        [[ $p == "$pid" ]] || kept+=("$p")
    done
    STARTED_PIDS=("${kept[@]}")
}

measure_elements() {
    local kind=$1 type=$2 shape=$3 port=$ELEMENT_PORT dir=$WORK_DIR/elements-$kind
    ELEMENT_PORT=$((ELEMENT_PORT + 1))
    mkdir -p "$dir"
    check_ports_free "$port"
    write_conf "$dir" "$port" 5000 no
    sed -i 's/^cluster-enabled yes$/cluster-enabled no/' "$dir/node-$port.conf"
    case $kind in
    redis) redis-server "$dir/node-$port.conf" >"$dir/node-$port.stdout" 2>&1 & ;;
    clusterlab) "$CLUSTERLAB_BIN" node "$dir/node-$port.conf" >"$dir/node-$port.stdout" 2>&1 & ;;
    esac
    STARTED_PIDS+=("$!")
    NODE_PID[$port]=$!
    wait_for 20 "$kind node on port $port to answer PING" answers_ping "$port"
    local used0 rss0 out
    used0=$(info_field "$port" memory used_memory) rss0=$(rss_bytes "${NODE_PID[$port]}")
    python3 "$ROOT/scripts/gen-elements.py" "$type" "$shape" "$ELEMENTS" "$dir/load.resp"
    out=$(redis-cli -p "$port" --pipe <"$dir/load.resp" 2>&1)
    grep -q 'errors: 0,' <<<"$out" || die "loading $type ($shape) into $kind failed: $out"
    rm -f "$dir/load.resp"
    local used rss
    used=$(info_field "$port" memory used_memory) rss=$(rss_bytes "${NODE_PID[$port]}")
    EL_USED[$kind,$type,$shape]=$(awk -v a="$used" -v b="$used0" -v n="$ELEMENTS" 'BEGIN { printf "%.1f", (a - b) / n }')
    EL_RSS[$kind,$type,$shape]=$(awk -v a="$rss" -v b="$rss0" -v n="$ELEMENTS" 'BEGIN { printf "%.1f", (a - b) / n }')
    stop_node "$port"
}

if ((ELEMENTS > 0)); then
    ((ELEMENTS % 100 == 0)) || die "BENCH_ELEMENTS must be a multiple of 100"
    for type in "${ELEMENT_TYPES[@]}"; do
        for shape in "${ELEMENT_SHAPES[@]}"; do
            for kind in "${KINDS[@]}"; do
                echo "memory: $ELEMENTS $type elements ($shape) in $kind" >&2
                measure_elements "$kind" "$type" "$shape"
            done
        done
    done
fi

# ---- throughput and latency ------------------------------------------------------------------

# CPU time (user + system, in clock ticks) the masters of a cluster have used so far. Unlike
# requests/s, CPU per request hardly moves when other programs load the machine.
cpu_ticks() {
    local port total=0
    for port in ${PORTS[$1]}; do
        total=$((total + $(sed 's/.*) //' "/proc/${NODE_PID[$port]}/stat" | awk '{ print $12 + $13 }')))
    done
    echo "$total"
}

run_benchmark() {
    local kind=$1 pipeline=$2 test=$3 round=$4 setup=$5 requests=$REQUESTS_P1
    ((pipeline == 1)) || requests=$REQUESTS_P16
    [[ $test != mset ]] || requests=$((requests / 4))
    local port=${PORTS[$kind]%% *} before line
    before=$(cpu_ticks "$kind")
    line=$(timeout 300 redis-benchmark --cluster -h 127.0.0.1 -p "$port" -c "$CLIENTS" \
        -n "$requests" -r "$KEYSPACE" -P "$pipeline" -t "$test" --csv 2>"$WORK_DIR/bench.err" |
        awk -F'","' -v k="$kind" -v p="$pipeline" -v r="$round" -v want="${test^^}" 'NR > 1 && /^"/ {
            gsub(/"/, ""); split($0, f, ",");
            name = f[1]; sub(/ .*/, "", name);
            if (name == want) print k "," p "," name "," r "," f[2] "," f[5] "," f[7] }')
    [[ -n $line ]] || die "redis-benchmark failed on $kind: $(cat "$WORK_DIR/bench.err")"
    local ticks=$(($(cpu_ticks "$kind") - before))
    echo "$line,$(awk -v t="$ticks" -v hz="$(getconf CLK_TCK)" -v n="$requests" \
        'BEGIN { printf "%.2f", t / hz * 1e6 / n }'),$setup" >>"$RESULTS"
}

# measure_reshard SETUP: how long `redis-cli --cluster reshard` takes to move RESHARD_SLOTS
# slots from the first master to the second, the data flushed first so the slots are empty
# and only the slot protocol (`CLUSTER SETSLOT`, `nodes.conf` saves) is timed.
measure_reshard() {
    local setup=$1 kind port start end
    ((RESHARD_SLOTS > 0)) || return 0
    for kind in "${KINDS[@]}"; do
        local masters=(${MASTER_PORTS[$kind]})
        for port in "${masters[@]}"; do
            redis-cli -p "$port" FLUSHALL >/dev/null
        done
        local from to
        from=$(redis-cli -p "${masters[0]}" CLUSTER MYID)
        to=$(redis-cli -p "${masters[1]}" CLUSTER MYID)
        echo "reshard: $RESHARD_SLOTS slots on $kind ($setup)" >&2
        start=$(date +%s.%N)
        timeout 900 redis-cli --cluster reshard "127.0.0.1:${masters[0]}" --cluster-from "$from" \
            --cluster-to "$to" --cluster-slots "$RESHARD_SLOTS" --cluster-yes \
            >"$WORK_DIR/reshard-$kind.log" 2>&1 ||
            die "reshard failed on $kind: $(tail -5 "$WORK_DIR/reshard-$kind.log")"
        end=$(date +%s.%N)
        RESHARD_S[$kind,$setup]=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f", b - a }')
    done
}

: >"$RESULTS"
SETUPS=()
for appendonly in $APPENDONLY_LIST; do
    for replicas in $REPLICAS_LIST; do
        setup=$appendonly/$replicas
        SETUPS+=("$setup")
        if [[ $setup != "$FIRST_APPENDONLY/$FIRST_REPLICAS" ]]; then
            kill_started
            start_clusters "$appendonly" "$replicas"
        fi
        for round in $(seq 1 "$ROUNDS"); do
            for pipeline in 1 16; do
                for test in ${TESTS//,/ }; do
                    for kind in "${KINDS[@]}"; do
                        echo "appendonly $appendonly, $replicas replica(s): round $round/$ROUNDS: $kind, pipeline $pipeline, $test" >&2
                        run_benchmark "$kind" "$pipeline" "$test" "$round" "$setup"
                    done
                done
            done
        done
        measure_reshard "$setup"
    done
done

# ---- report ----------------------------------------------------------------------------------

median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
stat() { # kind pipeline test column(5=rps,6=p50,7=p99,8=cpu) setup
    awk -F, -v k="$1" -v p="$2" -v t="$3" -v c="$4" -v s="$5" \
        '$1 == k && $2 == p && $3 == t && $9 == s { print $c }' "$RESULTS" | median
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
mib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }

REPORT=$WORK_DIR/report.md
{
    echo "Run of $(date -u '+%Y-%m-%d %H:%M UTC') on $(machine_line); redis-server $(redis-server --version | awk '{ print $3 }' | cut -d= -f2), clusterlab $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet 2>/dev/null || echo '+dirty')."
    echo "Clusters of 3 masters (and 3 replicas where said), \`appendfsync everysec\` where \`appendonly yes\`; \`redis-benchmark --cluster -c $CLIENTS -r $KEYSPACE\`, $REQUESTS_P1 requests at pipeline 1 and $REQUESTS_P16 at pipeline 16 (MSET: a quarter, 10 keys each); median of $ROUNDS rounds. Ratio = clusterlab / redis-server (throughput: higher is better; latency, CPU and memory: lower is better). Server CPU = user + system time of every node of the cluster (replicas included) per request (MSET: per command of 10 keys). Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)."
    for setup in "${SETUPS[@]}"; do
        replicas=${setup#*/}
        shape="3 masters"
        ((replicas == 0)) || shape="3 masters + $((3 * replicas)) replicas"
        echo
        echo "\`appendonly ${setup%/*}\`, $shape:"
        echo
        echo "| test | pipeline | redis req/s | clusterlab req/s | ratio | redis p50/p99 ms | clusterlab p50/p99 ms | p99 ratio | server CPU µs/req redis / clusterlab | CPU ratio |"
        echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
        for pipeline in 1 16; do
            for test in ${TESTS//,/ }; do
                name=${test^^}
                r_rps=$(stat redis "$pipeline" "$name" 5 "$setup") c_rps=$(stat clusterlab "$pipeline" "$name" 5 "$setup")
                r50=$(stat redis "$pipeline" "$name" 6 "$setup") r99=$(stat redis "$pipeline" "$name" 7 "$setup")
                c50=$(stat clusterlab "$pipeline" "$name" 6 "$setup") c99=$(stat clusterlab "$pipeline" "$name" 7 "$setup")
                r_cpu=$(stat redis "$pipeline" "$name" 8 "$setup") c_cpu=$(stat clusterlab "$pipeline" "$name" 8 "$setup")
                printf '| %s | %s | %.0f | %.0f | %s | %s / %s | %s / %s | %s | %s / %s | %s |\n' \
                    "$name" "$pipeline" "$r_rps" "$c_rps" "$(ratio "$c_rps" "$r_rps")" "$r50" "$r99" \
                    "$c50" "$c99" "$(ratio "$c99" "$r99")" "$r_cpu" "$c_cpu" "$(ratio "$c_cpu" "$r_cpu")"
            done
        done
    done
    if ((RESHARD_SLOTS > 0)); then
        echo
        echo "\`redis-cli --cluster reshard\` of $RESHARD_SLOTS empty slots from one master to another, after the throughput tests (seconds, one run each):"
        echo
        echo "| setup | redis-server s | clusterlab s | ratio |"
        echo "|---|---:|---:|---:|"
        for setup in "${SETUPS[@]}"; do
            r=${RESHARD_S[redis,$setup]} c=${RESHARD_S[clusterlab,$setup]}
            echo "| \`appendonly ${setup%/*}\`, ${setup#*/} replica(s) per master | $r | $c | $(ratio "$c" "$r") |"
        done
    fi
    if ((KEYS > 0)); then
        echo
        echo "Memory after loading $KEYS keys (\`key:%012d\` = \`xxx\`, sent with \`redis-cli --pipe\`), summed over the 3 masters (\`appendonly $FIRST_APPENDONLY\`, $FIRST_REPLICAS replica(s) per master):"
        echo
        echo "| | redis-server | clusterlab | ratio |"
        echo "|---|---:|---:|---:|"
        echo "| RSS before loading (MiB) | $(mib "${MEM_RSS0[redis]}") | $(mib "${MEM_RSS0[clusterlab]}") | $(ratio "${MEM_RSS0[clusterlab]}" "${MEM_RSS0[redis]}") |"
        echo "| RSS after loading (MiB) | $(mib "${MEM_RSS[redis]}") | $(mib "${MEM_RSS[clusterlab]}") | $(ratio "${MEM_RSS[clusterlab]}" "${MEM_RSS[redis]}") |"
        r_per=$(((MEM_RSS[redis] - MEM_RSS0[redis]) / KEYS)) c_per=$(((MEM_RSS[clusterlab] - MEM_RSS0[clusterlab]) / KEYS))
        echo "| RSS growth per key (bytes) | $r_per | $c_per | $(ratio "$c_per" "$r_per") |"
        echo "| \`used_memory\` (MiB) | $(mib "${MEM_USED[redis]}") | $(mib "${MEM_USED[clusterlab]}") | $(ratio "${MEM_USED[clusterlab]}" "${MEM_USED[redis]}") |"
    fi
    if ((ELEMENTS > 0)); then
        echo
        echo "Memory per element: $ELEMENTS small elements of one type in a fresh standalone server each (\`cluster-enabled no\`, loaded with \`redis-cli --pipe\`); *big* is one key holding them all (1000 per command), *compact* is $((ELEMENTS / 100)) keys of 100 elements, within the default listpack/intset limits (the set's members are integers). Elements: list \`e:%07d\`, hash field \`f:%07d\` = \`v\`, set \`m:%07d\` (compact: integers), sorted set \`m:%07d\` with an integer score. Bytes per element, growth of \`used_memory\` (clusterlab's is an estimate from its own accounting) and of RSS:"
        echo
        echo "| type | shape | redis used_memory | clusterlab used_memory | ratio | redis RSS | clusterlab RSS | RSS ratio |"
        echo "|---|---|---:|---:|---:|---:|---:|---:|"
        for type in "${ELEMENT_TYPES[@]}"; do
            for shape in "${ELEMENT_SHAPES[@]}"; do
                ru=${EL_USED[redis,$type,$shape]} cu=${EL_USED[clusterlab,$type,$shape]}
                rr=${EL_RSS[redis,$type,$shape]} cr=${EL_RSS[clusterlab,$type,$shape]}
                echo "| $type | $shape | $ru | $cu | $(ratio "$cu" "$ru") | $rr | $cr | $(ratio "$cr" "$rr") |"
            done
        done
    fi
} >"$REPORT"

cat "$REPORT"
if [[ $RECORD == 1 ]]; then
    "$ROOT/scripts/record.sh" bench "$REPORT"
fi
