//! The tutorial walkthrough in the simulator: a fixed seed must pass and reproduce the same
//! cluster (snapshotted `CLUSTER NODES` of every node) and the same trace every time, and every
//! seed in `seeds/` must meet its recorded expectation.
//!
//! Simulation build only: `RUSTFLAGS="--cfg madsim" cargo test --target-dir target/sim -p
//! clusterlab-sim-tests`. Replay another seed with `MADSIM_TEST_SEED=N` (and `MADSIM_TEST_NUM`,
//! `MADSIM_TEST_CHECK_DETERMINISM`) on `walkthrough_seed_from_env`.
#![cfg(madsim)]

use clusterlab_sim::env_seeds::reports_for_env_seeds;
use std::path::Path;

use clusterlab_sim::scenario;

/// The seed whose cluster is snapshotted. Changing it changes every node ID in the snapshots.
const SNAPSHOT_SEED: u64 = 1;

#[test]
fn walkthrough_matches_tutorial() {
    let report = scenario::walkthrough(SNAPSHOT_SEED);
    report.assert_ok();
    assert_eq!(report.cluster_nodes.len(), 3);
    for (name, text) in &report.cluster_nodes {
        // IDs come from the seed and times are virtual: nothing here needs masking.
        insta::assert_snapshot!(format!("walkthrough_cluster_nodes_{name}"), text);
    }
}

#[test]
fn same_seed_same_run() {
    // Determinism must hold whether or not the run finds violations, so no `assert_ok` here.
    let first = scenario::walkthrough(SNAPSHOT_SEED);
    let second = scenario::walkthrough(SNAPSHOT_SEED);
    assert_eq!(first.violations, second.violations);
    assert_eq!(
        first.trace_text, second.trace_text,
        "same seed, different traces"
    );
    assert_eq!(first.trace_hash, second.trace_hash);
    assert_eq!(first.cluster_nodes, second.cluster_nodes);
    assert_eq!(first.virtual_ms, second.virtual_ms);

    let other = scenario::walkthrough(SNAPSHOT_SEED + 1);
    assert_ne!(first.trace_hash, other.trace_hash, "the seed must matter");
    assert_ne!(
        first.cluster_nodes, other.cluster_nodes,
        "node IDs come from the seed"
    );
}

/// madsim's own check: replays the run and panics at the first random draw that differs.
#[test]
fn rng_draws_are_deterministic() {
    let report = madsim::runtime::Runtime::check_determinism(
        SNAPSHOT_SEED,
        madsim::Config::default(),
        scenario::walkthrough_current,
    );
    assert_eq!(report.seed, SNAPSHOT_SEED);
}

/// Runs the walkthrough for `MADSIM_TEST_SEED` (default 2) and the `MADSIM_TEST_NUM - 1` seeds
/// after it; with `MADSIM_TEST_CHECK_DETERMINISM` each seed runs under madsim's determinism
/// check. This is the test `cargo sim` prints for a failing seed.
#[test]
fn walkthrough_seed_from_env() {
    let reports = reports_for_env_seeds(2, 1, scenario::walkthrough_current, scenario::walkthrough);
    for report in reports {
        report.assert_ok();
    }
}

/// Every file in `seeds/` replays to its recorded expectation.
#[test]
fn seed_corpus_replays() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../seeds");
    let records = clusterlab_sim::seeds::load_dir(&dir).unwrap_or_else(|e| panic!("{e}"));
    for (path, record) in records {
        let expectation = record
            .expectation()
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let report =
            scenario::run_record(&record).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(
            expectation.is_met_by(report.violations.iter().map(|v| v.name())),
            "{}: expected {:?}, got {:?}\ntrace:\n{}",
            path.display(),
            expectation,
            report.violations,
            report.trace_text
        );
    }
}
