//! The canary hunt: does the campaign catch each deliberate bug of `clusterlab_core::canary`
//! *by the invariant that bug breaks*?
//!
//! Each canary has the violation kinds it is expected to trip ([`expected_kinds`]): the
//! rule the bug breaks, not whatever fires first. For one canary, campaign seeds run one after
//! another with every node carrying it until a seed reports an expected kind or `max_seeds`
//! have run; violations of other kinds met on the way are kept as evidence but do not count
//! as a catch. A canary that survives `max_seeds` marks a blind spot of the harness (fault
//! mix, workload or invariant). The control run (no canary) must stay clean over at least
//! every seed a canary hunt ran ([`control_seeds`]): a canary "caught" on a seed where the
//! healthy cluster also fails proves nothing.

use clusterlab_core::canary::Canary;

use crate::campaign;
use crate::seeds::SimConfig;
use crate::violation_kind::ViolationKind;

/// The violation kinds `canary` is expected to trip: the invariant its bug breaks, and the
/// direct consequences another check may see first.
pub fn expected_kinds(canary: Canary) -> &'static [ViolationKind] {
    use ViolationKind as K;
    match canary {
        Canary::VoteTwice => &[K::DoubleVote],
        Canary::EpochCollisionIgnored => &[K::ConfigEpochCollision],
        Canary::PromoteWithoutRank => &[K::StaleReplicaPromoted],
        Canary::FailWithoutQuorum => &[K::FailWithoutQuorum],
        Canary::SetslotNodeKeepsOpen => &[K::SlotLeftOpen],
        Canary::MinorityWrites => &[K::MinorityMasterOk],
        // A restart that lost `nodes.conf` writes comes back with an older epoch or an older
        // view of the slots.
        Canary::NodesConfNoFsync => &[
            K::ClusterNotOk,
            K::CurrentEpochBehind,
            K::EpochDecreased,
            K::RestartForgotState,
        ],
        // Replies go out unsynced (seen at once), and a crash then loses them.
        Canary::AofNoFsync => &[K::AckedWriteLost, K::AckedBeforeFsync],
        Canary::EpochsNotRestored => &[
            K::CurrentEpochBehind,
            K::EpochDecreased,
            K::RestartForgotState,
        ],
        // The flag never clears, so the cluster never becomes whole again.
        Canary::FailNeverCleared => &[K::ClusterNotOk],
        Canary::UpdateIgnored => &[K::StaleOwnerKept],
        // A replicated APPEND applied twice shows its token twice.
        Canary::ReplicaAppendsTwice => &[K::AppendDuplicated],
        // A migrated list read back to front: tokens out of order, or no longer a prefix.
        Canary::RestoreListReversed => &[K::AppendOrderInverted, K::ReadNotPrefix],
    }
}

/// One violation a hunt met.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Catch {
    /// The campaign seed that reported it.
    pub seed: u64,
    /// The violation's name ([`Violation::name`](crate::report::Violation::name)).
    pub invariant: String,
    /// The violation's evidence.
    pub evidence: String,
}

/// What hunting one canary (or the control run, `canary: None`) found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hunt {
    /// The deliberate bug every node carried (`None`: the control run).
    pub canary: Option<Canary>,
    /// Seeds run, including the one that caught it.
    pub seeds_run: u64,
    /// The first violation of an expected kind (for the control run: any violation), or
    /// `None` if no seed run reported one.
    pub caught: Option<Catch>,
    /// The first violation of a kind the canary is not expected to trip, if any.
    pub unexpected: Option<Catch>,
    /// Virtual time simulated over all seeds, in milliseconds.
    pub virtual_ms: u64,
}

impl Hunt {
    /// A canary hunt passes when it caught its canary by an expected kind; the control run
    /// when it saw nothing.
    pub fn passed(&self) -> bool {
        match self.canary {
            Some(_) => self.caught.is_some(),
            None => self.caught.is_none(),
        }
    }
}

/// `base` with every node carrying `canary`.
pub fn config_with(base: &SimConfig, canary: Option<Canary>) -> SimConfig {
    let mut config = base.clone();
    config.canaries = canary
        .map(|c| vec![c.name().to_string()])
        .unwrap_or_default();
    config
}

/// Runs campaign seeds `first_seed..first_seed + max_seeds` until the first violation of an
/// expected kind (for the control run, of any kind).
pub fn hunt(canary: Option<Canary>, base: &SimConfig, first_seed: u64, max_seeds: u64) -> Hunt {
    let config = config_with(base, canary);
    let expected = canary.map(expected_kinds);
    let mut hunt = Hunt {
        canary,
        seeds_run: 0,
        caught: None,
        unexpected: None,
        virtual_ms: 0,
    };
    for seed in first_seed..first_seed.saturating_add(max_seeds) {
        let report = campaign::run(seed, &config, None);
        hunt.seeds_run += 1;
        hunt.virtual_ms += report.virtual_ms;
        let catch = |v: &crate::report::Violation| Catch {
            seed,
            invariant: v.name().to_string(),
            evidence: v.evidence.clone(),
        };
        let is_expected = |kind: ViolationKind| expected.is_none_or(|kinds| kinds.contains(&kind));
        if hunt.unexpected.is_none() {
            hunt.unexpected = report
                .violations
                .iter()
                .find(|v| !is_expected(v.kind))
                .map(catch);
        }
        if let Some(v) = report.violations.iter().find(|v| is_expected(v.kind)) {
            hunt.caught = Some(catch(v));
            break;
        }
    }
    hunt
}

/// How many seeds the control run must cover: at least every seed any canary hunt ran.
pub fn control_seeds(hunts: &[Hunt], max_seeds: u64) -> u64 {
    hunts
        .iter()
        .filter(|h| h.canary.is_some())
        .map(|h| h.seeds_run)
        .max()
        .unwrap_or(max_seeds)
}

/// The command that replays the catching seed of a hunt.
pub fn replay_line(canary: Option<Canary>, base: &SimConfig, seed: u64) -> String {
    let config = config_with(base, canary);
    format!("cargo sim --seed {seed} --seeds 1 {}", config.flags())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_canary_expects_kinds_and_the_control_covers_every_hunt() {
        for canary in Canary::ALL {
            assert!(!expected_kinds(canary).is_empty(), "{canary}");
        }
        let hunt = |canary, seeds_run| Hunt {
            canary,
            seeds_run,
            caught: None,
            unexpected: None,
            virtual_ms: 0,
        };
        let hunts = [
            hunt(Some(Canary::VoteTwice), 7),
            hunt(Some(Canary::AofNoFsync), 30),
        ];
        assert_eq!(control_seeds(&hunts, 100), 30);
        assert_eq!(control_seeds(&[], 100), 100);
        // A canary tripped by an unexpected kind only is not caught.
        let mut wrong = hunt(Some(Canary::VoteTwice), 3);
        wrong.unexpected = Some(Catch {
            seed: 3,
            invariant: "cluster_not_ok".into(),
            evidence: String::new(),
        });
        assert!(!wrong.passed());
        assert!(hunt(None, 30).passed());
        let line = replay_line(Some(Canary::VoteTwice), &SimConfig::default(), 4);
        assert!(
            line.ends_with(
                "--appendfsync always --repl-diskless-load disabled --canary vote-twice"
            ),
            "{line}"
        );
    }
}
