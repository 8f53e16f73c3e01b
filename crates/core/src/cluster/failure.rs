//! Failure detection and `cluster_state`.
//!
//! PFAIL is local (set by the cron when a ping goes unanswered for the node timeout); FAIL needs
//! a majority of slot-serving masters to report the node (failure reports arrive in gossip and
//! expire after 2 × node timeout) and is then broadcast. `cluster_state` is `ok` only when every
//! slot is served by a non-FAIL master and this node sees a majority of masters.

use crate::bus::{flags, Body, MessageType};
use crate::canary::Canary;
use crate::event::{ClusterEvent, FailSource};
use crate::node::{LogLevel, Node};
use crate::node_id::NodeId;
use crate::slot::SLOT_COUNT;

/// A restarted master keeps refusing writes for this long (`CLUSTER_WRITABLE_DELAY`).
const WRITABLE_DELAY_MS: u64 = 2000;
/// Failure reports, and FAIL of a master with slots, last this many node timeouts.
const FAIL_REPORT_VALIDITY_MULT: u64 = 2;
const FAIL_UNDO_TIME_MULT: u64 = 2;

impl Node {
    /// Majority of the masters that serve slots.
    pub(crate) fn failure_quorum(&self) -> usize {
        self.cluster.size / 2 + 1
    }

    /// Drops reports older than the validity window and returns how many remain.
    pub(crate) fn failure_report_count(&mut self, id: NodeId) -> usize {
        let now = self.now.mono_ms;
        let validity_ms = self.cluster.node_timeout_ms * FAIL_REPORT_VALIDITY_MULT;
        let Some(node) = self.cluster.nodes.get_mut(&id) else {
            return 0;
        };
        node.fail_reports
            .retain(|_, at| now.saturating_sub(*at) <= validity_ms);
        node.fail_reports.len()
    }

    /// PFAIL → FAIL once enough masters agree; the FAIL is broadcast so everyone converges.
    pub(crate) fn mark_failing_if_needed(&mut self, id: NodeId) {
        let quorum = self.failure_quorum();
        let Some(node) = self.cluster.nodes.get(&id) else {
            return;
        };
        if !node.has(flags::PFAIL) || node.has(flags::FAIL) {
            return;
        }
        let mut failures = self.failure_report_count(id);
        if self.cluster.me().is_master() {
            failures += 1;
        }
        if failures < quorum && !self.canary(Canary::FailWithoutQuorum) {
            return;
        }
        self.log(
            LogLevel::Notice,
            format!("Marking node {id} as failing (quorum reached)."),
        );
        self.emit(ClusterEvent::FailMarked {
            node: id,
            source: FailSource::Quorum,
        });
        let now = self.now.mono_ms;
        let node = self.cluster.nodes.get_mut(&id).expect("checked above");
        node.flags = (node.flags & !flags::PFAIL) | flags::FAIL;
        node.fail_time_ms = now;
        self.broadcast(MessageType::Fail, Body::Fail(id));
        self.cluster.request_save(true);
    }

    /// A FAIL node that answers again: replicas and slot-less masters come back at once, a
    /// master with slots only after the undo time (its slots may have been failed over).
    pub(crate) fn clear_failure_if_needed(&mut self, id: NodeId) {
        let now = self.now.mono_ms;
        let undo_ms = self.cluster.node_timeout_ms * FAIL_UNDO_TIME_MULT;
        let never_clear = self.canary(Canary::FailNeverCleared);
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
        } else if now.saturating_sub(node.fail_time_ms) > undo_ms {
            format!("Clear FAIL state for node {id}: is reachable again and nobody is serving its slots after some time.")
        } else {
            return;
        };
        node.flags &= !flags::FAIL;
        self.log(LogLevel::Notice, text);
        self.emit(ClusterEvent::FailCleared { node: id });
        self.cluster.request_save(false);
    }

    /// Recomputes `cluster_state` and `cluster_size` (Redis's `clusterUpdateState`).
    pub(crate) fn update_cluster_state(&mut self) {
        let now = self.now.mono_ms;
        let first_ms = *self.cluster.first_state_update_ms.get_or_insert(now);
        let me_master = self.cluster.me().is_master();
        if me_master && !self.cluster.state_ok && now - first_ms < WRITABLE_DELAY_MS {
            return;
        }
        let mut ok = true;
        if self.cluster.require_full_coverage {
            // The owner table counts slots per owner as they are assigned, so coverage needs
            // neither a walk of the 16384 slots nor of the nodes' bitmaps on every tick.
            let nodes = &self.cluster.nodes;
            ok &= self.cluster.assigned_slot_count() == SLOT_COUNT;
            ok &= !self
                .cluster
                .slot_counts()
                .any(|(id, _)| nodes.get(&id).is_some_and(|n| n.has(flags::FAIL)));
        }
        // Masters serving slots are among the slot owners the owner table lists, so this
        // does not scan the (mostly empty) bitmaps of every replica.
        let (mut size, mut reachable) = (0, 0);
        for (id, _) in self.cluster.slot_counts() {
            let Some(n) = self.cluster.nodes.get(&id).filter(|n| n.is_master()) else {
                continue;
            };
            size += 1;
            if !n.is_failing() {
                reachable += 1;
            }
        }
        debug_assert_eq!(size, self.cluster.slot_serving_masters().count());
        self.cluster.size = size;
        if reachable < self.cluster.size / 2 + 1 && !self.canary(Canary::MinorityWrites) {
            ok = false;
            // Never 0, so "was in a minority" stays distinguishable from "never was".
            self.cluster.among_minority_since_ms = now.max(1);
        }
        if ok == self.cluster.state_ok {
            return;
        }
        let rejoin_delay_ms = self.cluster.node_timeout_ms.clamp(500, 5000);
        let minority_since_ms = self.cluster.among_minority_since_ms;
        if ok && me_master && minority_since_ms != 0 && now - minority_since_ms < rejoin_delay_ms {
            return;
        }
        self.cluster.state_ok = ok;
        let word = if ok { "ok" } else { "fail" };
        self.log(LogLevel::Notice, format!("Cluster state changed: {word}"));
        self.emit(ClusterEvent::ClusterStateChanged { ok });
    }

    /// Work Redis does in `clusterBeforeSleep`: persist a changed configuration before any
    /// reply of this call is sent.
    pub(crate) fn cluster_before_reply(&mut self) {
        if std::mem::take(&mut self.cluster.state_update_pending) {
            self.update_cluster_state();
        }
        if !self.cluster.save_pending {
            return;
        }
        let fsync = self.cluster.fsync_pending && !self.canary(Canary::NodesConfNoFsync);
        self.cluster.save_pending = false;
        self.cluster.fsync_pending = false;
        let contents = self.render_nodes_conf();
        self.out
            .push(crate::node::Effect::SaveConfig { contents, fsync });
    }
}
