//! A fast subset of `clusterlab sim canary`: deliberate bugs the default campaign must catch
//! within a few seeds, named by the invariant that fires, while the same seeds without a
//! canary stay clean. The full table (every canary, 100 seeds) is in the README.
//!
//! Simulation build only.
#![cfg(madsim)]

use clusterlab_core::canary::Canary;
use clusterlab_sim::canary::{hunt, replay_line};
use clusterlab_sim::SimConfig;

/// The canary hunt's shape (`clusterlab sim canary`'s default): three masters with two
/// replicas each.
fn shape() -> SimConfig {
    SimConfig {
        replicas: 2,
        ..SimConfig::default()
    }
}

/// Seeds each quick canary may take (1 to 3 when this was written; swarm changes move that a
/// little).
const MAX_SEEDS: u64 = 10;

/// `(canary, invariants that may catch it)`: one per kind of evidence (voting rule, UPDATE
/// handling, failure detection, durability of `nodes.conf` and of the AOF, epochs).
const QUICK: [(Canary, &[&str]); 6] = [
    (Canary::VoteTwice, &["double_vote"]),
    (Canary::UpdateIgnored, &["stale_owner_kept"]),
    (Canary::FailWithoutQuorum, &["fail_without_quorum"]),
    (
        Canary::EpochsNotRestored,
        &[
            "current_epoch_behind",
            "epoch_decreased",
            "restart_forgot_state",
        ],
    ),
    (
        Canary::NodesConfNoFsync,
        &[
            "cluster_not_ok",
            "current_epoch_behind",
            "epoch_decreased",
            "restart_forgot_state",
        ],
    ),
    (Canary::AofNoFsync, &["acked_write_lost"]),
];

#[test]
fn the_campaign_catches_quick_canaries_within_a_few_seeds() {
    let base = shape();
    for (canary, invariants) in QUICK {
        let found = hunt(Some(canary), &base, 1, MAX_SEEDS);
        let caught = found
            .caught
            .unwrap_or_else(|| panic!("canary {canary} not caught within {MAX_SEEDS} seeds"));
        assert!(
            invariants.contains(&caught.invariant.as_str()),
            "canary {canary} caught by {} ({}); replay: {}",
            caught.invariant,
            caught.evidence,
            replay_line(Some(canary), &base, caught.seed)
        );
    }
}

#[test]
fn the_same_seeds_without_a_canary_are_clean() {
    let base = shape();
    let control = hunt(None, &base, 1, 4);
    assert_eq!(control.seeds_run, 4);
    if let Some(c) = &control.caught {
        panic!(
            "control run: {} at seed {}: {}; replay: {}",
            c.invariant,
            c.seed,
            c.evidence,
            replay_line(None, &base, c.seed)
        );
    }
}
