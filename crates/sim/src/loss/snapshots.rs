//! Which snapshot a full sync loaded: the master says when it took one (`SnapshotTaken`, with
//! its replication ID and offset), the replica which one it got (`FullResync`, the same two),
//! so a copy moves with the snapshot as the master held it then. The bytes may arrive long
//! after they were sent (a cut link delivers them once healed), even after the master that
//! sent them crashed and came back with other data: what was in that snapshot is what the
//! replica holds, whatever the master holds now.

use std::collections::BTreeMap;

/// The snapshots the walk has seen taken and announced.
#[derive(Default)]
pub(super) struct Snapshots {
    /// `(master, replid, offset)` → the write's offset in the master's stream if the snapshot
    /// held the write, `None` if it did not.
    taken: BTreeMap<(String, String, u64), Option<u64>>,
    /// Each replica's announced snapshot (`FullResync`) until it loads it.
    announced: BTreeMap<String, (String, String, u64)>,
}

impl Snapshots {
    /// `master` took a snapshot; `copy` is the write's offset there if it held the write.
    pub(super) fn taken(&mut self, master: &str, replid: &str, offset: u64, copy: Option<u64>) {
        let key = (master.to_string(), replid.to_string(), offset);
        self.taken.insert(key, copy);
    }

    /// `replica` was told which snapshot follows.
    pub(super) fn announced(&mut self, replica: &str, master: String, replid: &str, offset: u64) {
        let snapshot = (master, replid.to_string(), offset);
        self.announced.insert(replica.to_string(), snapshot);
    }

    /// `replica` loaded its announced snapshot: `Some(copy)` when the walk saw it taken
    /// (`copy` as for [`Snapshots::taken`]), `None` when it did not (taken before the walk
    /// followed anything: judge by the master's copy now).
    pub(super) fn loaded(&mut self, replica: &str) -> Option<Option<u64>> {
        let key = self.announced.remove(replica)?;
        self.taken.get(&key).copied()
    }
}
