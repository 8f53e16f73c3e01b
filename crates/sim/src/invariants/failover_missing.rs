//! Liveness of failover (`failover_missing`): a master down (crashed, paused, or with all its
//! outgoing traffic dropped) long enough,
//! with a replica that could win and a majority of masters to vote for it, must be replaced
//! within a bound derived from Redis's failover timing, or the run fails.
//!
//! Judged from typed events only: the faults the injector applied (when each master went
//! down and came back, which nodes any fault touched), the nodes' `BecameReplica`,
//! `Promoted` and replication-link events (who replicates whom, and whether the link was up
//! when the master died).
//!
//! The bound, in Redis 7.0's terms (cluster.c): the master is flagged PFAIL one node timeout
//! after its last pong; every PFAIL node rides in every ping's gossip and each node pings a
//! peer whose pong is older than half the node timeout, so the failure reports reach the
//! quorum and FAIL is broadcast within half a node timeout more (plus a second for the random
//! once-a-second ping); the replica then waits 500 ms + up to 500 ms random + 1 s per rank
//! before asking for votes, and masters answer in one round trip. Where two replicas may
//! split the votes, one retry after twice the election timeout (`max(2 × node timeout,
//! 2 s)`) is allowed. The replica is eligible when its link to the master was up when the
//! master died: its data age at the election is then well within `node timeout × validity
//! factor + repl-ping period` for any factor (0 disables the check).
//!
//! Extra latency during the window shifts the bound by ten times its longest delay (the
//! messages on the failover path, with room for another gossip round). A master is judged only
//! when nothing else could excuse a slow or missing failover: no partition or packet loss
//! during the window, at least one replica and a
//! quorum of the other masters untouched by any fault in it, and the master down for the
//! whole bound. Masters cut off by a partition are not judged (a limitation: the window is
//! then never undisturbed).

use std::collections::{BTreeMap, BTreeSet};

use clusterlab_core::ClusterEvent;

use super::fmt_ms;
use crate::faults::{Direction, Fault, DEFAULT_LATENCY_MS};
use crate::node_idx::NodeIdx;
use crate::report::{Violation, ViolationKind};
use crate::trace::{Event, FaultEvent, TraceEvent};

/// Message delays on the failover path a latency episode stretches (ping and pong, failure
/// reports over gossip, the FAIL broadcast, the vote request and the votes), with room for one
/// more round of gossip.
const LATENCY_HOPS: u64 = 10;

/// The failover bound for a master with `replicas` replicas (ms after it went down).
pub fn failover_bound_ms(node_timeout_ms: u64, replicas: usize) -> u64 {
    let detect_ms = node_timeout_ms + node_timeout_ms / 2 + 1000;
    let worst_rank = replicas.saturating_sub(1) as u64;
    let delay_ms = 1000 + 1000 * worst_rank;
    let votes_ms = 500;
    let retry_ms = if replicas > 1 {
        2 * (2 * node_timeout_ms).max(2000)
    } else {
        0
    };
    detect_ms + delay_ms + votes_ms + retry_ms
}

/// `[from, to)` in µs.
type Span = (u64, u64);

/// What the applied faults did to each node and to the whole network.
#[derive(Default)]
struct Disturbances {
    /// Per node index: when a crash, a pause or a clog of its outgoing traffic had it down.
    down: BTreeMap<usize, Vec<Span>>,
    /// Per node index: when any fault touched it (down, clogged, failed over, wiped).
    touched: BTreeMap<usize, Vec<Span>>,
    /// When a partition or packet loss was in force.
    global: Vec<Span>,
    /// When extra latency was in force, with its longest delay in ms.
    latency: Vec<(Span, u64)>,
}

fn overlaps(spans: &[Span], (from, to): Span) -> bool {
    spans.iter().any(|&(a, b)| a < to && from < b)
}

impl Disturbances {
    fn of(events: &[TraceEvent]) -> Disturbances {
        let mut d = Disturbances::default();
        let mut open: BTreeMap<(u8, usize, usize), u64> = BTreeMap::new();
        let mut global_since: Option<u64> = None;
        let (mut partitioned, mut lossy) = (false, false);
        let mut slow_since: Option<(u64, u64)> = None;
        let end = events.last().map_or(0, |e| e.time_us) + 1;
        for e in events {
            let t = e.time_us;
            let fault = match &e.event {
                Event::Fault(FaultEvent::Applied(f)) => f,
                Event::Fault(FaultEvent::HealAll) => {
                    for ((kind, a, b), from) in std::mem::take(&mut open) {
                        d.close(kind, a, b, from, t);
                    }
                    (partitioned, lossy) = (false, false);
                    if let Some((from, max_ms)) = slow_since.take() {
                        d.latency.push(((from, t), max_ms));
                    }
                    if let Some(from) = global_since.take() {
                        d.global.push((from, t));
                    }
                    continue;
                }
                _ => continue,
            };
            match fault {
                Fault::Crash { node } => {
                    open.entry((0, *node, *node)).or_insert(t);
                }
                Fault::Restart { node } => {
                    if let Some(from) = open.remove(&(0, *node, *node)) {
                        d.close(0, *node, *node, from, t);
                    }
                }
                Fault::Pause { node, ms } => d.close(0, *node, *node, t, t + ms * 1000),
                // Nothing from the node reaches its peers: they flag it as if it were down.
                // Traffic to it dropped alone is not enough: Redis 7.0 counts any data
                // received from a node as a sign of life, and its own pings still arrive.
                Fault::ClogNode { node, direction } => {
                    let kind = u8::from(*direction == Direction::In);
                    open.entry((kind, *node, *node)).or_insert(t);
                }
                Fault::UnclogNode { node } => {
                    for kind in [0, 1] {
                        if let Some(from) = open.remove(&(kind, *node, *node)) {
                            d.close(kind, *node, *node, from, t);
                        }
                    }
                }
                Fault::ClogLink { from, to } => {
                    open.entry((1, *from, *to)).or_insert(t);
                }
                Fault::UnclogLink { from, to } => {
                    if let Some(since) = open.remove(&(1, *from, *to)) {
                        d.close(1, *from, *to, since, t);
                    }
                }
                Fault::WipeRestart { node } => d.close(1, *node, *node, t, u64::MAX),
                Fault::ManualFailover { node, .. } => d.close(1, *node, *node, t, t + 1),
                // A reshard holds no vote back and stops no replica: not a disturbance.
                Fault::MoveSlots { .. } => {}
                Fault::Partition { .. } => partitioned = true,
                Fault::Heal => partitioned = false,
                Fault::Latency { min_ms, max_ms } => {
                    if let Some((from, max_ms)) = slow_since.take() {
                        d.latency.push(((from, t), max_ms));
                    }
                    if (*min_ms, *max_ms) != DEFAULT_LATENCY_MS {
                        slow_since = Some((t, *max_ms));
                    }
                }
                Fault::PacketLoss { permille } => lossy = *permille > 0,
            }
            let disturbed = partitioned || lossy;
            match (disturbed, global_since) {
                (true, None) => global_since = Some(t),
                (false, Some(from)) => {
                    d.global.push((from, t));
                    global_since = None;
                }
                _ => {}
            }
        }
        for ((kind, a, b), from) in open {
            d.close(kind, a, b, from, end);
        }
        if let Some(from) = global_since {
            d.global.push((from, end));
        }
        if let Some((from, max_ms)) = slow_since {
            d.latency.push(((from, end), max_ms));
        }
        d
    }

    /// The longest extra delay in force at any time of `window`, in ms (0: none).
    fn latency_ms(&self, window: Span) -> u64 {
        self.latency
            .iter()
            .filter(|(span, _)| overlaps(&[*span], window))
            .map(|&(_, max_ms)| max_ms)
            .max()
            .unwrap_or(0)
    }

    /// Records a span of kind 0 (down: also touched) or 1 (touched) for nodes `a` and `b`.
    fn close(&mut self, kind: u8, a: usize, b: usize, from: u64, to: u64) {
        for node in [a, b].into_iter().collect::<BTreeSet<_>>() {
            if kind == 0 {
                self.down.entry(node).or_default().push((from, to));
            }
            self.touched.entry(node).or_default().push((from, to));
        }
    }

    fn touched(&self, node: usize, window: Span) -> bool {
        self.touched
            .get(&node)
            .is_some_and(|spans| overlaps(spans, window))
    }
}

/// A node's role as its own events tell it.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Role {
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
}

/// Every crash or pause of a master, with its roles at that moment (`ids[i]`: node `i`'s ID
/// after create).
fn outages(events: &[TraceEvent], ids: &[String], down: &Disturbances) -> Vec<Outage> {
    let mut roles: Vec<Role> = vec![Role::Master; ids.len()];
    let mut wiped = BTreeSet::new();
    let mut starts: BTreeSet<(u64, usize)> = down
        .down
        .iter()
        .flat_map(|(&n, spans)| spans.iter().map(move |&(from, _)| (from, n)))
        .collect();
    let mut found = Vec::new();
    for e in events {
        while let Some(&(from, node)) = starts.first().filter(|(from, _)| *from <= e.time_us) {
            starts.pop_first();
            if roles[node] == Role::Master && !wiped.contains(&node) {
                found.push(outage(node, from, &roles, &wiped, ids, down));
            }
        }
        if let Event::Fault(FaultEvent::Applied(Fault::WipeRestart { node })) = &e.event {
            wiped.insert(*node);
        }
        let Event::Cluster(event) = &e.event else {
            continue;
        };
        let Some(node) = NodeIdx::from_name(&e.node)
            .map(|n| n.0)
            .filter(|&n| n < ids.len())
        else {
            continue;
        };
        match event {
            ClusterEvent::BecameReplica { master } => {
                let master = master.to_string();
                roles[node] = Role::Replica {
                    master,
                    link_up: false,
                };
            }
            ClusterEvent::Promoted { .. } => roles[node] = Role::Master,
            ClusterEvent::ReplicationLinkUp { .. } | ClusterEvent::ReplicationLinkDown { .. } => {
                if let Role::Replica { link_up, .. } = &mut roles[node] {
                    *link_up = matches!(event, ClusterEvent::ReplicationLinkUp { .. });
                }
            }
            _ => {}
        }
    }
    found
}

fn outage(
    master: usize,
    from_us: u64,
    roles: &[Role],
    wiped: &BTreeSet<usize>,
    ids: &[String],
    down: &Disturbances,
) -> Outage {
    let to_us = down.down[&master]
        .iter()
        .find(|&&(from, _)| from == from_us)
        .map_or(from_us, |&(_, to)| to);
    let replicas = (0..roles.len())
        .filter(|&r| {
            matches!(&roles[r], Role::Replica { master: m, link_up: true } if *m == ids[master])
                && !wiped.contains(&r)
        })
        .collect();
    let masters = (0..roles.len())
        .filter(|&m| roles[m] == Role::Master && !wiped.contains(&m))
        .collect();
    Outage {
        master,
        from_us,
        to_us,
        replicas,
        masters,
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
    let faults = Disturbances::of(events);
    let mut found = Vec::new();
    for o in outages(events, ids, &faults) {
        let quiet_bound_ms = failover_bound_ms(node_timeout_ms, o.replicas.len());
        // Extra latency shifts the bound by what it adds to the messages on the path (pings,
        // failure reports, the FAIL broadcast, the vote request and its answers).
        let slow_ms = faults.latency_ms((o.from_us, o.from_us + quiet_bound_ms * 1000));
        let bound_ms = quiet_bound_ms + LATENCY_HOPS * slow_ms;
        let window = (o.from_us, o.from_us + bound_ms * 1000);
        if o.replicas.is_empty() || o.to_us < window.1 || overlaps(&faults.global, window) {
            continue;
        }
        let eligible: Vec<usize> = o
            .replicas
            .iter()
            .copied()
            .filter(|&r| !faults.touched(r, window))
            .collect();
        let voters: Vec<usize> = o
            .masters
            .iter()
            .copied()
            .filter(|&m| m != o.master && !faults.touched(m, window))
            .collect();
        if eligible.is_empty() || voters.len() < o.masters.len() / 2 + 1 {
            continue;
        }
        let replaced = events.iter().any(|e| {
            e.time_us >= window.0
                && e.time_us <= window.1
                && matches!(&e.event, Event::Cluster(ClusterEvent::Promoted { old_master, .. })
                    if old_master.to_string() == ids[o.master])
        });
        if !replaced {
            found.push(missing(&o, &eligible, &voters, bound_ms));
        }
    }
    found
}

fn missing(o: &Outage, eligible: &[usize], voters: &[usize], bound_ms: u64) -> Violation {
    let names = |nodes: &[usize]| -> String {
        let names: Vec<String> = nodes.iter().map(|&n| NodeIdx(n).name()).collect();
        names.join(",")
    };
    Violation::new(
        ViolationKind::FailoverMissing,
        format!(
            "master {} down from {} to {}; replica {} (link up when it died) and voters {} \
             of {} masters undisturbed; no replica promoted within the bound {} ms",
            NodeIdx(o.master).name(),
            fmt_ms(o.from_us / 1000),
            fmt_ms(o.to_us / 1000),
            names(eligible),
            names(voters),
            o.masters.len(),
            bound_ms
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use clusterlab_core::event::PromotionKind;
    use clusterlab_core::NodeId;

    const NT: u64 = 5000;

    fn ids() -> Vec<String> {
        (1..=4).map(|n| format!("{n}").repeat(40)).collect()
    }

    fn id(n: usize) -> NodeId {
        NodeId::parse(ids()[n].as_bytes()).unwrap()
    }

    fn at(ms: u64, node: &str, event: impl Into<Event>) -> TraceEvent {
        TraceEvent {
            time_us: ms * 1000,
            node: node.into(),
            event: event.into(),
        }
    }

    fn fault(ms: u64, fault: Fault) -> TraceEvent {
        at(ms, "faults", FaultEvent::Applied(fault))
    }

    /// node4 replicates node1 (link up); node1 crashes at 10 s and restarts at 40 s.
    fn crash_of_node1(extra: Vec<TraceEvent>) -> Vec<TraceEvent> {
        let mut events = vec![
            at(0, "node4", ClusterEvent::BecameReplica { master: id(0) }),
            at(1000, "node4", ClusterEvent::ReplicationLinkUp { offset: 0 }),
            fault(10_000, Fault::Crash { node: 0 }),
            fault(40_000, Fault::Restart { node: 0 }),
        ];
        events.extend(extra);
        events.sort_by_key(|e| e.time_us);
        events
    }

    fn promoted(ms: u64) -> TraceEvent {
        let event = ClusterEvent::Promoted {
            kind: PromotionKind::Election,
            config_epoch: 5,
            old_master: id(0),
        };
        at(ms, "node4", event)
    }

    #[test]
    fn the_bound_follows_redis_timing() {
        // 1.5 node timeouts + 1 s to flag FAIL, 1 s delay, 0.5 s for the votes.
        assert_eq!(failover_bound_ms(NT, 1), 10_000);
        // A second replica may rank second and split the votes once.
        assert_eq!(failover_bound_ms(NT, 2), 11_000 + 20_000);
    }

    #[test]
    fn a_master_never_replaced_is_reported_with_its_replica_and_bound() {
        let found = failovers_missing(&crash_of_node1(vec![]), &ids(), NT);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].kind, ViolationKind::FailoverMissing);
        assert_eq!(
            found[0].evidence,
            "master node1 down from 10.000s to 40.000s; replica node4 (link up when it died) \
             and voters node2,node3 of 3 masters undisturbed; no replica promoted within the \
             bound 10000 ms"
        );
        // Promoted in time: fine; too late: still missing.
        assert!(failovers_missing(&crash_of_node1(vec![promoted(19_000)]), &ids(), NT).is_empty());
        assert_eq!(
            failovers_missing(&crash_of_node1(vec![promoted(21_000)]), &ids(), NT).len(),
            1
        );
    }

    #[test]
    fn a_master_whose_traffic_out_is_dropped_counts_as_down() {
        let clog = |direction| {
            vec![
                at(0, "node4", ClusterEvent::BecameReplica { master: id(0) }),
                at(1000, "node4", ClusterEvent::ReplicationLinkUp { offset: 0 }),
                fault(10_000, Fault::ClogNode { node: 0, direction }),
                fault(40_000, Fault::UnclogNode { node: 0 }),
            ]
        };
        assert_eq!(
            failovers_missing(&clog(Direction::Out), &ids(), NT).len(),
            1
        );
        assert_eq!(
            failovers_missing(&clog(Direction::Both), &ids(), NT).len(),
            1
        );
        // Its pings still reach the others: no failover is due.
        assert!(failovers_missing(&clog(Direction::In), &ids(), NT).is_empty());
    }

    #[test]
    fn latency_shifts_the_bound_instead_of_silencing_the_check() {
        let slow = fault(
            11_000,
            Fault::Latency {
                min_ms: 50,
                max_ms: 200,
            },
        );
        // 10 s + 10 × 200 ms: a promotion at 21 s is in time, none at all is reported.
        let late = crash_of_node1(vec![slow.clone(), promoted(21_000)]);
        assert!(failovers_missing(&late, &ids(), NT).is_empty());
        let never = failovers_missing(&crash_of_node1(vec![slow]), &ids(), NT);
        assert_eq!(never.len(), 1);
        assert!(
            never[0].evidence.ends_with("bound 12000 ms"),
            "{}",
            never[0].evidence
        );
    }

    #[test]
    fn outages_that_excuse_no_failover_are_not_judged() {
        let excused = [
            // Back before the bound.
            vec![fault(15_000, Fault::Restart { node: 0 })],
            // A partition during the window, packet loss.
            vec![fault(11_000, Fault::PacketLoss { permille: 100 })],
            vec![fault(
                12_000,
                Fault::Partition {
                    groups: vec![vec![1]],
                },
            )],
            // The replica's link was down when the master died.
            vec![at(
                5000,
                "node4",
                ClusterEvent::ReplicationLinkDown { offset: 9 },
            )],
            // The replica itself was touched.
            vec![fault(11_000, Fault::Pause { node: 3, ms: 3000 })],
            vec![fault(
                12_000,
                Fault::ManualFailover {
                    node: 3,
                    mode: crate::faults::FailoverMode::Default,
                },
            )],
            // Only one of the other two masters could vote: no quorum of 3.
            vec![fault(9000, Fault::ClogLink { from: 1, to: 2 })],
        ];
        for extra in excused {
            let events = crash_of_node1(extra.clone());
            assert!(
                failovers_missing(&events, &ids(), NT).is_empty(),
                "{extra:?}"
            );
        }
    }
}

/// On a real campaign trace: the crashed master is judged (and was replaced); the same trace
/// without its promotion is reported.
#[cfg(all(test, madsim))]
mod campaign_tests {
    use super::*;
    use crate::campaign;
    use crate::faults::{FaultSchedule, TimedFault};
    use crate::seeds::SimConfig;

    #[test]
    fn a_real_failover_passes_and_the_same_trace_without_it_fails() {
        let config = SimConfig {
            replicas: 1,
            node_timeout_ms: 3000,
            ..SimConfig::default()
        };
        let schedule = FaultSchedule::new(vec![
            TimedFault {
                at_ms: 1000,
                fault: Fault::Crash { node: 0 },
            },
            TimedFault {
                at_ms: 16_000,
                fault: Fault::Restart { node: 0 },
            },
        ]);
        let report = campaign::run(5, &config, Some(schedule));
        assert!(report.ok(), "{:?}", report.violations);
        let ids: Vec<String> = (0..config.node_count())
            .map(|n| {
                let name = NodeIdx(n).name();
                report
                    .cluster_nodes
                    .iter()
                    .find(|(node, _)| *node == name)
                    .and_then(|(_, text)| text.lines().find(|l| l.contains("myself")))
                    .map(|l| l.split(' ').next().unwrap_or("").to_string())
                    .unwrap_or_default()
            })
            .collect();
        assert!(failovers_missing(&report.trace, &ids, 3000).is_empty());
        let without: Vec<TraceEvent> = report
            .trace
            .iter()
            .filter(|e| !matches!(e.event, Event::Cluster(ClusterEvent::Promoted { .. })))
            .cloned()
            .collect();
        let found = failovers_missing(&without, &ids, 3000);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].evidence.starts_with("master node1 down from")
                && found[0].evidence.contains("replica node")
                && found[0].evidence.contains("bound 7000 ms"),
            "{}",
            found[0].evidence
        );
    }
}
