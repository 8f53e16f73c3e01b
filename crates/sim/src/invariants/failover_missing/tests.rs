//! The liveness-failover check on hand-built event lists, and on a real campaign trace.

use super::*;
use clusterlab_core::event::PromotionKind;
use clusterlab_core::NodeId;

use crate::faults::{Direction, FailoverMode};

const NT: u64 = 5000;

fn ids() -> Vec<String> {
    (1..=4).map(|n| format!("{n}").repeat(40)).collect()
}

fn id(n: usize) -> NodeId {
    NodeId::parse(ids()[n].as_bytes()).unwrap()
}

fn at(ms: u64, node: &str, event: impl Into<Event>) -> TraceEvent {
    TraceEvent {
        time_us: ms * 1000,
        node: node.into(),
        event: event.into(),
    }
}

fn fault(ms: u64, fault: Fault) -> TraceEvent {
    at(ms, "faults", FaultEvent::Applied(fault))
}

/// node4 replicates node1 (link up); node1 crashes at 10 s and restarts at 40 s.
fn crash_of_node1(extra: Vec<TraceEvent>) -> Vec<TraceEvent> {
    let mut events = vec![
        at(0, "node4", ClusterEvent::BecameReplica { master: id(0) }),
        at(1000, "node4", ClusterEvent::ReplicationLinkUp { offset: 0 }),
        fault(10_000, Fault::crash(0)),
        fault(40_000, Fault::Restart { node: 0 }),
    ];
    events.extend(extra);
    events.sort_by_key(|e| e.time_us);
    events
}

fn promoted(ms: u64) -> TraceEvent {
    let event = ClusterEvent::Promoted {
        kind: PromotionKind::Election,
        config_epoch: 5,
        old_master: id(0),
        offset: 0,
        coordinated: false,
    };
    at(ms, "node4", event)
}

#[test]
fn the_bound_follows_redis_timing() {
    // Half a node timeout before the clock starts, 1.5 node timeouts + 1 s to flag FAIL, 1 s
    // delay, 0.5 s for the votes.
    assert_eq!(failover_bound_ms(NT, 1), 12_500);
    // A second replica may rank second and split the votes once.
    assert_eq!(failover_bound_ms(NT, 2), 13_500 + 20_000);
}

#[test]
fn a_master_never_replaced_is_reported_with_its_replica_and_bound() {
    let found = failovers_missing(&crash_of_node1(vec![]), &ids(), NT);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].kind, ViolationKind::FailoverMissing);
    assert_eq!(
        found[0].evidence,
        "master node1 down from 10.000s to 40.000s; replica node4 (link up when it died) \
         and voters node2,node3 of 3 masters undisturbed; no replica promoted within the \
         bound 12500 ms"
    );
    // Promoted in time: fine; too late: still missing.
    assert!(failovers_missing(&crash_of_node1(vec![promoted(22_000)]), &ids(), NT).is_empty());
    assert_eq!(
        failovers_missing(&crash_of_node1(vec![promoted(23_000)]), &ids(), NT).len(),
        1
    );
}

#[test]
fn a_pause_ends_at_the_heal() {
    let paused = |extra: Vec<TraceEvent>| {
        let mut events = vec![
            at(0, "node4", ClusterEvent::BecameReplica { master: id(0) }),
            at(1000, "node4", ClusterEvent::ReplicationLinkUp { offset: 0 }),
            fault(
                10_000,
                Fault::Pause {
                    node: 0,
                    ms: 30_000,
                },
            ),
            at(60_000, "harness", Event::Text("end".into())),
        ];
        events.extend(extra);
        events.sort_by_key(|e| e.time_us);
        events
    };
    assert_eq!(failovers_missing(&paused(vec![]), &ids(), NT).len(), 1);
    let healed = paused(vec![at(15_000, "faults", FaultEvent::HealAll)]);
    assert!(failovers_missing(&healed, &ids(), NT).is_empty());
}

#[test]
fn a_master_whose_traffic_out_is_dropped_counts_as_down() {
    let clog = |direction| {
        vec![
            at(0, "node4", ClusterEvent::BecameReplica { master: id(0) }),
            at(1000, "node4", ClusterEvent::ReplicationLinkUp { offset: 0 }),
            fault(10_000, Fault::ClogNode { node: 0, direction }),
            fault(40_000, Fault::UnclogNode { node: 0 }),
        ]
    };
    assert_eq!(
        failovers_missing(&clog(Direction::Out), &ids(), NT).len(),
        1
    );
    assert_eq!(
        failovers_missing(&clog(Direction::Both), &ids(), NT).len(),
        1
    );
    // Its pings still reach the others: no failover is due.
    assert!(failovers_missing(&clog(Direction::In), &ids(), NT).is_empty());
}

#[test]
fn a_master_cut_off_from_the_majority_must_be_replaced_by_a_replica_on_its_side() {
    let split = |groups: Vec<Vec<usize>>, extra: Vec<TraceEvent>| {
        let mut events = vec![
            at(0, "node4", ClusterEvent::BecameReplica { master: id(0) }),
            at(1000, "node4", ClusterEvent::ReplicationLinkUp { offset: 0 }),
            fault(10_000, Fault::Partition { groups }),
            fault(40_000, Fault::Heal),
        ];
        events.extend(extra);
        events.sort_by_key(|e| e.time_us);
        events
    };
    let found = failovers_missing(&split(vec![vec![0]], vec![]), &ids(), NT);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0]
            .evidence
            .starts_with("master node1 cut off from the majority from 10.000s to 40.000s"),
        "{}",
        found[0].evidence
    );
    assert!(
        failovers_missing(&split(vec![vec![0]], vec![promoted(15_000)]), &ids(), NT).is_empty()
    );
    // Its replica is cut off with it: no replica can win on the majority side.
    assert!(failovers_missing(&split(vec![vec![0, 3]], vec![]), &ids(), NT).is_empty());
}

#[test]
fn latency_shifts_the_bound_instead_of_silencing_the_check() {
    let slow = fault(
        11_000,
        Fault::Latency {
            min_ms: 50,
            max_ms: 200,
        },
    );
    // 12.5 s + 10 × 200 ms: a promotion at 24 s is in time, none at all is reported.
    let late = crash_of_node1(vec![slow.clone(), promoted(24_000)]);
    assert!(failovers_missing(&late, &ids(), NT).is_empty());
    let never = failovers_missing(&crash_of_node1(vec![slow]), &ids(), NT);
    assert_eq!(never.len(), 1);
    assert!(
        never[0].evidence.ends_with("bound 14500 ms"),
        "{}",
        never[0].evidence
    );
}

#[test]
fn outages_that_excuse_no_failover_are_not_judged() {
    let excused = [
        // Back before the bound.
        vec![fault(15_000, Fault::Restart { node: 0 })],
        // A partition during the window, packet loss.
        vec![fault(11_000, Fault::PacketLoss { permille: 100 })],
        vec![fault(
            12_000,
            Fault::Partition {
                groups: vec![vec![1]],
            },
        )],
        // The replica's link was down when the master died.
        vec![at(
            5000,
            "node4",
            ClusterEvent::ReplicationLinkDown { offset: 9 },
        )],
        // The replica itself was touched.
        vec![fault(11_000, Fault::Pause { node: 3, ms: 3000 })],
        vec![fault(
            12_000,
            Fault::ManualFailover {
                node: 3,
                mode: crate::faults::FailoverMode::Default,
            },
        )],
        // Only one of the other two masters could vote: no quorum of 3.
        vec![fault(9000, Fault::ClogLink { from: 1, to: 2 })],
    ];
    for extra in excused {
        let events = crash_of_node1(extra.clone());
        assert!(
            failovers_missing(&events, &ids(), NT).is_empty(),
            "{extra:?}"
        );
    }
}

/// On a real campaign trace: the crashed master is judged (and was replaced); the same trace
/// without its promotion is reported.
#[cfg(madsim)]
mod campaign_tests {
    use super::*;
    use crate::campaign;
    use crate::faults::{FaultSchedule, TimedFault};
    use crate::seeds::SimConfig;

    #[test]
    fn a_real_failover_passes_and_the_same_trace_without_it_fails() {
        // The replica must have synced before its master crashes 1 s into the safety phase
        // (with Redis's 5 s sync delay it would still wait for its snapshot, and not be
        // eligible).
        let config = SimConfig {
            replicas: 1,
            node_timeout_ms: 3000,
            repl_diskless_sync_delay_s: 0,
            ..SimConfig::default()
        };
        let schedule = FaultSchedule::new(vec![
            TimedFault {
                at_ms: 1000,
                fault: Fault::crash(0),
            },
            TimedFault {
                at_ms: 16_000,
                fault: Fault::Restart { node: 0 },
            },
        ]);
        let report = campaign::run(5, &config, Some(schedule));
        assert!(report.ok(), "{:?}", report.violations);
        let ids: Vec<String> = (0..config.node_count())
            .map(|n| {
                let name = NodeIdx(n).name();
                report
                    .cluster_nodes
                    .iter()
                    .find(|(node, _)| *node == name)
                    .and_then(|(_, text)| text.lines().find(|l| l.contains("myself")))
                    .map(|l| l.split(' ').next().unwrap_or("").to_string())
                    .unwrap_or_default()
            })
            .collect();
        assert!(failovers_missing(&report.trace, &ids, 3000).is_empty());
        let without: Vec<TraceEvent> = report
            .trace
            .iter()
            .filter(|e| !matches!(e.event, Event::Cluster(ClusterEvent::Promoted { .. })))
            .cloned()
            .collect();
        let found = failovers_missing(&without, &ids, 3000);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].evidence.starts_with("master node1 down from")
                && found[0].evidence.contains("replica node")
                && found[0].evidence.contains("bound 8500 ms"),
            "{}",
            found[0].evidence
        );
    }
}

#[test]
fn masters_down_together_may_split_one_epoch_and_get_one_retry() {
    // Five masters; node6 replicates node1, node7 node2; both masters crash at 10 s. Their
    // replicas' elections may share an epoch and split the three votes, so each failover is
    // due only after one election retry (20 s more at a 5 s node timeout).
    let ids: Vec<String> = (1..=7).map(|n| format!("{n}").repeat(40)).collect();
    let id = |n: usize| NodeId::parse(ids[n].as_bytes()).unwrap();
    let promoted_at = |ms: u64, node: &str, old: usize| {
        let event = ClusterEvent::Promoted {
            kind: PromotionKind::Election,
            config_epoch: 9,
            old_master: id(old),
            offset: 0,
            coordinated: false,
        };
        at(ms, node, event)
    };
    let run = |extra: Vec<TraceEvent>| {
        let mut events = vec![
            at(0, "node6", ClusterEvent::BecameReplica { master: id(0) }),
            at(0, "node7", ClusterEvent::BecameReplica { master: id(1) }),
            at(1000, "node6", ClusterEvent::ReplicationLinkUp { offset: 0 }),
            at(1000, "node7", ClusterEvent::ReplicationLinkUp { offset: 0 }),
            fault(10_000, Fault::crash(0)),
            fault(10_000, Fault::crash(1)),
            fault(60_000, Fault::Restart { node: 0 }),
            fault(60_000, Fault::Restart { node: 1 }),
        ];
        events.extend(extra);
        events.sort_by_key(|e| e.time_us);
        failovers_missing(&events, &ids, NT)
    };
    // Promoted after the split epoch's retry: in time.
    let late = vec![
        promoted_at(35_500, "node6", 0),
        promoted_at(36_500, "node7", 1),
    ];
    assert!(run(late).is_empty());
    // Never promoted: both reported, with the retry in the bound.
    let found = run(vec![]);
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(
        found[0].evidence.ends_with("bound 32500 ms"),
        "{}",
        found[0].evidence
    );
}

/// node4 replicates node1 (link up), node1 serves slots 0-99; node4 is asked for a manual
/// failover in `mode` at 20 s and answers `+OK` 10 ms later.
fn manual_failover(mode: FailoverMode, extra: Vec<TraceEvent>) -> Vec<Violation> {
    let mut events = vec![
        at(
            0,
            "node1",
            ClusterEvent::SlotsAssigned {
                ranges: vec![(0, 99)],
                owner: Some(id(0)),
            },
        ),
        at(0, "node4", ClusterEvent::BecameReplica { master: id(0) }),
        at(1000, "node4", ClusterEvent::ReplicationLinkUp { offset: 0 }),
        fault(20_000, Fault::ManualFailover { node: 3, mode }),
        at(
            20_010,
            "faults",
            FaultEvent::ManualFailoverAccepted { node: 3, mode },
        ),
    ];
    events.extend(extra);
    events.sort_by_key(|e| e.time_us);
    manual_failovers_unfinished(&events, &ids(), NT)
}

#[test]
fn an_accepted_manual_failover_must_promote_the_replica_within_redis_timeout() {
    for mode in [FailoverMode::Default, FailoverMode::Force] {
        let found = manual_failover(mode, vec![]);
        assert_eq!(found.len(), 1, "{mode:?}: {found:?}");
        assert_eq!(found[0].kind, ViolationKind::ManualFailoverUnfinished);
        assert!(
            found[0]
                .evidence
                .contains("node4 answered +OK to CLUSTER FAILOVER"),
            "{}",
            found[0].evidence
        );
        assert!(manual_failover(mode, vec![promoted(20_400)]).is_empty());
        // Promoted before the `+OK` reached the injector: in time too.
        assert!(manual_failover(mode, vec![promoted(20_005)]).is_empty());
        // Promoted seconds later: Redis takes a few cron ticks and round trips.
        assert_eq!(manual_failover(mode, vec![promoted(21_500)]).len(), 1);
    }
    // Latency stretches the bound.
    let slow = vec![
        fault(
            19_000,
            Fault::Latency {
                min_ms: 100,
                max_ms: 200,
            },
        ),
        promoted(22_500),
    ];
    assert!(manual_failover(FailoverMode::Default, slow).is_empty());
}

#[test]
fn a_manual_failover_redis_may_drop_is_not_judged() {
    let unjudged = |extra: Vec<TraceEvent>| {
        assert!(manual_failover(FailoverMode::Default, extra).is_empty());
    };
    // A partition or packet loss in the window, or the master paused.
    unjudged(vec![fault(
        21_000,
        Fault::Partition {
            groups: vec![vec![0, 3], vec![1, 2]],
        },
    )]);
    unjudged(vec![fault(21_000, Fault::PacketLoss { permille: 100 })]);
    unjudged(vec![fault(21_000, Fault::Pause { node: 0, ms: 500 })]);
    // Another node's election: the votes of its epoch may go there.
    unjudged(vec![at(
        20_500,
        "node2",
        ClusterEvent::ElectionStarted { epoch: 7 },
    )]);
    // The master serves no slot (Redis never fails such a master over).
    let emptied = at(
        5000,
        "node1",
        ClusterEvent::SlotsAssigned {
            ranges: vec![(0, 99)],
            owner: None,
        },
    );
    unjudged(vec![emptied]);
    // The default mode needs the replication link up; FORCE does not, and is judged.
    let link_down = || {
        at(
            15_000,
            "node4",
            ClusterEvent::ReplicationLinkDown { offset: 0 },
        )
    };
    unjudged(vec![link_down()]);
    assert_eq!(
        manual_failover(FailoverMode::Force, vec![link_down()]).len(),
        1
    );
}

/// The replica's own election set up `ago_ms` before the request (0.7 s delay): Redis keeps
/// that attempt until its retry time (twice the auth timeout) has passed.
fn own_election(ago_ms: u64) -> TraceEvent {
    at(
        20_010 - ago_ms,
        "node4",
        ClusterEvent::ElectionScheduled {
            delay_ms: 700,
            rank: 0,
            offset: 0,
        },
    )
}

#[test]
fn a_manual_failover_after_an_own_election_waits_for_its_retry_time() {
    // NT 5 s: auth timeout 10 s, retry time 20 s; the +OK comes at 20.010 s, mf_end at 25.010.
    // Set up at 6.010 s (+0.7 s delay): its retry time ends at 26.710 s, after mf_end.
    assert!(manual_failover(FailoverMode::Force, vec![own_election(14_000)]).is_empty());
    // Ending at 24.510 s leaves half a second before mf_end: too little to be sure of.
    assert!(manual_failover(FailoverMode::Force, vec![own_election(16_200)]).is_empty());
    // Set up at 2.010 s: its retry time ends at 22.710 s, and the bound runs from there.
    let retry_ends_ms = 22_710;
    let found = manual_failover(FailoverMode::Force, vec![own_election(18_000)]);
    assert_eq!(found.len(), 1, "{found:?}");
    let in_time = vec![own_election(18_000), promoted(retry_ends_ms + 900)];
    let ok = manual_failover(FailoverMode::Force, in_time);
    assert!(ok.is_empty(), "{ok:?}");
    let too_late = vec![own_election(18_000), promoted(retry_ends_ms + 1100)];
    assert_eq!(manual_failover(FailoverMode::Force, too_late).len(), 1);
    // Without that election, the same promotion is late.
    let alone = vec![promoted(retry_ends_ms + 900)];
    assert_eq!(manual_failover(FailoverMode::Force, alone).len(), 1);
    // A worse rank learned after scheduling put the attempt off a second more: so is the
    // retry time's end (seeds 804670, 806711).
    let delayed = at(
        20_010 - 17_500,
        "node4",
        ClusterEvent::ElectionDelayed {
            rank: 1,
            added_ms: 1000,
        },
    );
    let later = vec![
        own_election(18_000),
        delayed.clone(),
        promoted(retry_ends_ms + 1900),
    ];
    assert!(manual_failover(FailoverMode::Force, later).is_empty());
    let too_late = vec![
        own_election(18_000),
        delayed,
        promoted(retry_ends_ms + 2100),
    ];
    assert_eq!(manual_failover(FailoverMode::Force, too_late).len(), 1);
}

#[test]
fn a_manual_election_set_up_earlier_holds_back_the_next_request() {
    // A late CLUSTER FAILOVER FORCE set up an attempt with no delay, then the manual failover
    // ended before it asked for votes (seed 909838). NT 5 s: retry time 20 s.
    let set_up = |ago_ms: u64| {
        at(
            20_010 - ago_ms,
            "node4",
            ClusterEvent::ManualElectionSetUp { offset: 0 },
        )
    };
    // Set up at 6.010 s: the next attempt may start at 26.010 s, after mf_end (25.010 s).
    assert!(manual_failover(FailoverMode::Default, vec![set_up(14_000)]).is_empty());
    // Set up at 2.010 s: retry time ends at 22.010 s; the bound runs from there.
    let late = vec![set_up(18_000), promoted(22_010 + 1100)];
    assert_eq!(manual_failover(FailoverMode::Default, late).len(), 1);
    let in_time = vec![set_up(18_000), promoted(22_010 + 900)];
    let ok = manual_failover(FailoverMode::Default, in_time);
    assert!(ok.is_empty(), "{ok:?}");
}

/// Seed 954030: a wiped master whose slots no replica took still serves them in every view,
/// and Redis counts it in the cluster size: with four masters, one wiped and one cut off,
/// the two left cannot reach the three votes a failover needs.
#[test]
fn a_wiped_master_still_counts_in_the_quorum() {
    let ids: Vec<String> = (1..=5).map(|n| format!("{n}").repeat(40)).collect();
    let id0 = NodeId::parse(ids[0].as_bytes()).unwrap();
    let cut_off = |wipe: bool| {
        let mut events = vec![
            at(0, "node5", ClusterEvent::BecameReplica { master: id0 }),
            at(1000, "node5", ClusterEvent::ReplicationLinkUp { offset: 0 }),
            fault(
                10_000,
                Fault::Partition {
                    groups: vec![vec![1, 2, 3, 4], vec![0]],
                },
            ),
            fault(40_000, Fault::Heal),
        ];
        if wipe {
            events.push(fault(5000, Fault::WipeRestart { node: 3 }));
        }
        events.sort_by_key(|e| e.time_us);
        failovers_missing(&events, &ids, NT)
    };
    let found = cut_off(false);
    assert_eq!(
        found.len(),
        1,
        "three of four masters could vote: {found:?}"
    );
    assert!(
        found[0].evidence.contains("of 4 masters"),
        "{}",
        found[0].evidence
    );
    assert_eq!(
        cut_off(true),
        vec![],
        "two votes of four masters elect nobody"
    );
}
