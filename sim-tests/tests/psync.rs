//! Partial resync in the simulator, on 3 masters with 2 replicas each, under the failover
//! scenario's writers:
//!
//! - the link between node1 and one of its replicas is cut for longer than `repl-timeout`:
//!   the replica drops the silent link and continues from its offset (`+CONTINUE`), with no
//!   full sync and no flush;
//! - node1 is cut off from the bus (its clients still reach it) long enough to be failed
//!   over: its other replica continues with the promoted one, and node1, back, must load a
//!   full snapshot because it took writes alone past the promotion; the loss rule judges the
//!   writes that vanish with them;
//! - that full sync waits `repl-diskless-sync-delay` for the snapshot, then takes as long as
//!   its bytes need at the simulated bandwidth.
//!
//! Simulation build only: `RUSTFLAGS="--cfg madsim" cargo test --target-dir target/sim -p
//! clusterlab-sim-tests --test psync`.
#![cfg(madsim)]

use clusterlab_core::{ClusterEvent, NodeId};
use clusterlab_sim::faults::{Fault, FaultSchedule, TimedFault};
use clusterlab_sim::scenario::failover::{self, effective_config, replicas_of};
use clusterlab_sim::trace::{Event, FaultEvent};
use clusterlab_sim::{SimConfig, TraceEvent};

const SEED: u64 = 1;
const CUT_AT_MS: u64 = 5000;

/// `repl-timeout` shortened so that a cut inside the safety phase outlasts it.
const REPL_TIMEOUT_S: u64 = 10;

fn config() -> SimConfig {
    effective_config(&SimConfig {
        replicas: 2,
        repl_timeout_s: REPL_TIMEOUT_S,
        ..SimConfig::default()
    })
}

fn name(index: usize) -> String {
    format!("node{}", index + 1)
}

/// `node`'s own events from `since_us` on, with their times.
fn events_of(trace: &[TraceEvent], node: usize, since_us: u64) -> Vec<(u64, ClusterEvent)> {
    let name = name(node);
    trace
        .iter()
        .filter(|e| e.node == name && e.time_us >= since_us)
        .filter_map(|e| Some((e.time_us, e.event.cluster()?.clone())))
        .collect()
}

/// The ID `node` ran under last.
fn id_of(trace: &[TraceEvent], node: usize) -> NodeId {
    events_of(trace, node, 0)
        .into_iter()
        .rev()
        .find_map(|(_, e)| match e {
            ClusterEvent::NodeStarted { id, .. } => Some(id),
            _ => None,
        })
        .expect("the node started")
}

fn resyncs(events: &[(u64, ClusterEvent)]) -> Vec<ClusterEvent> {
    events
        .iter()
        .map(|(_, e)| e.clone())
        .filter(|e| {
            matches!(
                e,
                ClusterEvent::PartialResync { .. } | ClusterEvent::FullResync { .. }
            )
        })
        .collect()
}

/// When the injector cut the replica's link (schedule times count from the safety phase).
fn cut_started_us(trace: &[TraceEvent], replica: usize) -> u64 {
    trace
        .iter()
        .find(|e| {
            matches!(&e.event, Event::Fault(FaultEvent::Applied(Fault::ClogLink { from: 0, to }))
                if *to == replica)
        })
        .map(|e| e.time_us)
        .expect("the cut is on record")
}

fn at(at_ms: u64, fault: Fault) -> TimedFault {
    TimedFault { at_ms, fault }
}

#[test]
fn a_replica_cut_off_past_repl_timeout_continues_from_its_offset() {
    let config = config();
    let replica = replicas_of(&config, 0)[0];
    // The cut outlasts `repl-timeout` by 5 s.
    let cut_ms = REPL_TIMEOUT_S * 1000 + 5000;
    let mut faults = Vec::new();
    for (from, to) in [(0, replica), (replica, 0)] {
        faults.push(at(CUT_AT_MS, Fault::ClogLink { from, to }));
        faults.push(at(CUT_AT_MS + cut_ms, Fault::UnclogLink { from, to }));
    }
    let run = failover::run(SEED, &config, Some(FaultSchedule::new(faults)));
    run.report.assert_ok();
    let trace = &run.report.trace;
    let cut_us = cut_started_us(trace, replica);
    let events = events_of(trace, replica, cut_us);
    let down = events.iter().find_map(|(t, e)| match e {
        ClusterEvent::ReplicationLinkDown { offset } => Some((*t, *offset)),
        _ => None,
    });
    let (down_us, offset) = down.expect("the silent link was dropped");
    // Nothing came for `repl-timeout` before the drop (the last write the replica applied
    // came before it; a keep-alive PING may have come later still).
    let last_write_us = events_of(trace, replica, 0)
        .into_iter()
        .filter(|(t, e)| *t < down_us && matches!(e, ClusterEvent::WriteApplied { .. }))
        .map(|(t, _)| t)
        .next_back()
        .expect("the replica applied writes");
    assert!(down_us >= last_write_us + REPL_TIMEOUT_S * 1_000_000);
    assert!(down_us > cut_us);
    assert_eq!(
        resyncs(&events),
        vec![ClusterEvent::PartialResync {
            master: id_of(trace, 0),
            offset
        }],
        "one partial resync, from where the link dropped"
    );
    assert!(
        !events
            .iter()
            .any(|(_, e)| matches!(e, ClusterEvent::ReplicationLinkUp { .. })),
        "no snapshot loaded"
    );
    // The writes it missed came from the backlog: its offsets go on past the drop.
    let applied = events
        .iter()
        .any(|(_, e)| matches!(e, ClusterEvent::WriteApplied { offset: at, .. } if *at > offset));
    assert!(applied, "the stream went on from the backlog");
}

/// Node 1 cut off the bus for 30 s (its clients still reach it), failed over meanwhile.
fn partition_node1(seed: u64, config: &SimConfig) -> failover::FailoverRun {
    let schedule = FaultSchedule::new(vec![
        at(
            CUT_AT_MS,
            Fault::Partition {
                groups: vec![vec![0]],
            },
        ),
        at(CUT_AT_MS + 30_000, Fault::Heal),
    ]);
    failover::run(seed, config, Some(schedule))
}

/// When node1's full sync was announced and when its snapshot was loaded, after `since_us`.
fn full_sync_of_node1(trace: &[TraceEvent], since_us: u64) -> (u64, u64) {
    let events = events_of(trace, 0, since_us);
    let announced = events
        .iter()
        .find(|(_, e)| matches!(e, ClusterEvent::FullResync { .. }))
        .map(|(t, _)| *t)
        .expect("a full sync");
    let loaded = events
        .iter()
        .find(|(t, e)| *t >= announced && matches!(e, ClusterEvent::ReplicationLinkUp { .. }))
        .map(|(t, _)| *t)
        .expect("its snapshot loaded");
    (announced, loaded)
}

#[test]
fn a_full_sync_waits_the_sync_delay_then_takes_as_long_as_its_bytes_need() {
    let slow = SimConfig {
        repl_transfer_bytes_per_s: 500,
        ..config()
    };
    // Seed 3: on some seeds node1's replicas split the vote (both rank 0, started in the
    // same cron tick) and no failover happens before the heal (seed 1 did before full
    // syncs held the stream for the first ACK and sent keep-alive newlines, seed 2 since;
    // seeds 1 and 3-6 fail over now).
    let run = partition_node1(3, &slow);
    run.report.assert_ok();
    let trace = &run.report.trace;
    let cut_us = CUT_AT_MS * 1000;
    // node1 turned replica after the heal; its new master held the snapshot for the delay.
    let turned_us = events_of(trace, 0, cut_us)
        .into_iter()
        .find(|(_, e)| matches!(e, ClusterEvent::BecameReplica { .. }))
        .map(|(t, _)| t)
        .expect("node1 follows the new master");
    let taken_us = trace
        .iter()
        .filter(|e| e.time_us > turned_us)
        .find(|e| matches!(e.event.cluster(), Some(ClusterEvent::SnapshotTaken { .. })))
        .map(|e| e.time_us)
        .expect("a snapshot taken");
    assert!(taken_us >= turned_us + slow.repl_diskless_sync_delay_s * 1_000_000);
    // Then the transfer: node1's data (hundreds of bytes at least) at 500 bytes a second.
    let (announced_us, loaded_us) = full_sync_of_node1(trace, turned_us);
    println!(
        "delay {:.1} s, transfer {:.1} s",
        (taken_us - turned_us) as f64 / 1e6,
        (loaded_us - announced_us) as f64 / 1e6
    );
    assert!(
        loaded_us - announced_us >= 500_000,
        "the transfer took time"
    );
}

#[test]
fn after_a_failover_the_sibling_continues_and_the_old_master_that_wrote_alone_syncs_in_full() {
    let config = config();
    let replicas = replicas_of(&config, 0);
    let schedule = FaultSchedule::new(vec![
        at(
            CUT_AT_MS,
            Fault::Partition {
                groups: vec![vec![0]],
            },
        ),
        at(CUT_AT_MS + 30_000, Fault::Heal),
    ]);
    let run = failover::run(SEED, &config, Some(schedule));
    run.report.assert_ok();
    let trace = &run.report.trace;
    let cut_us = CUT_AT_MS * 1000;
    let old_master = id_of(trace, 0);
    let promoted = replicas.iter().find_map(|&r| {
        events_of(trace, r, cut_us)
            .into_iter()
            .find_map(|(t, e)| match e {
                ClusterEvent::Promoted {
                    old_master: m,
                    offset,
                    ..
                } if m == old_master => Some((r, t, offset)),
                _ => None,
            })
    });
    let (winner, promoted_us, promoted_at) = promoted.expect("a replica of node1 promoted");
    let winner_id = id_of(trace, winner);
    let sibling = *replicas.iter().find(|&&r| r != winner).unwrap();
    let sibling_events = events_of(trace, sibling, promoted_us);
    let continued = resyncs(&sibling_events);
    assert!(
        matches!(continued.first(), Some(ClusterEvent::PartialResync { master, offset })
            if *master == winner_id && *offset <= promoted_at),
        "the sibling continues with the new master: {continued:?}"
    );
    // node1 went on alone past the promotion point, then had to take a full snapshot.
    let old_events = events_of(trace, 0, cut_us);
    let wrote_alone = old_events.iter().any(
        |(_, e)| matches!(e, ClusterEvent::WriteApplied { offset, .. } if *offset > promoted_at),
    );
    assert!(wrote_alone, "node1 took writes alone");
    let back = resyncs(&old_events);
    assert!(
        matches!(back.first(), Some(ClusterEvent::FullResync { master, .. }) if *master == winner_id),
        "node1 must not continue its own history: {back:?}"
    );
    assert!(old_events
        .iter()
        .any(|(t, e)| { *t > promoted_us && matches!(e, ClusterEvent::ReplicationLinkUp { .. }) }));
}
