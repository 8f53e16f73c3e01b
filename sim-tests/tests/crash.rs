//! The tutorial's crash step in the simulator: kill the master of `key2`, watch the others flag
//! it `master,fail` and go `cluster_state:fail`, restart it, watch everything recover. A fixed
//! seed is snapshotted (every live node's `CLUSTER NODES` while failed, every node's after
//! recovery) and must replay identically; other seeds must pass too.
//!
//! Simulation build only: `RUSTFLAGS="--cfg madsim" cargo test --target-dir target/sim -p
//! clusterlab-sim-tests --test crash`. Replay a seed with `MADSIM_TEST_SEED=N` (and
//! `MADSIM_TEST_NUM`, `MADSIM_TEST_CHECK_DETERMINISM`) on `crash_seed_from_env`.
#![cfg(madsim)]

use clusterlab_sim::env_seeds::reports_for_env_seeds;
use clusterlab_sim::scenario::crash::{self, detect_bound_ms, recover_bound_ms};
use clusterlab_sim::SimConfig;

/// The seed whose cluster is snapshotted. Changing it changes every node ID in the snapshots.
const SNAPSHOT_SEED: u64 = 1;

#[test]
fn crash_matches_tutorial() {
    let config = SimConfig::default();
    let run = crash::run(SNAPSHOT_SEED, &config);
    run.report.assert_ok();
    let detect_ms = run.detect_ms.expect("failure detected");
    let recover_ms = run.recover_ms.expect("cluster recovered");
    println!(
        "crash seed {SNAPSHOT_SEED}: failure seen everywhere {:.1} s after the kill, \
         cluster ok {:.1} s after the restart",
        detect_ms as f64 / 1000.0,
        recover_ms as f64 / 1000.0
    );
    assert!(
        (config.node_timeout_ms..=detect_bound_ms(config.node_timeout_ms)).contains(&detect_ms),
        "{detect_ms} ms"
    );
    assert!(
        recover_ms <= recover_bound_ms(config.node_timeout_ms),
        "{recover_ms} ms"
    );

    // node1 (slots 0-5460, key2's slot 4998) is the victim; node2 and node3 see it fail.
    let names: Vec<&str> = run.failed_views.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["node2", "node3"]);
    for (name, text) in &run.failed_views {
        let victim = text
            .lines()
            .find(|l| l.contains("10.0.0.1:7001@17001"))
            .unwrap_or_else(|| panic!("{name}: {text}"));
        // The link field may read `connected`: like Redis, a node shows `connected` while it
        // has a link object to the peer, and the cron opens a new one to the dead node every
        // 100 ms, which lives until the connect is refused.
        assert!(
            victim.contains(" master,fail ")
                && (victim.ends_with(" disconnected 0-5460")
                    || victim.ends_with(" connected 0-5460")),
            "{name}: {victim}"
        );
        insta::assert_snapshot!(format!("crash_failed_cluster_nodes_{name}"), text);
    }
    assert_eq!(run.report.cluster_nodes.len(), 3);
    for (name, text) in &run.report.cluster_nodes {
        assert!(!text.contains("fail"), "{name}: {text}");
        insta::assert_snapshot!(format!("crash_recovered_cluster_nodes_{name}"), text);
    }
}

#[test]
fn same_seed_same_crash() {
    let config = SimConfig::default();
    let first = crash::run(SNAPSHOT_SEED, &config);
    let second = crash::run(SNAPSHOT_SEED, &config);
    assert_eq!(first.report.violations, second.report.violations);
    assert_eq!(first.report.trace_text, second.report.trace_text);
    assert_eq!(first.report.trace_hash, second.report.trace_hash);
    assert_eq!(first.failed_views, second.failed_views);
    assert_eq!(first.report.cluster_nodes, second.report.cluster_nodes);
    assert_eq!(
        (first.detect_ms, first.recover_ms),
        (second.detect_ms, second.recover_ms)
    );
}

/// madsim's own check: replays the run and panics at the first random draw that differs.
#[test]
fn crash_rng_draws_are_deterministic() {
    let report = madsim::runtime::Runtime::check_determinism(
        SNAPSHOT_SEED,
        madsim::Config::default(),
        crash::current,
    );
    report.assert_ok();
}

/// Runs the crash scenario for `MADSIM_TEST_SEED` (default 2) and the `MADSIM_TEST_NUM - 1`
/// seeds after it (default 2 in all); with `MADSIM_TEST_CHECK_DETERMINISM` each seed runs
/// under madsim's determinism check.
#[test]
fn crash_seed_from_env() {
    let run = |seed| crash::run(seed, &SimConfig::default()).report;
    for report in reports_for_env_seeds(2, 2, crash::current, run) {
        report.assert_ok();
    }
}
