//! The campaign under proptest: schedules come from `faults::schedule_strategy`, so a schedule
//! that breaks an invariant shrinks to a small one, which is printed with the one line that
//! replays it and saved to `seeds/` (where `seed_corpus_replays` keeps checking it).
//!
//! The proptest runner is seeded, so `cargo test` runs the same cases every time; set
//! `CLUSTERLAB_PROPTEST_CASES` for a longer exploration.
//!
//! Simulation build only.
#![cfg(madsim)]

use std::path::Path;

use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestError, TestRng, TestRunner};

use clusterlab_sim::faults::{schedule_strategy, ClusterShape, FaultSchedule};
use clusterlab_sim::seeds::{save_new, Saved};
use clusterlab_sim::{campaign, SeedRecord, SimConfig};

/// Cases per `cargo test` (each is a full campaign run).
const DEFAULT_CASES: u32 = 6;

fn cases() -> u32 {
    std::env::var("CLUSTERLAB_PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(DEFAULT_CASES)
}

/// The violation names of one campaign run (an empty list: it passed).
fn violations(seed: u64, config: &SimConfig, schedule: &FaultSchedule) -> Vec<String> {
    let report = campaign::run(seed, config, Some(schedule.clone()));
    report
        .violations
        .iter()
        .map(|v| v.name().to_string())
        .collect()
}

#[test]
fn campaign_holds_for_proptest_schedules() {
    let config = SimConfig::default();
    let shape = ClusterShape::of(&config);
    let strategy = (schedule_strategy(&shape), (0u64..1_000_000).no_shrink());
    let runner_config = Config {
        cases: cases(),
        max_shrink_iters: 40,
        failure_persistence: None,
        ..Config::default()
    };
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &[7; 32]);
    let mut runner = TestRunner::new_with_rng(runner_config, rng);
    let result = runner.run(&strategy, |(schedule, seed)| {
        let names = violations(seed, &config, &schedule);
        proptest::prop_assert!(names.is_empty(), "violations {:?}", names);
        Ok(())
    });
    let Err(TestError::Fail(reason, (schedule, seed))) = result else {
        if let Err(e) = result {
            panic!("{e}");
        }
        return;
    };
    // Minimal failing schedule: save it so the corpus keeps replaying it.
    let names = violations(seed, &config, &schedule);
    let record = SeedRecord {
        seed,
        scenario: campaign::NAME.to_string(),
        config: config.clone(),
        schedule: Some(schedule.clone()),
        expectation: format!(
            "violation:{}",
            names.first().map_or("unknown", String::as_str)
        ),
        note: format!("Found and shrunk by proptest (sim-tests/tests/seeds.rs): {reason}"),
    };
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../seeds");
    let saved = match save_new(&dir, &record) {
        Ok(Saved::Written(path)) | Ok(Saved::Known(path)) => path.display().to_string(),
        Err(e) => format!("(not saved: {e})"),
    };
    panic!(
        "campaign failed for a shrunk schedule of {} faults: {reason}\n\
         replay: RUSTFLAGS=\"--cfg madsim\" cargo run --release --target-dir target/sim -p \
         clusterlab -- sim replay {saved}\n{}",
        schedule.len(),
        record.to_json()
    );
}

/// The strategy itself: deterministic for a seeded runner, and shrinking keeps schedules
/// within the majority rule.
#[test]
fn strategy_is_seeded_and_shrinks_validly() {
    let shape = ClusterShape::of(&SimConfig::default());
    let strategy = schedule_strategy(&shape);
    let draw = || {
        let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &[3; 32]);
        let mut runner = TestRunner::new_with_rng(Config::default(), rng);
        strategy.new_tree(&mut runner).unwrap().current()
    };
    assert_eq!(draw(), draw());
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &[4; 32]);
    let mut runner = TestRunner::new_with_rng(Config::default(), rng);
    let mut tree = strategy.new_tree(&mut runner).unwrap();
    for _ in 0..50 {
        tree.current().validate(shape.nodes).unwrap();
        if !tree.simplify() {
            break;
        }
    }
}
