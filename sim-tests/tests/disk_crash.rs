//! The three crash kinds on a node's disk, reached from the simulator: a master under
//! `appendfsync no` (nothing synced after the AOF is created) takes writes and crashes.
//!
//! - A process crash (`kill -9`) keeps every write: the kernel still holds the pages.
//! - A power loss keeps none of them.
//! - A torn power loss keeps a prefix that ends inside a record; the restarted node cuts the
//!   torn tail (`aof-load-truncated yes`) and comes back with the writes before the cut.
//!
//! Simulation build only: `RUSTFLAGS="--cfg madsim" cargo test --target-dir target/sim -p
//! clusterlab-sim-tests --test disk_crash`.
#![cfg(madsim)]

use std::time::Duration;

use clusterlab_core::config::AppendFsync;
use clusterlab_core::slot::key_hash_slot;
use clusterlab_core::Reply;
use clusterlab_net::disk::Disk;
use clusterlab_sim::cluster::SimCluster;
use clusterlab_sim::faults::CrashKind;
use clusterlab_sim::runner::in_runtime;

/// Keys written to the victim, all in one slot.
const KEYS: usize = 40;
/// Their hash tag.
const TAG: &str = "{d}";

/// What survives on the victim: its key count after the restart, and the AOF's length on its
/// disk before the crash and after the restart.
#[derive(Debug)]
struct Survived {
    keys: i64,
    aof_before: usize,
    aof_after: usize,
}

fn crash_and_count(how: CrashKind) -> Survived {
    in_runtime(7, async move {
        let cluster = SimCluster::builder()
            .masters(3)
            .appendfsync(AppendFsync::No)
            .build();
        cluster.create().await.expect("create");
        cluster.wait_cluster_ok(30_000).await.expect("cluster ok");
        let victim = owner_of_tag(&cluster);
        for i in 0..KEYS {
            let key = format!("{TAG}key{i}");
            let value = format!("value-{i}-{}", "x".repeat(i));
            let reply = cluster
                .command(victim, &["SET", &key, &value])
                .await
                .expect("SET");
            assert_eq!(reply, Reply::ok(), "{key}");
        }
        let aof_before = aof_len(&cluster, victim);
        cluster.crash(victim, how);
        madsim::time::sleep(Duration::from_secs(2)).await;
        cluster.restart(victim);
        cluster.wait_listening().await.expect("restarted");
        let keys = match cluster.command(victim, &["DBSIZE"]).await.expect("DBSIZE") {
            Reply::Integer(n) => n,
            other => panic!("DBSIZE answered {other:?}"),
        };
        Survived {
            keys,
            aof_before,
            aof_after: aof_len(&cluster, victim),
        }
    })
}

/// The node `create` gave the tag's slot: masters split the slots in equal ranges, in order.
fn owner_of_tag(cluster: &SimCluster) -> usize {
    let slot = usize::from(key_hash_slot(TAG.as_bytes()));
    let masters = cluster.len();
    (0..masters)
        .find(|m| slot < (m + 1) * 16384 / masters)
        .expect("a slot is below 16384")
}

/// Bytes in the node's AOF incr file.
fn aof_len(cluster: &SimCluster, node: usize) -> usize {
    let disk = &cluster.node(node).disk;
    let incr = disk
        .paths()
        .into_iter()
        .find(|p| p.to_string_lossy().ends_with(".incr.aof"))
        .expect("an incr file");
    disk.read(&incr).expect("read").expect("exists").len()
}

#[test]
fn process_crash_keeps_unsynced_writes() {
    let s = crash_and_count(CrashKind::Process);
    assert_eq!(s.keys, KEYS as i64, "{s:?}");
    assert_eq!(s.aof_after, s.aof_before, "{s:?}");
}

#[test]
fn power_loss_drops_unsynced_writes() {
    let s = crash_and_count(CrashKind::PowerLoss);
    assert_eq!(s.keys, 0, "{s:?}");
    assert_eq!(s.aof_after, 0, "{s:?}");
}

#[test]
fn torn_power_loss_loads_the_writes_before_the_cut() {
    let s = crash_and_count(CrashKind::Torn { keep_permille: 500 });
    assert!(0 < s.keys && s.keys < KEYS as i64, "{s:?}");
    // The loader cut the torn record: the file ends on a whole command, before the cut.
    let cut = s.aof_before / 2;
    assert!(0 < s.aof_after && s.aof_after < cut, "{s:?}");
}
