//! Canaries: deliberate, named bugs that only the simulation build can switch on.
//!
//! Each one re-introduces a realistic Redis Cluster bug class so that the harness can prove it
//! catches it (`clusterlab sim canary`). A node enables them with the `clusterlab-canary <name>`
//! directive, which the normal build refuses: outside `--cfg madsim`, [`Canaries::on`] is a
//! constant `false` and the optimiser drops every guarded branch, so no canary can reach a real
//! deployment.

use std::fmt;

/// One deliberate bug.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Canary {
    /// A voter grants a second vote in an epoch it already voted in.
    VoteTwice,
    /// Two masters with the same config epoch never move apart.
    EpochCollisionIgnored,
    /// A replica starts its election at once, ignoring its rank and its data's age.
    PromoteWithoutRank,
    /// This node's own PFAIL is enough to declare FAIL, with no report from anyone else.
    FailWithoutQuorum,
    /// `CLUSTER SETSLOT <slot> NODE` leaves the importing/migrating state in place.
    SetslotNodeKeepsOpen,
    /// A master cut off from the majority keeps accepting writes.
    MinorityWrites,
    /// `nodes.conf` is written without fsync before the change is acknowledged.
    NodesConfNoFsync,
    /// The AOF is not fsynced before replying under `appendfsync always`.
    AofNoFsync,
    /// currentEpoch and configEpoch are not restored from `nodes.conf` on restart.
    EpochsNotRestored,
    /// A FAIL flag is never cleared when the node comes back.
    FailNeverCleared,
    /// UPDATE messages are ignored, so a stale master keeps claiming its old slots.
    UpdateIgnored,
    /// A replica applies every `APPEND` of its master's stream twice.
    ReplicaAppendsTwice,
    /// `RESTORE` (what `MIGRATE` sends) stores a list's elements in reverse order.
    RestoreListReversed,
}

impl Canary {
    pub const ALL: [Canary; 13] = [
        Canary::VoteTwice,
        Canary::EpochCollisionIgnored,
        Canary::PromoteWithoutRank,
        Canary::FailWithoutQuorum,
        Canary::SetslotNodeKeepsOpen,
        Canary::MinorityWrites,
        Canary::NodesConfNoFsync,
        Canary::AofNoFsync,
        Canary::EpochsNotRestored,
        Canary::FailNeverCleared,
        Canary::UpdateIgnored,
        Canary::ReplicaAppendsTwice,
        Canary::RestoreListReversed,
    ];

    /// The kebab-case name used by the directive and the CLI.
    pub fn name(self) -> &'static str {
        match self {
            Canary::VoteTwice => "vote-twice",
            Canary::EpochCollisionIgnored => "epoch-collision-ignored",
            Canary::PromoteWithoutRank => "promote-without-rank",
            Canary::FailWithoutQuorum => "fail-without-quorum",
            Canary::SetslotNodeKeepsOpen => "setslot-node-keeps-open",
            Canary::MinorityWrites => "minority-writes",
            Canary::NodesConfNoFsync => "nodes-conf-no-fsync",
            Canary::AofNoFsync => "aof-no-fsync",
            Canary::EpochsNotRestored => "epochs-not-restored",
            Canary::FailNeverCleared => "fail-never-cleared",
            Canary::UpdateIgnored => "update-ignored",
            Canary::ReplicaAppendsTwice => "replica-appends-twice",
            Canary::RestoreListReversed => "restore-list-reversed",
        }
    }

    pub fn parse(name: &str) -> Option<Canary> {
        Canary::ALL.into_iter().find(|c| c.name() == name)
    }

    fn bit(self) -> u32 {
        1 << (self as u32)
    }
}

impl fmt::Display for Canary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The set of canaries a node runs with; empty by default.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Canaries(u32);

impl Canaries {
    /// Whether canaries can be enabled at all in this build.
    pub const AVAILABLE: bool = cfg!(madsim);

    pub fn with(self, canary: Canary) -> Canaries {
        Canaries(self.0 | canary.bit())
    }

    /// Whether `canary` is switched on; always `false` outside the simulation build.
    #[inline(always)]
    pub fn on(self, canary: Canary) -> bool {
        Self::AVAILABLE && self.0 & canary.bit() != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The enabled canaries, in declaration order.
    pub fn list(self) -> Vec<Canary> {
        Canary::ALL
            .into_iter()
            .filter(|c| self.0 & c.bit() != 0)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_distinct() {
        for canary in Canary::ALL {
            assert_eq!(Canary::parse(canary.name()), Some(canary));
        }
        assert_eq!(Canary::parse("no-such-canary"), None);
        let set = Canary::ALL
            .into_iter()
            .fold(Canaries::default(), Canaries::with);
        assert_eq!(set.list(), Canary::ALL.to_vec());
    }

    #[test]
    fn a_canary_is_on_only_in_the_simulation_build() {
        let set = Canaries::default().with(Canary::VoteTwice);
        assert_eq!(set.on(Canary::VoteTwice), cfg!(madsim));
        assert!(!set.on(Canary::UpdateIgnored));
        assert!(!Canaries::default().on(Canary::VoteTwice));
    }
}
