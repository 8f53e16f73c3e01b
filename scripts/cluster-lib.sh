# Shared by scripts/bench.sh and scripts/bench-failover.sh (sourced, not run): start local
# clusters of `redis-server` or `clusterlab node` processes from one redis.conf template, wait
# for them, and kill exactly the processes this script started when it exits.
#
# Only 127.0.0.1 is used. Every wait is bounded; a failed wait aborts the whole run.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CLUSTERLAB_BIN=${CLUSTERLAB_BIN:-$ROOT/target/release/clusterlab}
STARTED_PIDS=()
WORK_DIR=$(mktemp -d /tmp/clusterlab-bench.XXXXXX)

die() {
    echo "error: $*" >&2
    exit 1
}

# Kills the processes this script started (by PID, never by name).
kill_started() {
    local pid
    for pid in "${STARTED_PIDS[@]}"; do
        kill -9 "$pid" 2>/dev/null || true
    done
    for pid in "${STARTED_PIDS[@]}"; do
        { wait "$pid"; } 2>/dev/null || true
    done
    STARTED_PIDS=()
}

# On exit: kill_started, then remove the scratch dir unless BENCH_KEEP=1.
cleanup() {
    kill_started
    if [[ ${BENCH_KEEP:-0} == 1 ]]; then
        echo "scratch files kept in $WORK_DIR" >&2
    else
        rm -rf "$WORK_DIR"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

need() {
    command -v "$1" >/dev/null || die "$1 not found (apt-get install -y ${2:-$1})"
}

build_release() {
    if [[ ${BENCH_NO_BUILD:-0} != 1 ]]; then
        (cd "$ROOT" && cargo build --release -p clusterlab --quiet) || die "release build failed"
    fi
    [[ -x $CLUSTERLAB_BIN ]] || die "$CLUSTERLAB_BIN missing"
}

# Fails unless the client port and the bus port (+10000) of every port are free.
check_ports_free() {
    local port
    for port in "$@"; do
        for p in "$port" $((port + 10000)); do
            if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
                die "port $p on 127.0.0.1 is in use; pick another base with BENCH_PORT_BASE"
            fi
        done
    done
}

# The redis.conf both kinds of node get (as in the tutorial, without persistence unless asked).
write_conf() {
    local dir=$1 port=$2 node_timeout_ms=$3 appendonly=$4
    cat >"$dir/node-$port.conf" <<CONF
port $port
bind 127.0.0.1
cluster-enabled yes
cluster-config-file nodes-$port.conf
cluster-node-timeout $node_timeout_ms
appendonly $appendonly
appendfsync everysec
appenddirname appendonlydir-$port
dbfilename dump-$port.rdb
save ""
dir $dir
logfile $dir/node-$port.log
pidfile $dir/node-$port.pid
CONF
}

# start_node KIND DIR PORT NODE_TIMEOUT_MS APPENDONLY: starts one node in the background and
# prints its PID (also recorded for cleanup).
start_node() {
    local kind=$1 dir=$2 port=$3 node_timeout_ms=$4 appendonly=$5
    write_conf "$dir" "$port" "$node_timeout_ms" "$appendonly"
    case $kind in
    redis) redis-server "$dir/node-$port.conf" >"$dir/node-$port.stdout" 2>&1 & ;;
    clusterlab) "$CLUSTERLAB_BIN" node "$dir/node-$port.conf" >"$dir/node-$port.stdout" 2>&1 & ;;
    *) die "unknown kind $kind" ;;
    esac
    STARTED_PIDS+=("$!")
    NODE_PID[$port]=$!
}
declare -A NODE_PID

# wait_for TIMEOUT_S DESCRIPTION COMMAND...: polls COMMAND every 50 ms.
wait_for() {
    local timeout_s=$1 what=$2
    shift 2
    local deadline=$((SECONDS + timeout_s))
    until "$@" >/dev/null 2>&1; do
        ((SECONDS < deadline)) || die "timed out after ${timeout_s}s waiting for $what"
        sleep 0.05
    done
}

answers_ping() {
    [[ $(redis-cli -p "$1" PING 2>/dev/null) == PONG ]]
}

state_ok() {
    redis-cli -p "$1" CLUSTER INFO 2>/dev/null | grep -q '^cluster_state:ok'
}

all_state_ok() {
    local port
    for port in "$@"; do
        state_ok "$port" || return 1
    done
}

# Every replica reports its link to the master up.
replicas_in_sync() {
    local port
    for port in "$@"; do
        local info
        info=$(redis-cli -p "$port" INFO replication 2>/dev/null | tr -d '\r')
        if grep -q '^role:slave' <<<"$info"; then
            grep -q '^master_link_status:up' <<<"$info" || return 1
        fi
    done
}

# Every node's CLUSTER NODES lists exactly COUNT replicas (roles spread by gossip after create).
replica_count_is() {
    local count=$1 port
    shift
    for port in "$@"; do
        [[ $(redis-cli -p "$port" CLUSTER NODES 2>/dev/null | awk '$3 ~ /slave/' | wc -l) == "$count" ]] ||
            return 1
    done
}

# start_cluster KIND DIR NODE_TIMEOUT_MS APPENDONLY REPLICAS PORT...: starts the nodes, creates
# the cluster with redis-cli and waits until every node reports cluster_state:ok.
start_cluster() {
    local kind=$1 dir=$2 node_timeout_ms=$3 appendonly=$4 replicas=$5
    shift 5
    mkdir -p "$dir"
    check_ports_free "$@"
    local port addrs=()
    for port in "$@"; do
        start_node "$kind" "$dir" "$port" "$node_timeout_ms" "$appendonly"
        addrs+=("127.0.0.1:$port")
    done
    for port in "$@"; do
        wait_for 20 "$kind node on port $port to answer PING" answers_ping "$port"
    done
    redis-cli --cluster create "${addrs[@]}" --cluster-replicas "$replicas" --cluster-yes \
        >"$dir/create.log" 2>&1 || { cat "$dir/create.log" >&2; die "cluster create failed ($kind)"; }
    wait_for 60 "cluster_state:ok on every $kind node" all_state_ok "$@"
    local masters=$(($# / (replicas + 1)))
    wait_for 60 "every $kind node to see its replicas" replica_count_is $(($# - masters)) "$@"
    wait_for 60 "$kind replicas in sync" replicas_in_sync "$@"
    wait_for 60 "cluster_state:ok on every $kind node" all_state_ok "$@"
}

# Resident set size of a PID, in bytes.
rss_bytes() {
    awk '/^VmRSS:/ { print $2 * 1024 }' "/proc/$1/status"
}

info_field() {
    redis-cli -p "$1" INFO "$2" | tr -d '\r' | awk -F: -v f="$3" '$1 == f { print $2 }'
}

machine_line() {
    local cpu
    cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
    echo "$(nproc) cores ($cpu), $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), $(uname -sr)"
}
