//! The sizes at which Redis 7.0 gives up a compact encoding (listpack, intset) for a hash
//! table or skiplist: `hash-max-listpack-entries|value`, `set-max-intset-entries`,
//! `zset-max-listpack-entries|value`. `CONFIG SET` changes them for the writes that follow,
//! as in Redis (a collection is converted when a write finds it past a limit, never back).

/// The five limits, Redis 7.0's defaults unless configured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EncodingLimits {
    pub hash_max_listpack_entries: usize,
    pub hash_max_listpack_value: usize,
    pub set_max_intset_entries: usize,
    pub zset_max_listpack_entries: usize,
    pub zset_max_listpack_value: usize,
}

impl Default for EncodingLimits {
    fn default() -> EncodingLimits {
        EncodingLimits {
            hash_max_listpack_entries: super::HASH_MAX_LISTPACK_ENTRIES,
            hash_max_listpack_value: super::HASH_MAX_LISTPACK_VALUE_BYTES,
            set_max_intset_entries: super::SET_MAX_INTSET_ENTRIES,
            zset_max_listpack_entries: super::ZSET_MAX_LISTPACK_ENTRIES,
            zset_max_listpack_value: super::ZSET_MAX_LISTPACK_VALUE_BYTES,
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
            _ => return,
        };
        *field = n;
    }
}
