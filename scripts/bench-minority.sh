#!/usr/bin/env bash
# Time from cutting off a master (its two peers SIGSTOPped) until it refuses writes.
# $1: "redis" or "clusterlab" (target/release/clusterlab: cargo build --release first); ports
# 21001-21003 on 127.0.0.1, scratch files under /tmp/minority; only its own processes are killed.
set -u
kind=$1; base=21000; pids=()
for i in 1 2 3; do
  p=$((base+i)); d=/tmp/minority/$kind-$p; rm -rf $d; mkdir -p "$d"
  conf="port $p
bind 127.0.0.1
cluster-enabled yes
cluster-config-file nodes-$p.conf
cluster-node-timeout 5000
appendonly no
save \"\"
dir $d
protected-mode no"
  echo "$conf" > $d/redis.conf
  if [ $kind = redis ]; then redis-server $d/redis.conf > $d/log 2>&1 & else "$(dirname "$0")/../target/release/clusterlab" node $d/redis.conf > $d/log 2>&1 & fi
  pids+=($!)
done
sleep 1
redis-cli --cluster create 127.0.0.1:21001 127.0.0.1:21002 127.0.0.1:21003 --cluster-yes > /dev/null
for t in $(seq 1 100); do s=$(redis-cli -p 21002 cluster info | grep cluster_state | tr -d '\r'); [ "$s" = "cluster_state:ok" ] && [ "$(redis-cli -p 21001 cluster info | grep cluster_state | tr -d '\r')" = "cluster_state:ok" ] && break; sleep 0.2; done
sleep 3
kill -STOP ${pids[1]} ${pids[2]}
start=$(date +%s%N)
for t in $(seq 1 400); do
  r=$(redis-cli -p 21001 set key2 v$t 2>&1)
  if [[ "$r" != "OK" ]]; then end=$(date +%s%N); echo "$kind: writes refused after $(( (end-start)/1000000 )) ms: $r"; break; fi
  sleep 0.05
done
kill -CONT ${pids[1]} ${pids[2]}
kill ${pids[@]}; wait 2>/dev/null
