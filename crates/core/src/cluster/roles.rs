//! Role changes and votes, as far as they only touch cluster state: becoming a replica,
//! taking over a master's slots, granting a failover vote, resolving an epoch collision.
//!
//! Each takes the cluster and an outbox (plus the time, where a timer is involved), the way
//! openraft's handlers borrow only the state they need. What needs more than that (broadcasting
//! the news on the bus, recomputing `cluster_state` with the canaries, timing an election) stays
//! with the node, which calls these and does the rest.

use super::Cluster;
use crate::bus::{flags, mflags, Header};
use crate::effect::LogLevel;
use crate::event::{ClusterEvent, ConfigEpochReason, EpochReason};
use crate::node_id::NodeId;
use crate::outbox::Outbox;

impl Cluster {
    /// Myself becomes a replica of `master`: my slots and open migrations go. A manual
    /// failover under way ends when my master changes (Redis resets it whenever it sets a new
    /// master): it was agreed with the old master, and a replica that migrated mid-way must not
    /// use it to take its new master's slots without that master failing.
    pub(crate) fn become_replica_of(&mut self, master: NodeId, out: &mut Outbox) {
        if self.me().is_master() || self.me().master != Some(master) {
            self.reset_manual_failover();
            self.election.manual = false;
        }
        let owned: Vec<u16> = self.me().slots.iter().collect();
        self.assign_slots(&owned, None, out);
        self.migrating.clear();
        self.end_imports(|_| true, out);
        let me = self.me_mut();
        me.flags = (me.flags & !(flags::MASTER | flags::MIGRATE_TO)) | flags::SLAVE;
        me.master = Some(master);
        // Saved, not fsynced: Redis's `clusterSetMaster` asks for nothing itself; `CLUSTER
        // REPLICATE` adds `CLUSTER_TODO_SAVE_CONFIG` only, and the callers that take slots
        // on the way (a gossiped claim, `SETSLOT … NODE` emptying me) ask for the fsync.
        self.request_save(false);
        out.emit(ClusterEvent::BecameReplica { master });
    }

    /// Myself becomes a master serving every slot `old_master` served.
    pub(crate) fn take_master_slots(&mut self, old_master: NodeId, out: &mut Outbox) {
        let me = self.me_mut();
        me.flags = (me.flags & !flags::SLAVE) | flags::MASTER;
        me.master = None;
        let slots: Vec<u16> = self.nodes[&old_master].slots.iter().collect();
        let myself = self.myself;
        self.assign_slots(&slots, Some(myself), out);
        self.request_save(true);
    }

    /// A replica asks for my vote (Redis's `clusterSendFailoverAuthIfNeeded`). Returns whether
    /// I granted it; the caller then sends the AUTH_ACK. `vote_twice` is the canary that
    /// breaks the one-vote-per-epoch rule on purpose.
    pub(crate) fn grant_vote(
        &mut self,
        sender: NodeId,
        h: &Header,
        now_ms: u64,
        vote_twice: bool,
        out: &mut Outbox,
    ) -> bool {
        let me = self.me();
        if !me.is_master() || me.slots.is_empty() {
            return false;
        }
        let current_epoch = self.current_epoch;
        if h.current_epoch < current_epoch || (self.last_vote_epoch == current_epoch && !vote_twice)
        {
            return false;
        }
        let requester = &self.nodes[&sender];
        let Some(master) = requester.master.filter(|_| requester.is_replica()) else {
            return false;
        };
        let Some(m) = self.nodes.get(&master) else {
            return false;
        };
        let force = h.mflags & mflags::FORCEACK != 0;
        if !m.has(flags::FAIL) && !force {
            return false;
        }
        let voted_lately =
            m.voted_time_ms != 0 && now_ms - m.voted_time_ms < self.node_timeout_ms * 2;
        if voted_lately && !vote_twice {
            return false;
        }
        let stale = h.myslots.iter().any(|slot| {
            self.slot_owner(slot)
                .is_some_and(|o| self.nodes[&o].config_epoch > h.config_epoch)
        });
        if stale {
            return false;
        }
        // One vote per epoch: the check above returned unless this epoch is new to me.
        assert!(
            vote_twice || self.last_vote_epoch < current_epoch,
            "second vote in epoch {current_epoch}"
        );
        self.last_vote_epoch = current_epoch;
        self.nodes.get_mut(&master).expect("checked").voted_time_ms = now_ms;
        self.request_save(true);
        out.log(
            LogLevel::Notice,
            // The master is named so a harness can check the one-vote-per-master rule.
            format!(
                "Failover auth granted to {sender} for epoch {current_epoch} (replica of {master})"
            ),
        );
        out.emit(ClusterEvent::VoteGranted {
            epoch: current_epoch,
            candidate: sender,
            master,
        });
        true
    }

    /// Two masters with the same config epoch: the one with the smaller ID takes a new epoch.
    pub(crate) fn handle_epoch_collision(
        &mut self,
        sender: NodeId,
        sender_config_epoch: u64,
        out: &mut Outbox,
    ) {
        let me = self.me();
        let other = &self.nodes[&sender];
        if !me.is_master() || !other.is_master() || sender_config_epoch != me.config_epoch {
            return;
        }
        if sender <= self.myself {
            return;
        }
        let epoch = self.bump_current_epoch(EpochReason::Collision, out);
        self.set_my_config_epoch(epoch, ConfigEpochReason::Collision { other: sender }, out);
        self.request_save(true);
        out.log(
            LogLevel::Verbose,
            format!(
                "WARNING: configEpoch collision with node {sender}. configEpoch set to {epoch}"
            ),
        );
    }
}
