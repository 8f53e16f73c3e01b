//! The majority rule every generated schedule keeps: at every moment of the safety phase a
//! quorum of masters is up and on one side of any partition. [`check_majority`] replays a
//! schedule on a bookkeeping shadow of the cluster (no sockets) and names the first moment the
//! rule breaks.

use std::collections::{BTreeMap, BTreeSet};

use super::model::{ClusterShape, Fault, FaultSchedule};

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
            Fault::Crash { node, .. } => {
                self.down_until.insert(*node, u64::MAX);
            }
            Fault::WipeRestart { node } => {
                self.wiped.insert(*node);
            }
            // A failing disk may stop the node (`appendfsync always`, a `nodes.conf` save):
            // counted as down until repaired.
            Fault::DiskError { node, .. } => {
                self.down_until.entry(*node).or_insert(u64::MAX);
            }
            // A slow disk stalls the node at each sync under `always` and at each
            // `nodes.conf` save: long syncs hold it as a pause does. Counted as down.
            Fault::SlowDisk { node, fsync_ms } if *fsync_ms > 0 => {
                self.down_until.entry(*node).or_insert(u64::MAX);
            }
            Fault::DiskRepair { node } | Fault::SlowDisk { node, .. } => {
                if self.down_until.get(node) == Some(&u64::MAX) {
                    self.down_until.remove(node);
                }
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
            | Fault::ClientPartition { .. }
            | Fault::ClientHeal
            | Fault::ManualFailover { .. }
            | Fault::MoveSlots { .. }
            // Timeouts read a monotonic clock: a wrong wall clock takes no node down.
            | Fault::ClockJump { .. }
            | Fault::ClockDrift { .. } => {}
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faults::model::Direction;
    use crate::faults::testing::{at, shape};

    #[test]
    fn majority_rule_counts_crashes_pauses_clogs_wipes_and_partitions() {
        let s = shape(3, 0);
        let ok = FaultSchedule::new(vec![
            at(0, Fault::crash(0)),
            at(100, Fault::Restart { node: 0 }),
            at(100, Fault::crash(1)),
        ]);
        assert!(check_majority(&ok, &s).is_ok());
        let two_down = FaultSchedule::new(vec![
            at(0, Fault::crash(0)),
            at(50, Fault::Pause { node: 1, ms: 100 }),
        ]);
        assert!(check_majority(&two_down, &s)
            .unwrap_err()
            .contains("at 50 ms"));
        // The pause is over by 200 ms.
        let later = FaultSchedule::new(vec![
            at(0, Fault::Pause { node: 1, ms: 100 }),
            at(200, Fault::crash(0)),
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
            at(10, Fault::crash(0)),
        ]);
        assert!(check_majority(&minority, &s).is_ok());
        // With replicas, replicas do not count.
        let s6 = shape(3, 1);
        let replicas_down = FaultSchedule::new(vec![
            at(0, Fault::crash(3)),
            at(0, Fault::crash(4)),
            at(0, Fault::crash(0)),
        ]);
        assert!(check_majority(&replicas_down, &s6).is_ok());
    }
}
