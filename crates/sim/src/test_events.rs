//! Builders for hand-made traces in unit tests: node IDs from one byte, a node's typed event
//! at a time, a fresh start and an applied write.

use clusterlab_core::{ClusterEvent, NodeId};

use crate::trace::{Event, TraceEvent};

/// The node ID made of `c` repeated.
pub(crate) fn id(c: u8) -> NodeId {
    NodeId([c; clusterlab_core::node_id::NODE_ID_LEN])
}

/// `event` on `node` at `ms` virtual milliseconds.
pub(crate) fn at(ms: u64, node: &str, event: ClusterEvent) -> TraceEvent {
    TraceEvent {
        time_us: ms * 1000,
        node: node.into(),
        event: Event::Cluster(event),
    }
}

/// `node` starts at time 0 as ID `id(who)`, from scratch, a replica of `id(m)` for
/// `master: Some(m)`.
pub(crate) fn started(node: &str, who: u8, master: Option<u8>) -> TraceEvent {
    let event = ClusterEvent::NodeStarted {
        id: id(who),
        loaded: false,
        current_epoch: 0,
        config_epoch: 0,
        last_vote_epoch: 0,
        master: master.map(id),
        flagged: Vec::new(),
    };
    at(0, node, event)
}

/// `node` applied a write at replication offset `offset` (`request`: the client command's
/// digest, 0 for its master's stream).
pub(crate) fn applied(ms: u64, node: &str, offset: u64, request: u64) -> TraceEvent {
    at(ms, node, ClusterEvent::WriteApplied { offset, request })
}
