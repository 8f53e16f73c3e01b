//! `appendfsync always` durability, from the nodes' own events: no write is acknowledged
//! before the AOF sync that holds it has completed. Redis 7.0 writes and fsyncs the AOF on its
//! main thread in `beforeSleep` (`flushAppendOnlyFile`) before it writes the replies
//! (`handleClientsWithPendingWrites`), so under `always` a reply never leaves before its
//! write is durable. A node reports each completed sync (`AofSynced`, with the replication
//! offset the file then holds durably); a write's `WriteApplied` gives its offset. The reply
//! left no later than it arrived, so a write whose covering sync completed only after the
//! client had its reply was acknowledged before it was durable.

use clusterlab_core::ClusterEvent;

use super::judge::{acked_write, capped};
use super::op::AppendHistory;
use crate::invariants::fmt_ms;
use crate::loss::LossRule;
use crate::report::Violation;
use crate::trace::{Event, ProcessEvent, TraceEvent};
use crate::violation_kind::ViolationKind;

/// Every acknowledged write (of the nodes' `appendfsync always`) with no completed AOF sync
/// covering its offset on its node between applying it and the reply's arrival.
pub fn check_durable_acks(
    history: &AppendHistory,
    events: &[TraceEvent],
    rule: &LossRule,
) -> Vec<Violation> {
    let mut found = Vec::new();
    // Only writes with their own token: `INCR` and `PERSIST` send the same words from every
    // client, so the `WriteApplied` found for them may be another client's.
    let tokened = history
        .acked_writes()
        .filter(|op| op.kind.token().is_some());
    for op in tokened {
        let acked = acked_write(op);
        let Some((index, offset)) = rule.applied(&acked) else {
            continue;
        };
        if synced_before(events, index, &acked.node, offset, op.end_us) {
            continue;
        }
        found.push((
            ViolationKind::AckedBeforeFsync,
            format!(
                "{} was acknowledged by {} (offset {offset}) with its reply at {}, but no AOF \
                 sync reaching offset {offset} completed on {} before it (appendfsync always)",
                acked.what,
                acked.node,
                fmt_ms(op.end_us / 1000),
                acked.node
            ),
        ));
    }
    capped(found)
}

/// Whether `node` reported a sync reaching `offset` after its event at `applied` and by
/// `by_us`, before the process went down (its offsets start over at a restart).
pub(crate) fn synced_before(
    events: &[TraceEvent],
    applied: usize,
    node: &str,
    offset: u64,
    by_us: u64,
) -> bool {
    for e in events[applied + 1..].iter().filter(|e| e.node == node) {
        if e.time_us > by_us {
            return false;
        }
        match &e.event {
            Event::Cluster(ClusterEvent::AofSynced { offset: synced }) if *synced >= offset => {
                return true
            }
            Event::Cluster(ClusterEvent::NodeStarted { .. })
            | Event::Process(ProcessEvent::Kill(_) | ProcessEvent::Exit(_)) => return false,
            _ => {}
        }
    }
    false
}
