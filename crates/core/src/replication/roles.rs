//! What a role change does to the replication history, as Redis's `replicationSetMaster` and
//! `replicationUnsetMaster` do:
//!
//! - A master that turns replica caches itself as its master (`replicationCacheMasterUsingMyself`):
//!   its data is its own history up to its offset, and if the new master was its replica and
//!   got all of it, `PSYNC` continues with no snapshot. If it took writes the new master never
//!   got, its offset is past the new master's `second_offset` and the sync is full: those
//!   writes are gone, as in Redis.
//! - A replica that turns master (promoted, or reset) starts a new history
//!   (`shiftReplicationId`): a new ID, its old master's as the second one, valid up to its
//!   offset + 1, so the replicas that followed the old master may continue with it.

use super::*;
use crate::node::Node;

impl Node {
    /// Applies a role change since the last call (see the module doc).
    pub(super) fn replication_role_changes(&mut self) {
        let is_replica = self.cluster.me().is_replica();
        if is_replica == self.repl.was_replica {
            return;
        }
        self.repl.was_replica = is_replica;
        let offset = self.cluster.me().repl_offset;
        if is_replica {
            self.log(
                LogLevel::Notice,
                "Before turning into a replica, using my own master parameters to synthesize a \
                 cached master: I may be able to synchronize with the new master with just a \
                 partial transfer.",
            );
            self.repl.cached_master = Some(CachedMaster {
                replid: self.repl.replid.clone(),
                offset,
            });
        } else {
            self.repl.cached_master = None;
            let replid = NodeId::random(&mut self.rng).to_string();
            self.repl.shift_replid(replid, offset, &mut self.out);
        }
    }
}
