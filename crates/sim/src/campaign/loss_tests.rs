//! The loss rule in real campaign runs: writes a failover loses are reported as allowed, and
//! writes a broken disk loses (the `aof-no-fsync` canary) are reported as violations.

use super::*;
use crate::faults::{Fault, TimedFault};
use crate::trace::Event;

/// The harness lines of `report`'s trace that start with `prefix`.
fn lines<'r>(report: &'r RunReport, prefix: &str) -> Vec<&'r str> {
    report
        .trace
        .iter()
        .filter(|e| e.node == "harness")
        .filter_map(|e| match &e.event {
            Event::Text(text) if text.starts_with(prefix) => Some(text.as_str()),
            _ => None,
        })
        .collect()
}

/// node5, node1's replica, stops hearing node1 a second in; node1 crashes at 22 s, so node5
/// is promoted near the end of the writes without 21 s of node1's acknowledged writes.
#[test]
fn writes_lost_to_a_failover_are_allowed_and_counted() {
    let schedule = FaultSchedule::new(vec![
        TimedFault {
            at_ms: 1000,
            fault: Fault::ClogLink { from: 0, to: 4 },
        },
        TimedFault {
            at_ms: 22_000,
            fault: Fault::crash(0),
        },
    ]);
    let config = SimConfig {
        replicas: 1,
        clients: 0,
        ..SimConfig::default()
    };
    let report = run(5, &config, Some(schedule.clone()));
    assert!(
        report.ok(),
        "{:?}\n{}",
        report.violations,
        report.trace_text
    );
    let allowed = lines(&report, "loss allowed (failover): ");
    assert!(!allowed.is_empty(), "{}", report.trace_text);
    for line in &allowed {
        assert!(
            line.contains("acked by node1")
                && line.contains("node5 promoted by election")
                && line.contains("replacing node1, with offset")
                && line.contains("never had it (the write: offset"),
            "{line}"
        );
    }
    let writes = lines(&report, "writes: ");
    assert_eq!(writes.len(), 1);
    assert!(
        writes[0].contains(&format!(
            "lost as Redis allows: {} to failover",
            allowed.len()
        )),
        "{}",
        writes[0]
    );

    // The append clients' losses go through the same rule: listed as allowed, counted.
    let appends = run(
        5,
        &SimConfig {
            clients: 4,
            ..config
        },
        Some(schedule),
    );
    assert!(appends.ok(), "{:?}", appends.violations);
    let allowed: Vec<&str> = appends
        .trace
        .iter()
        .filter_map(|e| match &e.event {
            Event::Text(text) if text.contains(" lost as Redis allows: ") => Some(text.as_str()),
            _ => None,
        })
        .filter(|t| !t.starts_with("appends: "))
        .collect();
    assert!(!allowed.is_empty(), "{}", appends.trace_text);
    for line in &allowed {
        assert!(
            line.contains("acked by node1") && line.contains("node5 promoted by election"),
            "{line}"
        );
    }
    let summary = lines(&appends, "appends: ");
    assert_eq!(summary.len(), 1);
    assert!(
        summary[0].ends_with(&format!("lost as Redis allows: {}", allowed.len())),
        "{}",
        summary[0]
    );
}

/// With `appendfsync always` a master restarted from its disk loses nothing; the
/// `aof-no-fsync` canary replies before the AOF is synced, so node1's crash near the end of
/// the writes loses what it acknowledged, and the loss rule must say Redis would have kept it.
#[test]
fn writes_lost_to_an_unsynced_aof_are_violations() {
    let schedule = FaultSchedule::new(vec![TimedFault {
        at_ms: 27_000,
        fault: Fault::crash(0),
    }]);
    let single_writer = SimConfig {
        clients: 0,
        ..SimConfig::default()
    };
    let healthy = run(7, &single_writer, Some(schedule.clone()));
    assert!(healthy.ok(), "{:?}", healthy.violations);
    assert_eq!(lines(&healthy, "loss allowed").len(), 0);
    let config = SimConfig {
        canaries: vec!["aof-no-fsync".to_string()],
        ..single_writer
    };
    let buggy = run(7, &config, Some(schedule));
    let lost: Vec<&Violation> = buggy
        .violations
        .iter()
        .filter(|v| v.name() == "acked_write_lost")
        .collect();
    assert!(!lost.is_empty(), "{:?}", buggy.violations);
    for v in lost {
        assert!(
            v.evidence.contains("acked by node1")
                && v.evidence
                    .contains("yet node1 owns its slot to the end and had it")
                && v.evidence
                    .contains("no promotion or migration replaced node1"),
            "{}",
            v.evidence
        );
    }
}
