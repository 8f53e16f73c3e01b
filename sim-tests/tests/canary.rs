//! A fast subset of `clusterlab sim canary`: deliberate bugs the default campaign must catch
//! within a few seeds, named by the invariant that fires, while the same seeds without a
//! canary stay clean. The full table (every canary, 100 seeds) is in the README.
//!
//! Simulation build only.
#![cfg(madsim)]

use clusterlab_core::canary::Canary;
use clusterlab_sim::canary::{control_seeds, expected_kinds, hunt, replay_line};
use clusterlab_sim::{SimConfig, ViolationKind};

/// The canary hunt's shape (`clusterlab sim canary`'s default): three masters with two
/// replicas each.
fn shape() -> SimConfig {
    SimConfig {
        replicas: 2,
        ..SimConfig::default()
    }
}

/// Seeds each quick canary may take (1 to 3 when this was written). The fault kinds added
/// since (crash kinds, client partitions, disk errors, majority loss, clock faults, slow
/// disks) dilute the mix, and `stale_owner_kept` now waits for the new owner's own messages
/// when the stale master already knew its epoch (Redis ignores such an UPDATE):
/// update-ignored needs 35 seeds.
const MAX_SEEDS: u64 = 40;

/// The quick canaries: one per kind of evidence (voting rule, UPDATE handling, failure
/// detection, durability of `nodes.conf` and of the AOF, epochs). Each must be caught by a
/// kind [`expected_kinds`] names for it.
const QUICK: [Canary; 6] = [
    Canary::VoteTwice,
    Canary::UpdateIgnored,
    Canary::FailWithoutQuorum,
    Canary::EpochsNotRestored,
    Canary::NodesConfNoFsync,
    Canary::AofNoFsync,
];

/// Every quick canary caught by an expected kind within a few seeds, and the same seeds —
/// every seed a hunt ran — clean without a canary.
#[test]
fn the_campaign_catches_quick_canaries_by_their_own_invariant() {
    let base = shape();
    let mut hunts = Vec::new();
    for canary in QUICK {
        let found = hunt(Some(canary), &base, 1, MAX_SEEDS);
        let caught = found.caught.as_ref().unwrap_or_else(|| {
            panic!("canary {canary} not caught within {MAX_SEEDS} seeds: {found:?}")
        });
        let kind = ViolationKind::from_name(&caught.invariant).expect("a known kind");
        assert!(
            expected_kinds(canary).contains(&kind),
            "canary {canary} caught by {} ({}); replay: {}",
            caught.invariant,
            caught.evidence,
            replay_line(Some(canary), &base, caught.seed)
        );
        hunts.push(found);
    }
    let seeds = control_seeds(&hunts, MAX_SEEDS);
    let control = hunt(None, &base, 1, seeds);
    assert_eq!(control.seeds_run, seeds);
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
