//! Liveness of failover (`failover_missing`): a master down (crashed, paused, cut off from the
//! majority by a partition, or with all its outgoing traffic dropped) long enough, with a
//! replica that could win and a majority of masters to vote for it, must be replaced within a
//! bound derived from Redis's failover timing, or the run fails.
//!
//! Judged from typed events only: the faults the injector applied (when each master went
//! down and came back, which nodes any fault touched), the nodes' `BecameReplica`,
//! `Promoted` and replication-link events (who replicates whom, and whether the link was up
//! when the master died).
//!
//! The bound, in Redis 7.0's terms (cluster.c): the master is flagged PFAIL one node timeout
//! after the first ping it leaves unanswered, and that ping is queued at the latest half a
//! node timeout after its last pong (a refused reconnect starts no clock: on loopback it fails
//! later, through the event loop, which leaves `ping_sent` alone); every PFAIL node rides in
//! every ping's gossip and each node pings a peer whose pong is older than half the node
//! timeout, so the failure reports reach the quorum and FAIL is broadcast within half a node
//! timeout more (plus a second for the random once-a-second ping); the replica then waits 500 ms + up to 500 ms random + 1 s per rank
//! before asking for votes, and masters answer in one round trip. Where two replicas may
//! split the votes, one retry after twice the election timeout (`max(2 × node timeout,
//! 2 s)`) is allowed. The replica is eligible when its link to the master was up when the
//! master died: its data age at the election is then well within `node timeout × validity
//! factor + repl-ping period` for any factor (0 disables the check).
//!
//! Extra latency during the window shifts the bound by ten times its longest delay (the
//! messages on the failover path, with room for another gossip round). A master is judged only
//! when nothing else could excuse a slow or missing failover: no partition or packet loss
//! during the window, at least one replica and a quorum of the other masters untouched by any
//! fault in it, and the master down for the whole bound. A master a partition leaves on a
//! minority side counts as down while the partition lasts; then only replicas and voters on
//! the side holding a quorum of masters count, and any other partition in the window excuses
//! it.
//!
//! The parts: `disturbances` (what the applied faults did, as spans), this file (roles,
//! outages and the verdict), `tests`.

use std::collections::BTreeSet;

use clusterlab_core::ClusterEvent;

use super::fmt_ms;
use crate::faults::Fault;
use crate::node_idx::NodeIdx;
use crate::report::{Violation, ViolationKind};
use crate::trace::{Event, FaultEvent, TraceEvent};

mod disturbances;
mod manual;
#[cfg(test)]
mod tests;

pub use manual::manual_failovers_unfinished;

use disturbances::{overlaps, Disturbances, Span};

/// Message delays on the failover path a latency episode stretches (ping and pong, failure
/// reports over gossip, the FAIL broadcast, the vote request and the votes), with room for one
/// more round of gossip.
const LATENCY_HOPS: u64 = 10;

/// The failover bound for a master with `replicas` replicas (ms after it went down).
pub fn failover_bound_ms(node_timeout_ms: u64, replicas: usize) -> u64 {
    let detect_ms = node_timeout_ms / 2 + node_timeout_ms + node_timeout_ms / 2 + 1000;
    let worst_rank = replicas.saturating_sub(1) as u64;
    let delay_ms = 1000 + 1000 * worst_rank;
    let votes_ms = 500;
    let retry_ms = if replicas > 1 {
        election_retry_ms(node_timeout_ms)
    } else {
        0
    };
    detect_ms + delay_ms + votes_ms + retry_ms
}

/// How long a replica waits before retrying an election that got too few votes: twice the
/// election timeout, `max(2 × node timeout, 2 s)`.
pub(crate) fn election_retry_ms(node_timeout_ms: u64) -> u64 {
    2 * (2 * node_timeout_ms).max(2000)
}

/// Whether another master with replicas went down while `o`'s failover was due (from `o`'s
/// start to its bound), so their elections may share an epoch.
fn rivals_overlap(o: &Outage, all: &[Outage], bound_ms: u64) -> bool {
    let due_us = o.from_us + bound_ms * 1000;
    all.iter().any(|other| {
        other.master != o.master
            && !other.replicas.is_empty()
            && other.from_us < due_us
            && other.to_us > o.from_us
    })
}

/// A node's role as its own events tell it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Role {
    Master,
    /// Replicating the node with this ID; whether the replication link is up.
    Replica {
        master: String,
        link_up: bool,
    },
}

/// A master that went down, with who replicated it and who else was master then.
struct Outage {
    master: usize,
    from_us: u64,
    to_us: u64,
    replicas: Vec<usize>,
    masters: Vec<usize>,
    /// Wiped masters whose slots no replica took over: their old IDs still serve slots in
    /// every view, and Redis counts every master serving a slot, failing or not, in the
    /// cluster size its quorums need (`clusterUpdateState`'s `size`; seed 954030).
    ghosts: usize,
    /// Cut off by this partition (index in [`Disturbances::partitions`]): only nodes on its
    /// majority side may vote or win.
    partition: Option<usize>,
}

impl Outage {
    /// Votes a replica needs: a majority of every master serving a slot (ghosts included).
    fn quorum(&self) -> usize {
        (self.masters.len() + self.ghosts) / 2 + 1
    }
}

/// When a master may have gone down: `(from µs, node, partition index)`; a partition start
/// names no node (every master on a minority side goes down).
type Start = (u64, usize, Option<usize>);

/// Every crash, pause or outgoing clog of a master, and every master a partition leaves on a
/// minority side, with the roles at that moment (`ids[i]`: node `i`'s ID after create).
fn outages(events: &[TraceEvent], ids: &[String], faults: &Disturbances) -> Vec<Outage> {
    let mut roles: Vec<Role> = vec![Role::Master; ids.len()];
    let mut wiped = BTreeSet::new();
    let mut ghosts: BTreeSet<String> = BTreeSet::new();
    let mut starts: BTreeSet<Start> = faults
        .down
        .iter()
        .flat_map(|(&n, spans)| spans.iter().map(move |&(from, _)| (from, n, None)))
        .chain(
            faults
                .partitions
                .iter()
                .enumerate()
                .map(|(p, ((from, _), _))| (*from, usize::MAX, Some(p))),
        )
        .collect();
    let mut found = Vec::new();
    for e in events {
        while let Some(&start) = starts.first().filter(|(from, _, _)| *from <= e.time_us) {
            starts.pop_first();
            let now = Roles {
                roles: &roles,
                wiped: &wiped,
                ghosts: ghosts.len(),
                ids,
            };
            found.extend(now.outages_at(start, faults));
        }
        if let Event::Fault(FaultEvent::Applied(Fault::WipeRestart { node })) = &e.event {
            if roles[*node] == Role::Master && !wiped.contains(node) {
                ghosts.insert(ids[*node].clone());
            }
            wiped.insert(*node);
        }
        if let Event::Cluster(ClusterEvent::Promoted { old_master, .. }) = &e.event {
            ghosts.remove(&old_master.to_string());
        }
        if let Event::Cluster(event) = &e.event {
            if let Some(node) = NodeIdx::from_name(&e.node).map(|n| n.0) {
                if node < ids.len() {
                    follow(&mut roles[node], event);
                }
            }
        }
    }
    found
}

/// A node's role after one of its own events.
pub(super) fn follow(role: &mut Role, event: &ClusterEvent) {
    match event {
        ClusterEvent::BecameReplica { master } => {
            *role = Role::Replica {
                master: master.to_string(),
                link_up: false,
            };
        }
        ClusterEvent::Promoted { .. } => *role = Role::Master,
        ClusterEvent::ReplicationLinkUp { .. }
        | ClusterEvent::PartialResync { .. }
        | ClusterEvent::ReplicationLinkDown { .. } => {
            if let Role::Replica { link_up, .. } = role {
                *link_up = !matches!(event, ClusterEvent::ReplicationLinkDown { .. });
            }
        }
        _ => {}
    }
}

/// Every node's role at one moment.
struct Roles<'a> {
    roles: &'a [Role],
    wiped: &'a BTreeSet<usize>,
    /// See [`Outage::ghosts`].
    ghosts: usize,
    ids: &'a [String],
}

impl Roles<'_> {
    fn is_master(&self, node: usize) -> bool {
        self.roles[node] == Role::Master && !self.wiped.contains(&node)
    }

    fn masters(&self) -> Vec<usize> {
        (0..self.roles.len())
            .filter(|&m| self.is_master(m))
            .collect()
    }

    /// Replicas of `master` whose link to it is up.
    fn in_sync_replicas(&self, master: usize) -> Vec<usize> {
        (0..self.roles.len())
            .filter(|&r| {
                matches!(&self.roles[r], Role::Replica { master: m, link_up: true }
                    if *m == self.ids[master])
                    && !self.wiped.contains(&r)
            })
            .collect()
    }

    fn outage(&self, master: usize, (from_us, to_us): Span, partition: Option<usize>) -> Outage {
        Outage {
            master,
            from_us,
            to_us,
            replicas: self.in_sync_replicas(master),
            masters: self.masters(),
            ghosts: self.ghosts,
            partition,
        }
    }

    /// The outages that begin at `start`.
    fn outages_at(&self, (from_us, node, partition): Start, faults: &Disturbances) -> Vec<Outage> {
        let Some(p) = partition else {
            if !self.is_master(node) {
                return Vec::new();
            }
            let span = faults.down[&node]
                .iter()
                .copied()
                .find(|&(from, _)| from == from_us)
                .unwrap_or((from_us, from_us));
            return vec![self.outage(node, span, None)];
        };
        let (span, sides) = &faults.partitions[p];
        let masters = self.masters();
        let quorum = (masters.len() + self.ghosts) / 2 + 1;
        let Some(majority) = sides
            .iter()
            .find(|side| masters.iter().filter(|m| side.contains(m)).count() >= quorum)
        else {
            return Vec::new();
        };
        masters
            .iter()
            .filter(|m| !majority.contains(m))
            .map(|&m| self.outage(m, *span, Some(p)))
            .collect()
    }
}

/// `failover_missing` for every master down past [`failover_bound_ms`] while an eligible
/// replica and a quorum of voters were undisturbed, and no replica of it was promoted in
/// time. `ids[i]` is node `i`'s ID after create.
pub fn failovers_missing(
    events: &[TraceEvent],
    ids: &[String],
    node_timeout_ms: u64,
) -> Vec<Violation> {
    let faults = Disturbances::of(events, ids.len());
    let mut found = Vec::new();
    let all = outages(events, ids, &faults);
    for o in &all {
        let mut quiet_bound_ms = failover_bound_ms(node_timeout_ms, o.replicas.len());
        // A master votes once per epoch for all elections: replicas of another master down at
        // the same time may take this one's votes in a shared epoch, and then both wait for
        // the retry (seed 500391: two of five masters crashed together, votes split 2–1).
        if o.replicas.len() == 1 && rivals_overlap(o, &all, quiet_bound_ms) {
            quiet_bound_ms += election_retry_ms(node_timeout_ms);
        }
        // Extra latency shifts the bound by what it adds to the messages on the path (pings,
        // failure reports, the FAIL broadcast, the vote request and its answers).
        let slow_ms = faults.latency_ms((o.from_us, o.from_us + quiet_bound_ms * 1000));
        let bound_ms = quiet_bound_ms + LATENCY_HOPS * slow_ms;
        let window = (o.from_us, o.from_us + bound_ms * 1000);
        if o.replicas.is_empty() || o.to_us < window.1 || faults.disturbed(o, window) {
            continue;
        }
        let on_side = |n: &usize| {
            o.partition
                .is_none_or(|p| faults.majority_side(p, o).contains(n))
        };
        let eligible: Vec<usize> = o
            .replicas
            .iter()
            .copied()
            .filter(|&r| on_side(&r) && !faults.touched(r, window))
            .collect();
        let voters: Vec<usize> = o
            .masters
            .iter()
            .copied()
            .filter(|&m| m != o.master && on_side(&m) && !faults.touched(m, window))
            .collect();
        if eligible.is_empty() || voters.len() < o.quorum() {
            continue;
        }
        let replaced = events.iter().any(|e| {
            e.time_us >= window.0
                && e.time_us <= window.1
                && matches!(&e.event, Event::Cluster(ClusterEvent::Promoted { old_master, .. })
                    if old_master.to_string() == ids[o.master])
        });
        if !replaced {
            found.push(missing(o, &eligible, &voters, bound_ms));
        }
    }
    found
}

impl Disturbances {
    /// Whether anything but the outage's own cause could slow its failover in `window`:
    /// packet loss, or a partition (for a partition outage: any other partition).
    fn disturbed(&self, o: &Outage, window: Span) -> bool {
        let other_split = self
            .partitions
            .iter()
            .enumerate()
            .any(|(p, (span, _))| Some(p) != o.partition && overlaps(&[*span], window));
        other_split || overlaps(&self.lossy, window)
    }

    /// The side of partition `p` that holds a quorum of the outage's masters.
    fn majority_side(&self, p: usize, o: &Outage) -> Vec<usize> {
        let quorum = o.quorum();
        self.partitions[p]
            .1
            .iter()
            .find(|side| o.masters.iter().filter(|m| side.contains(m)).count() >= quorum)
            .cloned()
            .unwrap_or_default()
    }
}

fn missing(o: &Outage, eligible: &[usize], voters: &[usize], bound_ms: u64) -> Violation {
    let names = |nodes: &[usize]| -> String {
        let names: Vec<String> = nodes.iter().map(|&n| NodeIdx(n).name()).collect();
        names.join(",")
    };
    Violation::new(
        ViolationKind::FailoverMissing,
        format!(
            "master {} {} from {} to {}; replica {} (link up when it died) and voters {} \
             of {} masters undisturbed; no replica promoted within the bound {} ms",
            NodeIdx(o.master).name(),
            if o.partition.is_some() {
                "cut off from the majority"
            } else {
                "down"
            },
            fmt_ms(o.from_us / 1000),
            fmt_ms(o.to_us / 1000),
            names(eligible),
            names(voters),
            o.masters.len() + o.ghosts,
            bound_ms
        ),
    )
}
