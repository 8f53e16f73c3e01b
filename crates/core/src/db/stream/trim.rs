//! Trimming a stream from its start (XTRIM, XADD's MAXLEN/MINID), as Redis 7.0's
//! `streamTrim` does it: whole nodes while they lie entirely below the threshold, then, unless
//! approximate, entries of the next node marked deleted one by one.

use super::{Stream, StreamId};

/// What to keep.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrimStrategy {
    /// At most this many entries.
    MaxLen(u64),
    /// Entries with an ID at least this.
    MinId(StreamId),
}

/// One trim request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Trim {
    pub strategy: TrimStrategy,
    /// `~`: whole nodes only.
    pub approx: bool,
    /// At most this many entries removed (0 = no limit); only whole nodes count against it.
    pub limit: u64,
}

impl Stream {
    /// Trims as `trim` says; returns how many entries went.
    pub fn trim(&mut self, trim: Trim) -> u64 {
        let mut removed = 0u64;
        while let Some((&master, node)) = self.nodes.first_key_value() {
            if let TrimStrategy::MaxLen(max) = trim.strategy {
                if self.len as u64 <= max {
                    break;
                }
            }
            let live = node.live as u64;
            if trim.limit != 0 && removed + live > trim.limit {
                break;
            }
            let whole = match trim.strategy {
                TrimStrategy::MaxLen(max) => self.len as u64 - live >= max,
                TrimStrategy::MinId(min) => self.last_in_node(master) < min,
            };
            if whole {
                self.remove_node(master);
                self.len -= live as usize;
                removed += live;
                continue;
            }
            if !trim.approx {
                removed += self.trim_inside(master, trim.strategy);
            }
            break;
        }
        if self.len == 0 {
            self.first_id = StreamId::ZERO;
        } else if removed > 0 {
            self.first_id = self.first_live_id();
        }
        removed
    }

    /// The node's last entry's ID, tombstones included.
    fn last_in_node(&self, master: StreamId) -> StreamId {
        let last = self.node_entries(master).last().map(|(id, _)| *id);
        last.expect("a stored node has entries")
    }

    /// Marks the node's first entries deleted until the threshold is met.
    fn trim_inside(&mut self, master: StreamId, strategy: TrimStrategy) -> u64 {
        let ids: Vec<StreamId> = self.node_entries(master).map(|(id, _)| *id).collect();
        let mut removed = 0;
        for id in ids {
            let stop = match strategy {
                TrimStrategy::MaxLen(max) => self.len as u64 <= max,
                TrimStrategy::MinId(min) => id >= min,
            };
            if stop {
                break;
            }
            let entry = self.entries.get_mut(&id).expect("listed above");
            if !entry.deleted {
                entry.deleted = true;
                self.len -= 1;
                removed += 1;
            }
        }
        let node = self.nodes.get_mut(&master).expect("still there");
        node.live -= removed as usize;
        node.deleted += removed as usize;
        assert!(
            node.live + node.deleted > 0,
            "a node trimmed inside keeps its entries as tombstones"
        );
        removed
    }
}
