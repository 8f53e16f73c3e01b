//! The sorted set type (stored and moved by DUMP/RESTORE; its commands are not written yet).
//!
//! Redis 7.0 keeps a small sorted set as a listpack and converts it for good to a skiplist
//! once it has more than `zset-max-listpack-entries` members or a member longer than
//! `zset-max-listpack-value` bytes. Here: member → score in insertion order, the encoding
//! remembered, and the (score, member) order computed when asked. The commands will want an
//! ordered index; this is the minimum the value model and DUMP/RESTORE need.

use indexmap::IndexMap;

use super::hash::FixedState;
use super::EncodingLimits;

/// `zset-max-listpack-entries`' default in Redis 7.0.
pub const ZSET_MAX_LISTPACK_ENTRIES: usize = 128;
/// `zset-max-listpack-value`'s default in Redis 7.0 (bytes).
pub const ZSET_MAX_LISTPACK_VALUE_BYTES: usize = 64;

/// One sorted set value. Never empty while stored; scores are never NaN.
#[derive(Clone, Debug, Default)]
pub struct ZSet {
    scores: IndexMap<Box<[u8]>, f64, FixedState>,
    listpack: bool,
}

impl PartialEq for ZSet {
    /// Same members, scores and encoding; the order follows from the scores.
    fn eq(&self, other: &ZSet) -> bool {
        self.listpack == other.listpack && self.scores == other.scores
    }
}

impl ZSet {
    pub fn new() -> ZSet {
        ZSet {
            scores: IndexMap::default(),
            listpack: true,
        }
    }

    pub fn len(&self) -> usize {
        self.scores.len()
    }

    pub fn is_empty(&self) -> bool {
        self.scores.is_empty()
    }

    pub fn is_listpack(&self) -> bool {
        self.listpack
    }

    pub fn encoding(&self) -> &'static str {
        if self.listpack {
            "listpack"
        } else {
            "skiplist"
        }
    }

    pub fn score(&self, member: &[u8]) -> Option<f64> {
        self.scores.get(member).copied()
    }

    /// Sets `member`'s score under Redis's default limits; true when it is new.
    pub fn insert(&mut self, member: &[u8], score: f64) -> bool {
        self.insert_limited(member, score, &EncodingLimits::default())
    }

    /// Sets `member`'s score; true when it is new. A listpack past `limits` becomes a skiplist.
    pub fn insert_limited(&mut self, member: &[u8], score: f64, limits: &EncodingLimits) -> bool {
        assert!(!score.is_nan(), "a NaN score reached the sorted set");
        if member.len() > limits.zset_max_listpack_value {
            self.listpack = false;
        }
        let added = self.scores.insert(Box::from(member), score).is_none();
        if self.scores.len() > limits.zset_max_listpack_entries {
            self.listpack = false;
        }
        added
    }

    pub fn remove(&mut self, member: &[u8]) -> bool {
        self.scores.shift_remove(member).is_some()
    }

    /// An estimate of the bytes held, for `INFO` (O(members)).
    pub fn memory_bytes(&self) -> usize {
        let entry_bytes = super::hash::TABLE_ENTRY_OVERHEAD_BYTES;
        self.scores.keys().map(|m| m.len() + entry_bytes).sum()
    }

    /// Members by ascending score, ties by member bytes: Redis's order.
    pub fn sorted(&self) -> Vec<(&[u8], f64)> {
        let mut all: Vec<(&[u8], f64)> = self.scores.iter().map(|(m, s)| (&m[..], *s)).collect();
        // partial_cmp: -0 and 0 tie, as in Redis; NaN never gets in.
        all.sort_by(|a, b| {
            let by_score = a.1.partial_cmp(&b.1).expect("no NaN scores");
            by_score.then_with(|| a.0.cmp(b.0))
        });
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorted_by_score_then_member() {
        let mut z = ZSet::new();
        z.insert(b"b", 1.0);
        z.insert(b"a", 1.0);
        z.insert(b"c", -2.5);
        let order: Vec<&[u8]> = z.sorted().into_iter().map(|(m, _)| m).collect();
        assert_eq!(order, [&b"c"[..], b"a", b"b"]);
        assert_eq!(z.encoding(), "listpack");
        z.insert(&[b'm'; 65], 0.0);
        assert_eq!(z.encoding(), "skiplist");
    }
}
