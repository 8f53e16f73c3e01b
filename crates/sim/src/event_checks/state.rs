//! What each node believed, rebuilt from its own events in order, and the dispatch of every
//! event to the rule that judges it. The epoch rules live here; the others in their files.

use std::collections::{BTreeMap, BTreeSet};

use clusterlab_core::event::ConfigEpochReason;
use clusterlab_core::slot::SLOT_COUNT;
use clusterlab_core::{ClusterEvent, NodeId};

use super::network::DelayBounds;
use super::ranks::Ranks;
use super::slots::Claims;
use super::stalled_saves::StalledSaves;
use super::{at, short, Findings};
use crate::faults::{FailoverMode, Fault};
use crate::node_idx::NodeIdx;
use crate::report::{Violation, ViolationKind};
use crate::trace::{Event, FaultEvent, ProcessEvent, TraceEvent};

/// Redis starts with a size of 1 (`clusterInit`) and `clusterUpdateState` returns before
/// recomputing it while a master is in its first 2 s (`CLUSTER_WRITABLE_DELAY`) after the
/// first call; one more cron run may pass before it does.
const STARTUP_SIZE_US: u64 = 2_100_000;
/// `clusterCron` runs every 100 ms.
const CRON_PERIOD_US: u64 = 100_000;

/// One node's beliefs during one life (from one `NodeStarted` to the next).
#[derive(Clone, Debug)]
pub(super) struct NodeState {
    pub(super) id: NodeId,
    /// Whether this life began as a master.
    pub(super) started_as_master: bool,
    /// Until when it may still count with the size of 1 it started with (µs): see
    /// [`NodeState::quorum_at`].
    pub(super) startup_size_until_us: u64,
    /// When it was paused, while it is.
    pub(super) paused_since_us: Option<u64>,
    pub(super) current_epoch: u64,
    pub(super) config_epoch: u64,
    /// `Some(master)` while a replica.
    pub(super) master: Option<NodeId>,
    /// Its slot table: the owner of every slot in its view.
    pub(super) owners: Vec<Option<NodeId>>,
    /// `(since µs, slot-serving masters in its view)`, every time that number changed.
    pub(super) sizes: Vec<(u64, usize)>,
    pub(super) pfail: BTreeSet<NodeId>,
    pub(super) fail: BTreeSet<NodeId>,
    /// Slots it imports (`SETSLOT IMPORTING` until closed).
    pub(super) importing: BTreeSet<u16>,
    /// When it last voted for a replica of each master (µs; kept in memory only).
    pub(super) voted_for: BTreeMap<NodeId, u64>,
    /// Its view of other nodes' config epochs, as learned in this life (a restart's loaded
    /// view is not reported: unknown until the next change).
    pub(super) peer_epochs: BTreeMap<NodeId, u64>,
    /// `(at µs, delay ms)` of its last scheduled election.
    pub(super) scheduled: Option<(u64, u64)>,
    /// The epoch of its last election.
    pub(super) election_epoch: Option<u64>,
}

/// A failover auth request as the candidate sent it: its master's slots in its view, and the
/// highest config epoch it can have claimed for them.
#[derive(Clone, Debug)]
pub(super) struct VoteRequest {
    pub(super) slots: Vec<u16>,
    pub(super) config_epoch_at_most: u64,
}

/// `(candidate, epoch)` of an election a manual failover started (votes carry `FORCEACK`).
pub(super) type ManualElection = (NodeId, u64);

impl NodeState {
    fn new(id: NodeId, started_us: u64) -> NodeState {
        NodeState {
            id,
            started_as_master: true,
            startup_size_until_us: started_us + STARTUP_SIZE_US,
            paused_since_us: None,
            current_epoch: 0,
            config_epoch: 0,
            master: None,
            owners: vec![None; SLOT_COUNT],
            sizes: vec![(0, 0)],
            pfail: BTreeSet::new(),
            fail: BTreeSet::new(),
            importing: BTreeSet::new(),
            voted_for: BTreeMap::new(),
            peer_epochs: BTreeMap::new(),
            scheduled: None,
            election_epoch: None,
        }
    }

    /// It was paused at `paused_us` and resumed at `resumed_us` (stopped, or held by a sync
    /// on its thread). No cron runs while a process is stopped, and on resume Redis reads the gossip that waited before its next cron:
    /// a pause that covers the end of the startup window keeps the size of 1 until one cron
    /// period after the resume.
    fn resumed(&mut self, paused_us: u64, resumed_us: u64) {
        if paused_us < self.startup_size_until_us {
            self.startup_size_until_us =
                self.startup_size_until_us.max(resumed_us + CRON_PERIOD_US);
        }
    }

    /// Whether its own table gives it at least one slot.
    pub(super) fn serves_slots(&self) -> bool {
        self.owners.contains(&Some(self.id))
    }

    /// The majority of slot-serving masters Redis would ask for at `time_us`. Redis counts
    /// them (`cluster->size`) in `clusterUpdateState`, run before replies and every 100 ms
    /// cron, so a count up to one cron period old may still be in use: the smallest majority
    /// of that period is taken.
    pub(super) fn quorum_at(&self, time_us: u64) -> usize {
        const STALE_SIZE_US: u64 = 200_000;
        if self.started_as_master && time_us < self.startup_size_until_us {
            return 1;
        }
        let from_us = time_us.saturating_sub(STALE_SIZE_US);
        let mut smallest = usize::MAX;
        for (i, &(since, size)) in self.sizes.iter().enumerate() {
            let until = self.sizes.get(i + 1).map_or(u64::MAX, |s| s.0);
            if until >= from_us && since <= time_us {
                smallest = smallest.min(size);
            }
        }
        smallest / 2 + 1
    }

    pub(super) fn assign(&mut self, time_us: u64, ranges: &[(u16, u16)], owner: Option<NodeId>) {
        for &(lo, hi) in ranges {
            for slot in lo..=hi {
                self.owners[usize::from(slot)] = owner;
            }
        }
        let size = distinct_owners(&self.owners);
        if self.sizes.last().map(|s| s.1) != Some(size) {
            self.sizes.push((time_us, size));
        }
    }
}

/// How many different owners a slot table names. Owners come in long runs of slots and
/// number a handful, so a run's owner is looked up only where the run changes (a set of all
/// 16384 entries per assignment was a twentieth of the simulator's instructions).
fn distinct_owners(owners: &[Option<NodeId>]) -> usize {
    let mut seen: Vec<NodeId> = Vec::new();
    let mut last = None;
    for owner in owners.iter().flatten() {
        if last != Some(owner) && !seen.contains(owner) {
            seen.push(*owner);
        }
        last = Some(owner);
    }
    seen.len()
}

/// What an ID keeps across restarts from its `nodes.conf`.
#[derive(Clone, Debug, Default)]
pub(super) struct Persisted {
    pub(super) current_epoch: u64,
    pub(super) config_epoch: u64,
    pub(super) last_vote_epoch: u64,
    /// Every epoch it voted in: `epoch → (candidate, at µs, voter's trace name)`.
    pub(super) votes: BTreeMap<u64, (NodeId, u64, String)>,
    /// Config epochs it took by agreement (an election, `SET-CONFIG-EPOCH`).
    pub(super) agreed: BTreeSet<u64>,
    /// Since when it has been a replica (µs), if it is one.
    pub(super) replica_since: Option<u64>,
}

/// The whole replay: every node's state, what each ID keeps, and the findings.
pub(super) struct Replay {
    pub(super) nt_ms: u64,
    pub(super) nodes: BTreeMap<String, NodeState>,
    pub(super) persisted: BTreeMap<NodeId, Persisted>,
    /// The trace name each ID ran under.
    pub(super) names: BTreeMap<NodeId, String>,
    /// `(observer, subject) → [(from µs, to µs)]`: when the observer flagged the subject
    /// PFAIL or FAIL (`u64::MAX`: still flagged).
    pub(super) flags: BTreeMap<(NodeId, NodeId), Vec<(u64, u64)>>,
    /// `(candidate, epoch) → voters`.
    pub(super) ballots: BTreeMap<(NodeId, u64), BTreeSet<NodeId>>,
    /// `(node name, µs, mode)` of every manual failover the injector sent.
    pub(super) manual: Vec<(String, u64, FailoverMode)>,
    /// Elections those manual failovers started.
    pub(super) manual_elections: BTreeSet<ManualElection>,
    /// What each election's vote request claimed.
    pub(super) requests: BTreeMap<(NodeId, u64), VoteRequest>,
    /// `(node name, µs)` of every promotion by `TAKEOVER`.
    pub(super) takeovers: Vec<(String, u64)>,
    /// When each node last answered `+OK` to a TAKEOVER.
    pub(super) takeovers_answered: BTreeMap<String, u64>,
    pub(super) claims: Claims,
    pub(super) ranks: Ranks,
    /// When each ID (re)started, in µs.
    pub(super) lives: BTreeMap<NodeId, Vec<u64>>,
    pub(super) delays: DelayBounds,
    pub(super) found: Findings,
    /// `nodes.conf` saves a power loss may cut short (a slow disk).
    stalled_saves: StalledSaves,
}

impl Replay {
    pub(super) fn new(events: &[TraceEvent], nt_ms: u64) -> Replay {
        Replay {
            nt_ms,
            nodes: BTreeMap::new(),
            persisted: BTreeMap::new(),
            names: BTreeMap::new(),
            flags: BTreeMap::new(),
            ballots: BTreeMap::new(),
            manual: Vec::new(),
            manual_elections: BTreeSet::new(),
            requests: BTreeMap::new(),
            takeovers: Vec::new(),
            takeovers_answered: BTreeMap::new(),
            claims: Claims::default(),
            ranks: Ranks::default(),
            lives: BTreeMap::new(),
            delays: DelayBounds::from_events(events),
            found: Findings::default(),
            stalled_saves: StalledSaves::from_events(events),
        }
    }

    /// The harness's own events the rules need: manual failovers sent, pauses and resumes.
    pub(super) fn note_harness(&mut self, event: &TraceEvent) {
        let t = event.time_us;
        match &event.event {
            Event::Fault(FaultEvent::Applied(Fault::ManualFailover { node, mode })) => {
                self.manual.push((NodeIdx(*node).name(), t, *mode));
            }
            Event::Fault(FaultEvent::ManualFailoverAccepted {
                node,
                mode: FailoverMode::Takeover,
            }) => self.takeover_accepted(&NodeIdx(*node).name(), t),
            Event::Process(ProcessEvent::Kill(how)) if how.loses_unsynced() => {
                let Some(id) = self.nodes.get(&event.node).map(|s| s.id) else {
                    return;
                };
                if let Some(kept) = self.stalled_saves.power_lost(&event.node, t) {
                    self.persisted.insert(id, kept);
                }
            }
            Event::Process(ProcessEvent::Pause) => {
                if let Some(state) = self.nodes.get_mut(&event.node) {
                    state.paused_since_us = Some(t);
                }
            }
            Event::Process(ProcessEvent::Resume) => {
                if let Some(state) = self.nodes.get_mut(&event.node) {
                    if let Some(paused_us) = state.paused_since_us.take() {
                        state.resumed(paused_us, t);
                    }
                }
            }
            _ => {}
        }
    }

    pub(super) fn finish(mut self) -> Vec<Violation> {
        self.finish_ranks();
        let conflicts = self.claims.conflicts(&self.persisted);
        for evidence in conflicts {
            self.found.push(ViolationKind::SlotEpochConflict, evidence);
        }
        self.found.into_violations()
    }

    /// One node event. A node with no `NodeStarted` yet (a trace cut short at the front) is
    /// not judged until it announces itself.
    pub(super) fn apply(&mut self, t: u64, node: &str, event: &ClusterEvent) {
        if let ClusterEvent::NodeStarted { .. } = event {
            return self.started(t, node, event);
        }
        let Some(id) = self.nodes.get(node).map(|s| s.id) else {
            return;
        };
        if self.stalled_saves.stalls_at(node, t) {
            let kept = self.persisted.get(&id).cloned().unwrap_or_default();
            self.stalled_saves.before_event(node, t, kept);
        }
        match event {
            ClusterEvent::SyncStalled { ms } => {
                self.stalled_saves.stalled(node, t, *ms);
                // Held on its thread, it runs no cron either: as a pause (seed 998410).
                if let Some(state) = self.nodes.get_mut(node) {
                    state.resumed(t, t + ms * 1000);
                }
            }
            ClusterEvent::CurrentEpochChanged { epoch, .. } => self.current_epoch(t, node, *epoch),
            ClusterEvent::ConfigEpochChanged { epoch, reason } => {
                self.config_epoch(t, node, *epoch, *reason)
            }
            ClusterEvent::SlotsAssigned { ranges, owner } => self.slots(t, node, ranges, *owner),
            ClusterEvent::ImportChanged { slot, from } => {
                let importing = &mut self.node_mut(node).importing;
                match from {
                    Some(_) => importing.insert(*slot),
                    None => importing.remove(slot),
                };
            }
            ClusterEvent::PeerConfigEpochChanged { node: peer, epoch } => {
                self.node_mut(node).peer_epochs.insert(*peer, *epoch);
            }
            ClusterEvent::KeyServed {
                slot,
                asking,
                readonly,
            } => self.key_served(t, node, *slot, *asking, *readonly),
            ClusterEvent::BecameReplica { master } => self.became_replica(t, node, *master),
            ClusterEvent::ReplicationLinkUp { offset }
            | ClusterEvent::PartialResync { offset, .. }
            | ClusterEvent::ReplicationLinkDown { offset }
            | ClusterEvent::WriteApplied { offset, .. } => self.note_offset(t, node, *offset),
            ClusterEvent::PfailMarked { node: subject } => self.flag(t, node, *subject, true),
            ClusterEvent::PfailCleared { node: subject } => self.flag(t, node, *subject, false),
            ClusterEvent::FailMarked { node: subject, .. } => self.fail(t, node, *subject, true),
            ClusterEvent::FailCleared { node: subject } => self.fail(t, node, *subject, false),
            ClusterEvent::FailQuorumReached {
                node: subject,
                reporters,
                ..
            } => self.fail_quorum(t, node, *subject, reporters),
            ClusterEvent::ElectionScheduled {
                delay_ms,
                rank,
                offset,
            } => {
                self.note_rank(t, node, *rank, *offset);
                self.election_scheduled(t, node, *delay_ms, *rank)
            }
            ClusterEvent::ManualElectionSetUp { .. } => self.election_scheduled_manually(t, node),
            ClusterEvent::ElectionStarted { epoch } => self.election_started(t, node, *epoch),
            ClusterEvent::VoteGranted {
                epoch,
                candidate,
                master,
            } => self.vote(t, node, *epoch, *candidate, *master),
            ClusterEvent::Promoted {
                kind, config_epoch, ..
            } => self.promoted(t, node, *kind, *config_epoch),
            _ => {}
        }
    }

    pub(super) fn node(&self, name: &str) -> &NodeState {
        &self.nodes[name]
    }

    pub(super) fn node_mut(&mut self, name: &str) -> &mut NodeState {
        self.nodes.get_mut(name).expect("a started node")
    }

    pub(super) fn persisted_mut(&mut self, name: &str) -> &mut Persisted {
        let id = self.nodes[name].id;
        self.persisted.entry(id).or_default()
    }

    fn started(&mut self, t: u64, node: &str, event: &ClusterEvent) {
        let ClusterEvent::NodeStarted {
            id,
            loaded,
            current_epoch,
            config_epoch,
            last_vote_epoch,
            master,
            flagged,
        } = event
        else {
            return;
        };
        if let Some(old) = self.nodes.get(node).map(|s| s.id) {
            // What the file did not keep is gone (all of it under a new ID).
            let kept: Vec<NodeId> = flagged.iter().map(|f| f.0).collect();
            let kept = if old == *id { kept } else { Vec::new() };
            self.close_flags_of(old, t, &kept);
        }
        let before = self.persisted.get(id).cloned();
        match (&before, *loaded) {
            (Some(_), false) => self.found.push(
                ViolationKind::RestartForgotState,
                format!(
                    "{} started from scratch as {}, an ID already used",
                    at(node, t),
                    short(id)
                ),
            ),
            (Some(before), true) => {
                let kept = [
                    ("current epoch", before.current_epoch, *current_epoch),
                    ("last vote epoch", before.last_vote_epoch, *last_vote_epoch),
                    (
                        "config epoch",
                        before.config_epoch,
                        if master.is_none() {
                            *config_epoch
                        } else {
                            u64::MAX
                        },
                    ),
                ];
                for (what, had, has) in kept {
                    if has < had {
                        self.found.push(
                            ViolationKind::RestartForgotState,
                            format!(
                                "{} restarted from nodes.conf as {} with {what} {has}, but it \
                                 had reached {had}",
                                at(node, t),
                                short(id)
                            ),
                        );
                    }
                }
            }
            _ => {}
        }
        let mut state = NodeState::new(*id, t);
        state.started_as_master = master.is_none();
        state.current_epoch = *current_epoch;
        state.config_epoch = *config_epoch;
        state.master = *master;
        self.nodes.insert(node.to_string(), state);
        self.names.insert(*id, node.to_string());
        self.lives.entry(*id).or_default().push(t);
        self.ranks.role(t, *id, *master);
        for &(subject, fail) in flagged {
            if fail {
                self.fail(t, node, subject, true);
            } else {
                self.flag(t, node, subject, true);
            }
        }
        let p = self.persisted.entry(*id).or_default();
        p.current_epoch = p.current_epoch.max(*current_epoch);
        p.config_epoch = p.config_epoch.max(*config_epoch);
        p.last_vote_epoch = p.last_vote_epoch.max(*last_vote_epoch);
        p.replica_since = master.map(|_| p.replica_since.unwrap_or(t));
    }

    fn current_epoch(&mut self, t: u64, node: &str, epoch: u64) {
        let had = self.node(node).current_epoch;
        if epoch <= had {
            let id = short(&self.node(node).id);
            self.found.push(
                ViolationKind::EpochDecreased,
                format!(
                    "{} ({id}): current epoch {had}, then moved to {epoch}",
                    at(node, t)
                ),
            );
        }
        self.node_mut(node).current_epoch = epoch;
        let p = self.persisted_mut(node);
        p.current_epoch = p.current_epoch.max(epoch);
    }

    fn config_epoch(&mut self, t: u64, node: &str, epoch: u64, reason: ConfigEpochReason) {
        let had = self.node(node).config_epoch;
        if epoch <= had {
            let id = short(&self.node(node).id);
            self.found.push(
                ViolationKind::EpochDecreased,
                format!(
                    "{} ({id}): own config epoch {had}, then {epoch} ({reason})",
                    at(node, t)
                ),
            );
        }
        self.node_mut(node).config_epoch = epoch;
        let p = self.persisted_mut(node);
        p.config_epoch = p.config_epoch.max(epoch);
        if matches!(
            reason,
            ConfigEpochReason::Election | ConfigEpochReason::SetConfigEpoch
        ) {
            p.agreed.insert(epoch);
        }
        self.claim_own_slots(t, node);
    }

    fn became_replica(&mut self, t: u64, node: &str, master: NodeId) {
        self.node_mut(node).master = Some(master);
        let id = self.node(node).id;
        self.ranks.role(t, id, Some(master));
        let p = self.persisted_mut(node);
        p.replica_since = Some(p.replica_since.unwrap_or(t));
    }

    /// A node that comes back holds only the flags its `nodes.conf` kept (`kept`), none
    /// under a new ID.
    fn close_flags_of(&mut self, old: NodeId, t: u64, kept: &[NodeId]) {
        for ((observer, subject), spans) in self.flags.iter_mut() {
            if *observer != old || kept.contains(subject) {
                continue;
            }
            if let Some(last) = spans.last_mut().filter(|s| s.1 == u64::MAX) {
                last.1 = t;
            }
        }
    }
}
