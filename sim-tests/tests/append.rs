//! The campaign's append clients in the simulator: four clients on their own machines mix
//! appends, reads (also from replicas), resets, increments, TTL commands and `WAIT` through a
//! master's crash and its replica's promotion, and the history checks clean; a replica that
//! applies its master's appends twice (the `replica-appends-twice` canary) is caught by the
//! append checker, with the write and the read that show it.
//!
//! Simulation build only: `RUSTFLAGS="--cfg madsim" cargo test --target-dir target/sim -p
//! clusterlab-sim-tests --test append`.
#![cfg(madsim)]

use clusterlab_sim::campaign;
use clusterlab_sim::faults::{Fault, FaultSchedule, TimedFault};
use clusterlab_sim::runner::evidence::promotions;
use clusterlab_sim::trace::{Event, TraceEvent};
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
