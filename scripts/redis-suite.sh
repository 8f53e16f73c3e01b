#!/usr/bin/env bash
# Redis 7.0's own cluster test suite (tests/cluster/) against clusterlab, or with --reference
# against the real redis-server, one file at a time.
#
# The suite is not in this repository: Debian's source package `redis` (the version of the
# installed redis-tools) is fetched at run time through a private apt directory (the system's
# apt sources stay untouched) and unpacked under target/redis-suite/. Its runner starts
# `src/redis-server <conf>` instances and drives them with `src/redis-cli` and its own Tcl
# client; src/redis-server is made to exec `clusterlab node` (or /usr/bin/redis-server), and
# src/redis-cli is the system's.
#
#   scripts/redis-suite.sh [--reference] [--limit-s N] [--bin PATH] [FILE ...]
#
# --bin runs a clusterlab binary already built (CI passes target/debug/clusterlab, which its
# `cargo test` built) instead of building the release one.
# FILE is a name in tests/cluster/tests/ (`00-base` or `00-base.tcl`); none means all. Prints
# one line per file (`PASS|FAIL|TIMEOUT file seconds`), then the totals; each file's output is
# kept in target/redis-suite/logs/<mode>/<file>.log. Exits 1 if any file did not pass.
# Needs tclsh (Debian `tcl`), dpkg-source (Debian `dpkg-dev`), redis-cli (`redis-tools`) and,
# for --reference, redis-server.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
suite_root="$root/target/redis-suite"
mode=clusterlab
limit_s=600
bin=
files=()
while [ $# -gt 0 ]; do
    case "$1" in
        --reference) mode=redis-server ;;
        --limit-s) limit_s=$2; shift ;;
        --bin) bin=$(realpath "$2"); shift ;;
        -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
        *) files+=("${1%.tcl}") ;;
    esac
    shift
done

need() {
    command -v "$1" >/dev/null || { echo "$1 missing: apt-get install -y $2" >&2; exit 2; }
}
need tclsh tcl
need dpkg-source dpkg-dev
need redis-cli redis-tools
[ "$mode" = clusterlab ] || need redis-server redis-server

# The source package of the installed redis-tools (e.g. 5:7.0.15-1~deb12u10), unpacked once.
fetch_suite() {
    local version apt src_dir
    version=$(dpkg-query -W -f='${Version}' redis-tools)
    src_dir="$suite_root/redis-${version#*:}"
    if [ -x "$src_dir/runtest-cluster" ]; then
        echo "$src_dir"
        return
    fi
    apt="$suite_root/apt"
    mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$suite_root/download"
    local codename
    codename=$(. /etc/os-release && echo "$VERSION_CODENAME")
    cat > "$apt/sources.list" <<EOF
deb-src http://deb.debian.org/debian $codename main
deb-src http://deb.debian.org/debian $codename-updates main
deb-src http://deb.debian.org/debian-security $codename-security main
EOF
    local opts=(-o "Dir::Etc::SourceList=$apt/sources.list" -o Dir::Etc::SourceParts=/dev/null
        -o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt/cache" -o Debug::NoLocking=1)
    apt-get "${opts[@]}" -qq update >&2
    (cd "$suite_root/download" && apt-get "${opts[@]}" -qq source --download-only "redis=$version" >&2)
    rm -rf "$src_dir.tmp"
    dpkg-source --no-check -x "$suite_root/download/redis_${version#*:}.dsc" "$src_dir.tmp" >&2
    mv "$src_dir.tmp" "$src_dir"
    echo "$src_dir"
}

# src/redis-server and src/redis-cli as the suite expects them.
install_programs() {
    local src_dir=$1 server
    if [ "$mode" = clusterlab ]; then
        if [ -z "$bin" ]; then
            (cd "$root" && cargo build --release -q -p clusterlab)
            bin="$root/target/release/clusterlab"
        fi
        [ -x "$bin" ] || { echo "no clusterlab binary at $bin" >&2; exit 2; }
        server="exec '$bin' node \"\$@\""
    else
        server="exec /usr/bin/redis-server \"\$@\""
    fi
    printf '#!/bin/sh\n%s\n' "$server" > "$src_dir/src/redis-server"
    chmod +x "$src_dir/src/redis-server"
    ln -sf "$(command -v redis-cli)" "$src_dir/src/redis-cli"
}

# Runs one file in a process group of its own, so that on a timeout the runner and every
# instance it spawned are ended together; prints the exit status or `timeout`.
run_bounded() {
    local file=$1 log=$2 pid waited=0
    (cd "$src_dir" && exec setsid ./runtest-cluster --single "$file.tcl") > "$log" 2>&1 < /dev/null &
    pid=$!
    while kill -0 "$pid" 2>/dev/null; do
        if [ "$waited" -ge "$limit_s" ]; then
            kill -TERM -- "-$pid" 2>/dev/null || true
            sleep 2
            kill -KILL -- "-$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
            echo timeout
            return
        fi
        sleep 1
        waited=$((waited + 1))
    done
    local status=0
    wait "$pid" || status=$?
    # Instances the runner left behind (it ends them itself when it exits normally).
    kill -KILL -- "-$pid" 2>/dev/null || true
    echo "$status"
}

src_dir=$(fetch_suite)
install_programs "$src_dir"
if [ ${#files[@]} -eq 0 ]; then
    for f in "$src_dir"/tests/cluster/tests/*.tcl; do
        files+=("$(basename "$f" .tcl)")
    done
fi

logs="$suite_root/logs/$mode"
mkdir -p "$logs"
passed=0 failed=0 timed_out=0
for file in "${files[@]}"; do
    if [ ! -f "$src_dir/tests/cluster/tests/$file.tcl" ]; then
        echo "no such file in the suite: $file" >&2
        exit 2
    fi
    start=$(date +%s)
    status=$(run_bounded "$file" "$logs/$file.log")
    seconds=$(( $(date +%s) - start ))
    if [ "$status" = 0 ]; then
        verdict=PASS; passed=$((passed + 1))
    elif [ "$status" = timeout ]; then
        verdict=TIMEOUT; timed_out=$((timed_out + 1))
    else
        verdict=FAIL; failed=$((failed + 1))
    fi
    echo "$verdict $file $seconds"
done
echo "total ($mode): ${#files[@]} files, $passed passed, $failed failed, $timed_out timed out"
[ $((failed + timed_out)) -eq 0 ]
