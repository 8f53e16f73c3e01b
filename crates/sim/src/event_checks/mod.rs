//! Safety and protocol rules judged on every typed event as it happened, not on samples.
//!
//! [`check_events`] replays a run's trace in order. Each node's own [`ClusterEvent`]s rebuild
//! what it believed at every moment (its ID, epochs, role, slot table, failure flags), and
//! every decision is held to Redis 7.0's rule for it at the moment it was made:
//!
//! - `epochs`: epochs never go back within a node's life, a restart from `nodes.conf` keeps
//!   the epochs and the vote it had, a fresh start takes a new ID;
//! - `slots`: one owner per slot per config epoch (among epochs taken by agreement), and a
//!   node runs keyed commands only for slots its own table gives it;
//! - `votes`: one vote per epoch per voter, one replica of a master per two node timeouts,
//!   only from a master serving slots, in its current epoch, for a replica of a master it
//!   flags FAIL; a winner takes its election's epoch with a majority of votes; election
//!   delays follow the rank, and a rank counts only siblings that may have been ahead
//!   (`ranks`);
//! - `failure`: a FAIL by quorum counts enough masters whose reports were still valid.
//!
//! Windows that depend on message delivery widen by what the trace's faults add
//! ([`network::DelayBounds`]); no fault silences a rule.

mod failure;
mod network;
mod ranks;
mod slots;
mod stalled_saves;
mod state;
mod votes;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use crate::invariants::MAX_REPORTED_PER_NAME;
use crate::report::{Violation, ViolationKind};
use crate::trace::TraceEvent;

pub(crate) use network::{loss_delay_ms, RETRY_BACKOFF_CAP_MS};
use state::Replay;

/// Every violation of the rules above in `events` (a run's trace in time order), at most
/// [`MAX_REPORTED_PER_NAME`] per kind plus a count of the rest.
pub fn check_events(events: &[TraceEvent], node_timeout_ms: u64) -> Vec<Violation> {
    let mut replay = Replay::new(events, node_timeout_ms);
    for event in events {
        if let Some(cluster_event) = event.event.cluster() {
            replay.apply(event.time_us, &event.node, cluster_event);
        } else {
            replay.note_harness(event);
        }
    }
    replay.finish()
}

/// Violations found so far, capped per kind.
#[derive(Debug, Default)]
struct Findings {
    shown: Vec<Violation>,
    hidden: BTreeMap<ViolationKind, usize>,
}

impl Findings {
    fn push(&mut self, kind: ViolationKind, evidence: String) {
        if self.shown.iter().filter(|v| v.kind == kind).count() < MAX_REPORTED_PER_NAME {
            self.shown.push(Violation::new(kind, evidence));
        } else {
            *self.hidden.entry(kind).or_insert(0) += 1;
        }
    }

    fn into_violations(mut self) -> Vec<Violation> {
        for (kind, count) in self.hidden {
            self.shown.push(Violation::new(
                kind,
                format!("… and {count} more like the above"),
            ));
        }
        self.shown
    }
}

/// `node1 at 12.345s`: who decided, when.
fn at(node: &str, time_us: u64) -> String {
    format!("{node} at {}", crate::invariants::fmt_ms(time_us / 1000))
}

/// The first eight characters of an ID, as evidence shows them.
fn short(id: &clusterlab_core::NodeId) -> String {
    id.to_string()[..8].to_string()
}
