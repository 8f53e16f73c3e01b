//! The proptest strategy for fault schedules: [`schedule_strategy`] draws episodes at random
//! times and filters them through [`from_episodes`], so a failing schedule shrinks (fewer,
//! earlier, shorter episodes) to a small one that still keeps the majority rule. Manual
//! failovers, slot moves and the compound kinds are drawn as swarm generation draws them
//! (their parts must fit the shape), from a seed the strategy picks.

use proptest::prelude::*;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::clock_draw::{draw_drift, draw_jump};
use super::episode::{from_episodes, Episode, EpisodeKind};
use super::majority_loss::majority_loss;
use super::model::{ClusterShape, CrashKind, Direction, DiskErrorKind, FaultKind, FaultSchedule};
use super::swarm::{draw_kind, Compound, SwarmKind};

/// The kinds the strategy draws through swarm generation.
const SWARM_DRAWN: &[SwarmKind] = &[
    SwarmKind::Plain(FaultKind::ManualFailover),
    SwarmKind::Plain(FaultKind::MoveSlots),
    SwarmKind::Compound(Compound::LaggingReplica),
    SwarmKind::Compound(Compound::StaleReturn),
    SwarmKind::Compound(Compound::SlowFailover),
];

/// Most episodes a proptest schedule holds (before the majority filter).
pub const MAX_STRATEGY_EPISODES: usize = 10;

fn crash_kind_strategy() -> impl Strategy<Value = CrashKind> {
    prop_oneof![
        Just(CrashKind::PowerLoss),
        Just(CrashKind::Process),
        (0..=1000u32).prop_map(|keep_permille| CrashKind::Torn { keep_permille }),
    ]
}

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
        (node.clone(), crash_kind_strategy())
            .prop_map(|(node, how)| EpisodeKind::Crash { node, how }),
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
        node.clone()
            .prop_map(|node| EpisodeKind::WipeRestart { node }),
        proptest::sample::subsequence((0..n).collect::<Vec<_>>(), 1..=n)
            .prop_map(|nodes| EpisodeKind::ClientPartition { nodes }),
        (node.clone(), 20..=2 * nt)
            .prop_map(|(node, fsync_ms)| EpisodeKind::SlowDisk { node, fsync_ms }),
        (
            node,
            prop_oneof![
                Just(DiskErrorKind::Full),
                Just(DiskErrorKind::Broken),
                Just(DiskErrorKind::SyncFails)
            ]
        )
            .prop_map(|(node, error)| EpisodeKind::DiskError { node, error }),
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
    let drawn_shape = shape.clone();
    let drawn =
        (0..span, 0..SWARM_DRAWN.len(), any::<u64>()).prop_map(move |(start_ms, kind, seed)| {
            draw_kind(seed, SWARM_DRAWN[kind], start_ms, &drawn_shape)
        });
    // Clock steps and drifts as swarm generation draws them (sizes spanning ms to hours).
    let clock_shape = shape.clone();
    let clock = (any::<u64>(), any::<bool>()).prop_map(move |(seed, drift)| {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        if drift {
            vec![draw_drift(&mut rng, &clock_shape)]
        } else {
            vec![draw_jump(&mut rng, &clock_shape)]
        }
    });
    let shape = shape.clone();
    let group = prop_oneof![3 => episode.prop_map(|e| vec![e]), 1 => drawn, 1 => clock];
    // One schedule in five also loses the majority of masters for a while (shapes of three
    // masters or more); shrinking may drop it.
    let loss_seed = proptest::option::weighted(0.2, any::<u64>());
    (
        proptest::collection::vec(group, 0..=MAX_STRATEGY_EPISODES),
        loss_seed,
    )
        .prop_map(move |(groups, loss_seed)| {
            let mut episodes: Vec<Episode> = groups.into_iter().flatten().collect();
            let loss = loss_seed
                .filter(|_| shape.masters.len() >= 3)
                .map(|seed| majority_loss(&mut ChaCha8Rng::seed_from_u64(seed), &shape));
            if let Some(loss) = &loss {
                episodes.retain(|e| !loss.overlaps(e, shape.node_timeout_ms));
            }
            episodes.sort_by_key(|e| e.start_ms);
            let schedule = from_episodes(&episodes, &shape);
            match loss {
                Some(loss) => loss.add_to(schedule),
                None => schedule,
            }
        })
        .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faults::majority::check_majority;
    use crate::faults::testing::shape;

    /// Valid schedules, shrunk ones too; the majority rule holds but in the one schedule in
    /// five that loses the majority on purpose.
    #[test]
    fn strategy_schedules_are_valid() {
        use proptest::strategy::ValueTree;
        use proptest::test_runner::TestRunner;
        for s in [shape(3, 0), shape(3, 1)] {
            let strategy = schedule_strategy(&s);
            let mut runner = TestRunner::deterministic();
            let mut majority_lost = 0;
            for _ in 0..100 {
                let mut tree = strategy.new_tree(&mut runner).unwrap();
                tree.current().validate(s.nodes).unwrap();
                majority_lost += usize::from(check_majority(&tree.current(), &s).is_err());
                for _ in 0..20 {
                    if !tree.simplify() {
                        break;
                    }
                    tree.current().validate(s.nodes).unwrap();
                }
            }
            assert!((8..=35).contains(&majority_lost), "{majority_lost} of 100");
        }
    }

    /// The strategy reaches manual failovers and slot moves on a shape with replicas (drawn
    /// through swarm generation, as the compounds are), client partitions, disk errors, slow
    /// disks and every crash kind.
    #[test]
    fn strategy_draws_failovers_moves_and_compounds() {
        use crate::faults::Fault;
        use proptest::strategy::ValueTree;
        use proptest::test_runner::TestRunner;
        let s = shape(3, 1);
        let strategy = schedule_strategy(&s);
        let mut runner = TestRunner::deterministic();
        let (mut failovers, mut moves, mut client_cuts, mut disk_errors) = (0, 0, 0, 0);
        let (mut jumps, mut drifts, mut slow_disks) = (0, 0, 0);
        let mut crash_kinds = std::collections::BTreeSet::new();
        for _ in 0..200 {
            let schedule = strategy.new_tree(&mut runner).unwrap().current();
            for f in schedule.iter() {
                match f.fault {
                    Fault::ManualFailover { .. } => failovers += 1,
                    Fault::MoveSlots { .. } => moves += 1,
                    Fault::ClientPartition { .. } => client_cuts += 1,
                    Fault::DiskError { .. } => disk_errors += 1,
                    Fault::ClockJump { .. } => jumps += 1,
                    Fault::ClockDrift { .. } => drifts += 1,
                    Fault::SlowDisk { fsync_ms, .. } if fsync_ms > 0 => slow_disks += 1,
                    Fault::Crash { how, .. } => {
                        crash_kinds.insert(format!("{how:?}").chars().take(5).collect::<String>());
                    }
                    _ => {}
                }
            }
        }
        assert!(
            failovers > 0 && moves > 0 && client_cuts > 0,
            "{failovers} failovers, {moves} moves, {client_cuts} client partitions"
        );
        assert_eq!(crash_kinds.len(), 3, "{crash_kinds:?}");
        assert!(disk_errors > 0);
        assert!(
            jumps > 0 && drifts > 0,
            "{jumps} clock jumps, {drifts} drifts"
        );
        assert!(slow_disks > 0);
    }
}
