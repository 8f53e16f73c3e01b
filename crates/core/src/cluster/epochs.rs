//! The only ways `currentEpoch` and this node's config epoch move during normal operation,
//! each reporting a typed event with its reason and asserting the rule it must keep.
//!
//! Epochs are the cluster's logical clock: a node must never go back on an epoch it has
//! announced (only `CLUSTER RESET HARD` and loading `nodes.conf` set them outright, and those
//! bypass this module on purpose). The assertions run in debug and simulation builds, so every
//! simulated seed also checks these rules from inside the node.
//!
//! These need only the cluster state and somewhere to report to, so they borrow exactly that.

use super::Cluster;
use crate::event::{ClusterEvent, ConfigEpochReason, EpochReason};
use crate::outbox::Outbox;

impl Cluster {
    /// `currentEpoch + 1`, for an election, a takeover, a collision or a bump. Returns it.
    pub(crate) fn bump_current_epoch(&mut self, reason: EpochReason, out: &mut Outbox) -> u64 {
        let epoch = self.current_epoch + 1;
        self.set_current_epoch(epoch, reason, out);
        epoch
    }

    /// Moves `currentEpoch` forward to `epoch` (nothing when it is not greater).
    pub(crate) fn raise_current_epoch(
        &mut self,
        epoch: u64,
        reason: EpochReason,
        out: &mut Outbox,
    ) {
        if epoch > self.current_epoch {
            self.set_current_epoch(epoch, reason, out);
        }
    }

    fn set_current_epoch(&mut self, epoch: u64, reason: EpochReason, out: &mut Outbox) {
        let before = self.current_epoch;
        assert!(epoch > before, "currentEpoch {before} -> {epoch} goes back");
        self.current_epoch = epoch;
        out.emit(ClusterEvent::CurrentEpochChanged { epoch, reason });
    }

    /// Sets my config epoch, which never exceeds `currentEpoch` and, once set, never goes
    /// back.
    pub(crate) fn set_my_config_epoch(
        &mut self,
        epoch: u64,
        reason: ConfigEpochReason,
        out: &mut Outbox,
    ) {
        let before = self.me().config_epoch;
        assert!(epoch >= before, "configEpoch {before} -> {epoch} goes back");
        assert!(
            epoch <= self.current_epoch,
            "configEpoch {epoch} above currentEpoch {}",
            self.current_epoch
        );
        self.me_mut().config_epoch = epoch;
        out.emit(ClusterEvent::ConfigEpochChanged { epoch, reason });
    }
}
