//! Liveness of `CLUSTER FAILOVER` (`manual_failover_unfinished`): a replica that answered
//! `+OK` to a default or `FORCE` manual failover in a quiet cluster must be promoted before
//! Redis gives the attempt up.
//!
//! Redis 7.0 (cluster.c) runs a manual failover inside `mf_end`, five seconds after the
//! request, and drops it then. In default mode the replica sends MFSTART, its master pauses
//! writes and pings the replica with its offset on every cron tick (100 ms), the replica
//! checks for its offset on its own cron tick and then asks for votes at once; `FORCE` asks
//! at the replica's next tick. Masters answer the vote request in one round trip, for a
//! manual failover even while the master is up, and the replica takes over as soon as a
//! majority has voted. That is three cron ticks and four one-way messages: well within
//! [`QUIET_BOUND_MS`] in a quiet cluster. Extra latency shifts the bound as for automatic
//! failovers.
//!
//! Judged only when nothing Redis would let stop it happened: the replica's master owned
//! slots (a replica of an empty master never fails over) and, in default mode, the
//! replication link was up and the replica had applied its master's stream (up to what the
//! master had a moment before); no fault touched the replica, its master or more than a minority
//! of the other masters from two node timeouts before (so the bus links stood, and no recent
//! vote for this shard holds the masters back) to the bound; no partition, packet loss, other
//! manual failover, other election or slot move in that time (an election in the same epoch
//! or a newer claim on the master's slots may take the votes). The two node timeouts before
//! the request must also fall after the safety phase began: a cluster just created is whole,
//! but its nodes may not know each other's roles yet.
//!
//! A replica that set up an election of its own shortly before keeps that attempt
//! (`clusterHandleSlaveFailover` sets up a new one, manual or not, only once the last one's
//! `failover_auth_time` is more than the retry time, twice the auth timeout, behind): the
//! bound then runs from the end of that retry time, and a request that cannot be finished
//! within the bound before `mf_end` is not judged (Redis drops it, unfinished elections
//! included). The attempt's time is read from the
//! replica's `ElectionScheduled` (scheduled time plus delay, plus any `ElectionDelayed` after
//! it), `ManualElectionSetUp` (a manual attempt starts at once: a late `CLUSTER FAILOVER
//! FORCE` may set one up, then end with the manual failover before it asks for votes) and
//! `ElectionStarted` events; the latter comes up to one cron tick after the time Redis
//! keeps, so the bound may start that much late.

use std::collections::BTreeMap;

use clusterlab_core::cluster::failover::MANUAL_FAILOVER_TIMEOUT_MS;
use clusterlab_core::slot::SLOT_COUNT;
use clusterlab_core::ClusterEvent;

use super::disturbances::{overlaps, Disturbances, Span};
use super::{follow, Role, LATENCY_HOPS};
use crate::faults::{FailoverMode, Fault};
use crate::invariants::fmt_ms;
use crate::node_idx::NodeIdx;
use crate::report::{Violation, ViolationKind};
use crate::trace::{Event, FaultEvent, RunPhase, TraceEvent};

/// How long a quiet cluster may take to finish a manual failover: three cron ticks and four
/// messages take Redis about 0.3 s; a second leaves room for a late tick and the cluster's
/// own traffic (and is far inside the 5 s `mf_end` limit).
pub(super) const QUIET_BOUND_MS: u64 = 1000;

/// One accepted manual failover, with the roles when it was accepted.
struct Request {
    /// When the injector sent it, and when the `+OK` came back.
    sent_us: u64,
    at_us: u64,
    replica: usize,
    master: usize,
    mode: FailoverMode,
    masters: Vec<usize>,
}

/// How far back the master's offset is taken when asking whether a replica had caught up
/// with it: the stream's own delay in a quiet network.
const IN_FLIGHT_US: u64 = 100_000;

/// What each node's own events say at one moment: its role, its ID, the slots it serves, and
/// its replication offsets so far (`(µs, offset)`).
struct Nodes {
    roles: Vec<Role>,
    ids: Vec<String>,
    own_slots: Vec<Vec<bool>>,
    offsets: Vec<Vec<(u64, u64)>>,
    /// When each node last started (its offset counts from 0 again).
    started_us: Vec<u64>,
    /// When each replica last synced (a full or a partial resync).
    synced_us: Vec<u64>,
}

impl Nodes {
    fn new(ids: &[String]) -> Nodes {
        Nodes {
            roles: vec![Role::Master; ids.len()],
            ids: ids.to_vec(),
            own_slots: vec![vec![false; SLOT_COUNT]; ids.len()],
            offsets: vec![Vec::new(); ids.len()],
            started_us: vec![0; ids.len()],
            synced_us: vec![0; ids.len()],
        }
    }

    fn follow(&mut self, node: usize, at_us: u64, event: &ClusterEvent) {
        match event {
            ClusterEvent::WriteApplied { offset, .. }
            | ClusterEvent::ReplicationLinkUp { offset }
            | ClusterEvent::PartialResync { offset, .. } => {
                self.offsets[node].push((at_us, *offset));
                if !matches!(event, ClusterEvent::WriteApplied { .. }) {
                    self.synced_us[node] = at_us;
                }
            }
            ClusterEvent::NodeStarted { id, .. } => {
                self.ids[node] = id.to_string();
                self.started_us[node] = at_us;
            }
            ClusterEvent::SlotsAssigned { ranges, owner } => {
                let mine = owner.is_some_and(|o| o.to_string() == self.ids[node]);
                for &(from, to) in ranges {
                    for slot in from..=to {
                        self.own_slots[node][usize::from(slot)] = mine;
                    }
                }
            }
            _ => {}
        }
        follow(&mut self.roles[node], event);
    }

    /// `node`'s replication offset at `at_us` (0 before any).
    fn offset_at(&self, node: usize, at_us: u64) -> u64 {
        let offsets = &self.offsets[node];
        let reached = offsets.partition_point(|&(t, _)| t <= at_us);
        reached.checked_sub(1).map_or(0, |i| offsets[i].1)
    }

    /// The request of `replica` (0-based) sent at `sent_us` and accepted at `at_us`, when
    /// Redis would run it.
    fn request(
        &self,
        (sent_us, at_us): Span,
        replica: usize,
        mode: FailoverMode,
    ) -> Option<Request> {
        let Role::Replica { master, link_up } = &self.roles[replica] else {
            return None;
        };
        let master = self.ids.iter().position(|id| id == master)?;
        let serves = self.own_slots[master].iter().any(|&s| s);
        // The default mode waits for the replica to reach the paused master's offset, which
        // takes as long as the stream does: judged only for a replica that had caught up.
        // Offsets compare only within one incarnation of the master: a restarted master counts
        // from 0 again, so a replica not yet synced with it is behind whatever the numbers say
        // (seed 971186).
        let caught_up = *link_up
            && self.synced_us[replica] >= self.started_us[master]
            && self.offset_at(replica, at_us)
                >= self.offset_at(master, at_us.saturating_sub(IN_FLIGHT_US));
        if self.roles[master] != Role::Master || !serves {
            return None;
        }
        if mode == FailoverMode::Default && !caught_up {
            return None;
        }
        let masters = (0..self.roles.len())
            .filter(|&n| self.roles[n] == Role::Master)
            .collect();
        Some(Request {
            sent_us,
            at_us,
            replica,
            master,
            mode,
            masters,
        })
    }
}

/// Every default or `FORCE` manual failover accepted while Redis would run it.
fn requests(events: &[TraceEvent], ids: &[String]) -> Vec<Request> {
    let mut nodes = Nodes::new(ids);
    let mut sent = BTreeMap::new();
    let mut found = Vec::new();
    for e in events {
        match &e.event {
            Event::Cluster(event) => {
                if let Some(node) = NodeIdx::from_name(&e.node).filter(|n| n.0 < ids.len()) {
                    nodes.follow(node.0, e.time_us, event);
                }
            }
            Event::Fault(FaultEvent::Applied(Fault::ManualFailover { node, mode })) => {
                sent.insert((*node, *mode), e.time_us);
            }
            Event::Fault(FaultEvent::ManualFailoverAccepted { node, mode })
                if *mode != FailoverMode::Takeover && *node < ids.len() =>
            {
                let sent_us = sent.get(&(*node, *mode)).copied();
                let span = (sent_us.unwrap_or(e.time_us), e.time_us);
                found.extend(nodes.request(span, *node, *mode));
            }
            _ => {}
        }
    }
    found
}

/// `manual_failover_unfinished` for every accepted manual failover that a quiet cluster did
/// not finish within Redis's timeout. `ids[i]` is node `i`'s ID after create.
pub fn manual_failovers_unfinished(
    events: &[TraceEvent],
    ids: &[String],
    node_timeout_ms: u64,
) -> Vec<Violation> {
    let faults = Disturbances::of(events, ids.len());
    let others = Others::of(events);
    // The cluster is whole when the safety phase starts, but its nodes may still be learning
    // each other's roles (a voter that does not know the candidate as a replica refuses).
    let settled_us = events
        .iter()
        .find(|e| matches!(e.event, Event::Phase(RunPhase::Safety { .. })))
        .map_or(0, |e| e.time_us);
    let mut found = Vec::new();
    for r in requests(events, ids) {
        let lead_us = 2 * node_timeout_ms * 1000;
        if r.at_us < settled_us + lead_us {
            continue;
        }
        let before = (r.at_us - lead_us, r.at_us);
        let mf_end_us = r.at_us + MANUAL_FAILOVER_TIMEOUT_MS * 1000;
        let retry_us = 2 * auth_timeout_ms(node_timeout_ms) * 1000;
        let start_us = match others.last_attempt(r.replica, r.at_us) {
            Some(attempt_us) => r.at_us.max(attempt_us + retry_us + 1),
            None => r.at_us,
        };
        let slow_ms = faults.latency_ms((before.0, mf_end_us));
        let bound_ms = (QUIET_BOUND_MS + LATENCY_HOPS * slow_ms).min(MANUAL_FAILOVER_TIMEOUT_MS);
        // The election must be won before `mf_end`: Redis stops counting votes for a manual
        // election once it times out (the master is not failed).
        if start_us + bound_ms * 1000 > mf_end_us {
            continue;
        }
        let after = (r.sent_us + 1, start_us + bound_ms * 1000);
        let whole = (before.0, after.1);
        // The request itself marks the replica touched for a µs when it is sent.
        let touched =
            |n: usize| faults.touched(n, (before.0, r.sent_us)) || faults.touched(n, after);
        let voters: Vec<usize> = r
            .masters
            .iter()
            .copied()
            .filter(|&m| m != r.master && !touched(m))
            .collect();
        let quiet = !touched(r.replica)
            && !touched(r.master)
            && voters.len() > r.masters.len() / 2
            && !faults
                .partitions
                .iter()
                .any(|(span, _)| overlaps(&[*span], whole))
            && !overlaps(&faults.lossy, whole)
            && !others.busy(&r, whole);
        // The promotion may come before the `+OK` reaches the injector.
        let promoted = events.iter().any(|e| {
            (r.sent_us..=after.1).contains(&e.time_us)
                && e.node == NodeIdx(r.replica).name()
                && matches!(e.event.cluster(), Some(ClusterEvent::Promoted { .. }))
        });
        if quiet && !promoted {
            found.push(unfinished(&r, &voters, bound_ms, lead_us));
        }
    }
    found
}

/// Redis's `CLUSTER_FAILOVER_AUTH_TIMEOUT`: twice the node timeout, at least 2 s.
fn auth_timeout_ms(node_timeout_ms: u64) -> u64 {
    (2 * node_timeout_ms).max(2000)
}

/// The other goings-on that may hold a manual failover back: manual failovers and slot moves
/// (from the injector), elections started (from the nodes), by time.
struct Others {
    /// `(µs, node)` of every manual failover and slot move the injector applied (`node`:
    /// the replica asked; `usize::MAX` for a move).
    faults: Vec<(u64, usize)>,
    /// Per node name: when it started an election.
    elections: BTreeMap<String, Vec<u64>>,
    /// Per node name: `(when the event came, failover_auth_time)` of each election it set up
    /// (scheduled time plus delay, or the start of one set up without an event).
    attempts: BTreeMap<String, Vec<(u64, u64)>>,
}

impl Others {
    fn of(events: &[TraceEvent]) -> Others {
        let mut others = Others {
            faults: Vec::new(),
            elections: BTreeMap::new(),
            attempts: BTreeMap::new(),
        };
        for e in events {
            match &e.event {
                Event::Fault(FaultEvent::Applied(Fault::ManualFailover { node, .. })) => {
                    others.faults.push((e.time_us, *node));
                }
                Event::Fault(FaultEvent::Applied(Fault::MoveSlots { .. })) => {
                    others.faults.push((e.time_us, usize::MAX));
                }
                Event::Cluster(ClusterEvent::ElectionStarted { .. }) => {
                    others
                        .elections
                        .entry(e.node.clone())
                        .or_default()
                        .push(e.time_us);
                    let attempts = others.attempts.entry(e.node.clone()).or_default();
                    attempts.push((e.time_us, e.time_us));
                }
                Event::Cluster(ClusterEvent::ElectionScheduled { delay_ms, .. }) => {
                    let auth_us = e.time_us + delay_ms * 1000;
                    let attempts = others.attempts.entry(e.node.clone()).or_default();
                    attempts.push((e.time_us, auth_us));
                }
                Event::Cluster(ClusterEvent::ManualElectionSetUp { .. }) => {
                    let attempts = others.attempts.entry(e.node.clone()).or_default();
                    attempts.push((e.time_us, e.time_us));
                }
                Event::Cluster(ClusterEvent::ElectionDelayed { added_ms, .. }) => {
                    let attempts = others.attempts.entry(e.node.clone()).or_default();
                    if let Some(last) = attempts.last_mut() {
                        last.1 += added_ms * 1000;
                    }
                }
                _ => {}
            }
        }
        others
    }

    /// The `failover_auth_time` of the last election `replica` set up before `at_us`.
    fn last_attempt(&self, replica: usize, at_us: u64) -> Option<u64> {
        let attempts = self.attempts.get(&NodeIdx(replica).name())?;
        attempts
            .iter()
            .rfind(|&&(known_us, _)| known_us < at_us)
            .map(|&(_, auth_us)| auth_us)
    }

    /// Whether another manual failover, a slot move or another node's election fell in
    /// `whole` (the replica's own elections are [`Others::last_attempt`]'s).
    fn busy(&self, r: &Request, whole: Span) -> bool {
        let inside = |t: u64, (from, to): Span| from <= t && t < to;
        let other_fault = self
            .faults
            .iter()
            .any(|&(t, node)| inside(t, whole) && (t, node) != (r.sent_us, r.replica));
        let replica = NodeIdx(r.replica).name();
        let elections = self
            .elections
            .iter()
            .filter(|(node, _)| **node != replica)
            .any(|(_, times)| times.iter().any(|&t| inside(t, whole)));
        other_fault || elections
    }
}

fn unfinished(r: &Request, voters: &[usize], bound_ms: u64, lead_us: u64) -> Violation {
    let names: Vec<String> = voters.iter().map(|&n| NodeIdx(n).name()).collect();
    Violation::new(
        ViolationKind::ManualFailoverUnfinished,
        format!(
            "{} answered +OK to CLUSTER FAILOVER{} at {} as a replica of {}, and was not \
             promoted within {bound_ms} ms; from {} on, no fault touched them or voters {} \
             of {} masters, with no partition, packet loss, slot move, other manual failover \
             or election",
            NodeIdx(r.replica).name(),
            if r.mode == FailoverMode::Force {
                " FORCE"
            } else {
                ""
            },
            fmt_ms(r.at_us / 1000),
            NodeIdx(r.master).name(),
            fmt_ms(r.at_us.saturating_sub(lead_us) / 1000),
            names.join(","),
            r.masters.len()
        ),
    )
}
