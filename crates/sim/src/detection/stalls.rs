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
    }
}
