//! `repl-diskless-load swapdb` in the simulator (the real driver on virtual time): a replica
//! cut off from its master past `repl-timeout`, while the master writes past its backlog,
//! comes back to a full sync of the same history, which the master produces slowly
//! (`rdb-key-save-delay`). The replica loads it asynchronously, serving its old data:
//!
//! - when the master dies mid-transfer, the replica gives the load up (`SyncLoadAborted`,
//!   old data kept) and still holds and serves its old keys;
//! - when the transfer completes, the replica swaps in exactly the master's data.
//!
//! Simulation build only: `RUSTFLAGS="--cfg madsim" cargo test --target-dir target/sim -p
//! clusterlab-sim-tests --test diskless_load`.
#![cfg(madsim)]

use std::time::Duration;

use clusterlab_core::{ClusterEvent, Reply};
use clusterlab_sim::client::{info_field, ClusterClient};
use clusterlab_sim::cluster::SimCluster;
use clusterlab_sim::runner::in_runtime;
use clusterlab_sim::scenario::failover::replicas_of;
use clusterlab_sim::SimConfig;

const SEED: u64 = 23;
const REPL_TIMEOUT_S: u64 = 5;
/// Keys the master writes while the replica is cut off: 40 KB, past a 16 KB backlog.
const KEYS: usize = 40;
/// 200 ms a key: the snapshot of about 40 keys takes some 8 virtual seconds.
const KEY_SAVE_DELAY_US: &str = "200000";

fn config() -> SimConfig {
    SimConfig {
        masters: 3,
        replicas: 1,
        node_timeout_ms: 5000,
        repl_timeout_s: REPL_TIMEOUT_S,
        repl_diskless_sync_delay_s: 0,
        repl_diskless_load: "swapdb".into(),
        ..SimConfig::default()
    }
}

async fn sleep_ms(ms: u64) {
    madsim::time::sleep(Duration::from_millis(ms)).await;
}

/// Keys in master 0's slots (0-5460).
fn keys_of_master0(count: usize) -> Vec<String> {
    (0..)
        .map(|i| format!("k{i}"))
        .filter(|k| clusterlab_core::slot::key_hash_slot(k.as_bytes()) <= 5460)
        .take(count)
        .collect()
}

async fn ok(cluster: &SimCluster, index: usize, args: &[&str]) {
    let reply = cluster.command(index, args).await.expect("reachable");
    assert_eq!(reply, Reply::ok(), "{args:?}");
}

/// `GET key` on node `index` after `READONLY` (a replica serves it).
async fn read(cluster: &SimCluster, index: usize, key: &str) -> Reply {
    let addr = cluster.node(index).addr();
    let (trace, key) = (cluster.trace().clone(), key.to_string());
    cluster
        .on_client(async move {
            let mut client = ClusterClient::new("reader", addr.clone(), trace);
            client
                .send_to(&addr, &[b"READONLY"])
                .await
                .expect("READONLY");
            client
                .send_to(&addr, &[b"GET", key.as_bytes()])
                .await
                .expect("GET")
        })
        .await
}

async fn persistence_field(cluster: &SimCluster, index: usize, name: &str) -> String {
    let reply = cluster.command(index, &["INFO", "persistence"]).await;
    reply
        .ok()
        .and_then(|r| info_field(&r, name))
        .unwrap_or_default()
}

/// Polls every 100 ms, for at most `limit_ms` of virtual time, until `name` is `value`.
async fn wait_field(cluster: &SimCluster, index: usize, name: &str, value: &str, limit_ms: u64) {
    for _ in 0..limit_ms / 100 {
        if persistence_field(cluster, index, name).await == value {
            return;
        }
        sleep_ms(100).await;
    }
    panic!("{name} never became {value} on node{}", index + 1);
}

fn events_of(cluster: &SimCluster, index: usize) -> Vec<ClusterEvent> {
    let name = format!("node{}", index + 1);
    cluster
        .trace()
        .events()
        .iter()
        .filter(|e| e.node == name)
        .filter_map(|e| e.event.cluster().cloned())
        .collect()
}

/// A healthy cluster whose master 0 holds `old` = 1 on its replica too; then the replica is
/// cut off past `repl-timeout` while the master deletes `old` and writes past its backlog,
/// and is let back to a slow full sync of the same history, loaded asynchronously. Returns
/// the cluster and the replica's index.
async fn replica_loading_asynchronously() -> (SimCluster, usize) {
    let cluster = SimCluster::builder().config(config()).build();
    cluster.create().await.expect("create");
    cluster.wait_cluster_ok(30_000).await.expect("cluster ok");
    sleep_ms(3000).await;
    let replica = replicas_of(&config(), 0)[0];
    let keys = keys_of_master0(KEYS + 1);
    let old = &keys[0];
    ok(&cluster, 0, &["SET", old, "1"]).await;
    sleep_ms(1000).await;
    assert_eq!(read(&cluster, replica, old).await, Reply::bulk_str("1"));

    ok(
        &cluster,
        0,
        &["CONFIG", "SET", "repl-backlog-size", "16384"],
    )
    .await;
    ok(
        &cluster,
        0,
        &["CONFIG", "SET", "rdb-key-save-delay", KEY_SAVE_DELAY_US],
    )
    .await;
    cluster.clog_link(0, replica);
    cluster.clog_link(replica, 0);
    let del = cluster.command(0, &["DEL", old]).await.expect("reachable");
    assert_eq!(del, Reply::Integer(1));
    let value = "v".repeat(1000);
    for key in &keys[1..] {
        ok(&cluster, 0, &["SET", key, &value]).await;
    }
    sleep_ms(REPL_TIMEOUT_S * 1000 + 2000).await;
    cluster.unclog_link(0, replica);
    cluster.unclog_link(replica, 0);

    wait_field(&cluster, replica, "async_loading", "1", 20_000).await;
    assert_eq!(persistence_field(&cluster, replica, "loading").await, "0");
    // Meanwhile the old data answers.
    assert_eq!(read(&cluster, replica, old).await, Reply::bulk_str("1"));
    let started = ClusterEvent::SyncLoadStarted {
        from_socket: true,
        keeps_old_data: true,
        async_loading: true,
    };
    assert!(events_of(&cluster, replica).contains(&started));
    (cluster, replica)
}

#[test]
fn a_swapdb_replica_whose_master_dies_mid_transfer_keeps_and_serves_its_old_keys() {
    in_runtime(SEED, async {
        let (cluster, replica) = replica_loading_asynchronously().await;
        cluster.kill(0);
        wait_field(&cluster, replica, "async_loading", "0", 20_000).await;
        let old = &keys_of_master0(1)[0];
        assert_eq!(read(&cluster, replica, old).await, Reply::bulk_str("1"));
        let dbsize = cluster
            .command(replica, &["DBSIZE"])
            .await
            .expect("reachable");
        assert_eq!(dbsize, Reply::Integer(1), "only the old data set");
        let aborted = ClusterEvent::SyncLoadAborted {
            kept_old_data: true,
        };
        let events = events_of(&cluster, replica);
        assert!(events.contains(&aborted), "{events:?}");
    });
}

#[test]
fn a_swapdb_replica_whose_transfer_completes_holds_exactly_the_masters_data() {
    in_runtime(SEED, async {
        let (cluster, replica) = replica_loading_asynchronously().await;
        wait_field(&cluster, replica, "async_loading", "0", 30_000).await;
        sleep_ms(1000).await;
        let size = |i| cluster.command(i, &["DBSIZE"]);
        let master_keys = size(0).await.expect("reachable");
        assert_eq!(master_keys, Reply::Integer(KEYS as i64));
        let events = events_of(&cluster, replica);
        let replica_keys = size(replica).await.expect("reachable");
        assert_eq!(replica_keys, master_keys, "{events:#?}");
        let keys = keys_of_master0(KEYS + 1);
        assert_eq!(read(&cluster, replica, &keys[0]).await, Reply::Nil);
        let value = "v".repeat(1000);
        for key in &keys[1..] {
            assert_eq!(read(&cluster, replica, key).await, Reply::bulk_str(&value));
        }
        let events = events_of(&cluster, replica);
        let started = events
            .iter()
            .position(|e| matches!(e, ClusterEvent::SyncLoadStarted { .. }))
            .expect("the load started");
        let after = &events[started..];
        assert!(!after
            .iter()
            .any(|e| matches!(e, ClusterEvent::SyncLoadAborted { .. })));
        assert!(after
            .iter()
            .any(|e| matches!(e, ClusterEvent::ReplicationLinkUp { .. })));
    });
}
