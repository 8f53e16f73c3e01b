//! The stretches a node did not run because it was held for a sync on its own thread (a slow
//! disk under `appendfsync always`, or a `nodes.conf` save): its `SyncStalled` events. For the
//! checks that ask whether a node ran ([`crate::invariants::Connectivity`]'s down intervals),
//! such a stall is a pause: Redis's main thread blocked in `fsync` answers no ping.

use clusterlab_core::ClusterEvent;

use crate::node_idx::NodeIdx;
use crate::trace::TraceEvent;

/// `(node index, from µs, to µs)` of every sync stall in `events`.
pub fn sync_stalls(events: &[TraceEvent]) -> Vec<(usize, u64, u64)> {
    events
        .iter()
        .filter_map(|e| match e.event.cluster()? {
            ClusterEvent::SyncStalled { ms } => {
                let node = NodeIdx::from_name(&e.node)?.0;
                Some((node, e.time_us, e.time_us + ms * 1000))
            }
            _ => None,
        })
        .collect()
}

/// [`sync_stalls`] in ms, `to` rounded up, as [`crate::invariants::Connectivity`] takes them.
pub fn sync_stalls_ms(events: &[TraceEvent]) -> Vec<(usize, u64, u64)> {
    sync_stalls(events)
        .into_iter()
        .map(|(node, from_us, to_us)| (node, from_us / 1000, to_us.div_ceil(1000)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_events::{at, started};

    #[test]
    fn each_stall_is_a_stretch_of_its_node() {
        let events = vec![
            started("node2", b'b', None),
            at(1000, "node2", ClusterEvent::SyncStalled { ms: 300 }),
            at(1500, "node1", ClusterEvent::AofSynced { offset: 4 }),
        ];
        assert_eq!(sync_stalls(&events), vec![(1, 1_000_000, 1_300_000)]);
        assert_eq!(sync_stalls_ms(&events), vec![(1, 1000, 1300)]);
    }

    /// A stall known only after the network was built (the liveness phase's) still silences
    /// the node.
    #[test]
    fn a_stall_added_later_is_a_down_stretch() {
        use crate::faults::FaultSchedule;
        use crate::invariants::Connectivity;
        let net = Connectivity::new(&FaultSchedule::new(vec![]), 2, 0, 10_000, vec![]);
        assert!(net.linked_throughout(0, 1, 20_000, 21_000));
        let held = net.with_down([(1, 20_500, 20_800)]);
        assert!(!held.linked_throughout(0, 1, 20_000, 21_000));
        assert!(held.linked_throughout(0, 1, 20_800, 21_000));
    }
}
