//! Same seed, same run: the randomized campaign must reproduce byte for byte — its trace (and
//! so its hash), its violations, its virtual duration — whether it runs alone, twice in a row
//! or side by side with other seeds on other threads, and madsim's own determinism check must
//! see the same random draws on a rerun.
//!
//! Simulation build only. `MADSIM_TEST_SEED=N` (with `MADSIM_TEST_NUM`,
//! `MADSIM_TEST_CHECK_DETERMINISM`) reruns `campaign_seed_from_env` for other seeds.
#![cfg(madsim)]

use clusterlab_sim::env_seeds::reports_for_env_seeds;
use clusterlab_sim::{campaign, RunReport, SimConfig};

/// Seeds checked here; a handful keeps `cargo test` quick while covering different schedules.
const SEEDS: [u64; 3] = [1, 2, 3];

fn run(seed: u64) -> RunReport {
    campaign::run(seed, &SimConfig::default(), None)
}

fn assert_same(a: &RunReport, b: &RunReport) {
    assert_eq!(a.violations, b.violations, "seed {}", a.seed);
    assert_eq!(a.virtual_ms, b.virtual_ms, "seed {}", a.seed);
    assert_eq!(a.trace_text, b.trace_text, "seed {}: traces differ", a.seed);
    assert_eq!(a.trace_hash, b.trace_hash, "seed {}", a.seed);
    assert_eq!(a.cluster_nodes, b.cluster_nodes, "seed {}", a.seed);
}

#[test]
fn campaign_seeds_run_twice_give_the_same_trace_hash() {
    let first: Vec<RunReport> = SEEDS.iter().map(|&s| run(s)).collect();
    let second: Vec<RunReport> = SEEDS.iter().map(|&s| run(s)).collect();
    for (a, b) in first.iter().zip(&second) {
        assert_same(a, b);
        // A campaign run does real work: faults, samples, writes.
        assert!(a.trace_len > 100, "seed {}: {} events", a.seed, a.trace_len);
    }
    let mut hashes: Vec<u64> = first.iter().map(|r| r.trace_hash).collect();
    hashes.dedup();
    assert_eq!(hashes.len(), SEEDS.len(), "the seed must matter");
}

#[test]
fn parallel_runs_match_sequential_ones() {
    // `clusterlab sim run --jobs J` runs one runtime per thread.
    let sequential: Vec<RunReport> = SEEDS[..2].iter().map(|&s| run(s)).collect();
    let parallel: Vec<RunReport> = std::thread::scope(|scope| {
        let handles: Vec<_> = SEEDS[..2]
            .iter()
            .map(|&s| scope.spawn(move || run(s)))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (a, b) in sequential.iter().zip(&parallel) {
        assert_same(a, b);
    }
}

/// madsim's own check: reruns the campaign and panics at the first random draw that differs.
#[test]
fn campaign_rng_draws_are_deterministic() {
    let report = madsim::runtime::Runtime::check_determinism(
        SEEDS[0],
        madsim::Config::default(),
        campaign::campaign_current,
    );
    assert_eq!(report.seed, SEEDS[0]);
}

/// Runs the campaign for `MADSIM_TEST_SEED` (default 4) and the `MADSIM_TEST_NUM - 1` seeds
/// after it; with `MADSIM_TEST_CHECK_DETERMINISM` each under madsim's determinism check.
#[test]
fn campaign_seed_from_env() {
    for report in reports_for_env_seeds(4, 1, campaign::campaign_current, run) {
        let seed = report.seed;
        assert!(
            report.ok(),
            "seed {seed}: {:?}\nreplay: cargo sim --seed {seed} --seeds 1",
            report.violations
        );
    }
}
