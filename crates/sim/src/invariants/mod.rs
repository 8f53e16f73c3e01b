//! Named invariants over the nodes' `CLUSTER NODES` / `CLUSTER INFO` views. Each returns the
//! violations it finds, with the evidence a person needs to start debugging (which node, at
//! which virtual time, which views disagree and how).
//!
//! Two kinds. Point-in-time checks are pure functions of a set of views: [`views_agree`]
//! (liveness: one answer for all 16384 slots), [`config_epochs_distinct`] (once settled),
//! [`states_ok`], and the fault-free [`no_failing_flags`] / [`no_stale_pings`]. History checks
//! need every sample of a run in time order, so they live in [`SafetyMonitor`]: at most one
//! owner per slot per config epoch across all views ever seen, `currentEpoch` never below a
//! config epoch a node shows, and no epoch of a node ever going down, also across restarts.
//!
//! Everything here is plain data, unit-tested in the normal build, and reused by every
//! scenario.
//!
//! The same safety rules are also judged exactly, on every typed event, by
//! [`crate::event_checks`]. The samples stay the only witness for what no event carries:
//! another node's config epoch as a viewer saw it (the monitor's view-based
//! `slot_epoch_conflict`, `current_epoch_behind`), `cluster_state` against ground truth
//! (`minority_master_ok`), stale claims and promotions against who could reach whom, and
//! the liveness checks.

mod connectivity;
pub mod evictions;
pub mod failover;
mod failover_missing;
mod monitor;
mod promotions;
mod served;
pub mod updates;
mod views;

pub use connectivity::Connectivity;
pub use failover_missing::{failover_bound_ms, failovers_missing, manual_failovers_unfinished};
pub use monitor::{SafetyMonitor, MAX_REPORTED_PER_NAME};
pub(crate) use promotions::index_of_name;
pub use promotions::{
    elections_started, stale_partitioned_promotions, stale_promotions, ReplicaHistory,
    STALE_CUT_OFF_NODE_TIMEOUTS,
};
pub use served::{served_unowned, ServedOp};
pub use views::{
    config_epochs_distinct, identical_ownership, no_failing_flags, no_stale_pings, phantom_slots,
    states_ok, views_agree, views_agree_quickly,
};

use crate::trace::Fnv64;
use crate::view::NodeLine;

/// `12.345s`: virtual milliseconds as evidence shows them.
pub fn fmt_ms(ms: u64) -> String {
    format!("{}.{:03}s", ms / 1000, ms % 1000)
}

pub(crate) fn short(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}

/// Inclusive ranges of a sorted slot list: `0-5,9`.
fn ranges_text(slots: &[usize]) -> String {
    let mut parts = Vec::new();
    let mut i = 0;
    while i < slots.len() {
        let mut j = i;
        while j + 1 < slots.len() && slots[j + 1] == slots[j] + 1 {
            j += 1;
        }
        parts.push(range_text(slots[i], slots[j]));
        i = j + 1;
    }
    parts.join(",")
}

pub(crate) use clusterlab_core::text::range_text;

/// One node's answer to `CLUSTER NODES` then `CLUSTER INFO`, at one virtual moment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sample {
    /// `node1`, … (the machine, whatever node ID it runs now).
    pub node: String,
    /// Virtual ms since the run started.
    pub time_ms: u64,
    /// The parsed `CLUSTER NODES` lines: one per node it knows, itself included.
    pub lines: Vec<NodeLine>,
    /// `cluster_current_epoch` (read after `CLUSTER NODES`, so it can only be newer).
    pub current_epoch: u64,
    /// `cluster_state`: `ok` or `fail`.
    pub cluster_state: String,
}

impl Sample {
    /// The sampled node's own line (flagged `myself`), if the answer had one.
    pub fn myself(&self) -> Option<&NodeLine> {
        self.lines.iter().find(|l| l.is_myself())
    }

    /// A hash of who owns what at which epoch in this view: equal views need checking once.
    fn ownership_signature(&self) -> u64 {
        let mut owners: Vec<&NodeLine> =
            self.lines.iter().filter(|l| !l.slots.is_empty()).collect();
        owners.sort_by(|a, b| a.id.cmp(&b.id));
        let mut hash = Fnv64::new();
        for owner in owners {
            hash.write(owner.id.as_bytes());
            hash.write(&owner.config_epoch.to_le_bytes());
            for &(lo, hi) in &owner.slots {
                hash.write(&lo.to_le_bytes());
                hash.write(&hi.to_le_bytes());
            }
            hash.write(b"\n");
        }
        hash.finish()
    }
}

#[cfg(test)]
mod tests;
