//! The evidence a two-phase run's checks read: node indices from addresses, promotions and
//! manual failovers dated in run ms, and every written key read back ([`read_values`]).

use std::collections::BTreeMap;

use clusterlab_core::ClusterEvent;

use crate::cluster::SimCluster;
use crate::faults::{Fault, FaultSchedule};
use crate::node_idx::NodeIdx;
use crate::report::{Violation, ViolationKind};
use crate::trace::TraceEvent;
use crate::workload::{read_back, WriteHistory};

/// `10.0.0.N:…` → node index N-1 (see [`NodeIdx::from_addr`]).
pub fn node_index_of(addr: &str) -> Option<usize> {
    NodeIdx::from_addr(addr).map(|n| n.0)
}

/// `(node, run ms)` of every election won and every takeover, as the nodes reported them.
pub fn promotions(events: &[TraceEvent]) -> Vec<(String, u64)> {
    events
        .iter()
        .filter(|e| matches!(e.event.cluster(), Some(ClusterEvent::Promoted { .. })))
        .map(|e| (e.node.clone(), e.time_us / 1000))
        .collect()
}

/// `(node index, run ms)` of every `CLUSTER FAILOVER` in `schedule`, whose time 0 is
/// `offset_ms` into the run.
pub fn manual_failovers(schedule: &FaultSchedule, offset_ms: u64) -> Vec<(usize, u64)> {
    schedule
        .iter()
        .filter_map(|f| match f.fault {
            Fault::ManualFailover { node, .. } => Some((node, offset_ms + f.at_ms)),
            _ => None,
        })
        .collect()
}

/// `addr -> node name` of every node, for
/// [`stale_promotions`](crate::invariants::stale_promotions).
pub fn names_by_addr(cluster: &SimCluster) -> BTreeMap<String, String> {
    cluster
        .nodes()
        .iter()
        .map(|n| (n.addr(), n.name.clone()))
        .collect()
}

/// [`read_values`], recording a failed read only when the cluster had `settled` (one that
/// never became whole cannot serve reads, and that is already reported).
pub async fn read_values_if_whole(
    cluster: &SimCluster,
    history: &WriteHistory,
    settled: bool,
    violations: &mut Vec<Violation>,
) -> Option<BTreeMap<String, Option<String>>> {
    match read_values(cluster, history).await {
        Ok(values) => Some(values),
        Err(unreadable) => {
            if settled {
                violations.push(unreadable);
            }
            None
        }
    }
}

/// Reads every key of `history` back; a key that could not be read makes the whole read a
/// `read_failed` violation (the caller decides whether it counts).
pub async fn read_values(
    cluster: &SimCluster,
    history: &WriteHistory,
) -> Result<BTreeMap<String, Option<String>>, Violation> {
    let reads = read_back(cluster, history.keys()).await;
    let mut values = BTreeMap::new();
    let mut failed = Vec::new();
    for (key, read) in reads {
        match read {
            Ok(value) => {
                values.insert(key, value);
            }
            Err(e) => failed.push(format!("{key}: {e}")),
        }
    }
    if failed.is_empty() {
        return Ok(values);
    }
    Err(Violation::new(
        ViolationKind::ReadFailed,
        format!(
            "{} keys unreadable: {}",
            failed.len(),
            failed[..failed.len().min(5)].join("; ")
        ),
    ))
}

/// A key read back with a value no accepted write carried.
pub fn phantom_value(key: &str, phantom: &str) -> Violation {
    Violation::new(
        ViolationKind::PhantomValue,
        format!("{key} reads {phantom:?}, which no accepted write carried"),
    )
}
