//! Writes `appendfsync everysec` may lose: what a master acknowledged shortly before its
//! machine was killed. Redis under `everysec` writes the AOF buffer before replying but syncs
//! it in the background once a second, and postpones a sync for up to two seconds while the
//! previous one is still running; a machine crash (the simulator's kill drops whatever the
//! disk had not synced) can take that window with it.

use crate::node_idx::NodeIdx;
use crate::scenario::durability::EVERYSEC_MAX_LOSS_MS;
use crate::trace::{Event, ProcessEvent, TraceEvent};

/// `(node index, µs)` of every kill in `events`.
pub(super) fn kills(events: &[TraceEvent]) -> Vec<(usize, u64)> {
    events
        .iter()
        .filter(|e| matches!(e.event, Event::Process(ProcessEvent::Kill)))
        .filter_map(|e| NodeIdx::from_name(&e.node).map(|n| (n.0, e.time_us)))
        .collect()
}

/// Whether the node at `addr` was killed within [`EVERYSEC_MAX_LOSS_MS`] after acknowledging
/// a write at `end_us` (so `everysec` may have lost it).
pub(super) fn killed_before_sync(kills: &[(usize, u64)], addr: &str, end_us: u64) -> bool {
    let Some(node) = NodeIdx::from_addr(addr) else {
        return false;
    };
    kills.iter().any(|&(killed, at_us)| {
        killed == node.0 && at_us >= end_us && at_us - end_us <= EVERYSEC_MAX_LOSS_MS * 1000
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_writes_just_before_a_kill_of_their_node_are_unsynced() {
        let events = vec![
            TraceEvent {
                time_us: 10_000_000,
                node: "node2".into(),
                event: Event::Process(ProcessEvent::Kill),
            },
            TraceEvent {
                time_us: 11_000_000,
                node: "node1".into(),
                event: Event::Process(ProcessEvent::Pause),
            },
        ];
        let kills = kills(&events);
        assert_eq!(kills, vec![(1, 10_000_000)]);
        assert!(killed_before_sync(&kills, "10.0.0.2:7002", 9_000_000));
        assert!(!killed_before_sync(&kills, "10.0.0.2:7002", 7_900_000));
        assert!(!killed_before_sync(&kills, "10.0.0.2:7002", 10_000_001));
        assert!(!killed_before_sync(&kills, "10.0.0.1:7001", 10_500_000));
    }
}
