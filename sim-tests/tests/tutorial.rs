//! The whole tutorial in the simulator through `net::admin`: create, crash/restart of 7001,
//! add-node 7004, reshard 10 slots with keys to it and back, del-node, an open slot that
//! `check` flags and `fix` closes. A fixed seed is snapshotted (the members' `CLUSTER NODES`
//! after each step, ping/pong times masked) and must replay identically; other seeds must
//! pass too.
//!
//! Simulation build only: `RUSTFLAGS="--cfg madsim" cargo test --target-dir target/sim -p
//! clusterlab-sim-tests --test tutorial`. Replay a seed with `MADSIM_TEST_SEED=N` (and
//! `MADSIM_TEST_NUM`, `MADSIM_TEST_CHECK_DETERMINISM`) on `tutorial_seed_from_env`.
#![cfg(madsim)]

use clusterlab_sim::env_seeds::reports_for_env_seeds;
use clusterlab_sim::scenario::tutorial;
use clusterlab_sim::SimConfig;

/// The seed whose cluster is snapshotted. Changing it changes every node ID in the snapshots.
const SNAPSHOT_SEED: u64 = 1;

const STEPS: [&str; 8] = [
    "created",
    "restarted",
    "added",
    "resharded",
    "resharded_back",
    "deleted",
    "open_slot",
    "fixed",
];

/// The myself line of `node` in a recorded step.
fn myself_of<'a>(text: &'a str, node: &str) -> &'a str {
    let section = text
        .split("# ")
        .find(|s| s.starts_with(&format!("{node}\n")))
        .unwrap_or_else(|| panic!("{node} missing in\n{text}"));
    section
        .lines()
        .find(|l| l.contains("myself"))
        .unwrap_or_else(|| panic!("no myself line for {node} in\n{text}"))
}

#[test]
fn tutorial_matches_redis() {
    let run = tutorial::run(SNAPSHOT_SEED, &SimConfig::default());
    run.report.assert_ok();
    let names: Vec<&str> = run.steps.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, STEPS);
    let step = |name: &str| {
        &run.steps
            .iter()
            .find(|(n, _)| n == name)
            .expect("recorded step")
            .1
    };
    assert!(myself_of(step("resharded"), "node4").ends_with(" connected 0-9"));
    assert!(myself_of(step("resharded"), "node1").ends_with(" connected 10-5460"));
    assert!(myself_of(step("resharded_back"), "node1").ends_with(" connected 0-5460"));
    assert_eq!(step("deleted").matches("# ").count(), 3);
    assert!(!step("deleted").contains("10.0.0.4:7004"));
    let node3 = myself_of(step("open_slot"), "node3");
    assert!(node3.contains(" [12539->-"), "{node3}");
    assert!(!step("fixed").contains('['), "{}", step("fixed"));
    let check = run.open_check.as_ref().expect("check ran on the open slot");
    assert_eq!(check.open_slots, vec![12539]);
    assert!(check
        .lines
        .contains(&"[WARNING] Node 10.0.0.3:7003 has slots in migrating state 12539.".to_string()));
    assert!(check
        .lines
        .contains(&"[WARNING] The following slots are open: 12539.".to_string()));
    for (name, text) in &run.steps {
        insta::assert_snapshot!(format!("tutorial_{name}"), text);
    }
}

#[test]
fn same_seed_same_tutorial() {
    let first = tutorial::run(SNAPSHOT_SEED, &SimConfig::default());
    let second = tutorial::run(SNAPSHOT_SEED, &SimConfig::default());
    assert_eq!(first.report.violations, second.report.violations);
    assert_eq!(first.report.trace_hash, second.report.trace_hash);
    assert_eq!(first.steps, second.steps);
}

/// Runs the tutorial for `MADSIM_TEST_SEED` (default 2) and the `MADSIM_TEST_NUM - 1` seeds
/// after it.
#[test]
fn tutorial_seed_from_env() {
    let reports = reports_for_env_seeds(2, 2, tutorial::current, |seed| {
        tutorial::run(seed, &SimConfig::default()).report
    });
    for report in reports {
        report.assert_ok();
    }
}
