//! Failover invariants: what replicas, promotions and asynchronous replication may and may not
//! do, judged from a run's fault timeline, write history and sampled views.
//!
//! - [`classify_losses`]: an acknowledged write that a failover superseded may be lost only
//!   inside Redis's windows: acknowledged just before the acknowledging master went down or was
//!   cut off (asynchronous replication had not carried it yet), acknowledged by a master that
//!   was already cut off or about to learn it was replaced, or acknowledged while its replicas
//!   could not follow (down, partitioned, resyncing). Anything else is
//!   `acked_write_lost_outside_window`. The windows found are measured and returned.
//! - [`minority_writes`]: a node on a side of a partition with a minority of the slot-serving
//!   masters stops acknowledging writes within a bound (`minority_master_accepted_write`).
//! - [`replicas_attached`]: after healing, every node is a master serving slots or a replica of
//!   one, and there are as many slot-serving masters as shards (`replica_detached`,
//!   `shard_count`).
//!
//! Plain data, unit-tested in the normal build; the `failover` scenario feeds it.

use std::collections::BTreeSet;

use crate::faults::{Fault, FaultSchedule};
use crate::invariants::{fmt_ms, Sample};
use crate::node_idx::NodeIdx;
use crate::report::{Violation, ViolationKind};
use crate::view::NodeLine;
use crate::workload::WriteOp;

/// A write still on its way to the replicas when its master went down may be lost; the
/// replication stream leaves within a tick, so anything acknowledged longer than this before
/// the fault should have reached a connected replica.
pub const REPLICATION_WINDOW_BOUND_MS: u64 = 1000;

/// After a replica restarts (or a partition heals) it needs a full resync before it holds its
/// master's data again; writes acknowledged meanwhile may be lost to a failover.
pub const RESYNC_GRACE_MS: u64 = 5000;

/// One moment of a fault timeline, in virtual ms since the run started.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimelineEvent {
    /// When it happened: virtual ms since the run started.
    pub at_ms: u64,
    /// What happened.
    pub kind: EventKind,
}

/// What a [`TimelineEvent`] is. Node numbers are 0-based indices.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// The node stopped (crash or pause).
    Down {
        /// Index of the node.
        node: usize,
    },
    /// The node runs again (restart or resume).
    Up {
        /// Index of the node.
        node: usize,
    },
    /// A partition with these groups (nodes in no group form one more) starts.
    Partition {
        /// Node indices of each side.
        groups: Vec<Vec<usize>>,
    },
    /// The partition ends.
    Heal,
    /// `CLUSTER FAILOVER …` sent to `node`, a replica of `master` (`None`: unknown, then it
    /// counts against every master).
    ManualFailover {
        /// Index of the replica the command was sent to.
        node: usize,
        /// Index of its master (`None`: unknown).
        master: Option<usize>,
    },
}

/// What happened to the cluster over a run, for judging losses.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FaultTimeline {
    /// Sorted by time.
    pub events: Vec<TimelineEvent>,
    /// `(node, from ms, to ms)` of every stretch a node was crashed or paused (`u64::MAX`: to
    /// the end).
    pub down: Vec<(usize, u64, u64)>,
    /// When every fault was undone (the end of the safety phase).
    pub healed_at_ms: u64,
}

impl FaultTimeline {
    /// Builds the timeline from the schedule (times relative to `start_ms`) and the down
    /// stretches the injector observed (absolute ms); `master_of(node, at_ms)` says whose
    /// replica a node was at a moment.
    pub fn new(
        schedule: &FaultSchedule,
        start_ms: u64,
        down: &[(usize, u64, u64)],
        healed_at_ms: u64,
        master_of: impl Fn(usize, u64) -> Option<usize>,
    ) -> FaultTimeline {
        let mut events = Vec::new();
        for timed in schedule.iter() {
            let at_ms = start_ms + timed.at_ms;
            if at_ms >= healed_at_ms {
                continue;
            }
            let kind = match &timed.fault {
                Fault::Partition { groups } => EventKind::Partition {
                    groups: groups.clone(),
                },
                Fault::Heal => EventKind::Heal,
                Fault::ManualFailover { node, .. } => EventKind::ManualFailover {
                    node: *node,
                    master: master_of(*node, at_ms),
                },
                _ => continue,
            };
            events.push(TimelineEvent { at_ms, kind });
        }
        for &(node, from, to) in down {
            events.push(TimelineEvent {
                at_ms: from,
                kind: EventKind::Down { node },
            });
            let up_ms = to.min(healed_at_ms);
            events.push(TimelineEvent {
                at_ms: up_ms,
                kind: EventKind::Up { node },
            });
        }
        events.push(TimelineEvent {
            at_ms: healed_at_ms,
            kind: EventKind::Heal,
        });
        events.sort_by_key(|e| e.at_ms);
        FaultTimeline {
            events,
            down: down.to_vec(),
            healed_at_ms,
        }
    }

    /// `(from, to, groups)` of every partition, `to` being when it was healed or replaced.
    pub fn partitions(&self) -> Vec<(u64, u64, Vec<Vec<usize>>)> {
        let mut out = Vec::new();
        let mut open: Option<(u64, Vec<Vec<usize>>)> = None;
        for e in &self.events {
            match &e.kind {
                EventKind::Partition { groups } => {
                    if let Some((from, g)) = open.take() {
                        out.push((from, e.at_ms, g));
                    }
                    open = Some((e.at_ms, groups.clone()));
                }
                EventKind::Heal => {
                    if let Some((from, g)) = open.take() {
                        out.push((from, e.at_ms, g));
                    }
                }
                _ => {}
            }
        }
        if let Some((from, g)) = open {
            out.push((from, self.healed_at_ms, g));
        }
        out
    }

    /// Whether a manual failover replaced (or may have replaced) `node`.
    fn replaces(master: Option<usize>, node: usize) -> bool {
        master.is_none_or(|m| m == node)
    }

    /// Whether `node` stopped, was cut off or was replaced by hand at this event.
    fn disrupts(kind: &EventKind, node: usize) -> bool {
        match kind {
            EventKind::Down { node: n } => *n == node,
            EventKind::Partition { .. } => true,
            EventKind::ManualFailover { master, .. } => Self::replaces(*master, node),
            EventKind::Up { .. } | EventKind::Heal => false,
        }
    }

    /// Whether, after this event, `node` could serve writes it was no longer entitled to
    /// until it learnt better: it was cut off, replaced by hand, or came back.
    fn touches(kind: &EventKind, node: usize) -> bool {
        match kind {
            EventKind::Down { node: n } | EventKind::Up { node: n } => *n == node,
            EventKind::Partition { .. } | EventKind::Heal => true,
            EventKind::ManualFailover { master, .. } => Self::replaces(*master, node),
        }
    }

    /// Whether, at `at_ms`, the cluster was whole apart from `node`: no other node down, no
    /// partition, no manual failover, and none of these over for less than
    /// [`RESYNC_GRACE_MS`] (replicas resync after each).
    pub fn healthy_for(&self, node: usize, at_ms: u64) -> bool {
        let other_down = self.down.iter().any(|&(n, from, to)| {
            n != node && from <= at_ms && at_ms < to.saturating_add(RESYNC_GRACE_MS)
        });
        let partitioned = self
            .partitions()
            .iter()
            .any(|(from, to, _)| *from <= at_ms && at_ms < to.saturating_add(RESYNC_GRACE_MS));
        let role_change = self.events.iter().any(|e| {
            matches!(e.kind, EventKind::ManualFailover { .. })
                && e.at_ms <= at_ms
                && at_ms < e.at_ms + RESYNC_GRACE_MS
        });
        !other_down && !partitioned && !role_change
    }
}

/// How the losses of one run fall into Redis's windows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LossWindows {
    /// Acknowledged writes in the run.
    pub acked: usize,
    /// Of those, the ones lost to failovers.
    pub lost: usize,
    /// Lost writes acknowledged shortly before their master went down or was cut off: the
    /// asynchronous replication window.
    pub replication_lag: usize,
    /// The longest time between such an acknowledgement and that fault, in ms (`None`: no
    /// such loss).
    pub max_ack_to_fault_ms: Option<u64>,
    /// Lost writes acknowledged by a master already cut off (or replaced by hand).
    pub isolated: usize,
    /// The longest time from that fault to such an acknowledgement, in ms (`None`: no such
    /// loss).
    pub max_fault_to_ack_ms: Option<u64>,
    /// Lost writes acknowledged while the master's replicas could not follow.
    pub degraded: usize,
}

impl LossWindows {
    /// One line for traces and CLI summaries.
    pub fn describe(&self) -> String {
        let ms = |v: Option<u64>| v.map_or("-".to_string(), |v| format!("{v} ms"));
        format!(
            "{} of {} acked writes lost to failovers: {} within {} before the fault \
             (async replication), {} up to {} after it (isolated master), {} while replicas \
             were down or resyncing",
            self.lost,
            self.acked,
            self.replication_lag,
            ms(self.max_ack_to_fault_ms),
            self.isolated,
            ms(self.max_fault_to_ack_ms),
            self.degraded
        )
    }

    /// Adds another run's losses (maxima of the windows).
    pub fn merge(&mut self, other: &LossWindows) {
        self.acked += other.acked;
        self.lost += other.lost;
        self.replication_lag += other.replication_lag;
        self.isolated += other.isolated;
        self.degraded += other.degraded;
        self.max_ack_to_fault_ms = self.max_ack_to_fault_ms.max(other.max_ack_to_fault_ms);
        self.max_fault_to_ack_ms = self.max_fault_to_ack_ms.max(other.max_fault_to_ack_ms);
    }
}

/// Judges every lost acknowledged write (each already allowed by the
/// [`LossRule`](crate::loss::LossRule)) against the timeline; `acker` maps a write to the index of the node that
/// acknowledged it. An isolated master may keep acknowledging for `isolated_bound_ms` after
/// the fault that cut it off. See the module docs.
pub fn classify_losses(
    acked: usize,
    lost: &[&WriteOp],
    acker: impl Fn(&WriteOp) -> Option<usize>,
    timeline: &FaultTimeline,
    isolated_bound_ms: u64,
) -> (LossWindows, Vec<Violation>) {
    let mut windows = LossWindows {
        acked,
        lost: lost.len(),
        ..LossWindows::default()
    };
    let mut violations = Vec::new();
    for op in lost {
        let Some(node) = acker(op) else {
            violations.push(Violation::new(
                ViolationKind::AckedWriteLostOutsideWindow,
                format!("{} acknowledged by unknown node {}", op.key, op.addr),
            ));
            continue;
        };
        let (start_ms, ack_ms) = (op.start_us / 1000, op.end_us / 1000);
        let next_fault = timeline
            .events
            .iter()
            .filter(|e| e.at_ms >= start_ms && FaultTimeline::disrupts(&e.kind, node))
            .map(|e| e.at_ms)
            .next();
        let previous = timeline
            .events
            .iter()
            .filter(|e| e.at_ms <= ack_ms && FaultTimeline::touches(&e.kind, node))
            .map(|e| e.at_ms)
            .next_back();
        let ack_to_fault = next_fault.map(|t| t.saturating_sub(ack_ms));
        let fault_to_ack = previous.map(|t| ack_ms - t);
        let healthy = timeline.healthy_for(node, ack_ms);
        let lag = ack_to_fault.filter(|&g| healthy && g <= REPLICATION_WINDOW_BOUND_MS);
        if let Some(gap) = lag {
            windows.replication_lag += 1;
            windows.max_ack_to_fault_ms = windows.max_ack_to_fault_ms.max(Some(gap));
        } else if let Some(gap) = fault_to_ack.filter(|&g| g <= isolated_bound_ms) {
            windows.isolated += 1;
            windows.max_fault_to_ack_ms = windows.max_fault_to_ack_ms.max(Some(gap));
        } else if !healthy {
            windows.degraded += 1;
        } else {
            let fmt = |v: Option<u64>| v.map_or("none".to_string(), |v| format!("{v} ms"));
            violations.push(Violation::new(
                ViolationKind::AckedWriteLostOutsideWindow,
                format!(
                    "{} = {} acknowledged by node{} at {} with every replica up, lost; next \
                     fault on it {} later (bound {REPLICATION_WINDOW_BOUND_MS} ms), last one {} \
                     before (bound {isolated_bound_ms} ms)",
                    op.key,
                    op.value,
                    node + 1,
                    fmt_ms(ack_ms),
                    fmt(ack_to_fault),
                    fmt(fault_to_ack)
                ),
            ));
        }
    }
    (windows, violations)
}

/// The slot-serving masters (as node indices, via `index_of(addr)`) in the latest sample at or
/// before `at_ms`.
fn masters_at(
    samples: &[Sample],
    at_ms: u64,
    index_of: &impl Fn(&str) -> Option<usize>,
) -> BTreeSet<usize> {
    samples
        .iter()
        .rev()
        .find(|s| s.time_ms <= at_ms)
        .map(|s| {
            s.lines
                .iter()
                .filter(|l| l.is_master() && !l.slots.is_empty())
                .filter_map(|l| index_of(&l.addr))
                .collect()
        })
        .unwrap_or_default()
}

/// Every acknowledged write that a node on a minority side of a partition (fewer than a
/// majority of the slot-serving masters, as the last sample before the cut shows them)
/// acknowledged more than `bound_ms` after the cut (name `minority_master_accepted_write`;
/// one violation per partition side).
pub fn minority_writes(
    ops: &[WriteOp],
    timeline: &FaultTimeline,
    samples: &[Sample],
    node_count: usize,
    index_of: impl Fn(&str) -> Option<usize>,
    bound_ms: u64,
) -> Vec<Violation> {
    let mut violations = Vec::new();
    for (from, to, groups) in timeline.partitions() {
        let masters = masters_at(samples, from, &index_of);
        if masters.is_empty() {
            continue;
        }
        let quorum = masters.len() / 2 + 1;
        let grouped: BTreeSet<usize> = groups.iter().flatten().copied().collect();
        let rest: Vec<usize> = (0..node_count).filter(|n| !grouped.contains(n)).collect();
        for side in groups.iter().chain(std::iter::once(&rest)) {
            if side.iter().filter(|n| masters.contains(n)).count() >= quorum {
                continue;
            }
            let late: Vec<&WriteOp> = ops
                .iter()
                .filter(|op| op.is_acked())
                .filter(|op| index_of(&op.addr).is_some_and(|n| side.contains(&n)))
                .filter(|op| {
                    let ack_ms = op.end_us / 1000;
                    ack_ms > from + bound_ms && ack_ms < to
                })
                .collect();
            if let (Some(first), Some(last)) = (late.first(), late.last()) {
                let names: Vec<String> = side.iter().map(|&n| NodeIdx(n).name()).collect();
                violations.push(Violation::new(
                    ViolationKind::MinorityMasterAcceptedWrite,
                    format!(
                        "[{}] cut off at {} with {} of {} masters: {} writes acknowledged by {} \
                         from {} to {} (bound {bound_ms} ms after the cut)",
                        names.join(" "),
                        fmt_ms(from),
                        side.iter().filter(|n| masters.contains(n)).count(),
                        masters.len(),
                        late.len(),
                        first.addr,
                        fmt_ms(first.end_us / 1000),
                        fmt_ms(last.end_us / 1000)
                    ),
                ));
            }
        }
    }
    violations
}

/// In one node's view after healing: every node is a master serving slots or a replica whose
/// master serves slots (`replica_detached`), and there are `shards` slot-serving masters
/// (`shard_count`).
pub fn replicas_attached(name: &str, lines: &[NodeLine], shards: usize) -> Vec<Violation> {
    let serving: BTreeSet<&str> = lines
        .iter()
        .filter(|l| l.is_master() && !l.slots.is_empty())
        .map(|l| l.id.as_str())
        .collect();
    let mut violations = Vec::new();
    if serving.len() != shards {
        violations.push(Violation::new(
            ViolationKind::ShardCount,
            format!(
                "{name} shows {} masters serving slots, want {shards}",
                serving.len()
            ),
        ));
    }
    for line in lines {
        let attached = if line.is_master() {
            !line.slots.is_empty()
        } else {
            line.master.as_deref().is_some_and(|m| serving.contains(m))
        };
        if !attached {
            let role = if line.is_master() {
                "a master without slots".to_string()
            } else {
                format!(
                    "a replica of {}, which serves no slots",
                    line.master.as_deref().unwrap_or("-")
                )
            };
            violations.push(Violation::new(
                ViolationKind::ReplicaDetached,
                format!("{name}: {} ({}) is {role}", line.addr, line.flags.join(",")),
            ));
        }
    }
    violations
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faults::TimedFault;
    use crate::view::parse_cluster_nodes;
    use crate::workload::{value_for, WriteOutcome};

    fn op(id: usize, ack_ms: u64, node: usize) -> WriteOp {
        WriteOp {
            id,
            key: format!("key:{id}"),
            value: value_for(id),
            start_us: (ack_ms - 2) * 1000,
            end_us: ack_ms * 1000,
            addr: format!("10.0.0.{}:700{}", node + 1, node + 1),
            outcome: WriteOutcome::Acked,
        }
    }

    fn index_of(addr: &str) -> Option<usize> {
        crate::node_idx::NodeIdx::from_addr(addr).map(|n| n.0)
    }

    fn timeline() -> FaultTimeline {
        // Safety phase from 10 s: node1 crashes at 12 s (back at 20 s), a partition cuts
        // node2 off at 30 s until 40 s; healed at 50 s.
        let schedule = FaultSchedule::new(vec![
            TimedFault {
                at_ms: 20_000,
                fault: Fault::Partition {
                    groups: vec![vec![1]],
                },
            },
            TimedFault {
                at_ms: 30_000,
                fault: Fault::Heal,
            },
        ]);
        FaultTimeline::new(&schedule, 10_000, &[(0, 12_000, 20_000)], 50_000, |_, _| {
            None
        })
    }

    #[test]
    fn the_timeline_pairs_partitions_with_their_heal() {
        let t = timeline();
        assert_eq!(t.partitions(), vec![(30_000, 40_000, vec![vec![1]])]);
        assert!(t.healthy_for(0, 11_000));
        // node1 is down: the others are not healthy, node1 itself is.
        assert!(!t.healthy_for(1, 13_000));
        assert!(t.healthy_for(0, 13_000));
        // Resyncing after node1's restart, then the partition.
        assert!(!t.healthy_for(1, 24_000));
        assert!(t.healthy_for(1, 26_000));
        assert!(!t.healthy_for(2, 35_000));
        // A manual failover replaces only the master of the replica it was sent to.
        let by_hand = EventKind::ManualFailover {
            node: 4,
            master: Some(0),
        };
        assert!(FaultTimeline::disrupts(&by_hand, 0));
        assert!(!FaultTimeline::disrupts(&by_hand, 1));
        let unknown = EventKind::ManualFailover {
            node: 4,
            master: None,
        };
        assert!(FaultTimeline::touches(&unknown, 1));
    }

    #[test]
    fn losses_fall_into_windows_or_are_violations() {
        let t = timeline();
        // Acked 30 ms before node1's crash: replication lag.
        let lag = op(1, 11_970, 0);
        // Acked by node2 2 s after it was cut off: isolated master.
        let isolated = op(2, 32_000, 1);
        // Acked by node3 while node1 resyncs: degraded.
        let degraded = op(3, 22_000, 2);
        // Acked by node1 at 26 s, all healthy, next fault on it (the partition) 4 s later.
        let bad = op(4, 26_000, 0);
        let lost = [&lag, &isolated, &degraded, &bad];
        let (w, v) = classify_losses(100, &lost, |op| index_of(&op.addr), &t, 5000);
        assert_eq!(
            (w.lost, w.replication_lag, w.isolated, w.degraded),
            (4, 1, 1, 1)
        );
        assert_eq!(w.max_ack_to_fault_ms, Some(30));
        assert_eq!(w.max_fault_to_ack_ms, Some(2000));
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].kind, ViolationKind::AckedWriteLostOutsideWindow);
        assert_eq!(
            v[0].evidence,
            "key:4 = v4 acknowledged by node1 at 26.000s with every replica up, lost; next \
             fault on it 4000 ms later (bound 1000 ms), last one 6000 ms before (bound 5000 ms)"
        );
        let mut total = LossWindows::default();
        total.merge(&w);
        total.merge(&w);
        assert_eq!((total.lost, total.max_ack_to_fault_ms), (8, Some(30)));
        assert!(w.describe().starts_with("4 of 100 acked writes lost"));
    }

    fn sample(time_ms: u64, text: &str) -> Sample {
        Sample {
            node: "node3".into(),
            time_ms,
            lines: parse_cluster_nodes(text).unwrap(),
            current_epoch: 3,
            cluster_state: "ok".into(),
        }
    }

    const THREE: &str = "a 10.0.0.1:7001@17001 master - 0 0 1 connected 0-5460\n\
                         b 10.0.0.2:7002@17002 master - 0 0 2 connected 5461-10922\n\
                         c 10.0.0.3:7003@17003 myself,master - 0 0 3 connected 10923-16383\n";

    #[test]
    fn a_minority_master_must_stop_acknowledging() {
        let t = timeline();
        let samples = vec![sample(1000, THREE)];
        // node2 cut off at 30 s: acks until 30 s + bound are fine, later ones are not.
        let ops = vec![op(1, 33_000, 1), op(2, 37_000, 1), op(3, 38_000, 2)];
        let v = minority_writes(&ops, &t, &samples, 3, index_of, 5000);
        assert_eq!(v.len(), 1, "{v:?}");
        assert_eq!(
            v[0].evidence,
            "[node2] cut off at 30.000s with 1 of 3 masters: 1 writes acknowledged by \
             10.0.0.2:7002 from 37.000s to 37.000s (bound 5000 ms after the cut)"
        );
        assert!(minority_writes(&ops, &t, &samples, 3, index_of, 8000).is_empty());
    }

    #[test]
    fn after_healing_every_replica_follows_a_serving_master() {
        let good = "a 10.0.0.1:7001@17001 myself,master - 0 0 1 connected 0-16383\n\
                    b 10.0.0.2:7002@17002 slave a 0 0 1 connected\n";
        assert!(replicas_attached("n1", &parse_cluster_nodes(good).unwrap(), 1).is_empty());
        let bad = "a 10.0.0.1:7001@17001 myself,master - 0 0 1 connected 0-16383\n\
                   b 10.0.0.2:7002@17002 master - 0 0 1 connected\n\
                   c 10.0.0.3:7003@17003 slave b 0 0 1 connected\n";
        let v = replicas_attached("n1", &parse_cluster_nodes(bad).unwrap(), 2);
        let names: Vec<&str> = v.iter().map(|v| v.name()).collect();
        assert_eq!(
            names,
            ["shard_count", "replica_detached", "replica_detached"]
        );
        assert_eq!(
            v[2].evidence,
            "n1: 10.0.0.3:7003 (slave) is a replica of b, which serves no slots"
        );
    }
}
