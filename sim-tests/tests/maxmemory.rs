//! `maxmemory` in the simulator: the campaign's append clients against nodes with a small
//! limit, through a master's crash and its replica's promotion. Under `allkeys-lru` keys are
//! evicted, every write found gone is excused only by a `KeyEvicted` event for its key, and
//! no replica evicts on its own; under `noeviction` nothing is evicted and writes are refused
//! with Redis's `-OOM`.
//!
//! Simulation build only: `RUSTFLAGS="--cfg madsim" cargo test --target-dir target/sim -p
//! clusterlab-sim-tests --test maxmemory`.
#![cfg(madsim)]

use clusterlab_core::ClusterEvent;
use clusterlab_sim::campaign;
use clusterlab_sim::faults::{Fault, FaultSchedule, TimedFault};
use clusterlab_sim::trace::{Event, TraceEvent};
use clusterlab_sim::{Maxmemory, SimConfig};

/// A node's `used_memory` with no keys (the fixed base it reports).
const BASE_BYTES: u64 = 1 << 20;

fn limited(policy: &str, data_bytes: u64) -> SimConfig {
    SimConfig {
        replicas: 1,
        maxmemory: Some(Maxmemory {
            bytes: BASE_BYTES + data_bytes,
            policy: policy.into(),
        }),
        ..SimConfig::default()
    }
}

/// node1 (a master) crashes 5 s in and stays down 15 s: its replica takes over.
fn crash_and_failover() -> FaultSchedule {
    FaultSchedule::new(vec![
        TimedFault {
            at_ms: 5000,
            fault: Fault::crash(0),
        },
        TimedFault {
            at_ms: 20_000,
            fault: Fault::Restart { node: 0 },
        },
    ])
}

fn evictions(trace: &[TraceEvent]) -> Vec<(String, String)> {
    trace
        .iter()
        .filter_map(|e| match &e.event {
            Event::Cluster(ClusterEvent::KeyEvicted { key, .. }) => {
                Some((e.node.clone(), String::from_utf8_lossy(key).into_owned()))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn allkeys_lru_evicts_through_a_crash_and_a_failover_and_checks_clean() {
    let report = campaign::run(3, &limited("allkeys-lru", 500), Some(crash_and_failover()));
    assert!(
        report.ok(),
        "{:#?}\n{}",
        report.violations,
        report.trace_text
    );
    let evicted = evictions(&report.trace);
    assert!(evicted.len() >= 10, "{evicted:?}");
    let excused = report
        .trace_text
        .lines()
        .filter(|l| l.contains("lost as Redis allows") && l.contains(" evicted "))
        .count();
    eprintln!(
        "{} evictions, {excused} losses excused by one",
        evicted.len()
    );
    assert!(excused > 0, "no loss was put down to an eviction");
}

#[test]
fn noeviction_refuses_writes_with_oom_and_evicts_nothing() {
    let report = campaign::run(3, &limited("noeviction", 500), Some(crash_and_failover()));
    assert!(
        report.ok(),
        "{:#?}\n{}",
        report.violations,
        report.trace_text
    );
    assert_eq!(evictions(&report.trace), Vec::new());
    let oom = report.trace.iter().any(|e| match &e.event {
        Event::Request(r) => r.reply.starts_with("-OOM command not allowed"),
        _ => false,
    });
    assert!(oom, "no write was refused for memory");
}
