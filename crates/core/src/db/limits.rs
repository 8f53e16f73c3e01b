//! The sizes at which Redis 7.0 gives up a compact encoding (listpack, intset) for a hash
//! table or skiplist: `hash-max-listpack-entries|value`, `set-max-intset-entries`,
//! `zset-max-listpack-entries|value`, and the stream node sizes `stream-node-max-bytes|entries`. `CONFIG SET` changes them for the writes that follow,
//! as in Redis (a collection is converted when a write finds it past a limit, never back).

/// The limits, Redis 7.0's defaults unless configured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EncodingLimits {
    pub hash_max_listpack_entries: usize,
    pub hash_max_listpack_value: usize,
    pub set_max_intset_entries: usize,
    pub zset_max_listpack_entries: usize,
    pub zset_max_listpack_value: usize,
    pub stream_node_max_bytes: usize,
    pub stream_node_max_entries: usize,
}

impl Default for EncodingLimits {
    fn default() -> EncodingLimits {
        EncodingLimits {
            hash_max_listpack_entries: super::HASH_MAX_LISTPACK_ENTRIES,
            hash_max_listpack_value: super::HASH_MAX_LISTPACK_VALUE_BYTES,
            set_max_intset_entries: super::SET_MAX_INTSET_ENTRIES,
            zset_max_listpack_entries: super::ZSET_MAX_LISTPACK_ENTRIES,
            zset_max_listpack_value: super::ZSET_MAX_LISTPACK_VALUE_BYTES,
            stream_node_max_bytes: super::stream::STREAM_NODE_MAX_BYTES,
            stream_node_max_entries: super::stream::STREAM_NODE_MAX_ENTRIES,
        }
    }
}

impl EncodingLimits {
    /// Takes a directive's new value (already checked as an integer) if it is one of ours;
    /// a negative value counts as 0, as nothing then stays compact.
    pub fn apply(&mut self, directive: &str, value: &str) {
        let n = value
            .parse::<i64>()
            .map_or(0, |n| usize::try_from(n).unwrap_or(0));
        let field = match directive {
            "hash-max-listpack-entries" => &mut self.hash_max_listpack_entries,
            "hash-max-listpack-value" => &mut self.hash_max_listpack_value,
            "set-max-intset-entries" => &mut self.set_max_intset_entries,
            "zset-max-listpack-entries" => &mut self.zset_max_listpack_entries,
            "zset-max-listpack-value" => &mut self.zset_max_listpack_value,
            "stream-node-max-bytes" => &mut self.stream_node_max_bytes,
            "stream-node-max-entries" => &mut self.stream_node_max_entries,
            _ => return,
        };
        *field = n;
    }
}

impl EncodingLimits {
    /// The node limits new stream entries are placed under.
    pub fn stream_nodes(&self) -> super::stream::NodeLimits {
        super::stream::NodeLimits {
            max_bytes: self.stream_node_max_bytes,
            max_entries: self.stream_node_max_entries,
        }
    }
}
