//! A partition in the simulator: node 1 is cut off from node 2 and node 3 (both directions; the
//! client still reaches everyone). Node 1 must go `cluster_state:fail` on its own and refuse
//! keyed commands; the others must flag it `master,fail` with its 5461 slots failed. Each
//! side's `CLUSTER NODES` while cut off is snapshotted; after the heal everything is `ok` again.
//!
//! Simulation build only: `RUSTFLAGS="--cfg madsim" cargo test --target-dir target/sim -p
//! clusterlab-sim-tests --test partition`. Replay a seed with `MADSIM_TEST_SEED=N` (and
//! `MADSIM_TEST_NUM`, `MADSIM_TEST_CHECK_DETERMINISM`) on `partition_seed_from_env`.
#![cfg(madsim)]

use clusterlab_sim::env_seeds::reports_for_env_seeds;
use clusterlab_sim::scenario::crash::detect_bound_ms;
use clusterlab_sim::scenario::partition::{self, heal_bound_ms};
use clusterlab_sim::SimConfig;

/// The seed whose cluster is snapshotted.
const SNAPSHOT_SEED: u64 = 1;

/// The `CLUSTER NODES` line of `addr` in `text`.
fn line_of<'a>(text: &'a str, addr: &str) -> &'a str {
    text.lines()
        .find(|l| l.contains(addr))
        .unwrap_or_else(|| panic!("{addr} missing from {text}"))
}

#[test]
fn partition_each_side_believes() {
    let config = SimConfig::default();
    let run = partition::run(SNAPSHOT_SEED, &config);
    run.report.assert_ok();
    let (minority_ms, majority_ms, heal_ms) = (
        run.minority_down_ms.expect("minority down"),
        run.majority_detect_ms.expect("majority detected"),
        run.heal_ms.expect("healed"),
    );
    println!(
        "partition seed {SNAPSHOT_SEED}: node1 refuses keys {:.1} s after the cut, node2/node3 \
         flag it fail after {:.1} s, all ok {:.1} s after the heal",
        minority_ms as f64 / 1000.0,
        majority_ms as f64 / 1000.0,
        heal_ms as f64 / 1000.0
    );
    let bound_ms = detect_bound_ms(config.node_timeout_ms);
    assert!(minority_ms <= bound_ms && majority_ms <= bound_ms);
    assert!(majority_ms >= config.node_timeout_ms, "{majority_ms} ms");
    assert!(heal_ms <= heal_bound_ms(config.node_timeout_ms));

    let views = &run.partitioned_views;
    let names: Vec<&str> = views.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["node1", "node2", "node3"]);
    // node1 suspects both peers but cannot reach a FAIL quorum alone.
    for peer in ["10.0.0.2:7002", "10.0.0.3:7003"] {
        let line = line_of(&views[0].1, peer);
        assert!(line.contains(" master,fail? "), "node1: {line}");
    }
    // The majority agrees node1 failed and still sees each other.
    for (name, text) in &views[1..] {
        let line = line_of(text, "10.0.0.1:7001");
        assert!(line.contains(" master,fail "), "{name}: {line}");
        assert!(!text.contains("fail?"), "{name}: {text}");
    }
    for (name, text) in views {
        insta::assert_snapshot!(format!("partition_cut_cluster_nodes_{name}"), text);
    }
    for (name, text) in &run.report.cluster_nodes {
        assert!(!text.contains("fail"), "{name}: {text}");
    }
}

#[test]
fn same_seed_same_partition() {
    let config = SimConfig::default();
    let first = partition::run(SNAPSHOT_SEED, &config);
    let second = partition::run(SNAPSHOT_SEED, &config);
    assert_eq!(first.report.violations, second.report.violations);
    assert_eq!(first.report.trace_hash, second.report.trace_hash);
    assert_eq!(first.partitioned_views, second.partitioned_views);
    assert_eq!(first.report.cluster_nodes, second.report.cluster_nodes);
}

/// madsim's own check: replays the run and panics at the first random draw that differs.
#[test]
fn partition_rng_draws_are_deterministic() {
    let report = madsim::runtime::Runtime::check_determinism(
        SNAPSHOT_SEED,
        madsim::Config::default(),
        partition::current,
    );
    report.assert_ok();
}

/// Runs the partition scenario for `MADSIM_TEST_SEED` (default 2) and the `MADSIM_TEST_NUM - 1`
/// seeds after it (default 2 in all); with `MADSIM_TEST_CHECK_DETERMINISM` each seed runs under
/// madsim's determinism check.
#[test]
fn partition_seed_from_env() {
    let run = |seed| partition::run(seed, &SimConfig::default()).report;
    for report in reports_for_env_seeds(2, 2, partition::current, run) {
        report.assert_ok();
    }
}
