//! A slow disk (`Fault::SlowDisk`: every fsync takes virtual time) as Redis 7.0 meets it.
//!
//! - `everysec` with a 3 s fsync: the background sync runs while writes keep coming, so the
//!   node holds them in memory (`aof_flush_postponed_start`) and writes them anyway after two
//!   seconds (`aof_delayed_fsync` in `INFO persistence`); replies never wait. A power loss
//!   keeps exactly the writes the last completed sync held (its `AofSynced` offset).
//! - `always` with a slow fsync: the node syncs on its own thread before it replies, so each
//!   write's reply takes longer than the fsync, and a power loss right after the last reply
//!   keeps every acknowledged write.
//! - In campaigns with the append clients, a slow disk on a master under either policy checks
//!   clean, the `always` durability check (`acked_before_fsync`) included.
//!
//! Simulation build only: `RUSTFLAGS="--cfg madsim" cargo test --target-dir target/sim -p
//! clusterlab-sim-tests --test slow_disk`.
#![cfg(madsim)]

use std::time::Duration;

use clusterlab_core::config::AppendFsync;
use clusterlab_core::event::request_digest;
use clusterlab_core::slot::key_hash_slot;
use clusterlab_core::{ClusterEvent, Reply};
use clusterlab_sim::campaign;
use clusterlab_sim::cluster::SimCluster;
use clusterlab_sim::faults::{CrashKind, Fault, FaultSchedule, TimedFault};
use clusterlab_sim::runner::in_runtime;
use clusterlab_sim::trace::{Event, TraceEvent};
use clusterlab_sim::{Fsync, SimConfig};

/// The keys' hash tag: all in one slot, on one master.
const TAG: &str = "{d}";

/// The node `create` gave the tag's slot: masters split the slots in equal ranges, in order.
fn owner_of_tag(cluster: &SimCluster) -> usize {
    let slot = usize::from(key_hash_slot(TAG.as_bytes()));
    let masters = cluster.len();
    (0..masters)
        .find(|m| slot < (m + 1) * 16384 / masters)
        .expect("a slot is below 16384")
}

fn set_args(i: usize) -> [String; 3] {
    ["SET".into(), format!("{TAG}key{i}"), format!("value-{i}")]
}

/// One `SET` per key to `node`, `gap_ms` apart; each reply's virtual latency.
async fn write_keys(cluster: &SimCluster, node: usize, keys: usize, gap_ms: u64) -> Vec<Duration> {
    let mut latencies = Vec::new();
    for i in 0..keys {
        let args = set_args(i);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let sent = madsim::time::Instant::now();
        let reply = cluster.command(node, &args).await.expect("SET");
        assert_eq!(reply, Reply::ok(), "{args:?}");
        latencies.push(sent.elapsed());
        madsim::time::sleep(Duration::from_millis(gap_ms)).await;
    }
    latencies
}

async fn dbsize(cluster: &SimCluster, node: usize) -> i64 {
    match cluster.command(node, &["DBSIZE"]).await.expect("DBSIZE") {
        Reply::Integer(n) => n,
        other => panic!("DBSIZE answered {other:?}"),
    }
}

async fn info_field(cluster: &SimCluster, node: usize, name: &str) -> String {
    let text = match cluster.command(node, &["INFO", "persistence"]).await {
        Ok(Reply::Bulk(b)) => String::from_utf8_lossy(&b).into_owned(),
        Ok(Reply::Verbatim(_, text)) => text,
        other => panic!("INFO answered {other:?}"),
    };
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .unwrap_or_else(|| panic!("no {name} in {text}"))
        .to_string()
}

/// `node`'s cluster events in `trace`.
fn node_events<'t>(trace: &'t [TraceEvent], name: &str) -> Vec<&'t ClusterEvent> {
    trace
        .iter()
        .filter(|e| e.node == name)
        .filter_map(|e| match &e.event {
            Event::Cluster(c) => Some(c),
            _ => None,
        })
        .collect()
}

#[test]
fn everysec_with_a_3s_fsync_delays_writes_and_a_power_loss_keeps_exactly_what_was_synced() {
    const KEYS: usize = 60;
    in_runtime(11, async move {
        let cluster = SimCluster::builder()
            .masters(3)
            .appendfsync(AppendFsync::Everysec)
            .build();
        cluster.create().await.expect("create");
        cluster.wait_cluster_ok(30_000).await.expect("cluster ok");
        let victim = owner_of_tag(&cluster);
        let name = format!("node{}", victim + 1);
        cluster.node(victim).disk.set_fsync_ms(3000);
        let latencies = write_keys(&cluster, victim, KEYS, 100).await;
        // Replies never wait for the held writes or the background sync.
        let slowest = latencies.iter().max().expect("writes");
        assert!(*slowest < Duration::from_millis(500), "{latencies:?}");
        let delayed: u64 = info_field(&cluster, victim, "aof_delayed_fsync")
            .await
            .parse()
            .expect("a number");
        assert!(delayed > 0, "aof_delayed_fsync {delayed}");
        let trace = cluster.trace().events();
        let events = node_events(&trace, &name);
        assert!(events.contains(&&ClusterEvent::AofWritePostponed));
        assert!(events.contains(&&ClusterEvent::AofWriteResumed { delayed: true }));
        // What the last completed sync held, and the keys written up to that offset.
        let synced = events
            .iter()
            .filter_map(|e| match e {
                ClusterEvent::AofSynced { offset } => Some(*offset),
                _ => None,
            })
            .max()
            .expect("a completed sync");
        let applied: Vec<u64> = (0..KEYS)
            .map(|i| {
                let request = request_digest(&set_args(i));
                events
                    .iter()
                    .find_map(|e| match e {
                        ClusterEvent::WriteApplied { offset, request: r } if *r == request => {
                            Some(*offset)
                        }
                        _ => None,
                    })
                    .expect("applied")
            })
            .collect();
        let durable = applied.iter().filter(|&&o| o <= synced).count();
        assert!(0 < durable && durable < KEYS, "{durable} of {KEYS} synced");
        cluster.crash(victim, CrashKind::PowerLoss);
        madsim::time::sleep(Duration::from_secs(2)).await;
        cluster.restart(victim);
        cluster.wait_listening().await.expect("restarted");
        assert_eq!(dbsize(&cluster, victim).await, durable as i64);
    });
}

#[test]
fn always_with_a_slow_fsync_replies_after_the_sync_and_a_power_loss_keeps_every_ack() {
    const KEYS: usize = 10;
    const FSYNC_MS: u64 = 300;
    in_runtime(12, async move {
        let cluster = SimCluster::builder()
            .masters(3)
            .appendfsync(AppendFsync::Always)
            .build();
        cluster.create().await.expect("create");
        cluster.wait_cluster_ok(30_000).await.expect("cluster ok");
        let victim = owner_of_tag(&cluster);
        cluster.node(victim).disk.set_fsync_ms(FSYNC_MS);
        let latencies = write_keys(&cluster, victim, KEYS, 0).await;
        for latency in &latencies {
            assert!(*latency > Duration::from_millis(FSYNC_MS), "{latencies:?}");
        }
        // Right after the last reply: every acknowledged write is on the platter.
        cluster.crash(victim, CrashKind::PowerLoss);
        madsim::time::sleep(Duration::from_secs(2)).await;
        cluster.node(victim).disk.set_fsync_ms(0);
        cluster.restart(victim);
        cluster.wait_listening().await.expect("restarted");
        assert_eq!(dbsize(&cluster, victim).await, KEYS as i64);
    });
}

/// node1's disk turns slow (`fsync_ms`) 3 s into the safety phase, fast again 8 s later, and
/// node1 loses power in the middle.
fn slow_disk_run(appendfsync: Fsync, fsync_ms: u64) -> clusterlab_sim::RunReport {
    let schedule = FaultSchedule::new(vec![
        TimedFault {
            at_ms: 3000,
            fault: Fault::SlowDisk { node: 0, fsync_ms },
        },
        TimedFault {
            at_ms: 7000,
            fault: Fault::crash(0),
        },
        TimedFault {
            at_ms: 9000,
            fault: Fault::Restart { node: 0 },
        },
        TimedFault {
            at_ms: 11_000,
            fault: Fault::SlowDisk {
                node: 0,
                fsync_ms: 0,
            },
        },
    ]);
    let config = SimConfig {
        replicas: 1,
        appendfsync,
        ..SimConfig::default()
    };
    let report = campaign::run(5, &config, Some(schedule));
    assert!(report.ok(), "{:#?}", report.violations);
    report
}

#[test]
fn campaigns_with_a_slow_disk_check_clean_under_both_policies() {
    let everysec = slow_disk_run(Fsync::Everysec, 3000);
    let held = everysec
        .trace
        .iter()
        .filter(|e| e.node == "node1")
        .any(|e| matches!(e.event, Event::Cluster(ClusterEvent::AofWritePostponed)));
    assert!(held, "node1 never held writes for its slow fsync");
    let always = slow_disk_run(Fsync::Always, 200);
    let synced = always
        .trace
        .iter()
        .filter(|e| e.node == "node1")
        .filter(|e| matches!(e.event, Event::Cluster(ClusterEvent::AofSynced { .. })))
        .count();
    assert!(synced > 0);
}
