//! Automatic failover: a replica of a FAIL master asks the slot-serving masters for votes and,
//! with a majority, takes over its master's slots under a new config epoch.
//!
//! Follows Redis 7.0 (reference §7.4): the election starts after
//! `500 ms + random(0..500) + rank × 1000 ms` (rank = replicas of the same master with a larger
//! replication offset), each master votes at most once per epoch and not twice for replicas of
//! the same master within 2 × node timeout, and a vote is refused when the request's config
//! epoch is older than the owner of any slot it claims.
//!
//! Coordinated `CLUSTER FAILOVER` (reference §7.7): the replica sends MFSTART to its master,
//! which pauses its clients' writes and flags every message PAUSED; the replica takes the
//! master's offset from the first PAUSED message, waits until its own offset reaches it (no
//! acknowledged write is left behind), then runs the election at once with forced votes. The
//! attempt ends after [`MANUAL_FAILOVER_TIMEOUT_MS`]; the master resumes writes then, or when it
//! becomes a replica of the winner (its held writes then get a redirection).
//!
//! Replica migration (reference §7.8) needs only cluster state and lives in `migration.rs`.
//!
//! All of it runs on a `ClusterBus`. The one thing it needs from outside the cluster is
//! replication's data age (may this replica win?), which the node passes in as `&Replication`;
//! replication brings itself in line with a new role afterwards (`replication_before_reply`).

use rand::Rng;

use super::{Cluster, ClusterBus};
use crate::bus::{flags, mflags, Body, Header, MessageType};
use crate::canary::Canary;
use crate::event::{ClusterEvent, ConfigEpochReason, EpochReason, PromotionKind};
use crate::node::{LinkId, LogLevel};
use crate::node_id::NodeId;
use crate::replication::Replication;

/// How long a manual failover may take (`CLUSTER_MF_TIMEOUT`).
pub const MANUAL_FAILOVER_TIMEOUT_MS: u64 = 5000;
/// The master pauses writes for at most this long (`CLUSTER_MF_PAUSE_MULT` × the timeout); the
/// failover's own end normally lifts the pause first.
const MANUAL_FAILOVER_PAUSE_MS: u64 = 2 * MANUAL_FAILOVER_TIMEOUT_MS;
pub use super::migration::MIGRATION_DELAY_MS;

/// A coordinated manual failover in progress (both sides share the struct; `end_ms` 0 = none).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ManualFailover {
    /// Monotonic ms when the attempt gives up.
    pub end_ms: u64,
    /// Master side: the replica that asked; it gets a PING every cron run.
    pub replica: Option<NodeId>,
    /// Master side: writes wait until then (or until the attempt ends).
    pub paused_until_ms: u64,
    /// Replica side: my master's offset from its first PAUSED message.
    pub master_offset: Option<u64>,
    /// Replica side: caught up (or FORCE): the election may start.
    pub can_start: bool,
    /// Replica side: the election may start because I processed my paused master's whole
    /// stream (a default-mode failover), not because FORCE skipped the wait.
    pub caught_up: bool,
}

/// State of this replica's current election attempt.
#[derive(Clone, Debug, Default)]
pub struct Election {
    /// A manual failover (`FORCE`, or a coordinated one that caught up): no FAIL needed,
    /// votes forced, rank 0. Cleared when the manual failover times out.
    pub manual: bool,
    /// When the request goes out (scheduled) or went out; 0 = never scheduled.
    pub auth_time_ms: u64,
    pub auth_sent: bool,
    pub auth_count: usize,
    pub auth_rank: usize,
    pub auth_epoch: u64,
}

impl Cluster {
    /// How long an election waits for votes (`CLUSTER_FAILOVER_AUTH_TIMEOUT`, at least 2 s).
    fn auth_timeout_ms(&self) -> u64 {
        (self.node_timeout_ms * 2).max(2000)
    }

    /// Whether a new election may be set up: none was, or the last one's retry time
    /// (`2 × CLUSTER_FAILOVER_AUTH_TIMEOUT`) has passed.
    fn may_start_election(&self, now_ms: u64) -> bool {
        let e = &self.election;
        e.auth_time_ms == 0 || now_ms.saturating_sub(e.auth_time_ms) > self.auth_timeout_ms() * 2
    }

    /// Replicas of `master` other than me that could fail over and have more data than me:
    /// each one delays my election by a second.
    fn failover_rank(&self, master: NodeId) -> usize {
        let my_offset = self.me().repl_offset;
        self.nodes
            .values()
            .filter(|n| n.id != self.myself && n.is_replica() && n.master == Some(master))
            .filter(|n| !n.has(flags::NOFAILOVER) && n.repl_offset > my_offset)
            .count()
    }

    /// Outbound links to the other replicas of `master`.
    fn sibling_links(&self, master: NodeId) -> Vec<LinkId> {
        self.nodes
            .values()
            .filter(|n| n.is_replica() && n.master == Some(master) && n.id != self.myself)
            .filter_map(|n| n.link)
            .collect()
    }

    /// My outbound link to `id`, if it is up.
    pub(crate) fn connected_link(&self, id: NodeId) -> Option<LinkId> {
        let link = self.nodes.get(&id)?.link?;
        self.links
            .get(&link)
            .is_some_and(|l| l.connected)
            .then_some(link)
    }

    /// Ends any manual failover; a paused master resumes writes (held clients are served by
    /// `replication_before_reply`).
    pub(crate) fn reset_manual_failover(&mut self) {
        let mf = std::mem::take(&mut self.manual_failover);
        if mf.can_start && self.election.manual {
            self.election.manual = false;
        }
    }

    /// Whether clients' writes are held back (master side of a manual failover).
    pub(crate) fn writes_paused(&self, now_ms: u64) -> bool {
        let mf = &self.manual_failover;
        mf.end_ms != 0 && self.me().is_master() && mf.paused_until_ms > now_ms
    }

    /// PAUSED on every message of a master whose manual failover is under way.
    pub(crate) fn manual_failover_mflags(&self) -> u8 {
        let paused = self.manual_failover.end_ms != 0 && self.me().is_master();
        if paused {
            mflags::PAUSED
        } else {
            0
        }
    }
}

/// This replica's side of an election, and promotion.
impl ClusterBus<'_> {
    /// My rank among my master's replicas (see [`Cluster::failover_rank`]); the canary
    /// pretends I am always first.
    fn failover_rank(&self, master: NodeId) -> usize {
        if self.canary(Canary::PromoteWithoutRank) {
            return 0;
        }
        self.cluster.failover_rank(master)
    }

    /// Called from the cron: runs this replica's side of the election. Replication state is
    /// read (never changed) to judge whether this replica's data is fresh enough to win.
    pub(crate) fn handle_replica_failover(&mut self, repl: &Replication) {
        let Some(master) = self.cluster.my_master() else {
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
            if !self.data_is_fresh_enough(master, repl) {
                return;
            }
        }
        let now = self.now.mono_ms;
        let timeout_ms = self.cluster.auth_timeout_ms();
        // A manual failover asked for and not finished (its `mf_end` set, though its offset
        // check may not have passed): Redis then starts an election without waiting, and
        // keeps its rank at 0 (`clusterHandleSlaveFailover`).
        let mf_pending = self.cluster.manual_failover.end_ms != 0;
        if self.cluster.may_start_election(now) {
            if manual || mf_pending {
                self.start_election_now_as(manual);
            } else {
                self.schedule_election(master);
            }
            return;
        }
        if !self.cluster.election.auth_sent && !manual && !mf_pending {
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
        if self.cluster.election.auth_count >= self.cluster.failure_quorum() {
            self.win_election(master);
        }
    }

    /// A replica cut off from its master for too long must not win (its data is too old).
    fn data_is_fresh_enough(&self, master: NodeId, repl: &Replication) -> bool {
        let factor = self.config.cluster_replica_validity_factor;
        if factor == 0 || self.canary(Canary::PromoteWithoutRank) {
            return true;
        }
        let nt = self.cluster.node_timeout_ms;
        let heard_ms = self.cluster.nodes[&master].data_received_ms;
        // A replica restarted while its master was down never synced: its data is too old.
        let Some(mut data_age_ms) = repl.data_age_ms(self.now.mono_ms, heard_ms) else {
            return false;
        };
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
        self.out.log(
            LogLevel::Notice,
            format!(
                "Start of election delayed for {delay_ms} milliseconds (rank #{rank}, offset {}).",
                self.cluster.me().repl_offset
            ),
        );
        self.out.emit(ClusterEvent::ElectionScheduled {
            delay_ms,
            rank,
            offset: self.cluster.me().repl_offset,
        });
        // Tell the other replicas our offset so their ranks are right.
        let replicas = self.cluster.sibling_links(master);
        for link in replicas {
            self.send_ping(link, MessageType::Pong);
        }
    }

    /// A replica that learns it is behind others waits one more second per position.
    fn delay_for_worse_rank(&mut self, master: NodeId) {
        let rank = self.failover_rank(master);
        let old = self.cluster.election.auth_rank;
        if rank > old {
            let added_ms = (rank - old) as u64 * 1000;
            self.cluster.election.auth_time_ms += added_ms;
            self.cluster.election.auth_rank = rank;
            self.out.log(
                LogLevel::Warning,
                format!("Replica rank updated to #{rank}, added {added_ms} milliseconds of delay."),
            );
            self.out
                .emit(ClusterEvent::ElectionDelayed { rank, added_ms });
        }
    }

    fn request_votes(&mut self) {
        let epoch = self
            .cluster
            .bump_current_epoch(EpochReason::Election, self.out);
        self.cluster.election.auth_epoch = epoch;
        self.cluster.election.auth_sent = true;
        self.out.log(
            LogLevel::Notice,
            format!("Starting a failover election for epoch {epoch}."),
        );
        self.out.emit(ClusterEvent::ElectionStarted { epoch });
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
        self.cluster.reset_manual_failover();
        self.cluster.manual_failover.end_ms = self.now.mono_ms + MANUAL_FAILOVER_TIMEOUT_MS;
        self.cluster.manual_failover.can_start = true;
        self.out
            .log(LogLevel::Notice, "Forced failover user request accepted.");
        self.start_election_now();
    }

    /// A manual election: rank 0, no delay, forced votes. As in Redis, it starts afresh only
    /// once an earlier attempt's retry time has passed; until then the manual failover rides
    /// on the election under way (restarting it would let that epoch's late votes count for
    /// the next one: seed 720277).
    fn start_election_now(&mut self) {
        self.start_election_now_as(true);
    }

    /// [`Self::start_election_now`]; `manual: false` when the master failed while a manual
    /// failover waited for its offset: no delay then, but votes are not forced.
    fn start_election_now_as(&mut self, manual: bool) {
        let now = self.now.mono_ms;
        self.cluster.election.manual = manual;
        if !self.cluster.may_start_election(now) {
            return;
        }
        self.cluster.election = Election {
            manual,
            auth_time_ms: now.max(1),
            auth_sent: false,
            auth_count: 0,
            auth_rank: 0,
            auth_epoch: self.cluster.election.auth_epoch,
        };
        self.out.emit(ClusterEvent::ManualElectionSetUp {
            offset: self.cluster.me().repl_offset,
        });
    }

    /// `CLUSTER FAILOVER TAKEOVER`: no votes at all; a fresh epoch and the master's slots.
    pub(crate) fn take_over(&mut self, master: NodeId) {
        let epoch = self
            .cluster
            .bump_current_epoch(EpochReason::Takeover, self.out);
        self.cluster
            .set_my_config_epoch(epoch, ConfigEpochReason::Takeover, self.out);
        self.out.log(
            LogLevel::Notice,
            format!("Taking over the master (user request). New configEpoch set to {epoch}"),
        );
        self.out.emit(ClusterEvent::Promoted {
            kind: PromotionKind::Takeover,
            config_epoch: epoch,
            old_master: master,
            offset: self.cluster.me().repl_offset,
            coordinated: false,
        });
        self.replace_my_master(master);
    }

    fn win_election(&mut self, old_master: NodeId) {
        let epoch = self.cluster.election.auth_epoch;
        self.out.log(
            LogLevel::Notice,
            "Failover election won: I'm the new master.",
        );
        if self.cluster.me().config_epoch < epoch {
            self.cluster
                .set_my_config_epoch(epoch, ConfigEpochReason::Election, self.out);
            self.out.log(
                LogLevel::Notice,
                format!("configEpoch set to {epoch} after successful failover"),
            );
        }
        // Coordinated: the election waited until I had applied the offset my paused master
        // reported. A FORCE failover may still hear that offset (the master paused for an
        // earlier attempt), but it never waited for it (seed 600056).
        let coordinated = self.cluster.election.manual && self.cluster.manual_failover.caught_up;
        self.out.emit(ClusterEvent::Promoted {
            kind: PromotionKind::Election,
            config_epoch: self.cluster.me().config_epoch,
            old_master,
            offset: self.cluster.me().repl_offset,
            coordinated,
        });
        self.replace_my_master(old_master);
        self.cluster.election = Election::default();
        self.cluster.manual_failover = ManualFailover::default();
    }

    /// Become a master that serves every slot `old_master` served, and tell everyone.
    pub(crate) fn replace_my_master(&mut self, old_master: NodeId) {
        self.cluster.take_master_slots(old_master, self.out);
        self.failure().update_cluster_state();
        self.broadcast(MessageType::Pong, Body::Gossip(Vec::new()));
    }
}

/// Coordinated manual failover, on either side.
impl ClusterBus<'_> {
    /// `CLUSTER FAILOVER` without options, on a replica: ask my master to pause and tell me
    /// its offset.
    pub(crate) fn start_manual_failover(&mut self, master: NodeId) {
        self.cluster.reset_manual_failover();
        self.cluster.manual_failover.end_ms = self.now.mono_ms + MANUAL_FAILOVER_TIMEOUT_MS;
        self.out
            .log(LogLevel::Notice, "Manual failover user request accepted.");
        if let Some(link) = self.cluster.connected_link(master) {
            self.send(link, MessageType::MfStart, Body::Empty);
        }
    }

    /// Ends a manual failover whose `mf_end` has passed; true when it did. The cron checks
    /// this before the election step, as Redis's `manualFailoverCheckTimeout` comes first in
    /// `clusterCron`: no manual election starts after `mf_end`.
    pub(crate) fn manual_failover_timed_out(&mut self) -> bool {
        let mf = &self.cluster.manual_failover;
        if mf.end_ms == 0 || self.now.mono_ms < mf.end_ms {
            return false;
        }
        self.out
            .log(LogLevel::Warning, "Manual failover timed out.");
        self.cluster.reset_manual_failover();
        true
    }

    /// From the cron: a paused master keeps pinging the replica (each ping carries PAUSED and
    /// the offset).
    pub(crate) fn manual_failover_cron(&mut self) {
        let mf = &self.cluster.manual_failover;
        if mf.end_ms == 0 || !self.cluster.me().is_master() {
            return;
        }
        if let Some(link) = mf.replica.and_then(|r| self.cluster.connected_link(r)) {
            self.send_ping(link, MessageType::Ping);
        }
    }

    /// After every input: time out, lift the pause of a master that became a replica, and let
    /// a caught-up replica start its election at once.
    pub(crate) fn manual_failover_before_reply(&mut self, repl: &Replication) {
        if self.manual_failover_timed_out() {
            return;
        }
        let mf = &self.cluster.manual_failover;
        if mf.end_ms == 0 {
            return;
        }
        if mf.replica.is_some() && self.cluster.me().is_replica() {
            self.cluster.reset_manual_failover();
            return;
        }
        let Some(master_offset) = mf.master_offset else {
            return;
        };
        if mf.can_start || !self.cluster.me().is_replica() {
            return;
        }
        // Equal, as Redis asks (`clusterHandleManualFailover`): in one stream a replica never
        // runs ahead of its paused master, so a larger offset comes from a stream the master
        // no longer has (it restarted since; seed 604697), not from its writes.
        if self.cluster.me().repl_offset != master_offset {
            return;
        }
        self.cluster.manual_failover.can_start = true;
        self.cluster.manual_failover.caught_up = true;
        self.out.log(
            LogLevel::Warning,
            "All master replication stream processed, manual failover can start.",
        );
        self.start_election_now();
        self.handle_replica_failover(repl);
        self.before_reply();
    }
}

/// The failover messages a node receives (dispatched from `gossip.rs`).
impl ClusterBus<'_> {
    /// A replica asks for my vote; the decision is the cluster's, the AUTH_ACK goes on the bus.
    pub(crate) fn on_auth_request(&mut self, sender: NodeId, h: &Header) {
        let vote_twice = self.canary(Canary::VoteTwice);
        let now_ms = self.now.mono_ms;
        if !self
            .cluster
            .grant_vote(sender, h, now_ms, vote_twice, self.out)
        {
            return;
        }
        if let Some(link) = self.cluster.nodes[&sender].link {
            self.send(link, MessageType::AuthAck, Body::Empty);
        }
    }

    /// A master voted for me. Returns true when the votes reached a majority: as Redis's
    /// before-sleep step, the node runs the election step at once (not at the next cron run),
    /// which needs replication's data age.
    #[must_use]
    pub(crate) fn on_auth_ack(&mut self, sender: NodeId, h: &Header) -> bool {
        let voter = &self.cluster.nodes[&sender];
        if voter.is_master()
            && !voter.slots.is_empty()
            && h.current_epoch >= self.cluster.election.auth_epoch
        {
            self.cluster.election.auth_count += 1;
            return self.cluster.election.auth_count >= self.cluster.failure_quorum();
        }
        false
    }

    /// MFSTART from one of my replicas: pause writes and send it my offset right away.
    pub(crate) fn on_mfstart(&mut self, sender: NodeId) {
        let me = self.cluster.me();
        let from_my_replica = me.is_master()
            && self
                .cluster
                .nodes
                .get(&sender)
                .is_some_and(|n| n.is_replica() && n.master == Some(self.cluster.myself));
        if !from_my_replica {
            return;
        }
        self.cluster.reset_manual_failover();
        let now = self.now.mono_ms;
        self.cluster.manual_failover = ManualFailover {
            end_ms: now + MANUAL_FAILOVER_TIMEOUT_MS,
            replica: Some(sender),
            paused_until_ms: now + MANUAL_FAILOVER_PAUSE_MS,
            ..ManualFailover::default()
        };
        self.out.log(
            LogLevel::Warning,
            format!("Manual failover requested by replica {sender}."),
        );
        if let Some(link) = self.cluster.connected_link(sender) {
            self.send_ping(link, MessageType::Ping);
        }
    }

    /// Replica side: the first PAUSED message from my master during a manual failover carries
    /// the offset I must reach.
    pub(crate) fn note_paused_master_offset(&mut self, sender: NodeId, h: &Header) {
        let mf = &self.cluster.manual_failover;
        if mf.end_ms == 0
            || mf.master_offset.is_some()
            || h.mflags & mflags::PAUSED == 0
            || !self.cluster.replicates(sender)
        {
            return;
        }
        self.cluster.manual_failover.master_offset = Some(h.repl_offset);
        self.out.log(
            LogLevel::Warning,
            format!(
                "Received replication offset for paused master manual failover: {}",
                h.repl_offset
            ),
        );
    }
}
