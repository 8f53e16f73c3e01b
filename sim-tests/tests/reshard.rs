//! Slot migrations under load and faults in the simulator: a handful of seeds, each moving a
//! master's busy slots to another master while the writer runs and one fault (crash of source
//! or target, partition, isolation, pause) strikes mid-migration; after heal and `fix`, no
//! slot is open or unowned, no key is lost or held twice, no acknowledged write is lost.
//!
//! Simulation build only: `RUSTFLAGS="--cfg madsim" cargo test --target-dir target/sim -p
//! clusterlab-sim-tests --test reshard`. Replay a seed with `MADSIM_TEST_SEED=N` (and
//! `MADSIM_TEST_NUM`, `MADSIM_TEST_CHECK_DETERMINISM`) on `reshard_seed_from_env`.
#![cfg(madsim)]

use clusterlab_sim::env_seeds::reports_for_env_seeds;
use clusterlab_sim::scenario::reshard::{self, Fault};
use clusterlab_sim::SimConfig;

/// Seeds run by default: together they draw every fault at least once; 55 once lost a write
/// that raced a MIGRATE (seeds/0007), 1054 one that `fix` overwrote (seeds/0008).
const SEEDS: [u64; 8] = [1, 2, 3, 4, 6, 20, 55, 1054];

#[test]
fn migrations_survive_faults() {
    let config = SimConfig::default();
    let mut faults = Vec::new();
    for seed in SEEDS {
        let run = reshard::run(seed, &config);
        let plan = run.plan.expect("a plan");
        println!(
            "reshard seed {seed}: {:?} {}->{} after {} ms for {} ms, {} slots, migration {:?}, \
             fix rounds {}, {} ops ({} acked)",
            plan.fault,
            plan.source + 1,
            plan.target + 1,
            plan.fault_after_ms,
            plan.fault_ms,
            run.slots.len(),
            run.migration,
            run.fix_rounds,
            run.ops,
            run.acked
        );
        run.report.assert_ok();
        assert!(!run.slots.is_empty(), "seed {seed}: nothing to migrate");
        assert!(run.acked > 20, "seed {seed}: the writer barely ran");
        faults.push(plan.fault);
    }
    for fault in [
        Fault::CrashSource,
        Fault::CrashTarget,
        Fault::PartitionPair,
        Fault::IsolateSource,
        Fault::PauseSource,
        Fault::PauseTarget,
    ] {
        assert!(
            faults.contains(&fault),
            "{fault:?} not exercised: {faults:?}"
        );
    }
}

#[test]
fn same_seed_same_reshard() {
    let config = SimConfig::default();
    let first = reshard::run(3, &config);
    let second = reshard::run(3, &config);
    assert_eq!(first.report.violations, second.report.violations);
    assert_eq!(first.report.trace_hash, second.report.trace_hash);
    assert_eq!(first.migration, second.migration);
}

/// Runs the scenario for `MADSIM_TEST_SEED` (default 100) and the `MADSIM_TEST_NUM - 1` seeds
/// after it.
#[test]
fn reshard_seed_from_env() {
    let reports = reports_for_env_seeds(100, 2, reshard::current, |seed| {
        reshard::run(seed, &SimConfig::default()).report
    });
    for report in reports {
        report.assert_ok();
    }
}
