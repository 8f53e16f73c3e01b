//! The replication history an RDB file records, as Redis 7.0 writes and reads it
//! (`rdbPopulateSaveInfo`, `loadDataFromDisk`): a `SAVE` by a node in a replication chain
//! writes `repl-stream-db`, `repl-id` and `repl-offset`; a replica started from such a file
//! takes that history as its own and as its cached master, so its first PSYNC may continue
//! it, and a full sync from the same master can load asynchronously (`socket_load`).

use super::*;
use crate::node::Node;

impl Node {
    /// The aux fields a `SAVE` adds: for a master with a backlog, or a replica with a synced
    /// link or a cached history; none for a node in no replication chain.
    pub(crate) fn replication_save_info(&self) -> Vec<(&'static str, String)> {
        let repl = &self.repl;
        let in_chain = if self.cluster.me().is_replica() {
            let synced = repl.link.as_ref().is_some_and(|l| l.up && !l.loading);
            synced || repl.cached_master.is_some()
        } else {
            repl.backlog.is_some()
        };
        if !in_chain {
            return Vec::new();
        }
        let offset = match (&repl.cached_master, self.cluster.me().is_replica()) {
            (Some(cached), true) if !repl.link.as_ref().is_some_and(|l| l.up) => cached.offset,
            _ => self.cluster.me().repl_offset,
        };
        vec![
            ("repl-stream-db", "0".to_string()),
            ("repl-id", repl.replid.clone()),
            ("repl-offset", offset.to_string()),
        ]
    }

    /// Start-up from an RDB file with `aux` fields: a replica takes the history it records
    /// (a master keeps its own, as this node has no use for the file's as a second ID).
    pub(crate) fn restore_replication_info(&mut self, aux: &[(String, String)]) {
        let get = |name: &str| aux.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
        let (Some(replid), Some(offset)) = (get("repl-id"), get("repl-offset")) else {
            return;
        };
        let Ok(offset) = offset.parse::<u64>() else {
            return;
        };
        if !self.cluster.me().is_replica() || replid.len() != 40 {
            return;
        }
        self.repl.replid = replid.to_string();
        self.cluster.me_mut().repl_offset = offset;
        self.repl.cached_master = Some(CachedMaster {
            replid: replid.to_string(),
            offset,
        });
        assert!(self.repl.link.is_none(), "restored before any link");
    }
}
