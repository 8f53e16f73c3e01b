//! The stream type: entries of field/value pairs ordered by [`StreamId`], appended at the end.
//!
//! Redis 7.0 keeps a stream as a radix tree of listpack nodes, each started by a "master
//! entry" (its first entry's fields, against which later entries are compressed). That layout
//! shows through: `MAXLEN ~`/`MINID ~` trim whole nodes only, an `XDEL`ed entry stays in its
//! node as a tombstone until the node empties, and the RDB encoding is the nodes themselves.
//! So we keep the entries in one ordered map (tombstones included) and, beside it, each node's
//! bookkeeping (master fields, live and deleted counts, listpack bytes), placing entries in
//! nodes exactly as Redis would under the same `stream-node-max-bytes|entries`.

use std::collections::BTreeMap;
use std::ops::Bound;

use bytes::Bytes;

use crate::cmd::dump::listpack::{entry_bytes, integer_bytes, LP_EMPTY_BYTES};

mod group;
mod id;
mod rax;
mod trim;

pub use group::{Consumer, Group, Pending, ENTRIES_READ_UNKNOWN};
pub use id::{IdSyntax, StreamId};
pub use rax::radix_tree_nodes;
pub use trim::{Trim, TrimStrategy};

/// Redis's `stream-node-max-bytes` and `stream-node-max-entries` defaults.
pub const STREAM_NODE_MAX_BYTES: usize = 4096;
pub const STREAM_NODE_MAX_ENTRIES: usize = 100;

/// What Redis allocates for a new node's listpack up front (`STREAM_LISTPACK_MAX_PRE_ALLOCATE`),
/// or `stream-node-max-bytes` when smaller.
const NODE_PREALLOC_BYTES: usize = 4096;

/// A node's listpack may not pass this (Redis's `STREAM_LISTPACK_MAX_SIZE`); it also caps one
/// entry's field and value bytes.
pub const STREAM_LISTPACK_MAX_BYTES: usize = 1 << 30;

/// The node limits entries are appended under.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NodeLimits {
    /// 0 = only [`STREAM_LISTPACK_MAX_BYTES`].
    pub max_bytes: usize,
    /// 0 = no limit.
    pub max_entries: usize,
}

impl Default for NodeLimits {
    fn default() -> NodeLimits {
        NodeLimits {
            max_bytes: STREAM_NODE_MAX_BYTES,
            max_entries: STREAM_NODE_MAX_ENTRIES,
        }
    }
}

/// One entry: its field/value pairs, flattened, and whether `XDEL` or a trim deleted it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamEntry {
    pub pairs: Vec<Bytes>,
    pub deleted: bool,
}

/// One listpack node's bookkeeping; its entries are those from its master ID up to the next
/// node's.
#[derive(Clone, Debug)]
pub struct StreamNode {
    /// The fields of the entry that started it.
    pub master_fields: Vec<Bytes>,
    pub live: usize,
    pub deleted: usize,
    /// Listpack bytes of every element but the two counters (whose size varies).
    body_bytes: usize,
    /// Bytes Redis would have asked its allocator for this listpack: a new node's
    /// preallocation, grown with it, shrunk to fit when the next node starts; what
    /// `MEMORY USAGE` counts.
    pub alloc_bytes: usize,
}

impl PartialEq for StreamNode {
    /// The same node content, however its memory was allocated.
    fn eq(&self, other: &StreamNode) -> bool {
        (
            &self.master_fields,
            self.live,
            self.deleted,
            self.body_bytes,
        ) == (
            &other.master_fields,
            other.live,
            other.deleted,
            other.body_bytes,
        )
    }
}

impl Eq for StreamNode {}

impl StreamNode {
    /// What Redis's `lpBytes` says of the node.
    pub fn lp_bytes(&self) -> usize {
        LP_EMPTY_BYTES
            + self.body_bytes
            + integer_bytes(self.live as i64)
            + integer_bytes(self.deleted as i64)
    }
}

/// One stream value. Unlike other collections it may be empty while stored (XTRIM and XDEL
/// keep the key, as Redis does).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stream {
    /// Every entry still in a node, tombstones included.
    entries: BTreeMap<StreamId, StreamEntry>,
    /// Nodes by master ID.
    nodes: BTreeMap<StreamId, StreamNode>,
    len: usize,
    pub last_id: StreamId,
    /// The first live entry's ID, `0-0` when empty.
    pub first_id: StreamId,
    pub max_deleted_id: StreamId,
    pub entries_added: u64,
    /// Consumer groups by name.
    pub groups: BTreeMap<Bytes, Group>,
}

impl Stream {
    pub fn new() -> Stream {
        Stream::default()
    }

    /// Live entries.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn encoding(&self) -> &'static str {
        "stream"
    }

    pub fn nodes(&self) -> impl DoubleEndedIterator<Item = (&StreamId, &StreamNode)> {
        self.nodes.iter()
    }

    /// A node's entries, tombstones included, first first.
    pub fn node_entries(
        &self,
        master_id: StreamId,
    ) -> impl Iterator<Item = (&StreamId, &StreamEntry)> {
        let end = self
            .nodes
            .range((Bound::Excluded(master_id), Bound::Unbounded))
            .next()
            .map_or(Bound::Unbounded, |(next, _)| Bound::Excluded(*next));
        self.entries.range((Bound::Included(master_id), end))
    }

    /// The ID `*` gives at unix time `now_ms` (Redis's `streamNextID`), `None` once the last
    /// possible ID is taken.
    pub fn next_id(&self, now_ms: u64) -> Option<StreamId> {
        if now_ms > self.last_id.ms {
            Some(StreamId::new(now_ms, 0))
        } else {
            self.last_id.incr()
        }
    }

    /// Appends an entry of `pairs` (fields and values) with `id`, past the last ID; in the
    /// tail node if it has room under `limits`, else in a new node.
    pub fn append(&mut self, id: StreamId, pairs: &[Bytes], limits: NodeLimits) {
        assert!(id > self.last_id, "stream IDs only grow");
        assert!(
            !pairs.is_empty() && pairs.len().is_multiple_of(2),
            "field/value pairs"
        );
        let value_bytes: usize = pairs.iter().map(Bytes::len).sum();
        let tail = self.nodes.last_key_value().map(|(k, _)| *k);
        let master_id = match tail {
            Some(master) if self.has_room(master, value_bytes, limits) => master,
            Some(full) => {
                let node = self.nodes.get_mut(&full).expect("the tail");
                node.alloc_bytes = node.lp_bytes();
                self.start_node(id, pairs, limits)
            }
            None => self.start_node(id, pairs, limits),
        };
        let node = self.nodes.get_mut(&master_id).expect("just chosen");
        let same = node.same_fields(pairs);
        node.body_bytes += entry_body_bytes(id, master_id, pairs, same);
        node.live += 1;
        node.alloc_bytes = node.alloc_bytes.max(node.lp_bytes());
        self.entries.insert(
            id,
            StreamEntry {
                pairs: pairs.to_vec(),
                deleted: false,
            },
        );
        self.len += 1;
        self.entries_added += 1;
        self.last_id = id;
        if self.len == 1 {
            self.first_id = id;
        }
    }

    fn has_room(&self, master: StreamId, value_bytes: usize, limits: NodeLimits) -> bool {
        let node = &self.nodes[&master];
        let max_bytes = match limits.max_bytes {
            0 => STREAM_LISTPACK_MAX_BYTES,
            n => n.min(STREAM_LISTPACK_MAX_BYTES),
        };
        if node.lp_bytes() + value_bytes >= max_bytes {
            return false;
        }
        limits.max_entries == 0 || node.live + node.deleted < limits.max_entries
    }

    /// A new node whose master entry holds `pairs`' fields; returns its master ID.
    fn start_node(&mut self, id: StreamId, pairs: &[Bytes], limits: NodeLimits) -> StreamId {
        let master_fields: Vec<Bytes> = pairs.iter().step_by(2).cloned().collect();
        let body_bytes = integer_bytes(master_fields.len() as i64)
            + master_fields.iter().map(|f| entry_bytes(f)).sum::<usize>()
            + integer_bytes(0);
        let node = StreamNode {
            master_fields,
            live: 0,
            deleted: 0,
            body_bytes,
            alloc_bytes: match limits.max_bytes {
                n if n > 0 && n < NODE_PREALLOC_BYTES => n,
                _ => NODE_PREALLOC_BYTES,
            },
        };
        self.nodes.insert(id, node);
        id
    }

    /// The master ID of the node holding `id`.
    fn node_of(&self, id: StreamId) -> Option<StreamId> {
        self.nodes.range(..=id).next_back().map(|(k, _)| *k)
    }

    /// Live entries from `start` to `end` (inclusive), in order or reversed, at most `count`
    /// (0 = all).
    pub fn range(
        &self,
        start: StreamId,
        end: StreamId,
        count: usize,
        rev: bool,
    ) -> Vec<(StreamId, &[Bytes])> {
        if start > end {
            return Vec::new();
        }
        let live = self
            .entries
            .range(start..=end)
            .filter(|(_, e)| !e.deleted)
            .map(|(id, e)| (*id, e.pairs.as_slice()));
        let limit = if count == 0 { usize::MAX } else { count };
        if rev {
            live.rev().take(limit).collect()
        } else {
            live.take(limit).collect()
        }
    }

    /// The last live entry's ID (Redis's `streamLastValidID`), `0-0` when empty.
    pub fn last_live_id(&self) -> StreamId {
        self.entries
            .iter()
            .rev()
            .find(|(_, e)| !e.deleted)
            .map_or(StreamId::ZERO, |(id, _)| *id)
    }

    /// Marks the live entry `id` deleted (a node left with no live entry goes whole), keeping
    /// `first_id` and `max_deleted_id` as XDEL does; false if there is no such entry.
    pub fn delete(&mut self, id: StreamId) -> bool {
        match self.entries.get_mut(&id) {
            Some(entry) if !entry.deleted => entry.deleted = true,
            _ => return false,
        }
        let master = self.node_of(id).expect("every entry is in a node");
        let node = self.nodes.get_mut(&master).expect("found above");
        node.live -= 1;
        node.deleted += 1;
        if node.live == 0 {
            self.remove_node(master);
        }
        self.len -= 1;
        self.max_deleted_id = self.max_deleted_id.max(id);
        if self.len == 0 {
            self.first_id = StreamId::ZERO;
        } else if id == self.first_id {
            self.first_id = self.first_live_id();
        }
        true
    }

    fn remove_node(&mut self, master: StreamId) {
        let ids: Vec<StreamId> = self.node_entries(master).map(|(id, _)| *id).collect();
        for id in ids {
            self.entries.remove(&id);
        }
        self.nodes.remove(&master);
    }

    fn first_live_id(&self) -> StreamId {
        self.entries
            .iter()
            .find(|(_, e)| !e.deleted)
            .map_or(StreamId::ZERO, |(id, _)| *id)
    }

    /// The first entry's ID, tombstones included, or the largest ID when there is none
    /// (Redis's `streamGetEdgeID(s, 1, 0, …)`, which an approximate MINID is rewritten to).
    pub fn first_id_with_tombstones(&self) -> StreamId {
        self.entries.keys().next().copied().unwrap_or(StreamId::MAX)
    }

    /// XSETID's change: the last ID and, when given, the entries added and the largest
    /// deleted ID. The caller checked them against the entries.
    pub fn set_id(&mut self, last_id: StreamId, entries_added: Option<u64>, max_deleted: StreamId) {
        self.last_id = last_id;
        if let Some(added) = entries_added {
            self.entries_added = added;
        }
        if max_deleted != StreamId::ZERO {
            self.max_deleted_id = max_deleted;
        }
    }

    /// Nodes of Redis's radix tree over the stream's listpack nodes.
    pub fn radix_tree_nodes(&self) -> usize {
        rax::radix_tree_nodes(self.nodes.keys().copied())
    }

    /// An estimate of the bytes the stream holds: its nodes' listpacks and a radix-tree node
    /// each.
    pub fn memory_bytes(&self) -> usize {
        const PER_NODE_BYTES: usize = 48;
        const HEADER_BYTES: usize = 112;
        let nodes: usize = self
            .nodes
            .values()
            .map(|n| n.lp_bytes() + PER_NODE_BYTES)
            .sum();
        HEADER_BYTES + nodes
    }
}

/// A stream's fields besides its entries, as an RDB file stores them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamMeta {
    pub len: u64,
    pub last_id: StreamId,
    pub first_id: StreamId,
    pub max_deleted_id: StreamId,
    pub entries_added: u64,
}

/// Why a stored stream cannot be taken as it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Malformed;

impl Stream {
    /// Adds a node read from a file: its master ID, master fields and entries (tombstones
    /// included), after every node added before. The node's listpack size is recomputed as
    /// we would write it.
    pub fn push_loaded_node(
        &mut self,
        master: StreamId,
        master_fields: Vec<Bytes>,
        entries: Vec<(StreamId, StreamEntry)>,
    ) -> Result<(), Malformed> {
        let after_last = self
            .entries
            .keys()
            .next_back()
            .is_none_or(|last| master > *last);
        if !after_last || entries.first().map(|(id, _)| *id) != Some(master) {
            return Err(Malformed);
        }
        let mut node = StreamNode {
            master_fields,
            live: 0,
            deleted: 0,
            body_bytes: 0,
            alloc_bytes: 0,
        };
        node.body_bytes = integer_bytes(node.master_fields.len() as i64)
            + node
                .master_fields
                .iter()
                .map(|f| entry_bytes(f))
                .sum::<usize>()
            + integer_bytes(0);
        let mut previous = None;
        for (id, entry) in entries {
            let ordered = previous.is_none_or(|p| id > p);
            if !ordered || entry.pairs.is_empty() || entry.pairs.len() % 2 != 0 {
                return Err(Malformed);
            }
            previous = Some(id);
            let same = node.same_fields(&entry.pairs);
            node.body_bytes += entry_body_bytes(id, master, &entry.pairs, same);
            if entry.deleted {
                node.deleted += 1;
            } else {
                node.live += 1;
            }
            self.entries.insert(id, entry);
        }
        self.len += node.live;
        // Loaded as one string of exactly its size.
        node.alloc_bytes = node.lp_bytes();
        self.nodes.insert(master, node);
        Ok(())
    }

    /// Sets the fields read after the nodes; the length must be the live entries'.
    pub fn finish_load(&mut self, meta: StreamMeta) -> Result<(), Malformed> {
        let top = self
            .entries
            .keys()
            .next_back()
            .copied()
            .unwrap_or(StreamId::ZERO);
        if meta.len != self.len as u64 || top > meta.last_id {
            return Err(Malformed);
        }
        self.last_id = meta.last_id;
        self.first_id = meta.first_id;
        self.max_deleted_id = meta.max_deleted_id;
        self.entries_added = meta.entries_added;
        Ok(())
    }

    /// The fields besides the entries.
    pub fn meta(&self) -> StreamMeta {
        StreamMeta {
            len: self.len as u64,
            last_id: self.last_id,
            first_id: self.first_id,
            max_deleted_id: self.max_deleted_id,
            entries_added: self.entries_added,
        }
    }
}

impl StreamNode {
    /// Whether an entry of `pairs` has the master entry's fields (then stored without them).
    pub fn same_fields(&self, pairs: &[Bytes]) -> bool {
        pairs.len() / 2 == self.master_fields.len()
            && pairs
                .iter()
                .step_by(2)
                .zip(&self.master_fields)
                .all(|(a, b)| a == b)
    }
}

/// Listpack bytes of one entry appended to the node started at `master` (Redis's layout:
/// flags, ms and seq deltas, the field count and fields unless they are the master's, the
/// values, then the count of elements before it).
fn entry_body_bytes(id: StreamId, master: StreamId, pairs: &[Bytes], same_fields: bool) -> usize {
    let flags = if same_fields { FLAG_SAME_FIELDS } else { 0 };
    let fields = pairs.len() / 2;
    let mut bytes = integer_bytes(flags)
        + integer_bytes(id.ms.wrapping_sub(master.ms) as i64)
        + integer_bytes(id.seq.wrapping_sub(master.seq) as i64);
    if same_fields {
        let values = pairs.iter().skip(1).step_by(2);
        bytes += values.map(|v| entry_bytes(v)).sum::<usize>();
    } else {
        bytes += integer_bytes(fields as i64);
        bytes += pairs.iter().map(|p| entry_bytes(p)).sum::<usize>();
    }
    bytes + integer_bytes(elements_before_count(fields, same_fields))
}

/// The element count closing an entry in its node (so it can be walked backwards): flags, the
/// two deltas, the values, and the field count and fields unless they are the master's.
pub fn elements_before_count(fields: usize, same_fields: bool) -> i64 {
    let fields = fields as i64;
    if same_fields {
        fields + 3
    } else {
        2 * fields + 4
    }
}

/// Entry flags in a node's listpack.
pub const FLAG_DELETED: i64 = 1;
pub const FLAG_SAME_FIELDS: i64 = 2;

#[cfg(test)]
mod tests;
