//! The campaign's append clients in the simulator: four clients on their own machines mix
//! appends, reads (also from replicas), resets, increments, TTL commands and `WAIT` through a
//! master's crash and its replica's promotion, and the history checks clean; a replica that
//! applies its master's appends twice (the `replica-appends-twice` canary) is caught by the
//! append checker, with the write and the read that show it; so is a `RESTORE` that turns a
//! migrated list back to front (`restore-list-reversed`).
//!
//! Simulation build only: `RUSTFLAGS="--cfg madsim" cargo test --target-dir target/sim -p
//! clusterlab-sim-tests --test append`.
#![cfg(madsim)]

use clusterlab_sim::campaign;
use clusterlab_sim::faults::{Fault, FaultSchedule, TimedFault};
use clusterlab_sim::runner::evidence::promotions;
use clusterlab_sim::trace::{Event, TraceEvent};
use clusterlab_sim::trace::{FaultEvent, Outcome};
use clusterlab_sim::SimConfig;

fn with_replicas() -> SimConfig {
    SimConfig {
        replicas: 1,
        ..SimConfig::default()
    }
}

/// Every request an append client sent, as `(args, reply)`.
fn client_requests(trace: &[TraceEvent]) -> Vec<(String, String)> {
    trace
        .iter()
        .filter(|e| e.node.starts_with("writer"))
        .filter_map(|e| match &e.event {
            Event::Request(r) => Some((r.args.clone(), r.reply.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn four_clients_through_a_crash_and_a_failover_check_clean() {
    // node1 (a master) crashes 5 s in and stays down 15 s: its replica takes over.
    let schedule = FaultSchedule::new(vec![
        TimedFault {
            at_ms: 5000,
            fault: Fault::crash(0),
        },
        TimedFault {
            at_ms: 20_000,
            fault: Fault::Restart { node: 0 },
        },
    ]);
    let report = campaign::run(3, &with_replicas(), Some(schedule));
    assert!(
        report.ok(),
        "{:#?}\n{}",
        report.violations,
        report.trace_text
    );
    // The crash's failover, then the planned CLUSTER FAILOVER once the cluster has settled.
    let promoted = promotions(&report.trace);
    assert_eq!(promoted.len(), 2, "{promoted:?}");
    let summary = report
        .trace_text
        .lines()
        .find(|l| l.contains("appends: "))
        .expect("the append history was judged");
    assert!(summary.contains("by 4 clients"), "{summary}");
    // Every kind of operation ran, and was answered.
    let requests = client_requests(&report.trace);
    for client in ["writer1", "writer2", "writer3", "writer4"] {
        assert!(report.trace.iter().any(|e| e.node == client), "{client}");
    }
    let answered = |prefix: &str, reply: &dyn Fn(&str) -> bool| {
        requests
            .iter()
            .any(|(args, r)| args.starts_with(prefix) && reply(r))
    };
    assert!(answered("APPEND list:", &|r| r.starts_with(':')));
    assert!(answered("SET list:", &|r| r == "+OK"));
    assert!(answered("SET ttl:", &|r| r == "+OK"));
    assert!(answered("INCR ctr:", &|r| r.starts_with(':')));
    assert!(answered("PEXPIRE ttl:", &|r| r == ":1"));
    assert!(answered("PERSIST ttl:", &|r| r == ":1"));
    assert!(answered("WAIT 1", &|r| r == ":1"));
    assert!(answered("READONLY", &|r| r == "+OK"));
    // A list read that found a value.
    assert!(requests
        .iter()
        .any(|(args, r)| args.starts_with("GET list:") && r.starts_with('"')));
    // The Redis lists: pushes answered with the new length, reads with their elements.
    assert!(answered("RPUSH rlist:", &|r| r.starts_with(':')));
    assert!(requests
        .iter()
        .any(|(args, r)| args.starts_with("LRANGE rlist:") && r.starts_with("*[\"")));
}

#[test]
fn a_replica_that_applies_appends_twice_is_caught() {
    let config = SimConfig {
        canaries: vec!["replica-appends-twice".to_string()],
        ..with_replicas()
    };
    let report = campaign::run(3, &config, Some(FaultSchedule::default()));
    let names: Vec<&str> = report.violations.iter().map(|v| v.name()).collect();
    assert!(!names.is_empty(), "not caught:\n{}", report.trace_text);
    assert!(
        names.iter().all(|n| *n == "append_duplicated"),
        "{:#?}",
        report.violations
    );
    // The evidence names the append and the replica read that shows its token twice.
    let evidence = &report
        .violations
        .iter()
        .find(|v| v.evidence.contains(" APPEND list:"))
        .expect("a finding on the clients' keys")
        .evidence;
    assert!(evidence.contains("twice: #"), "{evidence}");
    assert!(evidence.contains(" APPEND list:"), "{evidence}");
    assert!(evidence.contains(" GET list:"), "{evidence}");
    // Without the canary the same run is clean.
    let control = campaign::run(3, &with_replicas(), Some(FaultSchedule::default()));
    assert!(control.ok(), "{:#?}", control.violations);
}

#[test]
fn a_list_restored_back_to_front_is_caught_after_a_reshard() {
    // Every master hands slots of the workload's keys to the next one, so Redis lists
    // cross MIGRATE (DUMP on the source, RESTORE on the target).
    let at = |at_ms, fault| TimedFault { at_ms, fault };
    let moves = (0..3).map(|from| {
        let fault = Fault::MoveSlots {
            from,
            to: (from + 1) % 3,
            count: 12,
        };
        at(6000 + 3000 * from as u64, fault)
    });
    let schedule = FaultSchedule::new(moves.collect());
    let config = SimConfig {
        canaries: vec!["restore-list-reversed".to_string()],
        ..with_replicas()
    };
    let report = campaign::run(5, &config, Some(schedule.clone()));
    let names: Vec<&str> = report.violations.iter().map(|v| v.name()).collect();
    assert!(!names.is_empty(), "not caught:\n{}", report.trace_text);
    assert!(
        names
            .iter()
            .all(|n| ["append_order_inverted", "read_not_prefix"].contains(n)),
        "{:#?}",
        report.violations
    );
    assert!(
        report
            .violations
            .iter()
            .any(|v| v.evidence.contains("LRANGE rlist:")),
        "{:#?}",
        report.violations
    );
    // Without the canary the same run is clean.
    let control = campaign::run(5, &with_replicas(), Some(schedule));
    assert!(control.ok(), "{:#?}", control.violations);
}

/// When the fault was applied, in virtual µs since the run started.
fn applied_at(trace: &[TraceEvent], fault: &Fault) -> u64 {
    trace
        .iter()
        .find(|e| matches!(&e.event, Event::Fault(FaultEvent::Applied(f)) if f == fault))
        .unwrap_or_else(|| panic!("{fault} never applied"))
        .time_us
}

#[test]
fn clients_cut_from_a_master_get_no_answer_while_the_bus_stays_whole() {
    // The append clients lose node1 (a master) for 8 s; the nodes still hear each other.
    let cut = Fault::ClientPartition { nodes: vec![0] };
    let schedule = FaultSchedule::new(vec![
        TimedFault {
            at_ms: 3000,
            fault: cut.clone(),
        },
        TimedFault {
            at_ms: 11_000,
            fault: Fault::ClientHeal,
        },
    ]);
    let report = campaign::run(3, &with_replicas(), Some(schedule));
    assert!(report.ok(), "{:#?}", report.violations);
    let from_us = applied_at(&report.trace, &cut) + 100_000;
    let to_us = applied_at(&report.trace, &Fault::ClientHeal);
    let node1 = "10.0.0.1:7001";
    let during: Vec<(&str, Outcome)> = report
        .trace
        .iter()
        .filter(|e| e.node.starts_with("writer") && (from_us..to_us).contains(&e.time_us))
        .filter_map(|e| match &e.event {
            Event::Request(r) => Some((r.addr.as_str(), r.outcome)),
            _ => None,
        })
        .collect();
    // Nothing node1 says reaches a client while it is cut off; the other masters answer.
    let answered_by_node1: Vec<_> = during
        .iter()
        .filter(|(addr, outcome)| *addr == node1 && *outcome == Outcome::Ok)
        .collect();
    assert!(answered_by_node1.is_empty(), "{answered_by_node1:?}");
    assert!(during
        .iter()
        .any(|(addr, outcome)| *addr != node1 && *outcome == Outcome::Ok));
    // The bus stayed whole, so nobody failed node1 over while the clients could not reach it.
    let promoted_early: Vec<_> = promotions(&report.trace)
        .into_iter()
        .filter(|(_, ms)| ms * 1000 < to_us)
        .collect();
    assert!(promoted_early.is_empty(), "{promoted_early:?}");
    // Once healed, the clients reach node1 again.
    assert!(report.trace.iter().any(|e| e.node.starts_with("writer")
        && e.time_us > to_us
        && matches!(&e.event, Event::Request(r) if r.addr == node1 && r.outcome == Outcome::Ok)));
}
