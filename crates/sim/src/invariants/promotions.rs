//! Which replica may be promoted: a replica long cut off from its master, or one that
//! restarted behind a sibling that kept replicating, must not win the election.

use std::collections::{BTreeMap, BTreeSet};

use clusterlab_core::ClusterEvent;

use super::failover_missing::election_retry_ms;
use super::{fmt_ms, short, Connectivity, Sample};
use crate::node_idx::NodeIdx;
use crate::report::{Violation, ViolationKind};
use crate::trace::TraceEvent;
use crate::view::NodeLine;

/// The master a node followed as a replica, as its last sample before a promotion showed.
struct Followed {
    master_id: String,
    master_addr: String,
    /// When it was last sampled as that master's replica.
    replica_ms: u64,
}

/// Which master each node follows, as last sampled; the promotion checks walk the samples
/// through it.
#[derive(Default)]
struct Followers<'a> {
    following: BTreeMap<&'a str, Followed>,
    /// Every replica sample: whom each node followed, and since when (samples are taken in
    /// turn, so a sibling's newest one may already follow the newly promoted node).
    history: BTreeMap<&'a str, Vec<(u64, String)>>,
}

impl<'a> Followers<'a> {
    /// Notes `sample`. When it shows its node as a master serving slots after samples of it as
    /// a replica, returns its own line and whom it followed until then.
    fn observe(&mut self, sample: &'a Sample) -> Option<(&'a NodeLine, Followed)> {
        let me = sample.myself()?;
        if !me.is_master() {
            let master = me.master.as_deref().and_then(|id| {
                let line = sample.lines.iter().find(|l| l.id == id)?;
                Some(Followed {
                    master_id: id.to_string(),
                    master_addr: line.addr.clone(),
                    replica_ms: sample.time_ms,
                })
            });
            if let Some(master) = master {
                let seen = (master.replica_ms, master.master_id.clone());
                self.history.entry(&sample.node).or_default().push(seen);
                self.following.insert(&sample.node, master);
            }
            return None;
        }
        // A master follows nobody from this sample on.
        let seen = (sample.time_ms, String::new());
        self.history.entry(&sample.node).or_default().push(seen);
        if me.slots.is_empty() {
            return None;
        }
        let followed = self.following.remove(sample.node.as_str())?;
        Some((me, followed))
    }

    /// The nodes other than `node` whose last sample up to `at_ms` followed `master_id`.
    fn of(&self, master_id: &str, node: &str, at_ms: u64) -> Vec<&'a str> {
        self.history
            .iter()
            .filter(|(n, seen)| {
                let then = seen.iter().rfind(|(t, _)| *t <= at_ms);
                **n != node && then.is_some_and(|(_, m)| m == master_id)
            })
            .map(|(n, _)| *n)
            .collect()
    }
}

/// A replica that (re)started while its master could send nothing (crashed or paused), and
/// that became master before its master came back, was promoted without having heard from
/// its master since it started (name `stale_replica_promoted`). Redis refuses that failover:
/// until a replica first connects, its `repl_down_since` is 0 ("down since ever"), so its data
/// age exceeds any `cluster-replica-validity-factor`, and the writes its master acknowledged
/// meanwhile would be lost.
///
/// The promotion itself must fall after the restart, as the node's own log dates it (a
/// sample may show a node as a replica a moment after it won, and a node promoted just
/// before a crash restarts as a master). An operator's `CLUSTER FAILOVER` (TAKEOVER skips
/// every check) sent to the node between its restart and its first sample as a master
/// excuses the promotion.
///
/// `samples` in time order; `restarts` are `(node, ms)`; `down` are `(node, from ms, to ms)`
/// (`u64::MAX`: never came back); `promotions` are `(node, ms)` of each election won or
/// takeover; `manual_failovers` are `(node index, ms)`; `names` maps `ip:port` to node names.
pub fn stale_promotions(
    samples: &[Sample],
    restarts: &[(String, u64)],
    down: &[(String, u64, u64)],
    promotions: &[(String, u64)],
    manual_failovers: &[(usize, u64)],
    names: &BTreeMap<String, String>,
) -> Vec<Violation> {
    let mut violations = Vec::new();
    let mut followers = Followers::default();
    for sample in samples {
        let Some((
            me,
            Followed {
                master_id,
                master_addr,
                ..
            },
        )) = followers.observe(sample)
        else {
            continue;
        };
        let promoted_ms = sample.time_ms;
        let Some(started_ms) = restarts
            .iter()
            .filter(|(n, t)| *n == sample.node && *t <= promoted_ms)
            .map(|(_, t)| *t)
            .max()
        else {
            continue;
        };
        // Sent since the restart: a node runs a request when it gets to it (a paused one
        // only when it resumes), so it may still show as a replica after the request left.
        let index = index_of_name(&sample.node);
        let manual = manual_failovers
            .iter()
            .any(|&(n, t)| Some(n) == index && t >= started_ms && t <= promoted_ms);
        let promoted_since_restart = promotions
            .iter()
            .any(|(n, t)| *n == sample.node && *t >= started_ms && *t <= promoted_ms);
        if manual || !promoted_since_restart {
            continue;
        }
        let Some(master_name) = names.get(&master_addr) else {
            continue;
        };
        let silent = down
            .iter()
            .find(|(n, from, to)| n == master_name && *from <= started_ms && *to >= promoted_ms);
        if let Some((_, from, to)) = silent {
            let until = if *to == u64::MAX {
                "the end".to_string()
            } else {
                fmt_ms(*to)
            };
            violations.push(Violation::new(
                ViolationKind::StaleReplicaPromoted,
                format!(
                    "{} restarted at {} while its master {master_name} ({}) was down ({} to \
                     {until}), and was master of {} slots by {} without having heard from it",
                    sample.node,
                    fmt_ms(started_ms),
                    short(&master_id),
                    fmt_ms(*from),
                    me.slots
                        .iter()
                        .map(|(lo, hi)| usize::from(hi - lo) + 1)
                        .sum::<usize>(),
                    fmt_ms(promoted_ms)
                ),
            ));
        }
    }
    violations
}

/// How long a replica must have been cut off from its master (while a sibling kept
/// replicating) before its promotion counts as stale: two node timeouts.
pub const STALE_CUT_OFF_NODE_TIMEOUTS: u64 = 2;
/// How long a write takes to reach a connected replica, for "the sibling has it".
const REPLICATION_MS: u64 = 200;
/// A better rank starts its election at least this much earlier (1000 ms per rank against
/// at most 499 ms of jitter, `clusterHandleSlaveFailover`). While messages may take longer
/// than that to arrive, the worse-ranked replica's requests can legitimately land first, so
/// the check holds only on a network faster than this; slower latency does not end it.
const RANK_HEAD_START_MS: u64 = 501;

/// How long after its `failover_auth_time` a replica may start the election it scheduled: the
/// next `clusterCron` tick (a manual failover starts at once).
const CRON_TICK_MS: u64 = 100;
/// The least delay of a scheduled election: 500 ms to let the FAIL spread, plus the random
/// part and the rank's seconds (`clusterHandleSlaveFailover`).
const ELECTION_DELAY_MIN_MS: u64 = 500;

/// When each node started an election (`ElectionStarted`), in ms, in trace order.
pub fn elections_started(events: &[TraceEvent]) -> Vec<(String, u64)> {
    times_of(events, |e| {
        matches!(e, ClusterEvent::ElectionStarted { .. })
    })
}

/// `(node, ms)` of every event `pick` selects, in trace order.
fn times_of(events: &[TraceEvent], pick: impl Fn(&ClusterEvent) -> bool) -> Vec<(String, u64)> {
    events
        .iter()
        .filter(|e| e.event.cluster().is_some_and(&pick))
        .map(|e| (e.node.clone(), e.time_us / 1000))
        .collect()
}

/// What the replicas did that decides whether one could run an election: when each node
/// started one (`ElectionStarted`), started (`NodeStarted`) and got its replication link up
/// (`ReplicationLinkUp`), each `(node, ms)` in trace order.
#[derive(Clone, Debug, Default)]
pub struct ReplicaHistory {
    /// Elections started ([`elections_started`]).
    pub elections: Vec<(String, u64)>,
    /// Node starts, restarts included.
    pub starts: Vec<(String, u64)>,
    /// Replication links come up (a full or a partial resync done).
    pub links_up: Vec<(String, u64)>,
}

impl ReplicaHistory {
    /// Gathers it from a run's trace.
    pub fn from_events(events: &[TraceEvent]) -> ReplicaHistory {
        ReplicaHistory {
            elections: elections_started(events),
            starts: times_of(events, |e| matches!(e, ClusterEvent::NodeStarted { .. })),
            links_up: times_of(events, |e| {
                matches!(e, ClusterEvent::ReplicationLinkUp { .. })
            }),
        }
    }

    /// Whether `node`'s replication link came up between its last start up to `at_ms` and
    /// `at_ms`. Until it does, Redis counts the link down since ever (`repl_down_since` 0),
    /// so the replica's data is too old for any validity factor and it runs no election
    /// (`clusterHandleSlaveFailover`; seed 998868).
    fn linked_since_start(&self, node: &str, at_ms: u64) -> bool {
        let started_ms = self
            .starts
            .iter()
            .filter(|(n, t)| n == node && *t <= at_ms)
            .map(|&(_, t)| t)
            .max()
            .unwrap_or(0);
        self.links_up
            .iter()
            .any(|(n, t)| n == node && *t >= started_ms && *t <= at_ms)
    }
}

/// Whether `sibling` could not have started an election before `replica`'s, which won by
/// `promoted_ms`: the sibling had started one itself (a forced manual failover, or an
/// election that got too few votes) so recently that Redis would not let it schedule the
/// next. `clusterHandleSlaveFailover` schedules a new election only once the last one's
/// `failover_auth_time` (at most a cron tick before that election started) is more than the
/// retry time (`2 × max(2 × node timeout, 2 s)`) old, and delays it 500 ms at least (seed
/// 711242).
fn sibling_held_back(
    elections: &[(String, u64)],
    sibling: &str,
    replica: &str,
    promoted_ms: u64,
    node_timeout_ms: u64,
) -> Option<u64> {
    let started = |node: &str| -> Vec<u64> {
        elections
            .iter()
            .filter(|(n, at_ms)| n == node && *at_ms <= promoted_ms)
            .map(|(_, at_ms)| *at_ms)
            .collect()
    };
    let replica_ms = started(replica).last().copied().unwrap_or(promoted_ms);
    let earliest_next = |sibling_ms: u64| {
        sibling_ms + election_retry_ms(node_timeout_ms) + ELECTION_DELAY_MIN_MS - CRON_TICK_MS
    };
    started(sibling)
        .into_iter()
        .rfind(|&sibling_ms| sibling_ms <= replica_ms && replica_ms < earliest_next(sibling_ms))
}

/// `nodeN` → N-1.
pub(crate) fn index_of_name(name: &str) -> Option<usize> {
    NodeIdx::from_name(name).map(|n| n.0)
}

/// A replica cut off from its master for a long time, while a sibling replica kept
/// replicating and stayed available, must not be the one promoted (name
/// `stale_replica_promoted`, the partition case; [`stale_promotions`] covers restarts).
///
/// Redis prefers the freshest replica: each replica delays its election by 1 s per sibling
/// with a larger replication offset (learnt from their pings), and a master votes for only
/// one replica of a failed master per two node timeouts. So when replica R is promoted
/// although
/// - R could not hear its master M for more than [`STALE_CUT_OFF_NODE_TIMEOUTS`] node
///   timeouts before the promotion, and
/// - a sibling S (a replica of M then too) heard M at least a node timeout later than R did,
///   and M acknowledged a write in between that reached S (so S's offset is larger), and
/// - S was up, not restarted, and linked both ways to every node but M (R included) for the
///   two node timeouts before the promotion, with no latency or packet-loss fault, and no
///   manual failover was sent to R in that stretch, and
/// - S was free to schedule an election: its replication link had come up since it last
///   started, and no election of its own had started within the retry time before R's (see
///   `sibling_held_back`),
///
/// then S's election ran first with every vote in reach, and R's promotion skipped it.
///
/// `acked_writes`: `(master addr, acknowledged at ms)`; `replicas`:
/// [`ReplicaHistory::from_events`]; `names`: `ip:port` → node name.
pub fn stale_partitioned_promotions(
    samples: &[Sample],
    net: &Connectivity,
    schedule_failovers: &[(usize, u64)],
    acked_writes: &[(String, u64)],
    replicas: &ReplicaHistory,
    node_timeout_ms: u64,
    names: &BTreeMap<String, String>,
) -> Vec<Violation> {
    let mut violations = Vec::new();
    let mut followers = Followers::default();
    let mut reported: BTreeSet<(String, String)> = BTreeSet::new();
    for sample in samples {
        let Some((_, followed)) = followers.observe(sample) else {
            continue;
        };
        let Followed {
            master_id,
            master_addr,
            replica_ms,
        } = followed;
        let promoted_ms = sample.time_ms;
        let (Some(r), Some(m)) = (
            index_of_name(&sample.node),
            names.get(&master_addr).and_then(|n| index_of_name(n)),
        ) else {
            continue;
        };
        let Some(heard_r) = net.last_delivery(m, r, replica_ms) else {
            continue;
        };
        if promoted_ms.saturating_sub(heard_r) <= STALE_CUT_OFF_NODE_TIMEOUTS * node_timeout_ms {
            continue;
        }
        let window_from = replica_ms.saturating_sub(2 * node_timeout_ms);
        let manual = schedule_failovers
            .iter()
            .any(|&(n, t)| n == r && t + 3 * node_timeout_ms >= window_from && t <= promoted_ms);
        if manual {
            continue;
        }
        let siblings = followers.of(&master_id, &sample.node, replica_ms);
        for sibling in siblings {
            let Some(s) = index_of_name(sibling) else {
                continue;
            };
            let Some(heard_s) = net.last_delivery(m, s, replica_ms) else {
                continue;
            };
            if heard_s < heard_r + node_timeout_ms {
                continue;
            }
            let carried = acked_writes.iter().any(|(addr, at_ms)| {
                *addr == master_addr
                    && *at_ms > heard_r
                    && net.linked_throughout(m, s, *at_ms, *at_ms + REPLICATION_MS)
            });
            let available = (0..net.node_count())
                .filter(|&n| n != m && n != s)
                .all(|n| {
                    net.linked_throughout(s, n, window_from, promoted_ms)
                        && net.linked_throughout(n, s, window_from, promoted_ms)
                })
                && net.max_delivery_ms(window_from, promoted_ms) < RANK_HEAD_START_MS;
            let held_back = sibling_held_back(
                &replicas.elections,
                sibling,
                &sample.node,
                promoted_ms,
                node_timeout_ms,
            );
            let linked = replicas.linked_since_start(sibling, promoted_ms);
            if !carried || !available || held_back.is_some() || !linked {
                continue;
            }
            if !reported.insert((sample.node.clone(), sibling.to_string())) {
                continue;
            }
            violations.push(Violation::new(
                ViolationKind::StaleReplicaPromoted,
                format!(
                    "{} was promoted by {} (replica until {}) in place of its master {} ({}), \
                     which it had not heard since {}; its sibling {sibling} had heard it until \
                     {} (with writes {} acknowledged since) and was up and reachable throughout",
                    sample.node,
                    fmt_ms(promoted_ms),
                    fmt_ms(replica_ms),
                    names.get(&master_addr).map_or("?", String::as_str),
                    short(&master_id),
                    fmt_ms(heard_r),
                    fmt_ms(heard_s),
                    master_addr,
                ),
            ));
        }
    }
    violations
}
