//! The fault model: a [`Fault`] is one serializable action on the simulated cluster, a
//! [`FaultSchedule`] says when each one happens, and a [`ClusterShape`] is what generation
//! knows of the cluster the schedule is for. The serde form here is the seed-file format.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::node_idx::NodeIdx;

use crate::seeds::SimConfig;

/// Which traffic of a node a [`Fault::ClogNode`] stops.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Traffic to the node is dropped; it can still send.
    In,
    /// Traffic from the node is dropped; it still receives.
    Out,
    /// Both: the node is cut off.
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
        /// Node indices of each side.
        groups: Vec<Vec<usize>>,
    },
    /// Ends the current partition (explicitly clogged links and nodes stay clogged).
    Heal,
    /// Cuts the append clients' machines off these nodes, both ways, while the bus stays
    /// whole: clients reach only the other nodes, as when a client-side network or load
    /// balancer fails. Replaces the current client partition. (A [`Fault::Partition`] is the
    /// reverse: the bus split, every client still reaching every node.) The harness's own
    /// machine (the operator and the sampler) is never cut.
    ClientPartition {
        /// Indices of the nodes the clients lose.
        nodes: Vec<usize>,
    },
    /// Ends the client partition.
    ClientHeal,
    /// Kills the node: its tasks stop, its connections drop, and its disk keeps what `how`
    /// says.
    Crash {
        /// Index of the node to kill.
        node: usize,
        /// What kind of crash, so what its disk keeps (a power loss when absent, as every
        /// crash was before the kinds existed).
        #[serde(default, skip_serializing_if = "CrashKind::is_power_loss")]
        how: CrashKind,
    },
    /// Starts a crashed node again on the same disk.
    Restart {
        /// Index of the crashed node.
        node: usize,
    },
    /// Freezes the node for `ms` (meant to be longer than the node timeout), then resumes it.
    Pause {
        /// Index of the node to freeze.
        node: usize,
        /// How long it stays frozen, in virtual ms.
        ms: u64,
    },
    /// Drops traffic from `from` to `to` (one direction).
    ClogLink {
        /// Index of the sending node.
        from: usize,
        /// Index of the receiving node.
        to: usize,
    },
    /// Undoes a [`Fault::ClogLink`] with the same `from` and `to` (a partition that also cuts
    /// the link keeps it cut).
    UnclogLink {
        /// Index of the sending node.
        from: usize,
        /// Index of the receiving node.
        to: usize,
    },
    /// Cuts the node off the network (clients included) in one or both directions.
    ClogNode {
        /// Index of the node to cut off.
        node: usize,
        /// Which of its traffic is dropped.
        direction: Direction,
    },
    /// Undoes a [`Fault::ClogNode`] of the node (links clogged otherwise stay clogged).
    UnclogNode {
        /// Index of the clogged node.
        node: usize,
    },
    /// Every message now takes `min_ms..max_ms` (madsim's default is 1..10).
    Latency {
        /// Shortest delay, in ms.
        min_ms: u64,
        /// Longest delay, in ms (exclusive; must exceed `min_ms`).
        max_ms: u64,
    },
    /// Each packet is lost with probability `permille / 1000`; madsim's TCP retries with
    /// backoff, so this shows up as jittery delays, as loss does on real TCP.
    PacketLoss {
        /// Loss rate in thousandths, `0..=1000`.
        permille: u32,
    },
    /// Kills the node, replaces its disk with an empty one and starts it: it comes back as a
    /// brand-new node (new ID, no slots) that the cluster does not know.
    WipeRestart {
        /// Index of the node to wipe.
        node: usize,
    },
    /// The node's disk starts failing as `error` says. Under `appendfsync always` the node's
    /// next AOF write stops it, as does any `nodes.conf` save; otherwise it refuses writes
    /// with `-MISCONF` until the disk works again.
    DiskError {
        /// Index of the node.
        node: usize,
        /// How the disk fails.
        error: DiskErrorKind,
    },
    /// The node's disk works again; a node the failure stopped is started again, as an
    /// operator would once the disk is fixed.
    DiskRepair {
        /// Index of the node.
        node: usize,
    },
    /// Sends `CLUSTER FAILOVER [FORCE|TAKEOVER]` to the node (meant to be a replica; a master
    /// answers with an error, which the trace shows). The reply is not waited for.
    ManualFailover {
        /// Index of the node the command is sent to.
        node: usize,
        /// The command's option.
        mode: FailoverMode,
    },
    /// An operator reshards: `count` slots (with their keys) from the master at `from` to the
    /// master at `to`, the way `redis-cli --cluster reshard` does, from the client machine
    /// while everything else goes on. One move at a time; a move that finds the cluster
    /// unhealthy or the roles changed does nothing (the trace says why).
    MoveSlots {
        /// Index of the master that gives the slots.
        from: usize,
        /// Index of the master that receives them.
        to: usize,
        /// How many slots to move.
        count: usize,
    },
    /// Steps the wall clock of the node's machine by `by_ms` at once (negative: back), as a
    /// bad NTP step or an operator's `date -s` does. The skew belongs to the machine: it
    /// outlives restarts. The node feels it where it dates things in unix time (TTL
    /// deadlines, `TIME`, gossiped pong times); its timeouts only under
    /// `SimConfig::wall_clock_timeouts`.
    ClockJump {
        /// Index of the node.
        node: usize,
        /// The step, in ms (positive: forward).
        by_ms: i64,
    },
    /// From now on the wall clock of the node's machine runs fast (positive) or slow by
    /// `ppm` millionths; 0 ends the drift and keeps the offset reached.
    ClockDrift {
        /// Index of the node.
        node: usize,
        /// The rate error, in parts per million.
        ppm: i32,
    },
    /// Every fsync on the node's disk (AOF and `nodes.conf`) now takes `fsync_ms` of virtual
    /// time (0: normal again; [`Fault::DiskRepair`] also ends it). A crash before a sync
    /// completes keeps what was durable before it. Under `appendfsync always` (and for every
    /// `nodes.conf` save) the node is held for the sync, as Redis's main thread is; under
    /// `everysec` writes are postponed while the background sync runs, up to two seconds.
    SlowDisk {
        /// Index of the node.
        node: usize,
        /// How long each sync takes, in virtual ms.
        fsync_ms: u64,
    },
}

/// How the disk of a [`Fault::DiskError`] fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DiskErrorKind {
    /// Full (`ENOSPC`): writes fail, syncs of what was written work.
    Full,
    /// The device fails (`EIO`): writes and syncs fail.
    Broken,
    /// Writes reach the page cache but every `fsync` fails (`EIO`).
    SyncFails,
}

impl DiskErrorKind {
    /// The simulated disk's failure mode.
    pub fn failure(self) -> clusterlab_net::disk::DiskFailure {
        use clusterlab_net::disk::DiskFailure;
        match self {
            DiskErrorKind::Full => DiskFailure::Full,
            DiskErrorKind::Broken => DiskFailure::Broken,
            DiskErrorKind::SyncFails => DiskFailure::SyncFails,
        }
    }
}

/// What a [`Fault::Crash`] leaves on the node's disk.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum CrashKind {
    /// The machine loses power: only bytes the node synced survive.
    #[default]
    PowerLoss,
    /// The process dies (`kill -9`, an OOM kill): the kernel's page cache outlives it, so
    /// every byte the node wrote survives, synced or not.
    Process,
    /// Power fails while the kernel writes back: each file keeps its synced bytes and the
    /// first `keep_permille` thousandths of the bytes appended after them, cutting a record
    /// in the middle (what `aof-load-truncated` is for).
    Torn {
        /// Share of each file's unsynced tail that survives, in thousandths (`0..=1000`).
        keep_permille: u32,
    },
}

impl CrashKind {
    /// Whether this is the plain power loss (the seed-file default).
    pub fn is_power_loss(&self) -> bool {
        *self == CrashKind::PowerLoss
    }

    /// Whether bytes written but not synced may be gone afterwards.
    pub fn loses_unsynced(self) -> bool {
        self != CrashKind::Process
    }
}

impl fmt::Display for CrashKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CrashKind::PowerLoss => f.write_str("power loss"),
            CrashKind::Process => f.write_str("process killed"),
            CrashKind::Torn { keep_permille } => {
                write!(f, "power loss, {keep_permille}‰ of unsynced bytes kept")
            }
        }
    }
}

/// The option of a [`Fault::ManualFailover`]: `default` is the coordinated `CLUSTER FAILOVER`
/// with no option.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailoverMode {
    /// `CLUSTER FAILOVER`: the master stops writes and the replica catches up first.
    Default,
    /// `CLUSTER FAILOVER FORCE`: no handshake with the master, but still an election.
    Force,
    /// `CLUSTER FAILOVER TAKEOVER`: no handshake and no election; the replica bumps the
    /// epoch on its own.
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

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Partition { groups } => {
                let groups: Vec<String> = groups
                    .iter()
                    .map(|g| {
                        let names: Vec<String> = g.iter().map(|&n| NodeIdx(n).name()).collect();
                        format!("[{}]", names.join(" "))
                    })
                    .collect();
                write!(f, "partition {}", groups.join(" "))
            }
            Fault::Heal => write!(f, "heal"),
            Fault::ClientPartition { nodes } => {
                let names: Vec<String> = nodes.iter().map(|&n| NodeIdx(n).name()).collect();
                write!(f, "cut clients from [{}]", names.join(" "))
            }
            Fault::ClientHeal => write!(f, "client heal"),
            Fault::Crash { node, how } => write!(f, "crash {} ({how})", NodeIdx(*node)),
            Fault::Restart { node } => write!(f, "restart {}", NodeIdx(*node)),
            Fault::Pause { node, ms } => write!(f, "pause {} for {ms} ms", NodeIdx(*node)),
            Fault::ClogLink { from, to } => {
                write!(f, "clog link {}->{}", NodeIdx(*from), NodeIdx(*to))
            }
            Fault::UnclogLink { from, to } => {
                write!(f, "unclog link {}->{}", NodeIdx(*from), NodeIdx(*to))
            }
            Fault::ClogNode { node, direction } => {
                write!(f, "clog {} {direction:?}", NodeIdx(*node))
            }
            Fault::UnclogNode { node } => write!(f, "unclog {}", NodeIdx(*node)),
            Fault::Latency { min_ms, max_ms } => write!(f, "latency {min_ms}..{max_ms} ms"),
            Fault::PacketLoss { permille } => write!(f, "packet loss {permille}‰"),
            Fault::WipeRestart { node } => write!(f, "wipe and restart {}", NodeIdx(*node)),
            Fault::DiskError { node, error } => {
                write!(f, "disk error on {}: {error:?}", NodeIdx(*node))
            }
            Fault::DiskRepair { node } => write!(f, "repair disk of {}", NodeIdx(*node)),
            Fault::ManualFailover { node, mode } => {
                write!(f, "manual failover {} {mode:?}", NodeIdx(*node))
            }
            Fault::MoveSlots { from, to, count } => write!(
                f,
                "move {count} slot(s) {}->{}",
                NodeIdx(*from),
                NodeIdx(*to)
            ),
            Fault::ClockJump { node, by_ms } => {
                write!(f, "step the clock of {} by {by_ms:+} ms", NodeIdx(*node))
            }
            Fault::ClockDrift { node, ppm } => {
                write!(f, "clock of {} drifts {ppm:+} ppm", NodeIdx(*node))
            }
            Fault::SlowDisk { node, fsync_ms } => {
                write!(f, "slow disk on {}: fsync {fsync_ms} ms", NodeIdx(*node))
            }
        }
    }
}

impl Fault {
    /// A power-loss crash of `node` (only synced bytes survive).
    pub fn crash(node: usize) -> Fault {
        Fault::Crash {
            node,
            how: CrashKind::PowerLoss,
        }
    }

    /// Every node index the fault names.
    pub fn nodes(&self) -> Vec<usize> {
        match self {
            Fault::Partition { groups } => groups.iter().flatten().copied().collect(),
            Fault::ClientPartition { nodes } => nodes.clone(),
            Fault::Crash { node, .. }
            | Fault::Restart { node }
            | Fault::Pause { node, .. }
            | Fault::ClogNode { node, .. }
            | Fault::UnclogNode { node }
            | Fault::WipeRestart { node }
            | Fault::DiskError { node, .. }
            | Fault::DiskRepair { node }
            | Fault::ManualFailover { node, .. }
            | Fault::ClockJump { node, .. }
            | Fault::ClockDrift { node, .. }
            | Fault::SlowDisk { node, .. } => vec![*node],
            Fault::ClogLink { from, to }
            | Fault::UnclogLink { from, to }
            | Fault::MoveSlots { from, to, .. } => vec![*from, *to],
            Fault::Heal | Fault::ClientHeal | Fault::Latency { .. } | Fault::PacketLoss { .. } => {
                vec![]
            }
        }
    }

    /// The fault's kind.
    pub fn kind(&self) -> FaultKind {
        match self {
            Fault::Partition { .. } => FaultKind::Partition,
            Fault::Heal => FaultKind::Heal,
            Fault::ClientPartition { .. } => FaultKind::ClientPartition,
            Fault::ClientHeal => FaultKind::ClientHeal,
            Fault::Crash { .. } => FaultKind::Crash,
            Fault::Restart { .. } => FaultKind::Restart,
            Fault::Pause { .. } => FaultKind::Pause,
            Fault::ClogLink { .. } => FaultKind::ClogLink,
            Fault::UnclogLink { .. } => FaultKind::UnclogLink,
            Fault::ClogNode { .. } => FaultKind::ClogNode,
            Fault::UnclogNode { .. } => FaultKind::UnclogNode,
            Fault::Latency { .. } => FaultKind::Latency,
            Fault::PacketLoss { .. } => FaultKind::PacketLoss,
            Fault::WipeRestart { .. } => FaultKind::WipeRestart,
            Fault::DiskError { .. } => FaultKind::DiskError,
            Fault::DiskRepair { .. } => FaultKind::DiskRepair,
            Fault::ManualFailover { .. } => FaultKind::ManualFailover,
            Fault::MoveSlots { .. } => FaultKind::MoveSlots,
            Fault::ClockJump { .. } => FaultKind::ClockJump,
            Fault::ClockDrift { .. } => FaultKind::ClockDrift,
            Fault::SlowDisk { .. } => FaultKind::SlowDisk,
        }
    }
}

/// The kind of a [`Fault`], without its parameters: what summaries list and what code that
/// cares only about the kind compares. Declared in the order of the names, so kinds sort the
/// way their names do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FaultKind {
    /// [`Fault::ClientHeal`].
    ClientHeal,
    /// [`Fault::ClientPartition`].
    ClientPartition,
    /// [`Fault::ClockDrift`].
    ClockDrift,
    /// [`Fault::ClockJump`].
    ClockJump,
    /// [`Fault::ClogLink`].
    ClogLink,
    /// [`Fault::ClogNode`].
    ClogNode,
    /// [`Fault::Crash`].
    Crash,
    /// [`Fault::DiskError`].
    DiskError,
    /// [`Fault::DiskRepair`].
    DiskRepair,
    /// [`Fault::Heal`].
    Heal,
    /// [`Fault::Latency`].
    Latency,
    /// [`Fault::ManualFailover`].
    ManualFailover,
    /// [`Fault::MoveSlots`].
    MoveSlots,
    /// [`Fault::PacketLoss`].
    PacketLoss,
    /// [`Fault::Partition`].
    Partition,
    /// [`Fault::Pause`].
    Pause,
    /// [`Fault::Restart`].
    Restart,
    /// [`Fault::SlowDisk`].
    SlowDisk,
    /// [`Fault::UnclogLink`].
    UnclogLink,
    /// [`Fault::UnclogNode`].
    UnclogNode,
    /// [`Fault::WipeRestart`].
    WipeRestart,
}

impl FaultKind {
    /// Every kind, sorted.
    pub const ALL: [FaultKind; 21] = [
        FaultKind::ClientHeal,
        FaultKind::ClientPartition,
        FaultKind::ClockDrift,
        FaultKind::ClockJump,
        FaultKind::ClogLink,
        FaultKind::ClogNode,
        FaultKind::Crash,
        FaultKind::DiskError,
        FaultKind::DiskRepair,
        FaultKind::Heal,
        FaultKind::Latency,
        FaultKind::ManualFailover,
        FaultKind::MoveSlots,
        FaultKind::PacketLoss,
        FaultKind::Partition,
        FaultKind::Pause,
        FaultKind::Restart,
        FaultKind::SlowDisk,
        FaultKind::UnclogLink,
        FaultKind::UnclogNode,
        FaultKind::WipeRestart,
    ];

    /// The stable snake_case name (the `kind` of the fault's JSON).
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::ClientHeal => "client_heal",
            FaultKind::ClientPartition => "client_partition",
            FaultKind::ClockDrift => "clock_drift",
            FaultKind::ClockJump => "clock_jump",
            FaultKind::ClogLink => "clog_link",
            FaultKind::ClogNode => "clog_node",
            FaultKind::Crash => "crash",
            FaultKind::DiskError => "disk_error",
            FaultKind::DiskRepair => "disk_repair",
            FaultKind::Heal => "heal",
            FaultKind::Latency => "latency",
            FaultKind::ManualFailover => "manual_failover",
            FaultKind::MoveSlots => "move_slots",
            FaultKind::PacketLoss => "packet_loss",
            FaultKind::Partition => "partition",
            FaultKind::Pause => "pause",
            FaultKind::Restart => "restart",
            FaultKind::SlowDisk => "slow_disk",
            FaultKind::UnclogLink => "unclog_link",
            FaultKind::UnclogNode => "unclog_node",
            FaultKind::WipeRestart => "wipe_restart",
        }
    }
}

/// A fault and when it happens (virtual ms since the safety phase started).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimedFault {
    /// When the fault is applied: virtual ms since the safety phase started.
    pub at_ms: u64,
    /// What is applied (flattened into the same JSON object).
    #[serde(flatten)]
    pub fault: Fault,
}

/// A run's faults in time order (stable for equal times). Serializes as a JSON list of
/// `{"at_ms": 1200, "kind": "crash", "node": 1}`.
///
/// ```
/// use clusterlab_sim::{Fault, FaultSchedule, TimedFault};
///
/// let schedule = FaultSchedule::new(vec![
///     TimedFault { at_ms: 3000, fault: Fault::Heal },
///     TimedFault { at_ms: 1000, fault: Fault::Partition { groups: vec![vec![0], vec![1, 2]] } },
/// ]);
/// assert_eq!(schedule.0[0].at_ms, 1000, "sorted by time");
/// assert_eq!(schedule.validate(3), Ok(()));
/// let json = serde_json::to_string(&schedule).unwrap();
/// assert_eq!(
///     json,
///     r#"[{"at_ms":1000,"kind":"partition","groups":[[0],[1,2]]},{"at_ms":3000,"kind":"heal"}]"#
/// );
/// assert_eq!(serde_json::from_str::<FaultSchedule>(&json).unwrap(), schedule);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct FaultSchedule(pub Vec<TimedFault>);

impl FaultSchedule {
    /// Sorts by time, keeping the order of faults at the same time.
    pub fn new(mut faults: Vec<TimedFault>) -> FaultSchedule {
        faults.sort_by_key(|f| f.at_ms);
        FaultSchedule(faults)
    }

    /// Number of faults.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there is no fault at all.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The faults in time order.
    pub fn iter(&self) -> impl Iterator<Item = &TimedFault> {
        self.0.iter()
    }

    /// The fault kinds used, sorted and without repeats.
    pub fn fault_kinds(&self) -> Vec<FaultKind> {
        let mut kinds: Vec<FaultKind> = self.0.iter().map(|f| f.fault.kind()).collect();
        kinds.sort();
        kinds.dedup();
        kinds
    }

    /// Names of the fault kinds used, sorted (`crash`, `partition`, …), for summaries and
    /// trace lines.
    pub fn kinds(&self) -> Vec<&'static str> {
        self.fault_kinds()
            .into_iter()
            .map(FaultKind::name)
            .collect()
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

// ---- the cluster a schedule is made for ---------------------------------------------------

/// What generation needs to know about the cluster: its size, which nodes `create` makes
/// masters, the node timeout and how long the safety phase lasts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterShape {
    /// Number of nodes (masters and replicas); indices are `0..nodes`.
    pub nodes: usize,
    /// Indices of the nodes `create` makes masters, sorted.
    pub masters: Vec<usize>,
    /// `(replica, master)` as `create` pairs them (roles may change during a run).
    pub replica_of: Vec<(usize, usize)>,
    /// The cluster's node timeout, in ms.
    pub node_timeout_ms: u64,
    /// Faults start in `0..span_ms`.
    pub span_ms: u64,
}

/// The safety phase lasts this many node timeouts: long enough for PFAIL → FAIL → recovery
/// cycles of several faults in a row.
pub const SAFETY_SPAN_NODE_TIMEOUTS: u64 = 6;

impl ClusterShape {
    /// The shape of a `SimCluster` (simulation build) built from `config`: node N
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faults::testing::{at, shape};

    #[test]
    fn faults_serialize_as_tagged_json() {
        let schedule = FaultSchedule::new(vec![
            at(2000, Fault::crash(1)),
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
            schedule.fault_kinds(),
            [
                FaultKind::ClogNode,
                FaultKind::Crash,
                FaultKind::Heal,
                FaultKind::Partition
            ]
        );
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
    fn kinds_are_named_as_in_json_and_sort_like_their_names() {
        let one_of_each = [
            Fault::Partition { groups: vec![] },
            Fault::Heal,
            Fault::crash(0),
            Fault::Restart { node: 0 },
            Fault::Pause { node: 0, ms: 1 },
            Fault::ClogLink { from: 0, to: 1 },
            Fault::UnclogLink { from: 0, to: 1 },
            Fault::ClogNode {
                node: 0,
                direction: Direction::Both,
            },
            Fault::UnclogNode { node: 0 },
            Fault::Latency {
                min_ms: 1,
                max_ms: 2,
            },
            Fault::PacketLoss { permille: 1 },
            Fault::WipeRestart { node: 0 },
            Fault::ManualFailover {
                node: 0,
                mode: FailoverMode::Force,
            },
            Fault::MoveSlots {
                from: 0,
                to: 1,
                count: 1,
            },
            Fault::ClientPartition { nodes: vec![1] },
            Fault::ClientHeal,
            Fault::DiskError {
                node: 0,
                error: DiskErrorKind::Full,
            },
            Fault::DiskRepair { node: 0 },
            Fault::ClockJump {
                node: 0,
                by_ms: -3_600_000,
            },
            Fault::ClockDrift { node: 0, ppm: 300 },
            Fault::SlowDisk {
                node: 0,
                fsync_ms: 3000,
            },
        ];
        for fault in &one_of_each {
            let json = serde_json::to_value(fault).unwrap();
            assert_eq!(json["kind"], fault.kind().name(), "{fault}");
        }
        let mut kinds: Vec<FaultKind> = one_of_each.iter().map(Fault::kind).collect();
        kinds.sort();
        assert_eq!(kinds, FaultKind::ALL);
        // Sorting kinds sorts their names: summaries list them as they always did.
        let names: Vec<&str> = FaultKind::ALL.iter().map(|k| k.name()).collect();
        assert!(names.windows(2).all(|w| w[0] < w[1]), "{names:?}");
    }

    #[test]
    fn crash_kinds_read_and_write_as_seed_files_spell_them() {
        let read = |json: &str| serde_json::from_str::<Fault>(json).unwrap();
        // Seed files from before the kinds existed mean a power loss.
        assert_eq!(read(r#"{"kind":"crash","node":1}"#), Fault::crash(1));
        let process = Fault::Crash {
            node: 1,
            how: CrashKind::Process,
        };
        assert_eq!(
            read(r#"{"kind":"crash","node":1,"how":"process"}"#),
            process
        );
        let torn = Fault::Crash {
            node: 2,
            how: CrashKind::Torn { keep_permille: 250 },
        };
        let json = serde_json::to_string(&torn).unwrap();
        assert_eq!(
            json,
            r#"{"kind":"crash","node":2,"how":{"torn":{"keep_permille":250}}}"#
        );
        assert_eq!(read(&json), torn);
        assert_eq!(
            serde_json::to_string(&Fault::crash(0)).unwrap(),
            r#"{"kind":"crash","node":0}"#
        );
        assert_eq!(
            torn.to_string(),
            "crash node3 (power loss, 250‰ of unsynced bytes kept)"
        );
        assert!(
            serde_json::from_str::<Fault>(r#"{"kind":"crash","node":1,"how":"melt"}"#).is_err()
        );
    }

    #[test]
    fn validation_names_the_bad_fault() {
        let bad = FaultSchedule::new(vec![at(5, Fault::crash(3))]);
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
}
