//! What every scenario run shares. [`in_runtime`] is the one place a madsim runtime is built
//! for a seed and a scenario's future is run to its end. [`two_phase`] is the run the
//! fault-schedule scenarios (`campaign`, `failover`) are made of — a safety phase with faults,
//! then a liveness phase with the faults healed, as in TigerBeetle's VOPR — with hooks for what
//! each scenario adds; [`poll`], [`sampler`] and [`evidence`] are its parts.

use std::future::Future;
use std::time::Duration;

use madsim::runtime::Runtime;

use crate::faults::ClusterShape;
use crate::workload::{key_for, WorkloadSpec};

pub mod evidence;
pub mod poll;
pub mod sampler;
pub mod two_phase;

pub use two_phase::{run_two_phase, PhaseTimes, Run, SafetyOutcome, TwoPhase};

/// A backstop far beyond any scenario's own bounds: madsim panics past it instead of looping.
pub const RUN_TIME_LIMIT: Duration = Duration::from_secs(3600);

/// Virtual-time bound for `cluster_state:ok` on every node after create (and, in a two-phase
/// run, for every view to agree after that).
pub const CLUSTER_OK_TIMEOUT_MS: u64 = 30_000;

/// How often the liveness phase (and the wait for a whole cluster) polls.
pub const LIVENESS_POLL_MS: u64 = 500;

/// The liveness bound: after healing, the cluster must be whole again within this long. Two
/// node timeouts for a FAIL flag on a master to be undone, one more for the rejoin delay and
/// failure reports, and 10 s for restarts and for madsim's retry backoff on links that were
/// clogged.
pub fn liveness_bound_ms(node_timeout_ms: u64) -> u64 {
    3 * node_timeout_ms + 10_000
}

/// The writer of a safety phase: 128 keys (spread over every master's slots), a `SET` every
/// 20 ms for the whole phase.
pub fn workload_spec(shape: &ClusterShape) -> WorkloadSpec {
    WorkloadSpec {
        keys: 128,
        max_ops: 1_000_000,
        duration_ms: shape.span_ms,
        interval_ms: 20,
        request_timeout_ms: 1000,
    }
}

/// The hash slots of the writer's keys: the pool slot moves take theirs from, so every
/// reshard of a run carries keys under load.
pub fn workload_slots(spec: &WorkloadSpec) -> Vec<u16> {
    (0..spec.keys)
        .map(|id| clusterlab_core::slot::key_hash_slot(key_for(spec, 0, id).as_bytes()))
        .collect()
}

/// Runs `future` in a fresh madsim runtime seeded with `seed` (default madsim config, time
/// limited by [`RUN_TIME_LIMIT`]) and returns what it returns: a [`crate::RunReport`], or a
/// scenario's richer run (timings, views to snapshot) that carries one.
pub fn in_runtime<F: Future>(seed: u64, future: F) -> F::Output {
    let mut runtime = Runtime::with_seed_and_config(seed, madsim::Config::default());
    runtime.set_time_limit(RUN_TIME_LIMIT);
    // Points a run on this thread left on (it panicked) must not reach this one.
    clusterlab_net::buggify::disable();
    runtime.block_on(async move {
        let output = future.await;
        release_machines().await;
        output
    })
}

/// A task that holds a handle to its own machine outlives a dropped madsim runtime (madsim
/// issue #242), so every run leaked its cluster: megabytes a seed, and a 10,000-seed `sim run`
/// ran out of memory. Killing every named machine once the run's result is made drops their
/// tasks; the trace is complete by then, so replays do not change.
async fn release_machines() {
    let handle = madsim::runtime::Handle::current();
    let busy: Vec<String> = handle
        .metrics()
        .num_tasks_by_node()
        .into_iter()
        // Unnamed machines (the one running this, `node-0`) are listed by number.
        .filter(|(name, tasks)| *tasks > 0 && !name.starts_with("node-"))
        .map(|(name, _)| name)
        .collect();
    for name in busy {
        handle.kill(name.as_str());
    }
    // Killed tasks are dropped when the executor next polls them.
    madsim::time::sleep(std::time::Duration::from_millis(1)).await;
}

#[cfg(test)]
mod tests {
    #[test]
    fn liveness_bound_is_three_timeouts_and_ten_seconds() {
        assert_eq!(super::liveness_bound_ms(5000), 25_000);
        assert_eq!(crate::faults::SAFETY_SPAN_NODE_TIMEOUTS, 6);
    }
}
