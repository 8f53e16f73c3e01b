//! The failover scenario's schedules: a proptest strategy ([`schedule_strategy`]) of crashes,
//! pauses past the node timeout, minority partitions and manual `CLUSTER FAILOVER`s on
//! replicas, so a failing schedule shrinks; [`planned_schedule`] draws one from a seed.

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config as RunnerConfig, RngAlgorithm, TestRng, TestRunner};

use super::effective_config;
use crate::faults::{
    from_episodes, ClusterShape, CrashKind, Episode, EpisodeKind, FailoverMode, Fault,
    FaultSchedule, TimedFault,
};
use crate::seeds::SimConfig;

/// The `CLUSTER FAILOVER` options generated schedules use: the coordinated one (no option),
/// `FORCE` and `TAKEOVER`.
pub const FAILOVER_MODES: &[FailoverMode] = &[
    FailoverMode::Default,
    FailoverMode::Force,
    FailoverMode::Takeover,
];

/// Most steps (episodes and manual failovers) a generated schedule holds.
pub const MAX_STEPS: usize = 8;

/// One generated step: a fault with its undo, or a manual failover.
#[derive(Clone, Debug)]
enum Step {
    Episode(Episode),
    Failover {
        at_ms: u64,
        node: usize,
        mode: FailoverMode,
    },
}

fn step_strategy(shape: &ClusterShape) -> BoxedStrategy<Step> {
    let nt = shape.node_timeout_ms.max(1);
    let span = shape.span_ms.max(1);
    let n = shape.nodes.max(3);
    let masters = if shape.masters.is_empty() {
        vec![0]
    } else {
        shape.masters.clone()
    };
    let mut replicas: Vec<usize> = (0..n).filter(|i| !masters.contains(i)).collect();
    if replicas.is_empty() {
        replicas.push(n - 1);
    }
    // Masters are the interesting victims: their loss is what makes replicas fail over.
    let victim = prop_oneof![2 => proptest::sample::select(masters), 1 => 0..n];
    let episode = |start_ms, duration_ms, kind| {
        Step::Episode(Episode {
            start_ms,
            duration_ms,
            kind,
        })
    };
    prop_oneof![
        3 => (0..span, nt / 2..=3 * nt, victim.clone())
            .prop_map(move |(s, d, node)| episode(s, d, EpisodeKind::Crash { node, how: CrashKind::PowerLoss })),
        2 => (0..span, nt + nt / 5..=3 * nt, victim)
            .prop_map(move |(s, d, node)| episode(s, d, EpisodeKind::Pause { node })),
        2 => (
            0..span,
            nt / 2..=3 * nt,
            proptest::sample::subsequence((0..n).collect::<Vec<_>>(), 1..=((n - 1) / 2).max(1)),
        )
            .prop_map(move |(s, d, minority)| {
                episode(s, d, EpisodeKind::Partition { groups: vec![minority] })
            }),
        3 => (
            0..span,
            proptest::sample::select(replicas),
            proptest::sample::select(FAILOVER_MODES.to_vec()),
        )
            .prop_map(|(at_ms, node, mode)| Step::Failover { at_ms, node, mode }),
    ]
    .boxed()
}

/// Turns steps into a schedule: episodes through [`from_episodes`] (no overlaps on one knob,
/// a majority of masters kept up and together), manual failovers as they are.
fn to_schedule(steps: &[Step], shape: &ClusterShape) -> FaultSchedule {
    let mut episodes: Vec<Episode> = steps
        .iter()
        .filter_map(|s| match s {
            Step::Episode(e) => Some(e.clone()),
            Step::Failover { .. } => None,
        })
        .collect();
    episodes.sort_by_key(|e| e.start_ms);
    let mut faults = from_episodes(&episodes, shape).0;
    faults.extend(steps.iter().filter_map(|s| match s {
        Step::Failover { at_ms, node, mode } => Some(TimedFault {
            at_ms: *at_ms,
            fault: Fault::ManualFailover {
                node: *node,
                mode: *mode,
            },
        }),
        Step::Episode(_) => None,
    }));
    FaultSchedule::new(faults)
}

/// A proptest strategy for failover schedules on `shape`: 1 to [`MAX_STEPS`] crashes (with
/// their restart), pauses beyond the node timeout, minority partitions (with their heal) and
/// manual failovers, at random times in the safety phase. Shrinking drops steps, moves them
/// earlier, shortens them and prefers lower node indices.
pub fn schedule_strategy(shape: &ClusterShape) -> BoxedStrategy<FaultSchedule> {
    let shape = shape.clone();
    proptest::collection::vec(step_strategy(&shape), 1..=MAX_STEPS)
        .prop_map(move |steps| to_schedule(&steps, &shape))
        .boxed()
}

/// The schedule `seed` draws for `config` (what a run without an explicit schedule uses).
pub fn planned_schedule(seed: u64, config: &SimConfig) -> FaultSchedule {
    let shape = ClusterShape::of(&effective_config(config));
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    bytes[8..16].copy_from_slice(b"failover");
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &bytes);
    let mut runner = TestRunner::new_with_rng(RunnerConfig::default(), rng);
    schedule_strategy(&shape)
        .new_tree(&mut runner)
        .map(|tree| tree.current())
        .unwrap_or_default()
}
