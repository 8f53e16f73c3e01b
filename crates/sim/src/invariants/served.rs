//! A node serves only slots it owns or imports: every successful request is checked
//! against the views sampled around it.

use std::collections::BTreeMap;

use super::{fmt_ms, short, Sample, MAX_REPORTED_PER_NAME};
use crate::report::{Violation, ViolationKind};
use crate::view::NodeLine;

/// One request a node answered successfully, as the client saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServedOp {
    /// `ip:port` of the node that gave the reply.
    pub addr: String,
    /// The hash slot of the request's key.
    pub slot: u16,
    /// When the request was sent: virtual ms since the run started.
    pub start_ms: u64,
    /// When the reply arrived: virtual ms since the run started.
    pub end_ms: u64,
    /// Sent after `READONLY` on that connection (a replica may answer it for its master).
    pub readonly: bool,
    /// The request and its reply, for the evidence (`SET key:7 v12 -> +OK`).
    pub what: String,
}

/// Whether `line` (a node's own line in its view) serves `slot`: it owns it, imports it (an
/// `ASK`ed request may be answered then), or, for a `readonly` request, is a replica of the
/// master that owns it in the same view.
fn may_serve(lines: &[NodeLine], me: &NodeLine, slot: u16, readonly: bool) -> bool {
    let owns = |l: &NodeLine| l.slots.iter().any(|&(lo, hi)| (lo..=hi).contains(&slot));
    if owns(me) {
        return true;
    }
    let importing = me.open_slots.iter().any(|entry| {
        entry
            .trim_start_matches('[')
            .split_once("-<-")
            .is_some_and(|(s, _)| s.parse::<u16>() == Ok(slot))
    });
    if importing {
        return true;
    }
    readonly
        && !me.is_master()
        && me
            .master
            .as_deref()
            .and_then(|id| lines.iter().find(|l| l.id == id))
            .is_some_and(owns)
}

/// A node never serves a slot it does not own (name `served_unowned_slot`).
///
/// What a node owned at the instant it handled a request is not observable, only its
/// sampled views; so the check is deliberately one-sided. A request answered between
/// `[start_ms, end_ms]` is a violation only when every view of the answering node from the
/// last one taken before the request was sent to the first one surely taken after the reply
/// came back shows the same node ID at the same config epoch, neither owning the slot nor
/// importing it (nor, for a `READONLY` read, replicating its owner). A node gains a slot only
/// by a failover or a takeover (which raise its config epoch), by an import (visible as an
/// open slot first) or by an operator's `ADDSLOTS` (not done during the safety phase); so in
/// such a stretch it never owned the slot, and legitimate redirects, `ASK`s and
/// ownership changes never fire the check.
///
/// `samples` in time order. A sample's `time_ms` is when its reply arrived, so the view was
/// taken at or before it; `sample_gap_ms` is how long the sampler waits after a reply before
/// asking the same node again, so a view was taken at or after the previous reply of that
/// node plus the gap. `went_down` holds `(ip:port, ms)` of every crash or stop: a stretch
/// with one proves nothing, because a restart may come back without state the node had in
/// between (Redis saves `SETSLOT`'s import without fsync, so a power loss can undo it).
pub fn served_unowned(
    samples: &[Sample],
    ops: &[ServedOp],
    sample_gap_ms: u64,
    went_down: &[(String, u64)],
) -> Vec<Violation> {
    // Per node address: (taken no earlier than, taken no later than, sample).
    let mut views: BTreeMap<&str, Vec<(u64, u64, &Sample)>> = BTreeMap::new();
    for sample in samples {
        let Some(me) = sample.myself() else { continue };
        let list = views.entry(me.addr.as_str()).or_default();
        let from_ms = list
            .last()
            .map_or(0, |&(_, prev_ms, _)| prev_ms + sample_gap_ms);
        // `time_ms` is the reply's arrival rounded down to the millisecond.
        list.push((from_ms, sample.time_ms + 1, sample));
    }
    let mut violations = Vec::new();
    let mut reported = 0usize;
    for op in ops {
        let Some(list) = views.get(op.addr.as_str()) else {
            continue;
        };
        let Some(first) = list.iter().rposition(|&(_, to, _)| to <= op.start_ms) else {
            continue;
        };
        let Some(last) = list.iter().position(|&(from, _, _)| from >= op.end_ms) else {
            continue;
        };
        let stretch = &list[first..=last];
        let (span_from, span_to) = (stretch[0].1, stretch[stretch.len() - 1].0);
        let restarted = went_down
            .iter()
            .any(|(addr, at)| *addr == op.addr && (span_from..=span_to).contains(at));
        if restarted {
            continue;
        }
        let (_, _, before) = stretch[0];
        let Some(me_before) = before.myself() else {
            continue;
        };
        let unowned_throughout = stretch.iter().all(|&(_, _, s)| {
            s.myself().is_some_and(|me| {
                me.id == me_before.id
                    && me.config_epoch == me_before.config_epoch
                    && !may_serve(&s.lines, me, op.slot, op.readonly)
            })
        });
        if !unowned_throughout {
            continue;
        }
        reported += 1;
        if reported > MAX_REPORTED_PER_NAME {
            continue;
        }
        let owner = before
            .lines
            .iter()
            .find(|l| l.slots.iter().any(|&(lo, hi)| (lo..=hi).contains(&op.slot)))
            .map_or("nobody".to_string(), |l| {
                format!("{} ({})", short(&l.id), l.addr)
            });
        let (_, _, after) = stretch[stretch.len() - 1];
        let after_ms = after.time_ms;
        violations.push(Violation::new(
            ViolationKind::ServedUnownedSlot,
            format!(
                "{} ({}) answered {} for slot {} between {} and {}, but its own views from {} \
                 to {} (config epoch {}, {}) give the slot to {owner} and import nothing",
                before.node,
                op.addr,
                op.what,
                op.slot,
                fmt_ms(op.start_ms),
                fmt_ms(op.end_ms),
                fmt_ms(before.time_ms),
                fmt_ms(after_ms),
                me_before.config_epoch,
                if me_before.is_master() {
                    "master"
                } else {
                    "replica"
                },
            ),
        ));
    }
    if reported > MAX_REPORTED_PER_NAME {
        violations.push(Violation::new(
            ViolationKind::ServedUnownedSlot,
            format!(
                "… and {} more like the above",
                reported - MAX_REPORTED_PER_NAME
            ),
        ));
    }
    violations
}
