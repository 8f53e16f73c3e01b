//! Faults as data: a [`Fault`] is one serializable action on the simulated cluster (partition,
//! crash, pause, clogged link, latency, …) and a [`FaultSchedule`] says when each one happens,
//! in virtual milliseconds since the start of a run's safety phase.
//!
//! Schedules come from three places, all deterministic: [`swarm`] draws one from a run seed
//! (swarm testing: each run enables a random subset of fault kinds, each with its own rate, so
//! seeds explore very different mixes); [`schedule_strategy`] is a proptest strategy, so a
//! failing schedule shrinks to a small one; and seed files carry explicit schedules. Every
//! generated schedule keeps a majority of masters up and together ([`check_majority`]): the
//! safety phase probes what the cluster must never do, not what it cannot do without a quorum.
//!
//! Applying a schedule to a running [`SimCluster`](crate::cluster::SimCluster) is
//! [`FaultInjector`] (simulation build only). Application is tolerant: a fault that makes no
//! sense in the current state (restarting a running node) is skipped and noted in the trace,
//! which is what lets shrinking drop any event without making the schedule invalid.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::seeds::SimConfig;

/// Which traffic of a node a [`Fault::ClogNode`] stops.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    In,
    Out,
    Both,
}

/// One fault. Node numbers are 0-based indices (`node: 0` is `node1` in traces).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Fault {
    /// Clogs both directions of every link between nodes of different groups; nodes listed in
    /// no group form one more group. Replaces the current partition, if any. The client
    /// machine still reaches every node, as clients on both sides of a real split would.
    Partition {
        groups: Vec<Vec<usize>>,
    },
    /// Ends the current partition (explicitly clogged links and nodes stay clogged).
    Heal,
    /// Kills the node: its tasks stop, its connections drop, unsynced disk writes are lost.
    Crash {
        node: usize,
    },
    /// Starts a crashed node again on the same disk.
    Restart {
        node: usize,
    },
    /// Freezes the node for `ms` (meant to be longer than the node timeout), then resumes it.
    Pause {
        node: usize,
        ms: u64,
    },
    /// Drops traffic from `from` to `to` (one direction).
    ClogLink {
        from: usize,
        to: usize,
    },
    UnclogLink {
        from: usize,
        to: usize,
    },
    /// Cuts the node off the network (clients included) in one or both directions.
    ClogNode {
        node: usize,
        direction: Direction,
    },
    UnclogNode {
        node: usize,
    },
    /// Every message now takes `min_ms..max_ms` (madsim's default is 1..10).
    Latency {
        min_ms: u64,
        max_ms: u64,
    },
    /// Each packet is lost with probability `permille / 1000`; madsim's TCP retries with
    /// backoff, so this shows up as jittery delays, as loss does on real TCP.
    PacketLoss {
        permille: u32,
    },
    /// Kills the node, replaces its disk with an empty one and starts it: it comes back as a
    /// brand-new node (new ID, no slots) that the cluster does not know.
    WipeRestart {
        node: usize,
    },
    /// Sends `CLUSTER FAILOVER [FORCE|TAKEOVER]` to the node (meant to be a replica; a master
    /// answers with an error, which the trace shows). The reply is not waited for.
    ManualFailover {
        node: usize,
        mode: FailoverMode,
    },
    /// An operator reshards: `count` slots (with their keys) from the master at `from` to the
    /// master at `to`, the way `redis-cli --cluster reshard` does, from the client machine
    /// while everything else goes on. One move at a time; a move that finds the cluster
    /// unhealthy or the roles changed does nothing (the trace says why).
    MoveSlots {
        from: usize,
        to: usize,
        count: usize,
    },
}

/// The option of a [`Fault::ManualFailover`]: `default` is the coordinated `CLUSTER FAILOVER`
/// with no option.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailoverMode {
    Default,
    Force,
    Takeover,
}

impl FailoverMode {
    /// The `CLUSTER FAILOVER` arguments for this mode.
    pub fn args(self) -> &'static [&'static str] {
        match self {
            FailoverMode::Default => &["CLUSTER", "FAILOVER"],
            FailoverMode::Force => &["CLUSTER", "FAILOVER", "FORCE"],
            FailoverMode::Takeover => &["CLUSTER", "FAILOVER", "TAKEOVER"],
        }
    }
}

/// madsim's default latency range, restored at the end of a latency episode.
pub const DEFAULT_LATENCY_MS: (u64, u64) = (1, 10);

fn node_name(index: usize) -> String {
    format!("node{}", index + 1)
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Partition { groups } => {
                let groups: Vec<String> = groups
                    .iter()
                    .map(|g| {
                        let names: Vec<String> = g.iter().map(|&n| node_name(n)).collect();
                        format!("[{}]", names.join(" "))
                    })
                    .collect();
                write!(f, "partition {}", groups.join(" "))
            }
            Fault::Heal => write!(f, "heal"),
            Fault::Crash { node } => write!(f, "crash {}", node_name(*node)),
            Fault::Restart { node } => write!(f, "restart {}", node_name(*node)),
            Fault::Pause { node, ms } => write!(f, "pause {} for {ms} ms", node_name(*node)),
            Fault::ClogLink { from, to } => {
                write!(f, "clog link {}->{}", node_name(*from), node_name(*to))
            }
            Fault::UnclogLink { from, to } => {
                write!(f, "unclog link {}->{}", node_name(*from), node_name(*to))
            }
            Fault::ClogNode { node, direction } => {
                write!(f, "clog {} {direction:?}", node_name(*node))
            }
            Fault::UnclogNode { node } => write!(f, "unclog {}", node_name(*node)),
            Fault::Latency { min_ms, max_ms } => write!(f, "latency {min_ms}..{max_ms} ms"),
            Fault::PacketLoss { permille } => write!(f, "packet loss {permille}‰"),
            Fault::WipeRestart { node } => write!(f, "wipe and restart {}", node_name(*node)),
            Fault::ManualFailover { node, mode } => {
                write!(f, "manual failover {} {mode:?}", node_name(*node))
            }
            Fault::MoveSlots { from, to, count } => write!(
                f,
                "move {count} slot(s) {}->{}",
                node_name(*from),
                node_name(*to)
            ),
        }
    }
}

impl Fault {
    /// Every node index the fault names.
    pub fn nodes(&self) -> Vec<usize> {
        match self {
            Fault::Partition { groups } => groups.iter().flatten().copied().collect(),
            Fault::Crash { node }
            | Fault::Restart { node }
            | Fault::Pause { node, .. }
            | Fault::ClogNode { node, .. }
            | Fault::UnclogNode { node }
            | Fault::WipeRestart { node }
            | Fault::ManualFailover { node, .. } => vec![*node],
            Fault::ClogLink { from, to }
            | Fault::UnclogLink { from, to }
            | Fault::MoveSlots { from, to, .. } => vec![*from, *to],
            Fault::Heal | Fault::Latency { .. } | Fault::PacketLoss { .. } => vec![],
        }
    }
}

/// A fault and when it happens (virtual ms since the safety phase started).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimedFault {
    pub at_ms: u64,
    #[serde(flatten)]
    pub fault: Fault,
}

/// A run's faults in time order (stable for equal times). Serializes as a JSON list of
/// `{"at_ms": 1200, "kind": "crash", "node": 1}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct FaultSchedule(pub Vec<TimedFault>);

impl FaultSchedule {
    /// Sorts by time, keeping the order of faults at the same time.
    pub fn new(mut faults: Vec<TimedFault>) -> FaultSchedule {
        faults.sort_by_key(|f| f.at_ms);
        FaultSchedule(faults)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &TimedFault> {
        self.0.iter()
    }

    /// Names of the fault kinds used, sorted (`crash`, `partition`, …), for summaries.
    pub fn kinds(&self) -> Vec<&'static str> {
        let mut kinds: Vec<&'static str> = self.0.iter().map(|f| kind_name(&f.fault)).collect();
        kinds.sort();
        kinds.dedup();
        kinds
    }

    /// Checks every node index is below `node_count` and every group list is sane.
    pub fn validate(&self, node_count: usize) -> Result<(), String> {
        for timed in &self.0 {
            if let Some(bad) = timed.fault.nodes().into_iter().find(|&n| n >= node_count) {
                return Err(format!(
                    "at {} ms, {}: node index {bad} but the cluster has {node_count} nodes",
                    timed.at_ms, timed.fault
                ));
            }
            if let Fault::Partition { groups } = &timed.fault {
                let mut seen = BTreeSet::new();
                if let Some(dup) = groups.iter().flatten().find(|&&n| !seen.insert(n)) {
                    return Err(format!(
                        "at {} ms: node index {dup} in two partition groups",
                        timed.at_ms
                    ));
                }
            }
            if let Fault::PacketLoss { permille } = timed.fault {
                if permille > 1000 {
                    return Err(format!("at {} ms: packet loss {permille}‰", timed.at_ms));
                }
            }
            if let Fault::Latency { min_ms, max_ms } = timed.fault {
                if min_ms >= max_ms {
                    return Err(format!("at {} ms: empty latency range", timed.at_ms));
                }
            }
        }
        Ok(())
    }
}

/// The stable snake_case name of a fault's kind (as in JSON).
pub fn kind_name(fault: &Fault) -> &'static str {
    match fault {
        Fault::Partition { .. } => "partition",
        Fault::Heal => "heal",
        Fault::Crash { .. } => "crash",
        Fault::Restart { .. } => "restart",
        Fault::Pause { .. } => "pause",
        Fault::ClogLink { .. } => "clog_link",
        Fault::UnclogLink { .. } => "unclog_link",
        Fault::ClogNode { .. } => "clog_node",
        Fault::UnclogNode { .. } => "unclog_node",
        Fault::Latency { .. } => "latency",
        Fault::PacketLoss { .. } => "packet_loss",
        Fault::WipeRestart { .. } => "wipe_restart",
        Fault::ManualFailover { .. } => "manual_failover",
        Fault::MoveSlots { .. } => "move_slots",
    }
}

// ---- the cluster a schedule is made for ---------------------------------------------------

/// What generation needs to know about the cluster: its size, which nodes `create` makes
/// masters, the node timeout and how long the safety phase lasts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterShape {
    pub nodes: usize,
    /// Indices of the nodes `create` makes masters, sorted.
    pub masters: Vec<usize>,
    /// `(replica, master)` as `create` pairs them (roles may change during a run).
    pub replica_of: Vec<(usize, usize)>,
    pub node_timeout_ms: u64,
    /// Faults start in `0..span_ms`.
    pub span_ms: u64,
}

/// The safety phase lasts this many node timeouts: long enough for PFAIL → FAIL → recovery
/// cycles of several faults in a row.
pub const SAFETY_SPAN_NODE_TIMEOUTS: u64 = 6;

impl ClusterShape {
    /// The shape of a [`SimCluster`](crate::cluster::SimCluster) built from `config`: node N
    /// has IP `10.0.0.N`, and masters are chosen by the same plan `create` follows.
    pub fn of(config: &SimConfig) -> ClusterShape {
        let ips: Vec<String> = (1..=config.node_count())
            .map(|n| format!("10.0.0.{n}"))
            .collect();
        let refs: Vec<&str> = ips.iter().map(String::as_str).collect();
        let (mut masters, replica_of): (Vec<usize>, Vec<(usize, usize)>) =
            match clusterlab_net::admin::plan_create(&refs, config.replicas) {
                Ok(plan) => (
                    plan.masters.iter().map(|(index, _)| *index).collect(),
                    plan.replicas,
                ),
                // `create` will refuse this shape anyway; every node counts as a master.
                Err(_) => ((0..config.node_count()).collect(), Vec::new()),
            };
        masters.sort_unstable();
        ClusterShape {
            nodes: config.node_count(),
            masters,
            replica_of,
            node_timeout_ms: config.node_timeout_ms,
            span_ms: SAFETY_SPAN_NODE_TIMEOUTS * config.node_timeout_ms,
        }
    }

    /// Masters needed for a majority.
    pub fn quorum(&self) -> usize {
        self.masters.len() / 2 + 1
    }
}

// ---- the majority constraint --------------------------------------------------------------

/// The network and node state a schedule produces over time, as far as the majority rule
/// cares (no sockets: this is pure bookkeeping, shared by the checker and generation).
#[derive(Clone, Debug, Default)]
struct Shadow {
    /// Crashed nodes (`u64::MAX`: until restarted) and paused nodes (until that time).
    down_until: BTreeMap<usize, u64>,
    /// A wiped node runs again, but as a new node the cluster does not know: lost for the
    /// rest of the safety phase.
    wiped: BTreeSet<usize>,
    groups: Vec<Vec<usize>>,
    clogged_nodes: BTreeSet<usize>,
}

impl Shadow {
    fn apply(&mut self, at_ms: u64, fault: &Fault) {
        match fault {
            Fault::Partition { groups } => self.groups = groups.clone(),
            Fault::Heal => self.groups.clear(),
            Fault::Crash { node } => {
                self.down_until.insert(*node, u64::MAX);
            }
            Fault::WipeRestart { node } => {
                self.wiped.insert(*node);
            }
            Fault::Restart { node } => {
                if self.down_until.get(node) == Some(&u64::MAX) {
                    self.down_until.remove(node);
                }
            }
            Fault::Pause { node, ms } => {
                self.down_until
                    .entry(*node)
                    .or_insert(at_ms.saturating_add(*ms));
            }
            Fault::ClogNode { node, .. } => {
                self.clogged_nodes.insert(*node);
            }
            Fault::UnclogNode { node } => {
                self.clogged_nodes.remove(node);
            }
            Fault::ClogLink { .. }
            | Fault::UnclogLink { .. }
            | Fault::Latency { .. }
            | Fault::PacketLoss { .. }
            | Fault::ManualFailover { .. }
            | Fault::MoveSlots { .. } => {}
        }
    }

    fn expire(&mut self, now_ms: u64) {
        self.down_until.retain(|_, until| *until > now_ms);
    }

    /// The most working masters (up, not clogged) that can all reach each other.
    fn best_master_group(&self, shape: &ClusterShape) -> usize {
        let working: Vec<usize> = shape
            .masters
            .iter()
            .copied()
            .filter(|m| {
                !self.down_until.contains_key(m)
                    && !self.wiped.contains(m)
                    && !self.clogged_nodes.contains(m)
            })
            .collect();
        if self.groups.is_empty() {
            return working.len();
        }
        let grouped: BTreeSet<usize> = self.groups.iter().flatten().copied().collect();
        let in_rest = working.iter().filter(|m| !grouped.contains(m)).count();
        self.groups
            .iter()
            .map(|g| working.iter().filter(|m| g.contains(m)).count())
            .chain(std::iter::once(in_rest))
            .max()
            .unwrap_or(0)
    }
}

/// Checks that at every moment of the safety phase a majority of masters is up (not crashed,
/// paused, wiped or clogged) and on one side of any partition. The error names the first
/// moment it is not.
pub fn check_majority(schedule: &FaultSchedule, shape: &ClusterShape) -> Result<(), String> {
    let mut shadow = Shadow::default();
    // Checkpoints: every fault time and every pause expiry (a pause ending can only help, but
    // a later event at the same time as an expiry must see it expired).
    for (i, timed) in schedule.0.iter().enumerate() {
        shadow.expire(timed.at_ms);
        shadow.apply(timed.at_ms, &timed.fault);
        let same_time_next = schedule
            .0
            .get(i + 1)
            .is_some_and(|n| n.at_ms == timed.at_ms);
        if same_time_next {
            continue;
        }
        let best = shadow.best_master_group(shape);
        if best < shape.quorum() {
            return Err(format!(
                "at {} ms after {}: only {best} of {} masters up and together, quorum {}",
                timed.at_ms,
                timed.fault,
                shape.masters.len(),
                shape.quorum()
            ));
        }
    }
    Ok(())
}

// ---- episodes: faults with their undo -----------------------------------------------------

/// A fault that lasts a while, as generation thinks of it; [`Episode::expand`] turns it into
/// the fault and its undo.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Episode {
    pub start_ms: u64,
    pub duration_ms: u64,
    pub kind: EpisodeKind,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EpisodeKind {
    Partition {
        groups: Vec<Vec<usize>>,
    },
    Crash {
        node: usize,
    },
    Pause {
        node: usize,
    },
    ClogLink {
        from: usize,
        to: usize,
    },
    ClogNode {
        node: usize,
        direction: Direction,
    },
    Latency {
        min_ms: u64,
        max_ms: u64,
    },
    PacketLoss {
        permille: u32,
    },
    /// Instantaneous; `duration_ms` is ignored.
    WipeRestart {
        node: usize,
    },
    /// `CLUSTER FAILOVER [mode]` sent to each node at once (two replicas taking over in
    /// the same instant is how config epochs collide). Instantaneous.
    ManualFailover {
        nodes: Vec<usize>,
        mode: FailoverMode,
    },
    /// Instantaneous start; the move itself takes what it takes.
    MoveSlots {
        from: usize,
        to: usize,
        count: usize,
    },
}

impl Episode {
    pub fn expand(&self) -> Vec<TimedFault> {
        let (start, end) = (self.start_ms, self.start_ms + self.duration_ms);
        let at = |at_ms, fault| TimedFault { at_ms, fault };
        match &self.kind {
            EpisodeKind::Partition { groups } => vec![
                at(
                    start,
                    Fault::Partition {
                        groups: groups.clone(),
                    },
                ),
                at(end, Fault::Heal),
            ],
            EpisodeKind::Crash { node } => vec![
                at(start, Fault::Crash { node: *node }),
                at(end, Fault::Restart { node: *node }),
            ],
            EpisodeKind::Pause { node } => vec![at(
                start,
                Fault::Pause {
                    node: *node,
                    ms: self.duration_ms,
                },
            )],
            EpisodeKind::ClogLink { from, to } => vec![
                at(
                    start,
                    Fault::ClogLink {
                        from: *from,
                        to: *to,
                    },
                ),
                at(
                    end,
                    Fault::UnclogLink {
                        from: *from,
                        to: *to,
                    },
                ),
            ],
            EpisodeKind::ClogNode { node, direction } => vec![
                at(
                    start,
                    Fault::ClogNode {
                        node: *node,
                        direction: *direction,
                    },
                ),
                at(end, Fault::UnclogNode { node: *node }),
            ],
            EpisodeKind::Latency { min_ms, max_ms } => vec![
                at(
                    start,
                    Fault::Latency {
                        min_ms: *min_ms,
                        max_ms: *max_ms,
                    },
                ),
                at(
                    end,
                    Fault::Latency {
                        min_ms: DEFAULT_LATENCY_MS.0,
                        max_ms: DEFAULT_LATENCY_MS.1,
                    },
                ),
            ],
            EpisodeKind::PacketLoss { permille } => vec![
                at(
                    start,
                    Fault::PacketLoss {
                        permille: *permille,
                    },
                ),
                at(end, Fault::PacketLoss { permille: 0 }),
            ],
            EpisodeKind::WipeRestart { node } => {
                vec![at(start, Fault::WipeRestart { node: *node })]
            }
            EpisodeKind::ManualFailover { nodes, mode } => nodes
                .iter()
                .map(|&node| at(start, Fault::ManualFailover { node, mode: *mode }))
                .collect(),
            &EpisodeKind::MoveSlots { from, to, count } => {
                vec![at(start, Fault::MoveSlots { from, to, count })]
            }
        }
    }

    /// Whether two episodes fight over the same knob (one partition, one latency setting, one
    /// loss rate, one state per node and per link at a time): such overlaps would make the
    /// first one's undo cut the second one short.
    fn conflicts_with(&self, other: &Episode) -> bool {
        let overlap = self.start_ms < other.start_ms + other.duration_ms.max(1)
            && other.start_ms < self.start_ms + self.duration_ms.max(1);
        if !overlap {
            return false;
        }
        use EpisodeKind::*;
        match (&self.kind, &other.kind) {
            (Partition { .. }, Partition { .. })
            | (Latency { .. }, Latency { .. })
            | (PacketLoss { .. }, PacketLoss { .. }) => true,
            (ClogLink { from, to }, ClogLink { from: f2, to: t2 }) => (from, to) == (f2, t2),
            (a, b) => match (a.node(), b.node()) {
                (Some(x), Some(y)) => x == y,
                _ => false,
            },
        }
    }
}

impl EpisodeKind {
    /// The one node whose state the episode owns (crash, pause, clog, wipe).
    fn node(&self) -> Option<usize> {
        match self {
            EpisodeKind::Crash { node }
            | EpisodeKind::Pause { node }
            | EpisodeKind::ClogNode { node, .. }
            | EpisodeKind::WipeRestart { node } => Some(*node),
            _ => None,
        }
    }
}

/// Builds a schedule from episodes in the given order, dropping each one that would overlap a
/// kept one on the same knob or break the majority rule. Deterministic, so a shrunk episode
/// list maps to a schedule the same way every time.
pub fn from_episodes(episodes: &[Episode], shape: &ClusterShape) -> FaultSchedule {
    let mut kept: Vec<&Episode> = Vec::new();
    let mut faults: Vec<TimedFault> = Vec::new();
    for episode in episodes {
        if kept.iter().any(|k| k.conflicts_with(episode)) {
            continue;
        }
        let mut candidate = faults.clone();
        candidate.extend(episode.expand());
        let candidate = FaultSchedule::new(candidate);
        if check_majority(&candidate, shape).is_ok() {
            kept.push(episode);
            faults = candidate.0;
        }
    }
    FaultSchedule::new(faults)
}

// ---- swarm generation ---------------------------------------------------------------------

/// The fault kinds swarm generation chooses among.
pub const SWARM_KINDS: &[&str] = &[
    "partition",
    "crash",
    "pause",
    "clog_link",
    "clog_node",
    "latency",
    "packet_loss",
    "wipe_restart",
    "manual_failover",
    "move_slots",
    "lagging_replica",
    "stale_return",
    "slow_failover",
];

/// Draws a schedule from `seed`: each kind of [`SWARM_KINDS`] is enabled with probability
/// one half (at least one always is), each enabled kind gets its own mean gap between
/// episodes, and episodes that would break the majority rule are dropped. At most one wipe
/// per run: each one loses a master's data for good.
pub fn swarm(seed: u64, shape: &ClusterShape) -> FaultSchedule {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5357_4152_4d00_0000);
    let mut enabled: Vec<&str> = SWARM_KINDS
        .iter()
        .copied()
        .filter(|_| rng.gen_bool(0.5))
        .collect();
    if enabled.is_empty() {
        enabled.push(SWARM_KINDS[rng.gen_range(0..SWARM_KINDS.len())]);
    }
    let span = shape.span_ms.max(1);
    let mut episodes = Vec::new();
    for kind in enabled {
        // Between about 1 and 6 episodes of this kind per run.
        let mean_gap_ms = rng.gen_range(span / 6..=span);
        let mut t = rng.gen_range(0..=mean_gap_ms);
        let limit = if kind == "wipe_restart" { 1 } else { 8 };
        let mut count = 0;
        while t < span && count < limit {
            let drawn = match draw_compound(&mut rng, kind, t, shape) {
                Some(compound) => compound,
                None => draw_episode(&mut rng, kind, t, shape).into_iter().collect(),
            };
            if !drawn.is_empty() {
                episodes.extend(drawn);
                count += 1;
            }
            t += rng
                .gen_range(mean_gap_ms / 2..=mean_gap_ms.saturating_mul(3) / 2)
                .max(1);
        }
    }
    // Time order, then kind order: the majority filter keeps the earlier episode.
    episodes.sort_by_key(|e| e.start_ms);
    from_episodes(&episodes, shape)
}

fn draw_episode(
    rng: &mut ChaCha8Rng,
    kind: &str,
    start_ms: u64,
    shape: &ClusterShape,
) -> Option<Episode> {
    let nt = shape.node_timeout_ms.max(1);
    let n = shape.nodes;
    if n < 2 {
        return None;
    }
    let node = rng.gen_range(0..n);
    let (duration_ms, kind) = match kind {
        "partition" => (
            rng.gen_range(nt / 2..=3 * nt),
            EpisodeKind::Partition {
                groups: draw_partition(rng, shape),
            },
        ),
        "crash" => (rng.gen_range(nt / 2..=3 * nt), EpisodeKind::Crash { node }),
        // Longer than the node timeout, so the others flag the node.
        "pause" => (
            rng.gen_range(nt + nt / 5..=3 * nt),
            EpisodeKind::Pause { node },
        ),
        "clog_link" => {
            let to = (node + rng.gen_range(1..n)) % n;
            (
                rng.gen_range(nt / 2..=2 * nt),
                EpisodeKind::ClogLink { from: node, to },
            )
        }
        "clog_node" => {
            let direction = [Direction::In, Direction::Out, Direction::Both][rng.gen_range(0..3)];
            (
                rng.gen_range(nt / 2..=2 * nt),
                EpisodeKind::ClogNode { node, direction },
            )
        }
        "latency" => {
            let max_ms = rng.gen_range(20..=(nt / 4).max(21));
            let min_ms = rng.gen_range(1..max_ms);
            (
                rng.gen_range(nt / 2..=3 * nt),
                EpisodeKind::Latency { min_ms, max_ms },
            )
        }
        "packet_loss" => (
            rng.gen_range(nt / 2..=3 * nt),
            EpisodeKind::PacketLoss {
                permille: rng.gen_range(10..=300),
            },
        ),
        "wipe_restart" => (0, EpisodeKind::WipeRestart { node }),
        "manual_failover" => (0, draw_manual_failover(rng, shape)?),
        "move_slots" => {
            let masters = &shape.masters;
            if masters.len() < 2 {
                return None;
            }
            let from = masters[rng.gen_range(0..masters.len())];
            let to = masters[rng.gen_range(0..masters.len())];
            if from == to {
                return None;
            }
            let count = rng.gen_range(1..=MAX_SLOTS_PER_MOVE);
            (0, EpisodeKind::MoveSlots { from, to, count })
        }
        _ => return None,
    };
    Some(Episode {
        start_ms,
        duration_ms,
        kind,
    })
}

/// The kinds of [`SWARM_KINDS`] that [`draw_compound`] builds from several plain episodes.
pub const COMPOUND_KINDS: &[&str] = &["lagging_replica", "stale_return", "slow_failover"];

/// Compound kinds: plain episodes timed against each other to build the situations that
/// single faults rarely line up, each aimed at one failover mechanism. `None` for a plain
/// kind; an empty list when the shape has no replicas. The whole compound is moved earlier if
/// it would not fit in the span.
///
/// - `lagging_replica`: a replica stops hearing its master, then the master crashes while the
///   link is still down, so a fresher sibling exists (the rank and data-age checks).
/// - `stale_return`: a master crashes long enough to be failed over, and when it comes back
///   its former replicas (one of them is the new owner) cannot reach it, so only third nodes
///   can tell it it is stale (UPDATE messages).
/// - `slow_failover`: a master crashes and the network turns slow while its replicas run for
///   election, so their requests and the winner's announcement cross (the voting rules).
fn draw_compound(
    rng: &mut ChaCha8Rng,
    kind: &str,
    start_ms: u64,
    shape: &ClusterShape,
) -> Option<Vec<Episode>> {
    if !COMPOUND_KINDS.contains(&kind) {
        return None;
    }
    if shape.replica_of.is_empty() {
        return Some(Vec::new());
    }
    let nt = shape.node_timeout_ms.max(1);
    let (replica, master) = shape.replica_of[rng.gen_range(0..shape.replica_of.len())];
    // (offset from the compound's start, duration, kind)
    let parts: Vec<(u64, u64, EpisodeKind)> =
        match kind {
            "lagging_replica" => {
                let crash_at = rng.gen_range(2 * nt + nt / 2..=3 * nt);
                let crash_ms = rng.gen_range(2 * nt..=3 * nt);
                let link_ms = crash_at + rng.gen_range(2 * nt..=3 * nt);
                vec![
                    (
                        0,
                        link_ms,
                        EpisodeKind::ClogLink {
                            from: master,
                            to: replica,
                        },
                    ),
                    (crash_at, crash_ms, EpisodeKind::Crash { node: master }),
                ]
            }
            "stale_return" => {
                let crash_ms = rng.gen_range(2 * nt + nt / 2..=3 * nt);
                let clog_from = crash_ms - nt / 4;
                let clog_ms = nt / 4 + 3 * nt + rng.gen_range(0..=nt / 2);
                let mut parts = vec![(0, crash_ms, EpisodeKind::Crash { node: master })];
                parts.extend(shape.replica_of.iter().filter(|&&(_, m)| m == master).map(
                    |&(r, _)| {
                        (
                            clog_from,
                            clog_ms,
                            EpisodeKind::ClogLink {
                                from: r,
                                to: master,
                            },
                        )
                    },
                ));
                parts
            }
            _ => {
                let crash_ms = rng.gen_range(2 * nt..=3 * nt);
                let max_ms = rng.gen_range(nt / 5..=nt / 2).max(21);
                let min_ms = rng.gen_range(max_ms / 4..max_ms);
                vec![
                    (0, crash_ms, EpisodeKind::Crash { node: master }),
                    (nt / 2, 2 * nt, EpisodeKind::Latency { min_ms, max_ms }),
                ]
            }
        };
    let length_ms = parts.iter().map(|(at, d, _)| at + d).max().unwrap_or(0);
    let start_ms = start_ms.min(shape.span_ms.saturating_sub(length_ms));
    Some(
        parts
            .into_iter()
            .map(|(at, duration_ms, kind)| Episode {
                start_ms: start_ms + at,
                duration_ms,
                kind,
            })
            .collect(),
    )
}

/// Most slots one `move_slots` episode reshards (each slot is a handful of round trips).
pub const MAX_SLOTS_PER_MOVE: usize = 4;

/// One or two replicas (none: no episode) told to fail over, with the same option. A pair
/// replicates different masters (as `create` set them up): two `TAKEOVER`s for the same
/// slots at once are an operator error Redis does not guard against either.
fn draw_manual_failover(rng: &mut ChaCha8Rng, shape: &ClusterShape) -> Option<EpisodeKind> {
    let replicas = &shape.replica_of;
    if replicas.is_empty() {
        return None;
    }
    let (first, first_master) = replicas[rng.gen_range(0..replicas.len())];
    let mut nodes = vec![first];
    if rng.gen_bool(0.5) {
        let (second, second_master) = replicas[rng.gen_range(0..replicas.len())];
        if second_master != first_master {
            nodes.push(second);
        }
    }
    let mode = [
        FailoverMode::Default,
        FailoverMode::Force,
        FailoverMode::Takeover,
    ][rng.gen_range(0..3)];
    Some(EpisodeKind::ManualFailover { nodes, mode })
}

/// A random split: a majority side holding a quorum of masters, the remaining nodes on one or
/// two minority sides. Groups and their members are sorted, so equal splits print equally.
fn draw_partition(rng: &mut ChaCha8Rng, shape: &ClusterShape) -> Vec<Vec<usize>> {
    let mut nodes: Vec<usize> = (0..shape.nodes).collect();
    // Fisher–Yates with our rng (rand's shuffle would do, but this pins the algorithm).
    for i in (1..nodes.len()).rev() {
        nodes.swap(i, rng.gen_range(0..=i));
    }
    let minority_len = rng.gen_range(1..=(shape.nodes - 1) / 2).max(1);
    let (minority, _) = nodes.split_at(minority_len.min(shape.nodes - 1));
    let mut minority = minority.to_vec();
    let mut groups = Vec::new();
    if minority.len() >= 2 && rng.gen_bool(0.3) {
        let second = minority.split_off(minority.len() / 2);
        groups.push(second);
    }
    groups.push(minority);
    for g in &mut groups {
        g.sort_unstable();
    }
    let grouped: BTreeSet<usize> = groups.iter().flatten().copied().collect();
    let rest: Vec<usize> = (0..shape.nodes).filter(|n| !grouped.contains(n)).collect();
    groups.push(rest);
    groups.sort();
    groups
}

// ---- proptest -----------------------------------------------------------------------------

/// Most episodes a proptest schedule holds (before the majority filter).
pub const MAX_STRATEGY_EPISODES: usize = 10;

fn episode_kind_strategy(shape: &ClusterShape) -> BoxedStrategy<EpisodeKind> {
    let n = shape.nodes.max(2);
    let nt = shape.node_timeout_ms.max(1);
    let node = 0..n;
    prop_oneof![
        proptest::sample::subsequence((0..n).collect::<Vec<_>>(), 1..=(n - 1) / 2 + 1).prop_map(
            move |minority| {
                let rest: Vec<usize> = (0..n).filter(|x| !minority.contains(x)).collect();
                EpisodeKind::Partition {
                    groups: vec![minority, rest],
                }
            }
        ),
        node.clone().prop_map(|node| EpisodeKind::Crash { node }),
        node.clone().prop_map(|node| EpisodeKind::Pause { node }),
        (node.clone(), 1..n).prop_map(move |(from, d)| EpisodeKind::ClogLink {
            from,
            to: (from + d) % n,
        }),
        (
            node.clone(),
            prop_oneof![
                Just(Direction::Both),
                Just(Direction::In),
                Just(Direction::Out)
            ]
        )
            .prop_map(|(node, direction)| EpisodeKind::ClogNode { node, direction }),
        (1..20u64, 20..=(nt / 4).max(21))
            .prop_map(|(min_ms, max_ms)| EpisodeKind::Latency { min_ms, max_ms }),
        (10..=300u32).prop_map(|permille| EpisodeKind::PacketLoss { permille }),
        node.prop_map(|node| EpisodeKind::WipeRestart { node }),
    ]
    .boxed()
}

/// A proptest strategy for schedules on `shape`: up to [`MAX_STRATEGY_EPISODES`] episodes at
/// random times, filtered by [`from_episodes`]. Shrinking drops episodes, moves them earlier
/// and shortens them (pauses never below the node timeout).
pub fn schedule_strategy(shape: &ClusterShape) -> BoxedStrategy<FaultSchedule> {
    let nt = shape.node_timeout_ms.max(1);
    let span = shape.span_ms.max(1);
    let episode = (0..span, nt / 2..=3 * nt, episode_kind_strategy(shape)).prop_map(
        move |(start_ms, duration_ms, kind)| {
            // A pause shorter than the node timeout tests nothing: keep it just above.
            let duration_ms = match kind {
                EpisodeKind::Pause { .. } => duration_ms.max(nt + nt / 5),
                _ => duration_ms,
            };
            Episode {
                start_ms,
                duration_ms,
                kind,
            }
        },
    );
    let shape = shape.clone();
    proptest::collection::vec(episode, 0..=MAX_STRATEGY_EPISODES)
        .prop_map(move |mut episodes| {
            episodes.sort_by_key(|e| e.start_ms);
            from_episodes(&episodes, &shape)
        })
        .boxed()
}

// ---- shrinking without proptest -----------------------------------------------------------

/// Greedy shrinking of an explicit schedule (a swarm one, or one from a seed file): tries
/// dropping halves, then quarters, … then single faults, keeping every smaller schedule that
/// still satisfies the majority rule and still `fails`. Runs `fails` at most `max_runs` times.
/// Returns the smallest failing schedule found and how many runs it took.
pub fn shrink(
    schedule: &FaultSchedule,
    shape: &ClusterShape,
    max_runs: usize,
    mut fails: impl FnMut(&FaultSchedule) -> bool,
) -> (FaultSchedule, usize) {
    let mut best = schedule.clone();
    let mut runs = 0;
    let mut chunk = best.len().div_ceil(2).max(1);
    loop {
        let mut progressed = false;
        let mut start = 0;
        while start < best.len() && runs < max_runs {
            let end = (start + chunk).min(best.len());
            let mut candidate = best.0.clone();
            candidate.drain(start..end);
            let candidate = FaultSchedule(candidate);
            if check_majority(&candidate, shape).is_ok() {
                runs += 1;
                if fails(&candidate) {
                    best = candidate;
                    progressed = true;
                    continue; // same start: the next chunk slid into place
                }
            }
            start = end;
        }
        if runs >= max_runs || best.is_empty() {
            break;
        }
        if !progressed {
            if chunk == 1 {
                break;
            }
            chunk = chunk.div_ceil(2);
        }
    }
    (best, runs)
}

#[cfg(madsim)]
pub use inject::{FaultInjector, RESTART_GAP_MS};

/// Applying faults to a running cluster (simulation build only).
#[cfg(madsim)]
mod inject {
    use std::collections::{BTreeMap, BTreeSet};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use clusterlab_net::admin::{self, ReshardOptions, Sources};
    use madsim::net::NetSim;
    use madsim::runtime::Handle;
    use madsim::time::Instant;

    use super::{Direction, FailoverMode, Fault, FaultSchedule};
    use crate::cluster::SimCluster;
    use crate::report::Violation;

    /// A killed node's tasks are dropped only when the executor next runs them, and until then
    /// its `nodes.conf` lock is held: a restart waits this long after the kill.
    pub const RESTART_GAP_MS: u64 = 100;

    /// A slot move gives up after this long (a node it talks to may be paused).
    pub const SLOT_MOVE_TIMEOUT_MS: u64 = 30_000;

    /// Reshards `count` slots from the master at `from_addr` to the one at `to_addr`, then
    /// checks that the moved slots are closed on both: once every `SETSLOT … NODE` succeeded,
    /// neither may still show the slot importing or migrating (`slot_left_open`). Returns the
    /// moved slots and the violations, or why nothing moved.
    async fn move_slots(
        from_addr: &str,
        to_addr: &str,
        count: usize,
    ) -> Result<(Vec<u16>, Vec<Violation>), String> {
        let topology = admin::load(from_addr).await.map_err(|e| e.to_string())?;
        let id_of = |addr: &str| {
            topology
                .nodes
                .iter()
                .find(|n| n.addr == addr && n.is_master() && !n.slots.is_empty())
                .map(|n| n.id.clone())
        };
        let (Some(from_id), Some(to_id)) = (id_of(from_addr), id_of(to_addr)) else {
            return Err("not both masters with slots now".into());
        };
        drop(topology);
        let options = ReshardOptions {
            timeout_ms: 2000,
            ..ReshardOptions::default()
        };
        let report = admin::reshard(
            from_addr,
            Sources::Ids(vec![from_id]),
            &to_id,
            count,
            options,
        )
        .await
        .map_err(|e| e.to_string())?;
        let moved: Vec<u16> = report.moves.iter().map(|m| m.slot).collect();
        let after = admin::load(from_addr).await.map_err(|e| e.to_string())?;
        let mut found = Vec::new();
        for node in after
            .nodes
            .iter()
            .filter(|n| n.addr == from_addr || n.addr == to_addr)
        {
            for slot in &moved {
                if node.migrating.contains_key(slot) || node.importing.contains_key(slot) {
                    found.push(Violation::new(
                        "slot_left_open",
                        format!(
                            "slot {slot} moved {from_addr}->{to_addr}, every SETSLOT NODE \
                             succeeded, but {} still shows it open",
                            node.addr
                        ),
                    ));
                }
            }
        }
        Ok((moved, found))
    }

    /// How long a `CLUSTER FAILOVER` request waits for its reply (for the trace only).
    pub const MANUAL_FAILOVER_TIMEOUT_MS: u64 = 2000;

    /// Times are ms after the injector's start.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    enum NodeState {
        Up,
        Down {
            since_ms: u64,
        },
        /// Down, to be started at `at_ms`.
        Restarting {
            at_ms: u64,
        },
        Paused {
            until_ms: u64,
        },
    }

    impl NodeState {
        fn is_down(self) -> bool {
            matches!(self, NodeState::Down { .. } | NodeState::Restarting { .. })
        }

        /// When this node has something due (resume or restart).
        fn due_ms(self) -> Option<u64> {
            match self {
                NodeState::Restarting { at_ms } => Some(at_ms),
                NodeState::Paused { until_ms } => Some(until_ms),
                NodeState::Up | NodeState::Down { .. } => None,
            }
        }
    }

    /// Applies faults to a [`SimCluster`] and remembers what it did, so the liveness phase
    /// can undo all of it ([`FaultInjector::heal_all`]).
    pub struct FaultInjector<'a> {
        cluster: &'a SimCluster,
        start: Instant,
        nodes: Vec<NodeState>,
        groups: Vec<Vec<usize>>,
        explicit_links: BTreeSet<(usize, usize)>,
        /// Links clogged in the simulated network right now (partition ∪ explicit).
        clogged_links: BTreeSet<(usize, usize)>,
        clogged_nodes: BTreeMap<usize, Direction>,
        net_default: madsim::net::Config,
        /// `(node, µs since the run started)` of every wipe and of every (re)start.
        wiped: Vec<(usize, u64)>,
        restarts: Vec<(usize, u64)>,
        /// `(node, from µs, to µs)` of every stretch a node was crashed or paused
        /// (`u64::MAX`: not over yet); `down_since` holds the open ones.
        down: Vec<(usize, u64, u64)>,
        down_since: BTreeMap<usize, u64>,
        /// `CLUSTER FAILOVER` requests [`Self::apply`] queued for
        /// [`Self::send_manual_failovers`].
        manual_failovers: Vec<(usize, FailoverMode)>,
        /// `(from, to, count)` moves [`Self::apply`] queued for [`Self::start_slot_moves`].
        queued_moves: Vec<(usize, usize, usize)>,
        /// Set while a slot move runs: moves never overlap.
        move_busy: Arc<AtomicBool>,
        move_tasks: Vec<madsim::task::JoinHandle<()>>,
        move_findings: Arc<Mutex<Vec<Violation>>>,
    }

    impl<'a> FaultInjector<'a> {
        /// An injector whose schedule times count from now.
        pub fn new(cluster: &'a SimCluster) -> FaultInjector<'a> {
            let mut net_default = madsim::net::Config::default();
            NetSim::current().update_config(|c| net_default = c.clone());
            FaultInjector {
                cluster,
                start: Instant::now(),
                nodes: vec![NodeState::Up; cluster.len()],
                groups: Vec::new(),
                explicit_links: BTreeSet::new(),
                clogged_links: BTreeSet::new(),
                clogged_nodes: BTreeMap::new(),
                net_default,
                wiped: Vec::new(),
                restarts: Vec::new(),
                down: Vec::new(),
                down_since: BTreeMap::new(),
                manual_failovers: Vec::new(),
                queued_moves: Vec::new(),
                move_busy: Arc::new(AtomicBool::new(false)),
                move_tasks: Vec::new(),
                move_findings: Arc::new(Mutex::new(Vec::new())),
            }
        }

        /// No partition, clog or stopped node right now.
        fn network_whole(&self) -> bool {
            self.groups.is_empty()
                && self.clogged_links.is_empty()
                && self.clogged_nodes.is_empty()
                && self.nodes.iter().all(|s| *s == NodeState::Up)
        }

        /// Waits for the slot move still running, if any (each is bounded by
        /// [`SLOT_MOVE_TIMEOUT_MS`]), and returns what the moves found wrong.
        pub async fn finish_slot_moves(&mut self) -> Vec<Violation> {
            for task in std::mem::take(&mut self.move_tasks) {
                // A move never panics on purpose; a failed join is reported by the trace.
                let _ = task.await;
            }
            std::mem::take(&mut *self.move_findings.lock().expect("not poisoned"))
        }

        /// Starts the moves [`Self::apply`] queued, each on the client machine, unless one
        /// is still running.
        pub async fn start_slot_moves(&mut self) {
            for (from, to, count) in std::mem::take(&mut self.queued_moves) {
                // An operator reshards a healthy cluster: a slot taken over during a split
                // bumps an epoch without consensus, which may equal one a failover on the
                // other side wins (Redis accepts that and resolves it as a collision).
                if !self.network_whole() {
                    self.note(format!(
                        "skip move node{}->node{}: the cluster is not whole",
                        from + 1,
                        to + 1
                    ));
                    continue;
                }
                if self.move_busy.swap(true, Ordering::SeqCst) {
                    self.note(format!(
                        "skip move node{}->node{}: a move is in progress",
                        from + 1,
                        to + 1
                    ));
                    continue;
                }
                let (from_addr, to_addr) =
                    (self.cluster.node(from).addr(), self.cluster.node(to).addr());
                let trace = self.cluster.trace().clone();
                let (busy, findings) = (self.move_busy.clone(), self.move_findings.clone());
                let work = async move {
                    let limit = Duration::from_millis(SLOT_MOVE_TIMEOUT_MS);
                    let outcome =
                        madsim::time::timeout(limit, move_slots(&from_addr, &to_addr, count)).await;
                    let text = match outcome {
                        Err(_) => "timed out".to_string(),
                        Ok(Err(e)) => e,
                        Ok(Ok((moved, found))) => {
                            findings.lock().expect("not poisoned").extend(found);
                            format!("moved slots {moved:?}")
                        }
                    };
                    trace.record("faults", format!("move {from_addr}->{to_addr}: {text}"));
                    busy.store(false, Ordering::SeqCst);
                };
                #[allow(clippy::async_yields_async)]
                let task = self
                    .cluster
                    .on_client(async move { madsim::task::spawn(work) });
                self.move_tasks.push(task.await);
            }
        }

        fn now_ms(&self) -> u64 {
            self.start.elapsed().as_millis() as u64
        }

        fn note(&self, text: String) {
            self.cluster.trace().record("faults", text);
        }

        /// Nodes wiped so far, with the virtual time of the wipe (µs since the run started).
        pub fn wiped(&self) -> &[(usize, u64)] {
            &self.wiped
        }

        /// Every node start after a crash or wipe, with its virtual time (µs since the run
        /// started).
        pub fn restarts(&self) -> &[(usize, u64)] {
            &self.restarts
        }

        /// Every stretch of time a node could not send anything (crashed, paused or wiped):
        /// `(node, from µs, to µs)`, `to` being `u64::MAX` while it lasts.
        pub fn down_intervals(&self) -> Vec<(usize, u64, u64)> {
            let mut all = self.down.clone();
            all.extend(
                self.down_since
                    .iter()
                    .map(|(&n, &from)| (n, from, u64::MAX)),
            );
            all.sort_unstable();
            all
        }

        fn went_down(&mut self, node: usize) {
            self.down_since
                .entry(node)
                .or_insert_with(Self::run_time_us);
        }

        fn came_up(&mut self, node: usize) {
            if let Some(from) = self.down_since.remove(&node) {
                self.down.push((node, from, Self::run_time_us()));
            }
        }

        fn run_time_us() -> u64 {
            madsim::time::TimeHandle::current().elapsed().as_micros() as u64
        }

        /// Runs `schedule` from the injector's start until `span_ms`, resuming paused nodes
        /// and starting restarting ones on time. Faults at or after `span_ms` are not applied.
        pub async fn run(&mut self, schedule: &FaultSchedule, span_ms: u64) {
            let mut pending = schedule.iter().filter(|f| f.at_ms < span_ms).peekable();
            loop {
                let next_fault = pending.peek().map(|f| f.at_ms);
                let next_due = self.next_due();
                let next = match (next_fault, next_due) {
                    (Some(f), Some((d, _))) => f.min(d),
                    (Some(f), None) => f,
                    (None, Some((d, _))) => d,
                    (None, None) => break,
                };
                if next >= span_ms {
                    break;
                }
                madsim::time::sleep_until(self.start + Duration::from_millis(next)).await;
                // Due resumes and restarts go before faults at the same time.
                if let Some((_, node)) = next_due.filter(|(d, _)| *d <= next) {
                    self.fire_due(node);
                    continue;
                }
                if let Some(timed) = pending.next() {
                    self.apply(&timed.fault);
                    self.send_manual_failovers().await;
                    self.start_slot_moves().await;
                }
            }
            madsim::time::sleep_until(self.start + Duration::from_millis(span_ms)).await;
        }

        fn next_due(&self) -> Option<(u64, usize)> {
            self.nodes
                .iter()
                .enumerate()
                .filter_map(|(i, s)| s.due_ms().map(|d| (d, i)))
                .min()
        }

        fn fire_due(&mut self, node: usize) {
            match self.nodes[node] {
                NodeState::Paused { .. } => self.resume(node),
                NodeState::Restarting { .. } => self.start_node(node),
                NodeState::Up | NodeState::Down { .. } => {}
            }
        }

        fn resume(&mut self, node: usize) {
            self.cluster.resume(node);
            self.nodes[node] = NodeState::Up;
            self.came_up(node);
        }

        fn start_node(&mut self, node: usize) {
            self.cluster.restart(node);
            self.nodes[node] = NodeState::Up;
            self.came_up(node);
            self.restarts.push((node, Self::run_time_us()));
        }

        /// Applies one fault now.
        pub fn apply(&mut self, fault: &Fault) {
            if let Some(bad) = fault.nodes().into_iter().find(|&n| n >= self.nodes.len()) {
                self.note(format!("skip {fault}: no node index {bad}"));
                return;
            }
            self.note(format!("{fault}"));
            match fault {
                Fault::Partition { groups } => {
                    self.groups = groups.clone();
                    self.sync_links();
                }
                Fault::Heal => {
                    self.groups.clear();
                    self.sync_links();
                }
                Fault::Crash { node } => self.crash(*node),
                Fault::Restart { node } => self.restart(*node),
                Fault::Pause { node, ms } => self.pause(*node, *ms),
                Fault::ClogLink { from, to } => {
                    self.explicit_links.insert((*from, *to));
                    self.sync_links();
                }
                Fault::UnclogLink { from, to } => {
                    self.explicit_links.remove(&(*from, *to));
                    self.sync_links();
                }
                Fault::ClogNode { node, direction } => self.clog_node(*node, *direction),
                Fault::UnclogNode { node } => self.unclog_node(*node),
                Fault::Latency { min_ms, max_ms } => {
                    let range = Duration::from_millis(*min_ms)..Duration::from_millis(*max_ms);
                    NetSim::current().update_config(|c| c.send_latency = range);
                }
                Fault::PacketLoss { permille } => {
                    let rate = f64::from(*permille) / 1000.0;
                    NetSim::current().update_config(|c| c.packet_loss_rate = rate);
                }
                Fault::WipeRestart { node } => self.wipe_restart(*node),
                Fault::ManualFailover { node, mode } => {
                    self.manual_failovers.push((*node, *mode));
                }
                Fault::MoveSlots { from, to, count } => {
                    self.queued_moves.push((*from, *to, *count));
                }
            }
        }

        /// Sends the `CLUSTER FAILOVER` commands [`Self::apply`] queued, each from its own
        /// task on the client machine (a paused target must not hold up the schedule); the
        /// reply goes to the trace.
        pub async fn send_manual_failovers(&mut self) {
            for (node, mode) in std::mem::take(&mut self.manual_failovers) {
                let addr = self.cluster.node(node).addr();
                let trace = self.cluster.trace().clone();
                // `send_to` records the request and its outcome in the trace.
                let request = async move {
                    let mut client =
                        crate::client::ClusterClient::new("faults", addr.clone(), trace);
                    client.set_timeout_ms(MANUAL_FAILOVER_TIMEOUT_MS);
                    let args: Vec<&[u8]> = mode.args().iter().map(|a| a.as_bytes()).collect();
                    let _ = client.send_to(&addr, &args).await;
                };
                // Spawned from the client machine so the request leaves from there.
                #[allow(clippy::async_yields_async)]
                let spawned = self
                    .cluster
                    .on_client(async move { madsim::task::spawn(request) });
                drop(spawned.await);
            }
        }

        fn crash(&mut self, node: usize) {
            if self.nodes[node].is_down() {
                return self.note(format!("skip crash node{}: already down", node + 1));
            }
            self.cluster.kill(node);
            self.went_down(node);
            self.nodes[node] = NodeState::Down {
                since_ms: self.now_ms(),
            };
        }

        fn restart(&mut self, node: usize) {
            let NodeState::Down { since_ms } = self.nodes[node] else {
                return self.note(format!("skip restart node{}: not down", node + 1));
            };
            let at_ms = since_ms + RESTART_GAP_MS;
            if at_ms <= self.now_ms() {
                self.start_node(node);
            } else {
                self.nodes[node] = NodeState::Restarting { at_ms };
            }
        }

        fn pause(&mut self, node: usize, ms: u64) {
            if self.nodes[node] != NodeState::Up {
                return self.note(format!("skip pause node{}: not running", node + 1));
            }
            self.cluster.pause(node);
            self.went_down(node);
            self.nodes[node] = NodeState::Paused {
                until_ms: self.now_ms().saturating_add(ms),
            };
        }

        /// Kills the node (again, if it is down: harmless), empties its disk and starts it
        /// after [`RESTART_GAP_MS`].
        fn wipe_restart(&mut self, node: usize) {
            let sim_node = self.cluster.node(node);
            Handle::current().kill(sim_node.machine);
            sim_node.disk.wipe();
            self.went_down(node);
            let now = self.now_ms();
            self.nodes[node] = NodeState::Restarting {
                at_ms: now + RESTART_GAP_MS,
            };
            self.wiped.push((node, Self::run_time_us()));
        }

        fn clog_node(&mut self, node: usize, direction: Direction) {
            self.unclog_node(node);
            let machine = self.cluster.node(node).machine;
            let net = NetSim::current();
            match direction {
                Direction::In => net.clog_node_in(machine),
                Direction::Out => net.clog_node_out(machine),
                Direction::Both => net.clog_node(machine),
            }
            self.clogged_nodes.insert(node, direction);
        }

        fn unclog_node(&mut self, node: usize) {
            if self.clogged_nodes.remove(&node).is_some() {
                NetSim::current().unclog_node(self.cluster.node(node).machine);
            }
        }

        /// The links the partition and the explicit clogs want clogged.
        fn wanted_links(&self) -> BTreeSet<(usize, usize)> {
            let n = self.nodes.len();
            let mut side = vec![usize::MAX; n];
            for (g, members) in self.groups.iter().enumerate() {
                for &m in members {
                    side[m] = g;
                }
            }
            let mut wanted = self.explicit_links.clone();
            if !self.groups.is_empty() {
                for a in 0..n {
                    for b in 0..n {
                        if a != b && side[a] != side[b] {
                            wanted.insert((a, b));
                        }
                    }
                }
            }
            wanted
        }

        fn sync_links(&mut self) {
            let wanted = self.wanted_links();
            let net = NetSim::current();
            for &(a, b) in self.clogged_links.difference(&wanted) {
                net.unclog_link(self.cluster.node(a).machine, self.cluster.node(b).machine);
            }
            for &(a, b) in wanted.difference(&self.clogged_links) {
                net.clog_link(self.cluster.node(a).machine, self.cluster.node(b).machine);
            }
            self.clogged_links = wanted;
        }

        /// Undoes everything: network back to normal (no partition, no clogs, default latency
        /// and loss), paused nodes resumed, crashed nodes restarted on their disks (after
        /// [`RESTART_GAP_MS`] if they were killed just now). Wiped nodes run again afterwards
        /// but need an operator's repair ([`Self::wiped`]).
        pub async fn heal_all(&mut self) {
            self.note("heal all".to_string());
            self.groups.clear();
            self.explicit_links.clear();
            self.sync_links();
            let clogged: Vec<usize> = self.clogged_nodes.keys().copied().collect();
            for node in clogged {
                self.unclog_node(node);
            }
            let default = self.net_default.clone();
            NetSim::current().update_config(|c| *c = default);
            if self.nodes.iter().any(|s| s.is_down()) {
                madsim::time::sleep(Duration::from_millis(RESTART_GAP_MS)).await;
            }
            for node in 0..self.nodes.len() {
                match self.nodes[node] {
                    NodeState::Up => {}
                    NodeState::Paused { .. } => self.resume(node),
                    NodeState::Down { .. } | NodeState::Restarting { .. } => self.start_node(node),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(masters: usize, replicas: usize) -> ClusterShape {
        ClusterShape::of(&SimConfig {
            masters,
            replicas,
            node_timeout_ms: 5000,
            ..SimConfig::default()
        })
    }

    fn at(at_ms: u64, fault: Fault) -> TimedFault {
        TimedFault { at_ms, fault }
    }

    #[test]
    fn faults_serialize_as_tagged_json() {
        let schedule = FaultSchedule::new(vec![
            at(2000, Fault::Crash { node: 1 }),
            at(
                1000,
                Fault::Partition {
                    groups: vec![vec![0], vec![1, 2]],
                },
            ),
            at(
                3000,
                Fault::ClogNode {
                    node: 2,
                    direction: Direction::Out,
                },
            ),
            at(4000, Fault::Heal),
        ]);
        let json = serde_json::to_string(&schedule).unwrap();
        assert_eq!(
            json,
            r#"[{"at_ms":1000,"kind":"partition","groups":[[0],[1,2]]},{"at_ms":2000,"kind":"crash","node":1},{"at_ms":3000,"kind":"clog_node","node":2,"direction":"out"},{"at_ms":4000,"kind":"heal"}]"#
        );
        let back: FaultSchedule = serde_json::from_str(&json).unwrap();
        assert_eq!(back, schedule);
        assert_eq!(
            schedule.kinds(),
            vec!["clog_node", "crash", "heal", "partition"]
        );
        assert!(serde_json::from_str::<FaultSchedule>(r#"[{"at_ms":1,"kind":"nuke"}]"#).is_err());
        assert_eq!(
            Fault::Partition {
                groups: vec![vec![0], vec![1, 2]]
            }
            .to_string(),
            "partition [node1] [node2 node3]"
        );
    }

    #[test]
    fn validation_names_the_bad_fault() {
        let bad = FaultSchedule::new(vec![at(5, Fault::Crash { node: 3 })]);
        assert!(bad.validate(3).unwrap_err().contains("node index 3"));
        let dup = FaultSchedule::new(vec![at(
            5,
            Fault::Partition {
                groups: vec![vec![0, 1], vec![1]],
            },
        )]);
        assert!(dup
            .validate(3)
            .unwrap_err()
            .contains("two partition groups"));
        assert!(FaultSchedule::default().validate(3).is_ok());
    }

    #[test]
    fn shape_follows_the_create_plan() {
        let s = shape(3, 1);
        assert_eq!(
            (s.nodes, s.masters.clone(), s.quorum()),
            (6, vec![0, 1, 2], 2)
        );
        assert_eq!(s.span_ms, 30_000);
        assert_eq!(shape(5, 0).quorum(), 3);
    }

    #[test]
    fn majority_rule_counts_crashes_pauses_clogs_wipes_and_partitions() {
        let s = shape(3, 0);
        let ok = FaultSchedule::new(vec![
            at(0, Fault::Crash { node: 0 }),
            at(100, Fault::Restart { node: 0 }),
            at(100, Fault::Crash { node: 1 }),
        ]);
        assert!(check_majority(&ok, &s).is_ok());
        let two_down = FaultSchedule::new(vec![
            at(0, Fault::Crash { node: 0 }),
            at(50, Fault::Pause { node: 1, ms: 100 }),
        ]);
        assert!(check_majority(&two_down, &s)
            .unwrap_err()
            .contains("at 50 ms"));
        // The pause is over by 200 ms.
        let later = FaultSchedule::new(vec![
            at(0, Fault::Pause { node: 1, ms: 100 }),
            at(200, Fault::Crash { node: 0 }),
        ]);
        assert!(check_majority(&later, &s).is_ok());
        // A wipe is down for the whole phase, even though the node runs.
        let wipe = FaultSchedule::new(vec![
            at(0, Fault::WipeRestart { node: 2 }),
            at(
                5000,
                Fault::ClogNode {
                    node: 0,
                    direction: Direction::In,
                },
            ),
        ]);
        assert!(check_majority(&wipe, &s).is_err());
        // Three groups of one: no side has two masters.
        let split = FaultSchedule::new(vec![at(
            0,
            Fault::Partition {
                groups: vec![vec![0], vec![1]],
            },
        )]);
        assert!(check_majority(&split, &s).is_err());
        let minority = FaultSchedule::new(vec![
            at(
                0,
                Fault::Partition {
                    groups: vec![vec![0]],
                },
            ),
            at(10, Fault::Crash { node: 0 }),
        ]);
        assert!(check_majority(&minority, &s).is_ok());
        // With replicas, replicas do not count.
        let s6 = shape(3, 1);
        let replicas_down = FaultSchedule::new(vec![
            at(0, Fault::Crash { node: 3 }),
            at(0, Fault::Crash { node: 4 }),
            at(0, Fault::Crash { node: 0 }),
        ]);
        assert!(check_majority(&replicas_down, &s6).is_ok());
    }

    #[test]
    fn episodes_expand_to_fault_and_undo() {
        let e = Episode {
            start_ms: 100,
            duration_ms: 50,
            kind: EpisodeKind::Crash { node: 1 },
        };
        assert_eq!(
            e.expand(),
            vec![
                at(100, Fault::Crash { node: 1 }),
                at(150, Fault::Restart { node: 1 })
            ]
        );
        let p = Episode {
            start_ms: 0,
            duration_ms: 7000,
            kind: EpisodeKind::Pause { node: 0 },
        };
        assert_eq!(p.expand(), vec![at(0, Fault::Pause { node: 0, ms: 7000 })]);
        // Two crashes of the same node may not overlap; of different nodes they may, but
        // then the majority rule drops the second one on 3 masters.
        let s = shape(3, 0);
        let again = Episode {
            start_ms: 120,
            ..e.clone()
        };
        let other = Episode {
            kind: EpisodeKind::Crash { node: 2 },
            ..again.clone()
        };
        assert_eq!(from_episodes(&[e.clone(), again], &s).len(), 2);
        assert_eq!(from_episodes(&[e.clone(), other], &s).len(), 2);
        let replica_shape = shape(3, 1);
        let replica = Episode {
            kind: EpisodeKind::Crash { node: 4 },
            start_ms: 120,
            duration_ms: 50,
        };
        assert_eq!(from_episodes(&[e, replica], &replica_shape).len(), 4);
    }

    #[test]
    fn swarm_is_deterministic_varied_and_valid() {
        let s = shape(3, 1);
        assert_eq!(swarm(7, &s), swarm(7, &s));
        let mut kind_sets = BTreeSet::new();
        let mut total = 0;
        for seed in 0..200 {
            let schedule = swarm(seed, &s);
            schedule.validate(s.nodes).unwrap();
            check_majority(&schedule, &s).unwrap();
            assert!(schedule
                .iter()
                .all(|f| f.at_ms <= s.span_ms + 3 * s.node_timeout_ms));
            let wipes = schedule
                .iter()
                .filter(|f| matches!(f.fault, Fault::WipeRestart { .. }))
                .count();
            assert!(wipes <= 1, "seed {seed}: {wipes} wipes");
            total += schedule.len();
            kind_sets.insert(schedule.kinds());
        }
        // Swarm: many different mixes, and a fair number of faults per run.
        assert!(kind_sets.len() > 40, "{} mixes", kind_sets.len());
        assert!(total > 200 * 4, "{total} faults in 200 runs");
        // Compounds are made of plain faults; `compounds_line_up_their_parts` covers them.
        for kind in SWARM_KINDS.iter().filter(|k| !COMPOUND_KINDS.contains(k)) {
            assert!(
                kind_sets.iter().any(|k| k.contains(kind)),
                "{kind} never drawn"
            );
        }
    }

    #[test]
    fn compounds_line_up_their_parts() {
        let s = shape(3, 2);
        let nt = s.node_timeout_ms;
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        assert_eq!(draw_compound(&mut rng, "crash", 0, &s), None);
        assert_eq!(
            draw_compound(&mut rng, "stale_return", 0, &shape(3, 0)),
            Some(Vec::new())
        );
        for _ in 0..20 {
            let start = rng.gen_range(0..s.span_ms);
            let lagging = draw_compound(&mut rng, "lagging_replica", start, &s).unwrap();
            let [clog, crash] = lagging.as_slice() else {
                panic!("{lagging:?}")
            };
            let (EpisodeKind::ClogLink { from, to }, EpisodeKind::Crash { node }) =
                (&clog.kind, &crash.kind)
            else {
                panic!("{lagging:?}")
            };
            assert!(s.replica_of.contains(&(*to, *from)) && node == from);
            // The master crashes while the link is still cut, long enough after it was cut.
            assert!(crash.start_ms >= clog.start_ms + 2 * nt);
            assert!(clog.start_ms + clog.duration_ms > crash.start_ms + 2 * nt);
            assert!(crash.start_ms + crash.duration_ms <= s.span_ms);

            let stale = draw_compound(&mut rng, "stale_return", start, &s).unwrap();
            let EpisodeKind::Crash { node: master } = stale[0].kind else {
                panic!("{stale:?}")
            };
            let restart_ms = stale[0].start_ms + stale[0].duration_ms;
            let replicas: Vec<usize> = s
                .replica_of
                .iter()
                .filter(|&&(_, m)| m == master)
                .map(|&(r, _)| r)
                .collect();
            assert_eq!(stale.len(), 1 + replicas.len());
            for (clog, replica) in stale[1..].iter().zip(&replicas) {
                assert_eq!(
                    clog.kind,
                    EpisodeKind::ClogLink {
                        from: *replica,
                        to: master
                    }
                );
                // Cut before it comes back, and for well over two node timeouts after.
                assert!(clog.start_ms < restart_ms);
                assert!(clog.start_ms + clog.duration_ms >= restart_ms + 3 * nt);
            }

            let slow = draw_compound(&mut rng, "slow_failover", start, &s).unwrap();
            assert!(matches!(slow[0].kind, EpisodeKind::Crash { .. }));
            let EpisodeKind::Latency { min_ms, max_ms } = slow[1].kind else {
                panic!("{slow:?}")
            };
            assert!(min_ms < max_ms && max_ms <= nt / 2);
            assert!(slow[1].start_ms < slow[0].start_ms + slow[0].duration_ms);
        }
    }

    #[test]
    fn strategy_schedules_are_valid() {
        use proptest::strategy::ValueTree;
        use proptest::test_runner::TestRunner;
        let s = shape(3, 0);
        let strategy = schedule_strategy(&s);
        let mut runner = TestRunner::deterministic();
        for _ in 0..100 {
            let mut tree = strategy.new_tree(&mut runner).unwrap();
            check_majority(&tree.current(), &s).unwrap();
            // Shrinking keeps schedules valid too.
            for _ in 0..20 {
                if !tree.simplify() {
                    break;
                }
                check_majority(&tree.current(), &s).unwrap();
            }
        }
    }

    #[test]
    fn shrink_finds_the_one_guilty_fault() {
        let s = shape(3, 0);
        let schedule = swarm(3, &s);
        let guilty = schedule.0[schedule.len() / 2].clone();
        let (small, runs) = shrink(&schedule, &s, 200, |c| c.0.contains(&guilty));
        assert_eq!(small.0, vec![guilty]);
        assert!(
            runs <= 2 * schedule.len() + 10,
            "{runs} runs for {}",
            schedule.len()
        );
        // The budget is respected.
        let (_, runs) = shrink(&schedule, &s, 3, |_| false);
        assert!(runs <= 3);
    }
}
