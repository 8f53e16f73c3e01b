//! The only ways `currentEpoch` and this node's config epoch move during normal operation,
//! each reporting a typed event with its reason and asserting the rule it must keep.
//!
//! Epochs are the cluster's logical clock: a node must never go back on an epoch it has
//! announced (only `CLUSTER RESET HARD` and loading `nodes.conf` set them outright, and those
//! bypass this module on purpose). The assertions run in debug and simulation builds, so every
//! simulated seed also checks these rules from inside the node.

use crate::event::{ClusterEvent, ConfigEpochReason, EpochReason};
use crate::node::Node;

impl Node {
    /// `currentEpoch + 1`, for an election, a takeover, a collision or a bump. Returns it.
    pub(crate) fn bump_current_epoch(&mut self, reason: EpochReason) -> u64 {
        let epoch = self.cluster.current_epoch + 1;
        self.set_current_epoch(epoch, reason);
        epoch
    }

    /// Moves `currentEpoch` forward to `epoch` (nothing when it is not greater).
    pub(crate) fn raise_current_epoch(&mut self, epoch: u64, reason: EpochReason) {
        if epoch > self.cluster.current_epoch {
            self.set_current_epoch(epoch, reason);
        }
    }

    fn set_current_epoch(&mut self, epoch: u64, reason: EpochReason) {
        let before = self.cluster.current_epoch;
        assert!(epoch > before, "currentEpoch {before} -> {epoch} goes back");
        self.cluster.current_epoch = epoch;
        self.emit(ClusterEvent::CurrentEpochChanged { epoch, reason });
    }

    /// Sets my config epoch, which never exceeds `currentEpoch` and, once set, never goes
    /// back.
    pub(crate) fn set_my_config_epoch(&mut self, epoch: u64, reason: ConfigEpochReason) {
        let before = self.cluster.me().config_epoch;
        assert!(epoch >= before, "configEpoch {before} -> {epoch} goes back");
        assert!(
            epoch <= self.cluster.current_epoch,
            "configEpoch {epoch} above currentEpoch {}",
            self.cluster.current_epoch
        );
        self.cluster.me_mut().config_epoch = epoch;
        self.emit(ClusterEvent::ConfigEpochChanged { epoch, reason });
    }
}
