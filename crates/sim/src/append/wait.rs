//! `WAIT` replies against the replicas' own events. `WAIT n` answers how many replicas
//! acknowledged the client's last write, and a replica acknowledges only an offset it has
//! applied (`REPLCONF ACK` carries its processed offset). So when `WAIT` answers `k`, at least
//! `k` replicas of that master must have reported reaching the write's offset, in the
//! master's stream (`WriteApplied`, or `ReplicationLinkUp` after a full sync), before the
//! reply arrived. A replica that acknowledges an offset it has not applied (its old one while
//! it loads a snapshot, say) makes `WAIT` over-count, and writes it "secured" can be lost.

use std::collections::{BTreeMap, BTreeSet};

use clusterlab_core::{ClusterEvent, NodeId};

use super::judge::{acked_write, capped};
use super::op::{AppendHistory, Kind, Op, Outcome, Value};
use crate::invariants::fmt_ms;
use crate::loss::LossRule;
use crate::report::Violation;
use crate::trace::TraceEvent;
use crate::violation_kind::ViolationKind;

/// Every `WAIT` whose answer counts more replicas than had applied the write before it.
pub fn check_waits(
    history: &AppendHistory,
    events: &[TraceEvent],
    rule: &LossRule,
) -> Vec<Violation> {
    let mut found = Vec::new();
    for wait in &history.ops {
        let (Kind::Wait { .. }, Outcome::Ok(Value::Int(answered))) = (&wait.kind, &wait.outcome)
        else {
            continue;
        };
        let Ok(answered) = usize::try_from(*answered) else {
            continue;
        };
        let Some(write) = write_before(history, wait) else {
            continue;
        };
        if answered == 0 || restarted_between(history, write, wait) {
            continue;
        }
        let acked = acked_write(write);
        let Some((index, offset)) = rule.applied(&acked) else {
            continue;
        };
        let reached = replicas_at(events, index, &acked.node, offset, wait.end_us);
        if reached.len() >= answered {
            continue;
        }
        let names: Vec<&str> = reached.iter().map(String::as_str).collect();
        found.push((
            ViolationKind::WaitOvercounted,
            format!(
                "{} answered {answered} at {} for {} (offset {offset} on {}), but only {} \
                 replica(s) had applied that offset by then: [{}]",
                wait.command(),
                fmt_ms(wait.end_us / 1000),
                acked.what,
                acked.node,
                reached.len(),
                names.join(", ")
            ),
        ));
    }
    capped(found)
}

/// The acknowledged write whose connection `wait` was sent on: its client's last op before it.
/// Only a write with its own token counts: `INCR` and `PERSIST` send the same words from every
/// client, so their `WriteApplied` may be another client's, and a `PERSIST` or `PEXPIRE` that
/// changed nothing is not propagated at all (Redis leaves the client's offset where it was;
/// seed 605492).
fn write_before<'h>(history: &'h AppendHistory, wait: &Op) -> Option<&'h Op> {
    let write = history.ops[..wait.id]
        .iter()
        .rev()
        .find(|op| op.client == wait.client)?;
    let tokened = write.kind.token().is_some();
    (tokened && write.is_ok() && write.addr == wait.addr).then_some(write)
}

/// A node restarted between the write and its `WAIT` answers on a new connection, whose last
/// write offset is not the write's.
fn restarted_between(history: &AppendHistory, write: &Op, wait: &Op) -> bool {
    history
        .kills
        .iter()
        .any(|k| k.addr == wait.addr && (write.start_us..=wait.end_us).contains(&k.at_us))
}

/// The nodes that, following `master_name`'s ID of the moment, reported reaching `offset`
/// between the write (`events[from]`) and `until_us`.
fn replicas_at(
    events: &[TraceEvent],
    from: usize,
    master_name: &str,
    offset: u64,
    until_us: u64,
) -> BTreeSet<String> {
    let master = master_id(&events[..=from], master_name);
    let mut following: BTreeMap<&str, Option<NodeId>> = BTreeMap::new();
    let mut reached = BTreeSet::new();
    for event in events.iter().take_while(|e| e.time_us <= until_us) {
        let Some(cluster) = event.event.cluster() else {
            continue;
        };
        let node = event.node.as_str();
        match cluster {
            ClusterEvent::NodeStarted { master, .. } => {
                following.insert(node, *master);
            }
            ClusterEvent::BecameReplica { master } => {
                following.insert(node, Some(*master));
            }
            ClusterEvent::Promoted { .. } => {
                following.insert(node, None);
            }
            ClusterEvent::WriteApplied { offset: at, .. }
            | ClusterEvent::ReplicationLinkUp { offset: at }
            | ClusterEvent::PartialResync { offset: at, .. } => {
                let follows = master.is_some() && following.get(node).copied().flatten() == master;
                if follows && *at >= offset && event.time_us >= events[from].time_us {
                    reached.insert(node.to_string());
                }
            }
            _ => {}
        }
    }
    reached
}

/// The ID `name` ran under at the end of `events`.
fn master_id(events: &[TraceEvent], name: &str) -> Option<NodeId> {
    events.iter().rev().find_map(|e| match e.event.cluster()? {
        ClusterEvent::NodeStarted { id, .. } if e.node == name => Some(*id),
        _ => None,
    })
}
