//! Failure detection and `cluster_state`.
//!
//! PFAIL is local (set by the cron when a ping goes unanswered for the node timeout); FAIL needs
//! a majority of slot-serving masters to report the node (failure reports arrive in gossip and
//! expire after 2 × node timeout) and is then broadcast. `cluster_state` is `ok` only when every
//! slot is served by a non-FAIL master and this node sees a majority of masters.
//!
//! These decisions read and change only cluster state, so they run on a `FailureDetector`
//! that borrows the cluster, the outbox, the time and the canaries (openraft's handler habit)
//! instead of the whole node. Broadcasting a FAIL needs the bus, so the node does that part.

use super::Cluster;
use crate::bus::flags;
use crate::canary::{Canaries, Canary};
use crate::effect::LogLevel;
use crate::event::{ClusterEvent, FailSource};
use crate::node_id::NodeId;
use crate::outbox::Outbox;
use crate::slot::SLOT_COUNT;

/// A restarted master keeps refusing writes for this long (`CLUSTER_WRITABLE_DELAY`).
const WRITABLE_DELAY_MS: u64 = 2000;
/// Failure reports, and FAIL of a master with slots, last this many node timeouts.
const FAIL_REPORT_VALIDITY_MULT: u64 = 2;
const FAIL_UNDO_TIME_MULT: u64 = 2;

impl Cluster {
    /// Majority of the masters that serve slots.
    pub(crate) fn failure_quorum(&self) -> usize {
        self.size / 2 + 1
    }

    /// Drops reports older than the validity window and returns how many remain.
    pub(crate) fn failure_report_count(&mut self, id: NodeId, now_ms: u64) -> usize {
        let validity_ms = self.node_timeout_ms * FAIL_REPORT_VALIDITY_MULT;
        let Some(node) = self.nodes.get_mut(&id) else {
            return 0;
        };
        node.fail_reports
            .retain(|_, at| now_ms.saturating_sub(*at) <= validity_ms);
        node.fail_reports.len()
    }
}

/// What failure detection may touch, borrowed from the node for one decision.
pub(crate) struct FailureDetector<'a> {
    pub cluster: &'a mut Cluster,
    pub out: &'a mut Outbox,
    /// Monotonic ms.
    pub now_ms: u64,
    pub canaries: Canaries,
}

impl FailureDetector<'_> {
    /// PFAIL → FAIL once enough masters agree. Returns true when `id` was just marked: the
    /// caller must broadcast the FAIL so everyone converges.
    pub(crate) fn mark_failing_if_needed(&mut self, id: NodeId) -> bool {
        let quorum = self.cluster.failure_quorum();
        let Some(node) = self.cluster.nodes.get(&id) else {
            return false;
        };
        if !node.has(flags::PFAIL) || node.has(flags::FAIL) {
            return false;
        }
        let mut failures = self.cluster.failure_report_count(id, self.now_ms);
        if self.cluster.me().is_master() {
            failures += 1;
        }
        if failures < quorum && !self.canaries.on(Canary::FailWithoutQuorum) {
            return false;
        }
        self.out.log(
            LogLevel::Notice,
            format!("Marking node {id} as failing (quorum reached)."),
        );
        let reporters = self.cluster.nodes[&id]
            .fail_reports
            .keys()
            .copied()
            .collect();
        self.out.emit(ClusterEvent::FailQuorumReached {
            node: id,
            reporters,
            size: self.cluster.size,
        });
        self.out.emit(ClusterEvent::FailMarked {
            node: id,
            source: FailSource::Quorum,
        });
        let node = self.cluster.nodes.get_mut(&id).expect("checked above");
        node.flags = (node.flags & !flags::PFAIL) | flags::FAIL;
        node.fail_time_ms = self.now_ms;
        true
    }

    /// A master's gossip says whether `id` is `failing` in its view. Returns true when that
    /// report counts against `id`: the caller then checks whether the quorum is reached.
    pub(crate) fn note_failure_report(
        &mut self,
        id: NodeId,
        reporter: NodeId,
        failing: bool,
    ) -> bool {
        let node = self.cluster.nodes.get_mut(&id).expect("known");
        if failing {
            let is_new = node.fail_reports.insert(reporter, self.now_ms).is_none();
            if is_new {
                self.out.log(
                    LogLevel::Verbose,
                    format!("Node {reporter} reported node {id} as not reachable."),
                );
            }
            return true;
        }
        if node.fail_reports.remove(&reporter).is_some() {
            self.out.log(
                LogLevel::Verbose,
                format!("Node {reporter} reported node {id} is back online."),
            );
        }
        false
    }

    /// Another node reached the quorum on `failing` and told everyone.
    pub(crate) fn on_fail_message(&mut self, failing: NodeId) {
        let Some(node) = self.cluster.nodes.get_mut(&failing) else {
            return;
        };
        if node.has(flags::FAIL | flags::MYSELF) {
            return;
        }
        node.flags = (node.flags & !flags::PFAIL) | flags::FAIL;
        node.fail_time_ms = self.now_ms;
        self.out.log(
            LogLevel::Notice,
            format!("FAIL message received about {failing}"),
        );
        self.out.emit(ClusterEvent::FailMarked {
            node: failing,
            source: FailSource::Message,
        });
        self.cluster.request_save(false);
    }

    /// A FAIL node that answers again: replicas and slot-less masters come back at once, a
    /// master with slots only after the undo time (its slots may have been failed over).
    pub(crate) fn clear_failure_if_needed(&mut self, id: NodeId) {
        let now = self.now_ms;
        let undo_ms = self.cluster.node_timeout_ms * FAIL_UNDO_TIME_MULT;
        let never_clear = self.canaries.on(Canary::FailNeverCleared);
        let node = self.cluster.nodes.get_mut(&id).expect("known node");
        if !node.has(flags::FAIL) || never_clear {
            return;
        }
        let text = if node.is_replica() || node.slots.is_empty() {
            let kind = if node.is_replica() {
                "replica"
            } else {
                "master without slots"
            };
            format!("Clear FAIL state for node {id}: {kind} is reachable again.")
        } else if node.fail_time_ms == 0 || now.saturating_sub(node.fail_time_ms) > undo_ms {
            // A FAIL flag loaded from nodes.conf has no time (0, as in Redis, whose
            // `fail_time` stays 0 from `createClusterNode`): Redis measures it on the
            // wall clock, so `mstime() - 0` is always past the undo time. Our monotonic
            // clock restarts with the process, so 0 has to be read as "long ago" here.
            format!("Clear FAIL state for node {id}: is reachable again and nobody is serving its slots after some time.")
        } else {
            return;
        };
        node.flags &= !flags::FAIL;
        self.out.log(LogLevel::Notice, text);
        self.out.emit(ClusterEvent::FailCleared { node: id });
        self.cluster.request_save(false);
    }

    /// Recomputes `cluster_state` and `cluster_size` (Redis's `clusterUpdateState`).
    pub(crate) fn update_cluster_state(&mut self) {
        let now = self.now_ms;
        let cluster = &mut *self.cluster;
        let first_ms = *cluster.first_state_update_ms.get_or_insert(now);
        let me_master = cluster.me().is_master();
        if me_master && !cluster.state_ok && now - first_ms < WRITABLE_DELAY_MS {
            return;
        }
        let mut ok = true;
        if cluster.require_full_coverage {
            // The owner table counts slots per owner as they are assigned, so coverage needs
            // neither a walk of the 16384 slots nor of the nodes' bitmaps on every tick.
            let nodes = &cluster.nodes;
            ok &= cluster.assigned_slot_count() == SLOT_COUNT;
            ok &= !cluster
                .slot_counts()
                .any(|(id, _)| nodes.get(&id).is_some_and(|n| n.has(flags::FAIL)));
        }
        // Masters serving slots are among the slot owners the owner table lists, so this
        // does not scan the (mostly empty) bitmaps of every replica.
        let (mut size, mut reachable) = (0, 0);
        for (id, _) in cluster.slot_counts() {
            let Some(n) = cluster.nodes.get(&id).filter(|n| n.is_master()) else {
                continue;
            };
            size += 1;
            if !n.is_failing() {
                reachable += 1;
            }
        }
        debug_assert_eq!(size, cluster.slot_serving_masters().count());
        cluster.size = size;
        if reachable < cluster.size / 2 + 1 && !self.canaries.on(Canary::MinorityWrites) {
            ok = false;
            // Never 0, so "was in a minority" stays distinguishable from "never was".
            cluster.among_minority_since_ms = now.max(1);
        }
        if ok == cluster.state_ok {
            return;
        }
        let rejoin_delay_ms = cluster.node_timeout_ms.clamp(500, 5000);
        let minority_since_ms = cluster.among_minority_since_ms;
        if ok && me_master && minority_since_ms != 0 && now - minority_since_ms < rejoin_delay_ms {
            return;
        }
        cluster.state_ok = ok;
        let word = if ok { "ok" } else { "fail" };
        self.out
            .log(LogLevel::Notice, format!("Cluster state changed: {word}"));
        self.out.emit(ClusterEvent::ClusterStateChanged { ok });
    }
}
