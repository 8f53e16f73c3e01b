//! `appendfsync always` durability against hand-built traces: a reply that arrives after the
//! node reported the sync holding the write is fine; one that arrives before (the planted bug:
//! a node that replies first and syncs after), or with no sync at all, or a sync that covers
//! only earlier writes, is an `acked_before_fsync`.

use clusterlab_core::event::request_digest;
use clusterlab_core::ClusterEvent;

use super::durable::check_durable_acks;
use super::tests::{ok, Build};
use crate::loss::{LossConfig, LossRule};
use crate::report::Violation;
use crate::test_events::{applied, at, started};
use crate::trace::{Event, ProcessEvent, TraceEvent};
use crate::violation_kind::ViolationKind;

/// Client 0's `APPEND` to node1 from 1.0 s, answered at 1.05 s, applied at offset 100 at
/// 1.01 s; then `more` events on node1.
fn judged(more: Vec<TraceEvent>) -> Vec<Violation> {
    let mut b = Build::default();
    let write = b.append(0, 0, "list:1", (1000, 1050), ok());
    let request = request_digest(&b.0.ops[write].args);
    let mut events = vec![
        started("node1", b'a', None),
        applied(1010, "node1", 100, request),
    ];
    events.extend(more);
    events.sort_by_key(|e| e.time_us);
    let rule = LossRule::new(&events, LossConfig::default());
    check_durable_acks(&b.0, &events, &rule)
}

fn synced(ms: u64, offset: u64) -> TraceEvent {
    at(ms, "node1", ClusterEvent::AofSynced { offset })
}

#[test]
fn a_reply_after_the_sync_that_holds_its_write_is_durable() {
    assert_eq!(judged(vec![synced(1010, 100)]), vec![]);
    assert_eq!(judged(vec![synced(1049, 130)]), vec![]);
}

#[test]
fn a_reply_before_its_sync_is_acked_before_fsync() {
    // The planted bug: the reply arrives at 1.05 s, the sync completes at 1.2 s.
    let late = judged(vec![synced(1200, 100)]);
    assert_eq!(late.len(), 1, "{late:?}");
    assert_eq!(late[0].kind, ViolationKind::AckedBeforeFsync);
    let text = &late[0].evidence;
    assert!(
        text.contains("acknowledged by node1 (offset 100)")
            && text.contains("no AOF sync reaching offset 100 completed on node1"),
        "{text}"
    );
    // No sync at all, or one that holds only the writes before it.
    assert_eq!(judged(vec![]).len(), 1);
    assert_eq!(judged(vec![synced(1020, 99)]).len(), 1);
    // A sync reported by the next process (offsets start over) does not count.
    let kill = TraceEvent {
        time_us: 1_020_000,
        node: "node1".into(),
        event: Event::Process(ProcessEvent::Kill(crate::faults::CrashKind::Process)),
    };
    assert_eq!(judged(vec![kill, synced(1030, 100)]).len(), 1);
}
