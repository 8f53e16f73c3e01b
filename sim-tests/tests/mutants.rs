//! The short campaign `just mutants` runs against each mutant of the core's cluster and
//! replication code (`cargo mutants … -- --test mutants`): a handful of campaign seeds with
//! replicas, shapes and knobs drawn from each seed, every one of which must pass. A mutant
//! that breaks failover, epochs, votes or replication should trip an invariant here. Also
//! checks that a drawn configuration replays identically.
//!
//! Simulation build only.
#![cfg(madsim)]

use clusterlab_sim::faults::{draw_config, ConfigPins};
use clusterlab_sim::{campaign, SimConfig};

/// Seeds of the mutation campaign, each with its drawn shape and knobs. The first eleven
/// have replicas and a master down long enough that `failover_missing` demands its failover
/// (a node that never fails over by itself fails several of them, and no other check sees
/// it); the last five are default campaign seeds in a row (every fault kind, reshards, knobs).
const MUTANT_SEEDS: [u64; 16] = [
    300009, 300018, 300027, 300173, 300221, 300243, 300294, 300341, 300413, 300426, 300429, 300000,
    300001, 300002, 300003, 300004,
];

fn config(seed: u64) -> SimConfig {
    draw_config(seed, &ConfigPins::default())
}

#[test]
fn mutants_campaign_seeds_with_replicas_are_clean() {
    let mut failures = Vec::new();
    for seed in MUTANT_SEEDS {
        let config = config(seed);
        let report = campaign::run(seed, &config, None);
        for v in &report.violations {
            failures.push(format!("seed {seed} ({}): {v}", config.flags()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_drawn_configuration_replays_identically() {
    for seed in [11, 12] {
        let config = draw_config(seed, &ConfigPins::default());
        let a = campaign::run(seed, &config, None);
        let b = campaign::run(seed, &config, None);
        assert_eq!(a.trace_hash, b.trace_hash, "seed {seed}");
        assert_eq!(a.violations, b.violations, "seed {seed}");
    }
}
