//! Episodes: a fault that lasts a while together with its undo (crash then restart, clog then
//! unclog, …), the unit swarm generation and the proptest strategy both draw.
//! [`from_episodes`] turns a list of them into a schedule, dropping those that would fight
//! over the same knob or break the majority rule.

use super::majority::check_majority;
use super::model::{
    ClusterShape, CrashKind, Direction, DiskErrorKind, FailoverMode, Fault, FaultSchedule,
    TimedFault, DEFAULT_LATENCY_MS,
};

/// A fault that lasts a while, as generation thinks of it; [`Episode::expand`] turns it into
/// the fault and its undo.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Episode {
    /// When the fault is applied: virtual ms since the safety phase started.
    pub start_ms: u64,
    /// How long it lasts, in virtual ms: the undo comes at `start_ms + duration_ms`.
    pub duration_ms: u64,
    /// The fault.
    pub kind: EpisodeKind,
}

/// What an [`Episode`] does; node numbers are 0-based indices, as in [`Fault`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EpisodeKind {
    /// [`Fault::Partition`] into these groups, then [`Fault::Heal`].
    Partition {
        /// Node indices of each side.
        groups: Vec<Vec<usize>>,
    },
    /// [`Fault::ClientPartition`] from these nodes, then [`Fault::ClientHeal`].
    ClientPartition {
        /// Indices of the nodes the clients lose.
        nodes: Vec<usize>,
    },
    /// [`Fault::DiskError`] on the node, then [`Fault::DiskRepair`].
    DiskError {
        /// Index of the node.
        node: usize,
        /// How its disk fails.
        error: DiskErrorKind,
    },
    /// [`Fault::Crash`] of the node, then [`Fault::Restart`].
    Crash {
        /// Index of the node.
        node: usize,
        /// What the crash leaves on its disk.
        how: CrashKind,
    },
    /// One [`Fault::Pause`] of the node for `duration_ms` (it resumes by itself).
    Pause {
        /// Index of the node.
        node: usize,
    },
    /// [`Fault::ClogLink`], then [`Fault::UnclogLink`].
    ClogLink {
        /// Index of the sending node.
        from: usize,
        /// Index of the receiving node.
        to: usize,
    },
    /// [`Fault::ClogNode`], then [`Fault::UnclogNode`].
    ClogNode {
        /// Index of the node.
        node: usize,
        /// Which of its traffic is dropped.
        direction: Direction,
    },
    /// [`Fault::Latency`] with this range, then back to [`DEFAULT_LATENCY_MS`].
    Latency {
        /// Shortest delay, in ms.
        min_ms: u64,
        /// Longest delay, in ms (exclusive).
        max_ms: u64,
    },
    /// [`Fault::PacketLoss`] at this rate, then back to no loss.
    PacketLoss {
        /// Loss rate in thousandths, `0..=1000`.
        permille: u32,
    },
    /// [`Fault::WipeRestart`]. Instantaneous; `duration_ms` is ignored.
    WipeRestart {
        /// Index of the node.
        node: usize,
    },
    /// `CLUSTER FAILOVER [mode]` sent to each node at once (two replicas taking over in
    /// the same instant is how config epochs collide). Instantaneous.
    ManualFailover {
        /// Indices of the nodes the command is sent to.
        nodes: Vec<usize>,
        /// The command's option.
        mode: FailoverMode,
    },
    /// [`Fault::MoveSlots`]. Instantaneous start; the move itself takes what it takes.
    MoveSlots {
        /// Index of the master that gives the slots.
        from: usize,
        /// Index of the master that receives them.
        to: usize,
        /// How many slots to move.
        count: usize,
    },
    /// [`Fault::ClockJump`] by `by_ms`; with a duration, the step back (`-by_ms`) at its
    /// end, as NTP correcting it would. A duration of 0 keeps the step for good.
    ClockJump {
        /// Index of the node.
        node: usize,
        /// The step, in ms (positive: forward).
        by_ms: i64,
    },
    /// [`Fault::ClockDrift`] at `ppm`, then a drift of 0 (the offset reached stays).
    ClockDrift {
        /// Index of the node.
        node: usize,
        /// The rate error, in parts per million.
        ppm: i32,
    },
    /// [`Fault::SlowDisk`] on the node, then the same with `fsync_ms` 0. It may overlap a
    /// crash of the node: a power loss in the middle of a slow sync is the point.
    SlowDisk {
        /// Index of the node.
        node: usize,
        /// How long each sync takes, in virtual ms.
        fsync_ms: u64,
    },
}

impl Episode {
    /// The faults of the episode, in time order: the fault at `start_ms` and, for kinds that
    /// have one, its undo at `start_ms + duration_ms`.
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
            EpisodeKind::ClientPartition { nodes } => vec![
                at(
                    start,
                    Fault::ClientPartition {
                        nodes: nodes.clone(),
                    },
                ),
                at(end, Fault::ClientHeal),
            ],
            EpisodeKind::DiskError { node, error } => vec![
                at(
                    start,
                    Fault::DiskError {
                        node: *node,
                        error: *error,
                    },
                ),
                at(end, Fault::DiskRepair { node: *node }),
            ],
            EpisodeKind::Crash { node, how } => vec![
                at(
                    start,
                    Fault::Crash {
                        node: *node,
                        how: *how,
                    },
                ),
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
            &EpisodeKind::ClockJump { node, by_ms } => {
                let mut faults = vec![at(start, Fault::ClockJump { node, by_ms })];
                if self.duration_ms > 0 {
                    faults.push(at(
                        end,
                        Fault::ClockJump {
                            node,
                            by_ms: -by_ms,
                        },
                    ));
                }
                faults
            }
            &EpisodeKind::ClockDrift { node, ppm } => vec![
                at(start, Fault::ClockDrift { node, ppm }),
                at(end, Fault::ClockDrift { node, ppm: 0 }),
            ],
            &EpisodeKind::SlowDisk { node, fsync_ms } => vec![
                at(start, Fault::SlowDisk { node, fsync_ms }),
                at(end, Fault::SlowDisk { node, fsync_ms: 0 }),
            ],
        }
    }

    /// Whether two episodes fight over the same knob (one partition, one latency setting, one
    /// loss rate, one state per node and per link at a time): such overlaps would make the
    /// first one's undo cut the second one short.
    pub(super) fn conflicts_with(&self, other: &Episode) -> bool {
        let overlap = self.start_ms < other.start_ms + other.duration_ms.max(1)
            && other.start_ms < self.start_ms + self.duration_ms.max(1);
        if !overlap {
            return false;
        }
        use EpisodeKind::*;
        match (&self.kind, &other.kind) {
            (Partition { .. }, Partition { .. })
            | (ClientPartition { .. }, ClientPartition { .. })
            | (Latency { .. }, Latency { .. })
            | (PacketLoss { .. }, PacketLoss { .. }) => true,
            (SlowDisk { node, .. }, SlowDisk { node: n2, .. }) => node == n2,
            (ClogLink { from, to }, ClogLink { from: f2, to: t2 }) => (from, to) == (f2, t2),
            // One drift rate per clock: the first drift's end would stop the second.
            (ClockDrift { node, .. }, ClockDrift { node: n2, .. }) => node == n2,
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
            EpisodeKind::Crash { node, .. }
            | EpisodeKind::DiskError { node, .. }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faults::testing::{at, shape};

    #[test]
    fn episodes_expand_to_fault_and_undo() {
        let e = Episode {
            start_ms: 100,
            duration_ms: 50,
            kind: EpisodeKind::Crash {
                node: 1,
                how: CrashKind::PowerLoss,
            },
        };
        assert_eq!(
            e.expand(),
            vec![
                at(100, Fault::crash(1)),
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
            kind: EpisodeKind::Crash {
                node: 2,
                how: CrashKind::PowerLoss,
            },
            ..again.clone()
        };
        assert_eq!(from_episodes(&[e.clone(), again], &s).len(), 2);
        assert_eq!(from_episodes(&[e.clone(), other], &s).len(), 2);
        let replica_shape = shape(3, 1);
        let replica = Episode {
            kind: EpisodeKind::Crash {
                node: 4,
                how: CrashKind::PowerLoss,
            },
            start_ms: 120,
            duration_ms: 50,
        };
        assert_eq!(from_episodes(&[e, replica], &replica_shape).len(), 4);
    }
}
