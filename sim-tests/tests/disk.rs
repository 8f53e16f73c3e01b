//! Disk faults reached from the simulator.
//!
//! The three crash kinds: a master under `appendfsync no` (nothing synced after the AOF is
//! created) takes writes and crashes.
//! - A process crash (`kill -9`) keeps every write: the kernel still holds the pages.
//! - A power loss keeps none of them.
//! - A torn power loss keeps a prefix that ends inside a record; the restarted node cuts the
//!   torn tail (`aof-load-truncated yes`) and comes back with the writes before the cut.
//!
//! Disk errors, in a campaign with the append clients: under `everysec` a full disk makes a
//! master refuse writes with Redis's `-MISCONF` until it is repaired; under `always` the
//! master stops at its next write and is started again once the disk is repaired. Both runs
//! check clean.
//!
//! Simulation build only: `RUSTFLAGS="--cfg madsim" cargo test --target-dir target/sim -p
//! clusterlab-sim-tests --test disk`.
#![cfg(madsim)]

use std::time::Duration;

use clusterlab_core::config::AppendFsync;
use clusterlab_core::slot::key_hash_slot;
use clusterlab_core::Reply;
use clusterlab_net::disk::Disk;
use clusterlab_sim::campaign;
use clusterlab_sim::cluster::SimCluster;
use clusterlab_sim::faults::{CrashKind, DiskErrorKind, Fault, FaultSchedule, TimedFault};
use clusterlab_sim::runner::in_runtime;
use clusterlab_sim::trace::{Event, ProcessEvent, TraceEvent};
use clusterlab_sim::{Fsync, SimConfig};

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

/// node1's disk fills up 3 s into the safety phase and is repaired 6 s later.
fn full_disk_run(appendfsync: Fsync) -> clusterlab_sim::RunReport {
    let schedule = FaultSchedule::new(vec![
        TimedFault {
            at_ms: 3000,
            fault: Fault::DiskError {
                node: 0,
                error: DiskErrorKind::Full,
            },
        },
        TimedFault {
            at_ms: 9000,
            fault: Fault::DiskRepair { node: 0 },
        },
    ]);
    let config = SimConfig {
        replicas: 1,
        appendfsync,
        ..SimConfig::default()
    };
    let report = campaign::run(5, &config, Some(schedule));
    let node1: Vec<String> = report
        .trace
        .iter()
        .filter(|e| e.node == "node1" || e.node == "faults")
        .filter(|e| matches!(e.event, Event::Process(_) | Event::Fault(_)))
        .map(|e| format!("{} {} {}", e.time_us, e.node, e.event))
        .collect();
    assert!(report.ok(), "{:#?}\n{node1:#?}", report.violations);
    report
}

/// Replies the append clients got from node1.
fn node1_replies(trace: &[TraceEvent]) -> Vec<String> {
    trace
        .iter()
        .filter(|e| e.node.starts_with("writer"))
        .filter_map(|e| match &e.event {
            Event::Request(r) if r.addr == "10.0.0.1:7001" => Some(r.reply.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_full_disk_under_everysec_refuses_writes_with_misconf_until_repaired() {
    let report = full_disk_run(Fsync::Everysec);
    let replies = node1_replies(&report.trace);
    let misconf = "-MISCONF Errors writing to the AOF file: No space left on device";
    let refused = replies.iter().position(|r| r == misconf);
    let refused = refused.unwrap_or_else(|| panic!("never refused: {replies:?}"));
    // Taken again after the repair.
    assert!(
        replies[refused..]
            .iter()
            .any(|r| !r.contains("MISCONF") && !r.contains("error")),
        "{replies:?}"
    );
    let events: Vec<String> = report
        .trace
        .iter()
        .filter(|e| e.node == "node1")
        .filter_map(|e| match &e.event {
            Event::Cluster(c) if c.to_string().starts_with("AOF ") => Some(c.to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(
        events,
        [
            "AOF write failed: No space left on device",
            "AOF write works again"
        ]
    );
    // The node never stopped.
    assert!(!report
        .trace
        .iter()
        .any(|e| e.node == "node1" && matches!(e.event, Event::Process(ProcessEvent::Exit(_)))));
}

#[test]
fn a_full_disk_under_always_stops_the_node_until_repaired() {
    let report = full_disk_run(Fsync::Always);
    let lifecycle: Vec<String> = report
        .trace
        .iter()
        .filter(|e| e.node == "node1")
        .filter_map(|e| match &e.event {
            Event::Process(p @ (ProcessEvent::Exit(_) | ProcessEvent::Restart)) => {
                Some(p.to_string())
            }
            _ => None,
        })
        .collect();
    assert_eq!(lifecycle.len(), 2, "{lifecycle:?}");
    assert!(lifecycle[0].starts_with("exit Err("), "{lifecycle:?}");
    assert_eq!(lifecycle[1], "restart");
    // Never refused: a write it could not log was never answered.
    assert!(!node1_replies(&report.trace)
        .iter()
        .any(|r| r.contains("MISCONF")));
}
