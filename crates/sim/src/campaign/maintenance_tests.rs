//! The planned maintenance at the end of a settled campaign run: a coordinated failover under
//! appends, then a replica move that replica migration answers only when it is allowed.

use super::*;
use crate::trace::{Event, RunPhase};
use clusterlab_core::ClusterEvent;

/// `(run, µs the cluster settled)` of a quiet 3 × 1 campaign.
fn quiet_run(allow_replica_migration: bool) -> (RunReport, u64) {
    let config = SimConfig {
        replicas: 1,
        allow_replica_migration,
        ..SimConfig::default()
    };
    let report = run(21, &config, Some(FaultSchedule::default()));
    assert!(
        report.ok(),
        "{:?}\n{}",
        report.violations,
        report.trace_text
    );
    let settled_us = report
        .trace
        .iter()
        .find(|e| matches!(e.event, Event::Phase(RunPhase::Settled { .. })))
        .map(|e| e.time_us)
        .expect("the run settled");
    (report, settled_us)
}

/// Node names of every `BecameReplica` after `from_us`.
fn became_replica_after(report: &RunReport, from_us: u64) -> Vec<String> {
    report
        .trace
        .iter()
        .filter(|e| e.time_us > from_us)
        .filter(|e| matches!(e.event.cluster(), Some(ClusterEvent::BecameReplica { .. })))
        .map(|e| e.node.clone())
        .collect()
}

#[test]
fn a_settled_run_ends_with_a_coordinated_failover_under_appends() {
    let (report, settled_us) = quiet_run(true);
    let coordinated = report.trace.iter().any(|e| {
        e.time_us > settled_us
            && matches!(
                e.event.cluster(),
                Some(ClusterEvent::Promoted {
                    coordinated: true,
                    ..
                })
            )
    });
    assert!(coordinated, "{}", report.trace_text);
    let acked_appends = report
        .trace
        .iter()
        .filter(|e| e.node == "planned")
        .filter(|e| {
            matches!(&e.event, Event::Request(r) if r.args.starts_with("APPEND planned:")
                && r.reply.starts_with(':'))
        })
        .count();
    assert!(acked_appends >= 20, "{acked_appends} appends acknowledged");
}

#[test]
fn replica_migration_answers_the_replica_move_only_when_allowed() {
    let (allowed, allowed_from) = quiet_run(true);
    let (disallowed, disallowed_from) = quiet_run(false);
    let moved = became_replica_after(&allowed, allowed_from);
    let unmoved = became_replica_after(&disallowed, disallowed_from);
    // The same seed draws the same failover and the same move; only the migration differs.
    assert_eq!(moved.len(), unmoved.len() + 1, "{moved:?} vs {unmoved:?}");
}
