//! Swarm generation: [`swarm`] draws a run's schedule from its seed. Each run enables a random
//! subset of fault kinds, each with its own rate, so seeds explore very different mixes;
//! compound kinds time several episodes against each other to line up what single faults
//! rarely do. The order of every rng draw is part of the seed format: changing it changes
//! what every seed runs.

use std::collections::BTreeSet;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::clock_draw::{draw_clock_faults, with_clock_faults};
use super::episode::{from_episodes, Episode, EpisodeKind};
use super::majority::check_majority;
use super::majority_loss::draw_majority_loss;
use super::model::{
    ClusterShape, CrashKind, Direction, DiskErrorKind, FailoverMode, FaultKind, FaultSchedule,
};
use super::repeat::draw_repeat_failover;

/// What swarm generation enables or not in a run: a plain kind (one episode of that fault and
/// its undo) or a compound (several episodes timed against each other).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SwarmKind {
    /// Episodes of one fault kind, each with its undo.
    Plain(FaultKind),
    /// Episodes of a [`Compound`] situation.
    Compound(Compound),
}

/// Compound kinds: plain episodes timed against each other to build the situations that
/// single faults rarely line up, each aimed at one failover mechanism.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Compound {
    /// A replica stops hearing its master, then the master crashes while the link is still
    /// down, so a fresher sibling exists (the rank and data-age checks).
    LaggingReplica,
    /// A master crashes long enough to be failed over, and when it comes back its former
    /// replicas (one of them is the new owner) cannot reach it, so only third nodes can tell
    /// it it is stale (UPDATE messages).
    StaleReturn,
    /// A master crashes and the network turns slow while its replicas run for election, so
    /// their requests and the winner's announcement cross (the voting rules).
    SlowFailover,
}

/// The kinds swarm generation chooses among, in the order it draws them.
pub const SWARM_KINDS: &[SwarmKind] = &[
    SwarmKind::Plain(FaultKind::Partition),
    SwarmKind::Plain(FaultKind::Crash),
    SwarmKind::Plain(FaultKind::Pause),
    SwarmKind::Plain(FaultKind::ClogLink),
    SwarmKind::Plain(FaultKind::ClogNode),
    SwarmKind::Plain(FaultKind::Latency),
    SwarmKind::Plain(FaultKind::PacketLoss),
    SwarmKind::Plain(FaultKind::ClientPartition),
    SwarmKind::Plain(FaultKind::DiskError),
    SwarmKind::Plain(FaultKind::WipeRestart),
    SwarmKind::Plain(FaultKind::ManualFailover),
    SwarmKind::Plain(FaultKind::MoveSlots),
    SwarmKind::Compound(Compound::LaggingReplica),
    SwarmKind::Compound(Compound::StaleReturn),
    SwarmKind::Compound(Compound::SlowFailover),
    SwarmKind::Plain(FaultKind::SlowDisk),
];

/// Draws a schedule from `seed`: each kind of [`SWARM_KINDS`] is enabled with probability
/// one half (at least one always is), each enabled kind gets its own mean gap between
/// episodes, and episodes that would break the majority rule are dropped. At most one wipe
/// per run: each one loses a master's data for good. Half the seeds whose shape has replicas
/// also make one shard fail over twice ([`draw_repeat_failover`]).
pub fn swarm(seed: u64, shape: &ClusterShape) -> FaultSchedule {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5357_4152_4d00_0000);
    let mut enabled: Vec<SwarmKind> = SWARM_KINDS
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
        let limit = if kind == SwarmKind::Plain(FaultKind::WipeRestart) {
            1
        } else {
            8
        };
        let mut count = 0;
        while t < span && count < limit {
            let drawn = match kind {
                SwarmKind::Compound(compound) => draw_compound(&mut rng, compound, t, shape),
                SwarmKind::Plain(kind) => {
                    draw_episode(&mut rng, kind, t, shape).into_iter().collect()
                }
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
    let mut repeat = draw_repeat_failover(seed, shape);
    let majority_loss = draw_majority_loss(seed, shape);
    if let Some(loss) = &majority_loss {
        // The window is the majority loss's alone.
        let margin_ms = shape.node_timeout_ms;
        episodes.retain(|e| !loss.overlaps(e, margin_ms));
        if repeat.iter().any(|e| loss.overlaps(e, margin_ms)) {
            repeat.clear();
        }
    }
    let schedule = swarm_within_majority(episodes, repeat, shape);
    let schedule = match majority_loss {
        Some(loss) => loss.add_to(schedule),
        None => schedule,
    };
    with_clock_faults(schedule, &draw_clock_faults(seed, shape))
}

/// The plain episodes and a repeated failover, kept only as far as the majority rule allows.
fn swarm_within_majority(
    mut episodes: Vec<Episode>,
    repeat: Vec<Episode>,
    shape: &ClusterShape,
) -> FaultSchedule {
    // Time order, then kind order: the majority filter keeps the earlier episode.
    episodes.sort_by_key(|e| e.start_ms);
    let plain = from_episodes(&episodes, shape);
    if repeat.is_empty() {
        return plain;
    }
    episodes.extend(repeat);
    episodes.sort_by_key(|e| e.start_ms);
    let with_repeat = from_episodes(&episodes, shape);
    // A repeated failover stops the replicas of a shard while one of them is its master,
    // which the majority rule (on the shape `create` made) counts as replicas only: it stays
    // only if it breaks the rule for no shape where a replica replaced its master.
    let safe = promoted_shapes(shape)
        .iter()
        .all(|p| check_majority(&with_repeat, p).is_ok() || check_majority(&plain, p).is_err());
    if safe {
        with_repeat
    } else {
        plain
    }
}

/// The shape after each possible failover: one replica in its master's place.
fn promoted_shapes(shape: &ClusterShape) -> Vec<ClusterShape> {
    shape
        .replica_of
        .iter()
        .map(|&(replica, master)| {
            let mut promoted = shape.clone();
            for m in &mut promoted.masters {
                if *m == master {
                    *m = replica;
                }
            }
            promoted.masters.sort_unstable();
            promoted
        })
        .collect()
}

/// The episodes of one [`SwarmKind`] starting at `start_ms`, drawn from `seed` as swarm
/// generation draws them (for the proptest strategy, whose hand-written kinds cannot line up
/// a manual failover's replicas, a slot move's masters or a compound's parts).
pub(super) fn draw_kind(
    seed: u64,
    kind: SwarmKind,
    start_ms: u64,
    shape: &ClusterShape,
) -> Vec<Episode> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    match kind {
        SwarmKind::Compound(compound) => draw_compound(&mut rng, compound, start_ms, shape),
        SwarmKind::Plain(kind) => draw_episode(&mut rng, kind, start_ms, shape)
            .into_iter()
            .collect(),
    }
}

/// How a drawn crash treats the disk: a process crash (the kernel keeps every write), a power
/// loss (only synced bytes), or a power loss that tears each file's unsynced tail at a drawn
/// point, in equal shares.
fn draw_crash_kind(rng: &mut impl Rng) -> CrashKind {
    match rng.gen_range(0..3) {
        0 => CrashKind::Process,
        1 => CrashKind::PowerLoss,
        _ => CrashKind::Torn {
            keep_permille: rng.gen_range(1..1000),
        },
    }
}

/// One episode of a plain kind, or none when the shape has no room for it (or the kind is an
/// undo, which episodes bring along themselves).
fn draw_episode(
    rng: &mut ChaCha8Rng,
    kind: FaultKind,
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
        FaultKind::Partition => (
            rng.gen_range(nt / 2..=3 * nt),
            EpisodeKind::Partition {
                groups: draw_partition(rng, shape),
            },
        ),
        FaultKind::Crash => (
            rng.gen_range(nt / 2..=3 * nt),
            EpisodeKind::Crash {
                node,
                how: draw_crash_kind(rng),
            },
        ),
        // Longer than the node timeout, so the others flag the node.
        FaultKind::Pause => (
            rng.gen_range(nt + nt / 5..=3 * nt),
            EpisodeKind::Pause { node },
        ),
        FaultKind::ClogLink => {
            let to = (node + rng.gen_range(1..n)) % n;
            (
                rng.gen_range(nt / 2..=2 * nt),
                EpisodeKind::ClogLink { from: node, to },
            )
        }
        FaultKind::ClogNode => {
            let direction = [Direction::In, Direction::Out, Direction::Both][rng.gen_range(0..3)];
            (
                rng.gen_range(nt / 2..=2 * nt),
                EpisodeKind::ClogNode { node, direction },
            )
        }
        FaultKind::Latency => {
            let max_ms = rng.gen_range(20..=(nt / 4).max(21));
            let min_ms = rng.gen_range(1..max_ms);
            (
                rng.gen_range(nt / 2..=3 * nt),
                EpisodeKind::Latency { min_ms, max_ms },
            )
        }
        FaultKind::PacketLoss => (
            rng.gen_range(nt / 2..=3 * nt),
            EpisodeKind::PacketLoss {
                permille: rng.gen_range(10..=300),
            },
        ),
        FaultKind::ClientPartition => {
            let mut cut: Vec<usize> = (0..n).filter(|_| rng.gen_bool(0.5)).collect();
            if cut.is_empty() {
                cut.push(node);
            }
            (
                rng.gen_range(nt / 2..=3 * nt),
                EpisodeKind::ClientPartition { nodes: cut },
            )
        }
        FaultKind::DiskError => {
            let kinds = [
                DiskErrorKind::Full,
                DiskErrorKind::Broken,
                DiskErrorKind::SyncFails,
            ];
            (
                rng.gen_range(nt / 2..=3 * nt),
                EpisodeKind::DiskError {
                    node,
                    error: kinds[rng.gen_range(0..kinds.len())],
                },
            )
        }
        FaultKind::WipeRestart => (0, EpisodeKind::WipeRestart { node }),
        FaultKind::SlowDisk => (
            rng.gen_range(nt / 2..=3 * nt),
            EpisodeKind::SlowDisk {
                node,
                fsync_ms: draw_fsync_ms(rng, nt),
            },
        ),
        FaultKind::ManualFailover => (0, draw_manual_failover(rng, shape)?),
        FaultKind::MoveSlots => {
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
        // Drawn on their own stream (`clock_draw`), never through `SWARM_KINDS`.
        FaultKind::ClockJump | FaultKind::ClockDrift => return None,
        FaultKind::Heal
        | FaultKind::ClientHeal
        | FaultKind::DiskRepair
        | FaultKind::Restart
        | FaultKind::UnclogLink
        | FaultKind::UnclogNode => return None,
    };
    Some(Episode {
        start_ms,
        duration_ms,
        kind,
    })
}

/// How long each sync of a slow disk takes: mostly tens of ms to a few seconds (Redis's
/// everysec postponement lasts up to two), one time in four around the node timeout, where
/// an `always` node stalls long enough to be failed over.
pub(super) fn draw_fsync_ms(rng: &mut impl Rng, node_timeout_ms: u64) -> u64 {
    let nt = node_timeout_ms.max(2);
    if rng.gen_bool(0.25) {
        rng.gen_range(nt / 2..=2 * nt)
    } else {
        rng.gen_range(20..=3000)
    }
}

/// The compound kinds of [`SWARM_KINDS`], which swarm generation builds from several plain
/// episodes.
pub const COMPOUND_KINDS: &[Compound] = &[
    Compound::LaggingReplica,
    Compound::StaleReturn,
    Compound::SlowFailover,
];

/// The episodes of one [`Compound`] starting at `start_ms`, or none when the shape has no
/// replicas. The whole compound is moved earlier if it would not fit in the span.
fn draw_compound(
    rng: &mut ChaCha8Rng,
    kind: Compound,
    start_ms: u64,
    shape: &ClusterShape,
) -> Vec<Episode> {
    if shape.replica_of.is_empty() {
        return Vec::new();
    }
    let nt = shape.node_timeout_ms.max(1);
    let (replica, master) = shape.replica_of[rng.gen_range(0..shape.replica_of.len())];
    // (offset from the compound's start, duration, kind)
    let parts: Vec<(u64, u64, EpisodeKind)> =
        match kind {
            Compound::LaggingReplica => {
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
                    (
                        crash_at,
                        crash_ms,
                        EpisodeKind::Crash {
                            node: master,
                            how: CrashKind::PowerLoss,
                        },
                    ),
                ]
            }
            Compound::StaleReturn => {
                let crash_ms = rng.gen_range(2 * nt + nt / 2..=3 * nt);
                let clog_from = crash_ms - nt / 4;
                let clog_ms = nt / 4 + 3 * nt + rng.gen_range(0..=nt / 2);
                let mut parts = vec![(
                    0,
                    crash_ms,
                    EpisodeKind::Crash {
                        node: master,
                        how: CrashKind::PowerLoss,
                    },
                )];
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
            Compound::SlowFailover => {
                let crash_ms = rng.gen_range(2 * nt..=3 * nt);
                let max_ms = rng.gen_range(nt / 5..=nt / 2).max(21);
                let min_ms = rng.gen_range(max_ms / 4..max_ms);
                vec![
                    (
                        0,
                        crash_ms,
                        EpisodeKind::Crash {
                            node: master,
                            how: CrashKind::PowerLoss,
                        },
                    ),
                    (nt / 2, 2 * nt, EpisodeKind::Latency { min_ms, max_ms }),
                ]
            }
        };
    let length_ms = parts.iter().map(|(at, d, _)| at + d).max().unwrap_or(0);
    let start_ms = start_ms.min(shape.span_ms.saturating_sub(length_ms));
    parts
        .into_iter()
        .map(|(at, duration_ms, kind)| Episode {
            start_ms: start_ms + at,
            duration_ms,
            kind,
        })
        .collect()
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faults::majority::check_majority;
    use crate::faults::model::Fault;
    use crate::faults::testing::shape;

    #[test]
    fn swarm_is_deterministic_varied_and_valid() {
        let s = shape(3, 1);
        assert_eq!(swarm(7, &s), swarm(7, &s));
        let mut kind_sets = BTreeSet::new();
        let mut total = 0;
        for seed in 0..200 {
            let schedule = swarm(seed, &s);
            schedule.validate(s.nodes).unwrap();
            if crate::faults::draw_majority_loss(seed, &s).is_none() {
                check_majority(&schedule, &s).unwrap();
            }
            assert!(schedule
                .iter()
                .all(|f| f.at_ms <= s.span_ms + 3 * s.node_timeout_ms));
            let wipes = schedule
                .iter()
                .filter(|f| matches!(f.fault, Fault::WipeRestart { .. }))
                .count();
            assert!(wipes <= 1, "seed {seed}: {wipes} wipes");
            total += schedule.len();
            kind_sets.insert(schedule.fault_kinds());
        }
        // Swarm: many different mixes, and a fair number of faults per run.
        assert!(kind_sets.len() > 40, "{} mixes", kind_sets.len());
        assert!(total > 200 * 4, "{total} faults in 200 runs");
        // Compounds are made of plain faults; `compounds_line_up_their_parts` covers them.
        for kind in SWARM_KINDS {
            match kind {
                SwarmKind::Plain(kind) => assert!(
                    kind_sets.iter().any(|k| k.contains(kind)),
                    "{kind:?} never drawn"
                ),
                SwarmKind::Compound(compound) => assert!(COMPOUND_KINDS.contains(compound)),
            }
        }
    }

    #[test]
    fn compounds_line_up_their_parts() {
        let s = shape(3, 2);
        let nt = s.node_timeout_ms;
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        assert_eq!(
            draw_compound(&mut rng, Compound::StaleReturn, 0, &shape(3, 0)),
            Vec::new()
        );
        for _ in 0..20 {
            let start = rng.gen_range(0..s.span_ms);
            let lagging = draw_compound(&mut rng, Compound::LaggingReplica, start, &s);
            let [clog, crash] = lagging.as_slice() else {
                panic!("{lagging:?}")
            };
            let (EpisodeKind::ClogLink { from, to }, EpisodeKind::Crash { node, .. }) =
                (&clog.kind, &crash.kind)
            else {
                panic!("{lagging:?}")
            };
            assert!(s.replica_of.contains(&(*to, *from)) && node == from);
            // The master crashes while the link is still cut, long enough after it was cut.
            assert!(crash.start_ms >= clog.start_ms + 2 * nt);
            assert!(clog.start_ms + clog.duration_ms > crash.start_ms + 2 * nt);
            assert!(crash.start_ms + crash.duration_ms <= s.span_ms);

            let stale = draw_compound(&mut rng, Compound::StaleReturn, start, &s);
            let EpisodeKind::Crash {
                node: master,
                how: CrashKind::PowerLoss,
            } = stale[0].kind
            else {
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

            let slow = draw_compound(&mut rng, Compound::SlowFailover, start, &s);
            assert!(matches!(slow[0].kind, EpisodeKind::Crash { .. }));
            let EpisodeKind::Latency { min_ms, max_ms } = slow[1].kind else {
                panic!("{slow:?}")
            };
            assert!(min_ms < max_ms && max_ms <= nt / 2);
            assert!(slow[1].start_ms < slow[0].start_ms + slow[0].duration_ms);
        }
    }
}
