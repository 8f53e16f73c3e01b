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

/// Whether the node at `addr` was killed within [`EVERYSEC_MAX_LOSS_MS`] after applying a
/// write sent at `start_us` and answered at `end_us` (so `everysec` may have lost it). The
/// node applied it somewhere in between; its reply may still reach the client after the
/// kill.
pub(super) fn killed_before_sync(
    kills: &[(usize, u64)],
    addr: &str,
    start_us: u64,
    end_us: u64,
) -> bool {
    let Some(node) = NodeIdx::from_addr(addr) else {
        return false;
    };
    let window_us = EVERYSEC_MAX_LOSS_MS * 1000;
    kills.iter().any(|&(killed, at_us)| {
        killed == node.0 && at_us >= start_us && at_us <= end_us + window_us
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
        assert!(killed_before_sync(
            &kills,
            "10.0.0.2:7002",
            8_990_000,
            9_000_000
        ));
        // Applied before the kill, the reply arrived after it.
        assert!(killed_before_sync(
            &kills,
            "10.0.0.2:7002",
            9_998_000,
            10_002_000
        ));
        assert!(!killed_before_sync(
            &kills,
            "10.0.0.2:7002",
            7_890_000,
            7_900_000
        ));
        // Sent after the kill: some other incarnation acknowledged it.
        assert!(!killed_before_sync(
            &kills,
            "10.0.0.2:7002",
            10_000_001,
            10_100_000
        ));
        assert!(!killed_before_sync(
            &kills,
            "10.0.0.1:7001",
            10_400_000,
            10_500_000
        ));
    }
}
