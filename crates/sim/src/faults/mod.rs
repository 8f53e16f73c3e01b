//! Faults as data: a [`Fault`] is one serializable action on the simulated cluster (partition,
//! crash, pause, clogged link, latency, …) and a [`FaultSchedule`] says when each one happens,
//! in virtual milliseconds since the start of a run's safety phase.
//!
//! Schedules come from three places, all deterministic: [`swarm()`] draws one from a run seed
//! (swarm testing: each run enables a random subset of fault kinds, each with its own rate, so
//! seeds explore very different mixes); [`schedule_strategy`] is a proptest strategy, so a
//! failing schedule shrinks to a small one; and seed files carry explicit schedules. Every
//! generated schedule keeps a majority of masters up and together ([`check_majority`]): the
//! safety phase probes what the cluster must never do, not what it cannot do without a quorum.
//!
//! Applying a schedule to a running `SimCluster` is `FaultInjector` (simulation build only).
//! Application is tolerant: a fault that makes no sense in the current state (restarting a
//! running node) is skipped and noted in the trace, which is what lets shrinking drop any
//! event without making the schedule invalid.
//!
//! The parts: `config_draw` (the cluster shape and knobs a seed draws), `model` (the faults,
//! schedules and cluster shape), `majority` (the rule every generated schedule keeps but in
//! one window), `majority_loss` (that window), `episode` (a fault with its undo), `repeat` (a
//! shard failing over twice), `clock_draw` (wall clocks set wrong, stepped and drifting),
//! `swarm` and `strategy` (the two generators), `shrink`
//! (shrinking without proptest), `inject` (the injector) and `client_cut` (its client
//! partition). Every public item is re-exported here,
//! at `clusterlab_sim::faults::…`.

#[cfg(madsim)]
mod client_cut;
mod clock_draw;
mod config_draw;
mod episode;
#[cfg(madsim)]
mod inject;
mod majority;
mod majority_loss;
mod model;
mod repeat;
mod shrink;
#[cfg(madsim)]
mod slot_move;
mod strategy;
mod swarm;

pub use clock_draw::{
    draw_clock_faults, with_clock_faults, CLOCK_FAULT_PROBABILITY, MAX_DRIFT_PPM,
};
pub use config_draw::{draw_config, ConfigPins, NODE_TIMEOUTS_MS, VALIDITY_FACTORS};
pub use episode::{from_episodes, Episode, EpisodeKind};
#[cfg(madsim)]
pub use inject::{FaultInjector, RESTART_GAP_MS};
pub use majority::check_majority;
pub use majority_loss::{draw_majority_loss, MajorityLoss, MAJORITY_LOSS_PROBABILITY};
pub use model::{
    ClusterShape, CrashKind, Direction, DiskErrorKind, FailoverMode, Fault, FaultKind,
    FaultSchedule, TimedFault, DEFAULT_LATENCY_MS, SAFETY_SPAN_NODE_TIMEOUTS,
};
pub use repeat::{draw_repeat_failover, REPEAT_FAILOVER_PROBABILITY};
pub use shrink::shrink;
pub use strategy::{schedule_strategy, MAX_STRATEGY_EPISODES};
pub use swarm::{swarm, Compound, SwarmKind, COMPOUND_KINDS, MAX_SLOTS_PER_MOVE, SWARM_KINDS};

/// Helpers the tests of every part share.
#[cfg(test)]
mod testing {
    use super::{ClusterShape, Fault, TimedFault};
    use crate::seeds::SimConfig;

    pub(crate) fn shape(masters: usize, replicas: usize) -> ClusterShape {
        ClusterShape::of(&SimConfig {
            masters,
            replicas,
            node_timeout_ms: 5000,
            ..SimConfig::default()
        })
    }

    pub(crate) fn at(at_ms: u64, fault: Fault) -> TimedFault {
        TimedFault { at_ms, fault }
    }
}
