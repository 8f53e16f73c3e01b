//! The loss rule: whether Redis Cluster may have lost one acknowledged write, judged from the
//! typed events of a run (never from samples or log lines).
//!
//! Redis may lose an acknowledged write in one situation only: the node that next owns its
//! slot (a promoted replica, or a master after a minority partition heals) never had the
//! write's replication offset. A master restarted from its own disk loses nothing under
//! `appendfsync always`, and under `everysec` only what it acknowledged in the last sync
//! interval before the crash; on a slow disk (`Fault::SlowDisk`) a copy is durable only once
//! its node reports a completed sync reaching it (`AofSynced`), and writes held in memory
//! while `everysec` postpones them for a running fsync are lost by any crash. A master
//! restarted with keys of a slot nobody serves in its view takes the slot
//! (`verifyClusterConfigWithData`) and wins it from its owner when its config epoch is the
//! greater: the owner's writes there that it never had are gone.
//! Migration and a coordinated `CLUSTER FAILOVER` lose nothing by themselves; a failover in the middle of a migration may (Redis 7.0 replicates neither the
//! migrating nor the importing state), in the ways `reason` names. A wiped disk excuses only
//! writes no surviving node had received.
//!
//! Workloads describe each acknowledged write as an [`AckedWrite`]; [`LossRule::judge`] says
//! whether losing it was allowed, and why. The rule finds the write's `WriteApplied` on the
//! node that acknowledged it (by request digest, within the request's time), then follows the
//! slot and the write's copies through the events (`walk`); `reason` words the verdict.

mod reason;
mod snapshots;
mod walk;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_slow;
#[cfg(test)]
mod tests_unwritten;

use std::collections::BTreeMap;

use clusterlab_core::{ClusterEvent, NodeId};

use crate::invariants::fmt_ms;
use crate::trace::TraceEvent;

/// One acknowledged write, as the client saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AckedWrite {
    /// Name of the node that acknowledged it (`node1`, …).
    pub node: String,
    /// The key written (to follow copies of it the operator deleted).
    pub key: String,
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

impl LossVerdict {
    /// Whether Redis may lose the write.
    pub fn is_allowed(&self) -> bool {
        matches!(self, LossVerdict::Allowed(_))
    }

    /// The reason or the evidence.
    pub fn text(&self) -> &str {
        match self {
            LossVerdict::Allowed(text) | LossVerdict::Violation(text) => text,
        }
    }
}

/// What a verdict rests on, to count losses by kind (the text says the details).
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum LossCause {
    /// A promoted replica that never had the write took the slot.
    Failover,
    /// The acknowledging master had already been replaced when it applied the write.
    DeposedMaster,
    /// A crash within the `everysec` sync interval.
    UnsyncedCrash,
    /// A crash or stop while the holder's AOF could not be written or synced.
    DiskError,
    /// A wiped disk.
    WipedDisk,
    /// The owner became a replica of a node without the write, with no handover.
    Demotion,
    /// The slot's owner still had the write at the end.
    Kept,
    /// No `WriteApplied` matched the write.
    NeverApplied,
    /// A replica promoted during a slot move took the write, and the move finished without it.
    MigrationAfterFailover,
    /// A node restarted with keys of the slot, unassigned in its view, claimed it and won it
    /// by config epoch, without the write.
    Adoption,
    /// A node evicted the write's key for `maxmemory` after the write ([`ClusterEvent::KeyEvicted`]).
    Evicted,
}

impl LossCause {
    /// A short label (`failover`, `wiped disk`, …).
    pub fn label(self) -> &'static str {
        match self {
            LossCause::Failover => "failover",
            LossCause::DeposedMaster => "deposed master",
            LossCause::UnsyncedCrash => "everysec crash",
            LossCause::DiskError => "disk error",
            LossCause::WipedDisk => "wiped disk",
            LossCause::Demotion => "demotion",
            LossCause::Kept => "kept",
            LossCause::NeverApplied => "never applied",
            LossCause::MigrationAfterFailover => "migration after a failover",
            LossCause::Adoption => "start-up slot claim",
            LossCause::Evicted => "eviction",
        }
    }
}

/// What the rule needs besides the events.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LossConfig {
    /// `appendfsync everysec` (else `always`).
    pub fsync_everysec: bool,
    /// `appendfsync always`: every acknowledged write must have been synced first
    /// ([`crate::append::check_durable_acks`]).
    pub fsync_always: bool,
}

impl LossConfig {
    /// The rule's view of a run whose nodes use `appendfsync`.
    pub fn for_fsync(appendfsync: clusterlab_core::config::AppendFsync) -> LossConfig {
        LossConfig {
            fsync_everysec: appendfsync == clusterlab_core::config::AppendFsync::Everysec,
            fsync_always: appendfsync == clusterlab_core::config::AppendFsync::Always,
        }
    }
}

/// How long before a crash an `appendfsync everysec` node may have acknowledged writes its
/// disk never got. Redis 7.0 fsyncs the AOF in the background about once a second, started
/// from its cron (10 times a second by default), so a crash loses what was written since the
/// last fsync: up to one second, plus the cron tick that starts the next one.
pub const EVERYSEC_WINDOW_US: u64 = 1_100_000;

/// The loss rule over one run's events.
pub struct LossRule<'a> {
    events: &'a [TraceEvent],
    config: LossConfig,
    /// Which node each ID stands for, from the nodes' `Started` events (a wiped node starts
    /// again under a new ID: both map to its name).
    names: BTreeMap<NodeId, String>,
}

impl<'a> LossRule<'a> {
    /// The rule over `events` (a run's whole trace, in time order).
    pub fn new(events: &'a [TraceEvent], config: LossConfig) -> Self {
        let names = events
            .iter()
            .filter_map(|e| match e.event.cluster()? {
                ClusterEvent::NodeStarted { id, .. } => Some((*id, e.node.clone())),
                _ => None,
            })
            .collect();
        LossRule {
            events,
            config,
            names,
        }
    }

    /// Whether losing `write` was allowed.
    pub fn judge(&self, write: &AckedWrite) -> LossVerdict {
        self.judge_with_cause(write).0
    }

    /// [`LossRule::judge`], with what the verdict rests on.
    pub fn judge_with_cause(&self, write: &AckedWrite) -> (LossVerdict, LossCause) {
        let Some((index, offset)) = self.applied(write) else {
            let verdict = LossVerdict::Violation(format!(
                "{} acked by {} at {} was lost, and {} never reported applying it (no \
                 WriteApplied with its request between {} and {})",
                write.what,
                write.node,
                fmt_us(write.end_us),
                write.node,
                fmt_us(write.start_us),
                fmt_us(write.end_us)
            ));
            return (verdict, LossCause::NeverApplied);
        };
        if let Some(evicted) = self.evicted_since(write, index) {
            return (evicted, LossCause::Evicted);
        }
        walk::Walk::new(self, write, offset).run(self.start_index(write, index), index)
    }

    /// A write's key evicted for `maxmemory` after the write was applied (event `applied`):
    /// Redis's eviction deletes it, with every write it held, and only its `KeyEvicted` event
    /// excuses the loss.
    fn evicted_since(&self, write: &AckedWrite, applied: usize) -> Option<LossVerdict> {
        self.events[applied..]
            .iter()
            .find_map(|e| match e.event.cluster()? {
                ClusterEvent::KeyEvicted { key, policy }
                    if key.as_ref() == write.key.as_bytes() =>
                {
                    Some(LossVerdict::Allowed(format!(
                        "{} evicted {} at {} ({policy}), after {} applied {}",
                        e.node,
                        write.key,
                        fmt_us(e.time_us),
                        write.node,
                        write.what
                    )))
                }
                _ => None,
            })
    }

    /// Index and offset of the write's `WriteApplied` on its node: the last one with its
    /// request digest while the request was in flight.
    pub(crate) fn applied(&self, write: &AckedWrite) -> Option<(usize, u64)> {
        self.events
            .iter()
            .enumerate()
            .filter(|(_, e)| e.node == write.node)
            .filter(|(_, e)| (write.start_us..=write.end_us).contains(&e.time_us))
            .filter_map(|(i, e)| match e.event.cluster()? {
                ClusterEvent::WriteApplied { offset, request } if *request == write.request => {
                    Some((i, *offset))
                }
                _ => None,
            })
            .next_back()
    }

    /// Where the walk starts: at the write, or earlier, at the promotion that had already
    /// replaced the acknowledging master when it applied the write (a master cut off in a
    /// minority keeps serving until it notices; its writes belong to a deposed history).
    fn start_index(&self, write: &AckedWrite, applied: usize) -> usize {
        let on_node = |e: &TraceEvent| e.node == write.node;
        let before = &self.events[..applied];
        let by_promotion = before.iter().rposition(|e| match e.event.cluster() {
            Some(ClusterEvent::Promoted { old_master, .. }) => {
                !on_node(e) && self.name_of(old_master) == write.node
            }
            _ => false,
        });
        let deposed = by_promotion.max(self.stranding_import(write, before));
        let Some(deposed) = deposed else {
            return applied;
        };
        // Promoted again, or given the slot by a migration, since: the owner again.
        let regained = before[deposed..].iter().any(|e| {
            on_node(e)
                && match e.event.cluster() {
                    Some(ClusterEvent::Promoted { .. }) => true,
                    Some(ClusterEvent::SlotImported { slot, .. }) => *slot == write.slot,
                    _ => false,
                }
        });
        if regained {
            applied
        } else {
            deposed
        }
    }

    /// The import that had already taken the write's slot from its node when the node applied
    /// it (`before`: the events until then): an import of the slot open on another node when
    /// the write's node was promoted, closed since, while the promoted node moved none of the
    /// slot's keys. Redis 7.0 keeps the migrating state off replicas, so the promoted node
    /// owns the slot outright and serves it until the importer's epoch, taken without votes,
    /// reaches it (seed 605874).
    fn stranding_import(&self, write: &AckedWrite, before: &[TraceEvent]) -> Option<usize> {
        let on_node = |e: &TraceEvent| e.node == write.node;
        let promoted = before.iter().rposition(|e| {
            on_node(e) && matches!(e.event.cluster(), Some(ClusterEvent::Promoted { .. }))
        })?;
        let moved_keys = before[promoted..].iter().any(|e| {
            on_node(e)
                && matches!(e.event.cluster(),
                    Some(ClusterEvent::KeysMigrated { slot, .. }) if *slot == write.slot)
        });
        if moved_keys {
            return None;
        }
        let open_at_promotion = |importer: &str| {
            before[..promoted]
                .iter()
                .rev()
                .find_map(|e| match e.event.cluster() {
                    Some(ClusterEvent::ImportChanged { slot, from })
                        if e.node == importer && *slot == write.slot =>
                    {
                        Some(from.is_some())
                    }
                    _ => None,
                })
                == Some(true)
        };
        let closed = before
            .iter()
            .enumerate()
            .skip(promoted)
            .rev()
            .find(|(_, e)| {
                !on_node(e)
                    && matches!(e.event.cluster(),
                    Some(ClusterEvent::SlotImported { slot, .. }) if *slot == write.slot)
            });
        closed
            .filter(|(_, e)| open_at_promotion(&e.node))
            .map(|(i, _)| i)
    }

    /// The node `id` stands for (its short ID when no `Started` event named it).
    fn name_of(&self, id: &NodeId) -> String {
        self.names
            .get(id)
            .cloned()
            .unwrap_or_else(|| id.as_str()[..8].to_string())
    }
}

/// The single writer's `SET key value` (as [`crate::workload`] sends it) as an
/// [`AckedWrite`]; `None` when its address is no node's.
pub fn acked_set(op: &crate::workload::WriteOp) -> Option<AckedWrite> {
    let node = crate::node_idx::NodeIdx::from_addr(&op.addr)?.name();
    let args = [b"SET".as_slice(), op.key.as_bytes(), op.value.as_bytes()];
    Some(AckedWrite {
        node,
        key: op.key.clone(),
        slot: clusterlab_core::slot::key_hash_slot(op.key.as_bytes()),
        request: clusterlab_core::event::request_digest(&args),
        start_us: op.start_us,
        end_us: op.end_us,
        what: format!("SET {} {}", op.key, op.value),
    })
}

/// Virtual µs as `12.345s`.
fn fmt_us(us: u64) -> String {
    fmt_ms(us / 1000)
}
