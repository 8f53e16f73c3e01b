//! Automatic failover: a replica of a FAIL master asks the slot-serving masters for votes and,
//! with a majority, takes over its master's slots under a new config epoch.
//!
//! Follows Redis 7.0 (reference §7.4): the election starts after
//! `500 ms + random(0..500) + rank × 1000 ms` (rank = replicas of the same master with a larger
//! replication offset), each master votes at most once per epoch and not twice for replicas of
//! the same master within 2 × node timeout, and a vote is refused when the request's config
//! epoch is older than the owner of any slot it claims.

use rand::Rng;

use crate::bus::{flags, mflags, Body, Header, MessageType};
use crate::node::{LogLevel, Node};
use crate::node_id::NodeId;

/// State of this replica's current election attempt.
#[derive(Clone, Debug, Default)]
pub struct Election {
    /// A manual failover (`CLUSTER FAILOVER FORCE`): no FAIL needed, votes forced, rank 0.
    pub manual: bool,
    /// When the request goes out (scheduled) or went out; 0 = never scheduled.
    pub auth_time_ms: u64,
    pub auth_sent: bool,
    pub auth_count: usize,
    pub auth_rank: usize,
    pub auth_epoch: u64,
}

impl Node {
    fn auth_timeout_ms(&self) -> u64 {
        (self.cluster.node_timeout_ms * 2).max(2000)
    }

    /// My master, if I am a replica of a known master.
    fn my_master(&self) -> Option<NodeId> {
        let me = self.cluster.me();
        me.master
            .filter(|_| me.is_replica())
            .filter(|m| self.cluster.nodes.contains_key(m))
    }

    /// Replicas of my master that could fail over and have more data than me.
    fn failover_rank(&self, master: NodeId) -> usize {
        let my_offset = self.cluster.me().repl_offset;
        self.cluster
            .nodes
            .values()
            .filter(|n| n.id != self.cluster.myself && n.is_replica() && n.master == Some(master))
            .filter(|n| !n.has(flags::NOFAILOVER) && n.repl_offset > my_offset)
            .count()
    }

    /// Called from the cron: runs this replica's side of the election.
    pub(crate) fn handle_replica_failover(&mut self) {
        let Some(master) = self.my_master() else {
            return;
        };
        let manual = self.cluster.election.manual;
        let m = &self.cluster.nodes[&master];
        if m.slots.is_empty() {
            return;
        }
        if !manual {
            if !m.has(flags::FAIL) || self.config.cluster_replica_no_failover {
                return;
            }
            if !self.data_is_fresh_enough(master) {
                return;
            }
        }
        let now = self.now.mono_ms;
        let timeout_ms = self.auth_timeout_ms();
        let retry_ms = timeout_ms * 2;
        let e = &self.cluster.election;
        if e.auth_time_ms == 0 || now.saturating_sub(e.auth_time_ms) > retry_ms {
            self.schedule_election(master);
            return;
        }
        if !self.cluster.election.auth_sent && !manual {
            self.delay_for_worse_rank(master);
        }
        let e = &self.cluster.election;
        if now < e.auth_time_ms || now - e.auth_time_ms > timeout_ms {
            return;
        }
        if !e.auth_sent {
            self.request_votes();
            return;
        }
        if self.cluster.election.auth_count >= self.failure_quorum() {
            self.win_election(master);
        }
    }

    /// A replica cut off from its master for too long must not win (its data is too old).
    fn data_is_fresh_enough(&self, master: NodeId) -> bool {
        let factor = self.config.cluster_replica_validity_factor;
        if factor == 0 {
            return true;
        }
        let nt = self.cluster.node_timeout_ms;
        let last_ms = self.cluster.nodes[&master].data_received_ms;
        if last_ms == 0 {
            return false;
        }
        let mut data_age_ms = self.now.mono_ms.saturating_sub(last_ms);
        if data_age_ms > nt {
            data_age_ms -= nt;
        }
        data_age_ms <= self.config.repl_ping_replica_period_s * 1000 + nt * factor
    }

    fn schedule_election(&mut self, master: NodeId) {
        let rank = self.failover_rank(master);
        let delay_ms = 500 + self.rng.gen_range(0..500) + rank as u64 * 1000;
        let now = self.now.mono_ms;
        self.cluster.election = Election {
            manual: false,
            auth_time_ms: now + delay_ms,
            auth_sent: false,
            auth_count: 0,
            auth_rank: rank,
            auth_epoch: self.cluster.election.auth_epoch,
        };
        self.log(
            LogLevel::Notice,
            format!(
                "Start of election delayed for {delay_ms} milliseconds (rank #{rank}, offset {}).",
                self.cluster.me().repl_offset
            ),
        );
        // Tell the other replicas our offset so their ranks are right.
        let replicas: Vec<_> = self
            .cluster
            .nodes
            .values()
            .filter(|n| n.is_replica() && n.master == Some(master) && n.id != self.cluster.myself)
            .filter_map(|n| n.link)
            .collect();
        for link in replicas {
            self.send_ping(link, MessageType::Pong);
        }
    }

    /// A replica that learns it is behind others waits one more second per position.
    fn delay_for_worse_rank(&mut self, master: NodeId) {
        let rank = self.failover_rank(master);
        let old = self.cluster.election.auth_rank;
        if rank > old {
            self.cluster.election.auth_time_ms += (rank - old) as u64 * 1000;
            self.cluster.election.auth_rank = rank;
        }
    }

    fn request_votes(&mut self) {
        self.cluster.current_epoch += 1;
        let epoch = self.cluster.current_epoch;
        self.cluster.election.auth_epoch = epoch;
        self.cluster.election.auth_sent = true;
        self.log(
            LogLevel::Notice,
            format!("Starting a failover election for epoch {epoch}."),
        );
        let force_ack = if self.cluster.election.manual {
            mflags::FORCEACK
        } else {
            0
        };
        self.broadcast_with_mflags(MessageType::AuthRequest, Body::Empty, force_ack);
        self.cluster.request_save(true);
    }

    /// `CLUSTER FAILOVER FORCE`: an election starting now that voters accept although the
    /// master is not failed.
    pub(crate) fn start_forced_failover(&mut self) {
        let now = self.now.mono_ms;
        self.cluster.election = Election {
            manual: true,
            auth_time_ms: now.max(1),
            auth_sent: false,
            auth_count: 0,
            auth_rank: 0,
            auth_epoch: self.cluster.election.auth_epoch,
        };
        self.log(LogLevel::Notice, "Forced failover user request accepted.");
    }

    /// `CLUSTER FAILOVER TAKEOVER`: no votes at all; a fresh epoch and the master's slots.
    pub(crate) fn take_over(&mut self, master: NodeId) {
        self.cluster.current_epoch += 1;
        let epoch = self.cluster.current_epoch;
        self.cluster.me_mut().config_epoch = epoch;
        self.log(
            LogLevel::Notice,
            format!("Taking over the master (user request). New configEpoch set to {epoch}"),
        );
        self.replace_my_master(master);
    }

    fn win_election(&mut self, old_master: NodeId) {
        let epoch = self.cluster.election.auth_epoch;
        self.log(
            LogLevel::Notice,
            "Failover election won: I'm the new master.",
        );
        if self.cluster.me().config_epoch < epoch {
            self.cluster.me_mut().config_epoch = epoch;
            self.log(
                LogLevel::Notice,
                format!("configEpoch set to {epoch} after successful failover"),
            );
        }
        self.replace_my_master(old_master);
        self.cluster.election = Election::default();
    }

    /// Become a master that serves every slot `old_master` served, and tell everyone.
    pub(crate) fn replace_my_master(&mut self, old_master: NodeId) {
        let me = self.cluster.me_mut();
        me.flags = (me.flags & !flags::SLAVE) | flags::MASTER;
        me.master = None;
        let slots: Vec<u16> = self.cluster.nodes[&old_master].slots.iter().collect();
        let myself = self.cluster.myself;
        for slot in slots {
            self.cluster.assign_slot(slot, Some(myself));
        }
        self.cluster.request_save(true);
        self.update_cluster_state();
        self.broadcast(MessageType::Pong, Body::Gossip(Vec::new()));
    }

    /// A replica asks for my vote (Redis's `clusterSendFailoverAuthIfNeeded`).
    pub(crate) fn on_auth_request(&mut self, sender: NodeId, h: &Header) {
        let me = self.cluster.me();
        if !me.is_master() || me.slots.is_empty() {
            return;
        }
        let current_epoch = self.cluster.current_epoch;
        if h.current_epoch < current_epoch || self.cluster.last_vote_epoch == current_epoch {
            return;
        }
        let requester = &self.cluster.nodes[&sender];
        let Some(master) = requester.master.filter(|_| requester.is_replica()) else {
            return;
        };
        let Some(m) = self.cluster.nodes.get(&master) else {
            return;
        };
        let force = h.mflags & mflags::FORCEACK != 0;
        if !m.has(flags::FAIL) && !force {
            return;
        }
        let now = self.now.mono_ms;
        if m.voted_time_ms != 0 && now - m.voted_time_ms < self.cluster.node_timeout_ms * 2 {
            return;
        }
        let stale = h.myslots.iter().any(|slot| {
            self.cluster
                .slot_owner(slot)
                .is_some_and(|o| self.cluster.nodes[&o].config_epoch > h.config_epoch)
        });
        if stale {
            return;
        }
        self.cluster.last_vote_epoch = current_epoch;
        self.cluster
            .nodes
            .get_mut(&master)
            .expect("checked")
            .voted_time_ms = now;
        self.cluster.request_save(true);
        self.log(
            LogLevel::Notice,
            format!("Failover auth granted to {sender} for epoch {current_epoch}"),
        );
        if let Some(link) = self.cluster.nodes[&sender].link {
            self.send(link, MessageType::AuthAck, Body::Empty);
        }
    }

    /// A master voted for me.
    pub(crate) fn on_auth_ack(&mut self, sender: NodeId, h: &Header) {
        let voter = &self.cluster.nodes[&sender];
        if voter.is_master()
            && !voter.slots.is_empty()
            && h.current_epoch >= self.cluster.election.auth_epoch
        {
            self.cluster.election.auth_count += 1;
        }
    }
}
